"""Real servers on 127.0.0.1 for tests, the demo and benchmarks: pouchdb-server
(CouchDB API) and moto (S3). Each runs as a child process and is always stopped."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
POUCHDB_DEFAULT = ROOT / ".cache" / "pouchdb" / "node_modules" / ".bin" / "pouchdb-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not answer within {timeout}s")


def pouchdb_binary() -> str:
    path = os.environ.get("SYNCD_POUCHDB_SERVER") or str(POUCHDB_DEFAULT)
    if not Path(path).exists():
        found = shutil.which("pouchdb-server")
        if found is None:
            raise RuntimeError(f"pouchdb-server not found at {path}: run `make deps` first")
        return found
    return path


class Server:
    def __init__(self, argv: list[str], url: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.url = url
        self._log = log.open("wb")
        # cwd: pouchdb-server writes log.txt into its working directory
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=log.parent,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, **(env or {})})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class CouchServer(Server):
    """pouchdb-server in memory, with an admin user so credentials are exercised."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [pouchdb_binary(), "--in-memory", "--host", "127.0.0.1", "--port", str(port),
                "--config", str(workdir / "config.json")]
        # A 200 MB attachment needs more than node's default heap (bench/upload.py).
        super().__init__(argv, f"http://127.0.0.1:{port}", workdir / "pouchdb.log",
                         env={"NODE_OPTIONS": "--max-old-space-size=8192"})
        wait_http(self.url, proc=self.proc)
        self.user, self.password = "admin", "couch-" + secrets.token_hex(8)
        requests.put(f"{self.url}/_config/admins/{self.user}", json=self.password, timeout=10).raise_for_status()
        self.auth_url = f"http://{self.user}:{self.password}@127.0.0.1:{port}"


class S3Server(Server):
    """moto's S3 server (also SQS), in-memory."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        super().__init__(argv, f"http://127.0.0.1:{self.port}", workdir / f"moto-{self.port}.log")
        wait_http(self.url, proc=self.proc)
