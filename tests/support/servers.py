"""Real servers on 127.0.0.1 for tests, the demo and benchmarks: pouchdb-server
(CouchDB API) and moto (S3). Each runs as a child process and is always stopped."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from syncd.kazoo import dbnames

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
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )

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
        argv = [
            pouchdb_binary(),
            "--in-memory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(workdir / "config.json"),
        ]
        # A 200 MB attachment needs more than node's default heap (bench/upload.py).
        super().__init__(
            argv, f"http://127.0.0.1:{port}", workdir / "pouchdb.log", env={"NODE_OPTIONS": "--max-old-space-size=8192"}
        )
        wait_http(self.url, proc=self.proc)
        self.user, self.password = "admin", "couch-" + secrets.token_hex(8)
        requests.put(f"{self.url}/_config/admins/{self.user}", json=self.password, timeout=10).raise_for_status()
        self.auth_url = f"http://{self.user}:{self.password}@127.0.0.1:{port}"
        self.kind, self.version = (
            "pouchdb",
            f"pouchdb-server {requests.get(self.url, timeout=10).json().get('version')}",
        )


class RealCouchServer(Server):
    """Apache CouchDB itself, started with shared/couchdb's run-couchdb (a fresh server per session)."""

    def __init__(self, workdir: Path, runner: str, port: int | None = None) -> None:
        port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.user, self.password = "admin", "couch-" + secrets.token_hex(8)
        argv = [runner, str(workdir / "server"), str(port), self.user, self.password]
        super().__init__(argv, f"http://127.0.0.1:{port}", workdir / "couchdb.log")
        wait_http(f"{self.url}/_up", timeout=120, proc=self.proc)
        self.auth_url = f"http://{self.user}:{self.password}@127.0.0.1:{port}"
        # /_db_updates needs _global_changes, which Kazoo clusters have and a fresh node lacks
        requests.put(f"{self.auth_url}/_global_changes", timeout=30)
        self.kind, self.version = (
            "couchdb",
            f"Apache CouchDB {requests.get(self.url, timeout=10).json().get('version')}",
        )


class ExistingCouchServer:
    """A CouchDB the tests do not own (an operator's staging server), named by URL.

    Kazoo's own databases (accounts, system_data, faxes) are created only if missing
    and never dropped. Everything a session writes carries its id token
    (kazoo_data.SESSION): at the end its account databases and MODBs are dropped
    and its documents in the shared databases deleted; nothing else is touched.
    """

    SHARED_DBS = ("accounts", "system_data", "faxes", "anonymous_cdrs")

    def __init__(self, url: str, session: str) -> None:
        parts = urlsplit(url)
        if not (parts.scheme in ("http", "https") and parts.hostname):
            raise RuntimeError(
                f"SYNCD_TEST_COUCHDB={url!r} is neither pouchdb, real, a run-couchdb path "
                "nor an http(s) URL of a CouchDB"
            )
        self.auth_url = url.rstrip("/")
        self.url = urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))
        self.user, self.password = parts.username or "", parts.password or ""
        self.session = session
        welcome = requests.get(self.auth_url, timeout=10).json()
        self.kind, self.version = "couchdb", f"CouchDB {welcome.get('version')} at {self.url} (existing)"
        if requests.head(f"{self.auth_url}/_global_changes", timeout=10).status_code == 404:
            requests.put(f"{self.auth_url}/_global_changes", timeout=30)

    def owned_databases(self) -> list[str]:
        # account/aa/bb/cc...: this session's accounts and MODBs (compared without the "/",
        # which pouchdb-server drops from the names it lists)
        prefix = dbnames.account_db(self.session).replace("/", "")
        names = requests.get(f"{self.auth_url}/_all_dbs", timeout=60).json()
        return [name for name in names if name.replace("/", "").startswith(prefix)]

    def is_ours(self, doc: dict[str, Any]) -> bool:
        """A document this session wrote: its id, or the account it belongs to, carries the token."""
        return str(doc["_id"]).startswith(self.session) or str(doc.get("pvt_account_id", "")).startswith(self.session)

    def remove(self, databases: Iterable[str], chosen: Callable[[dict[str, Any]], bool]) -> None:
        """Drop these databases, and delete the chosen documents of Kazoo's shared databases."""
        for name in databases:
            requests.delete(f"{self.auth_url}/{quote(name, safe='')}", timeout=60)
        for db in self.SHARED_DBS:
            answer = requests.get(f"{self.auth_url}/{db}/_all_docs", params={"include_docs": "true"}, timeout=60)
            for doc in (row["doc"] for row in answer.json().get("rows", []) if row.get("doc")):
                if chosen(doc):
                    requests.delete(
                        f"{self.auth_url}/{db}/{quote(doc['_id'], safe='')}", params={"rev": doc["_rev"]}, timeout=60
                    )

    def stop(self) -> None:
        """Remove what this session wrote, and only that."""
        self.remove(self.owned_databases(), self.is_ours)


def couch_server_for_tests(workdir: Path, session: str) -> CouchServer | RealCouchServer | ExistingCouchServer:
    """The CouchDB the tests run against: $SYNCD_TEST_COUCHDB names shared/couchdb's run-couchdb
    (or "real" for the one beside the project) or the URL of an existing CouchDB; unset or
    "pouchdb" is pouchdb-server."""
    wanted = os.environ.get("SYNCD_TEST_COUCHDB", "pouchdb")
    if wanted == "pouchdb":
        return CouchServer(workdir)
    if "://" in wanted:
        return ExistingCouchServer(wanted, session)
    runner = str(ROOT.parent / "shared" / "couchdb" / "run-couchdb") if wanted == "real" else wanted
    if not Path(runner).is_file():
        raise RuntimeError(f"SYNCD_TEST_COUCHDB={wanted!r}: no run-couchdb at {runner}")
    return RealCouchServer(workdir, runner)


class S3Server(Server):
    """moto's S3 server (also SQS), in-memory."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        super().__init__(argv, f"http://127.0.0.1:{self.port}", workdir / f"moto-{self.port}.log")
        wait_http(self.url, proc=self.proc)


class DriveServer(Server):
    """The strict Drive v3 test server (tests/support/drive_server.py), in memory."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "tests.support.drive_server", "--port", str(self.port)]
        super().__init__(
            argv, f"http://127.0.0.1:{self.port}", workdir / f"drive-{self.port}.log", env={"PYTHONPATH": str(ROOT)}
        )
        wait_http(f"{self.url}/__control/log", proc=self.proc)
        self.workdir = workdir

    def service_account_file(self, name: str = "sa.json") -> Path:
        """A service-account key whose token_uri is this server (a fresh RSA key, never a real one)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        path = self.workdir / name
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "syncd-test",
                    "private_key_id": secrets.token_hex(20),
                    "private_key": pem,
                    "client_email": "syncd@syncd-test.iam.gserviceaccount.com",
                    "client_id": "1234567890",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        return path

    def control(self, name: str, payload: dict | None = None):  # noqa: ANN201
        if payload is None:
            return requests.get(f"{self.url}/__control/{name}", timeout=10).json()
        return requests.post(f"{self.url}/__control/{name}", json=payload, timeout=10).json()
