"""Run a command and measure its wall time and its own peak RSS.

Peak RSS is sampled from /proc/<pid>/status (VmHWM) while it runs. getrusage /
wait4 are not used: after fork + exec, Linux's ru_maxrss still counts the forked
copy of the (large) benchmark process, so it reports the parent's size.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path


def hwm_kb(pid: int) -> int:
    """Peak RSS of pid and of its child processes (syncd's helper): the sum of each one's own
    peak, an upper bound of what they held at once."""
    return sum(hwm_parts_kb(pid))


def hwm_parts_kb(pid: int) -> tuple[int, int]:
    """(pid's own peak RSS, its child processes' peaks summed), in KB."""
    return _own_hwm_kb(pid), sum(_own_hwm_kb(child) for child in _children(pid))


def cpu_parts_s(pid: int) -> tuple[float, float]:
    """(pid's own CPU seconds, user + system, its living child processes' summed)."""
    return _own_cpu_s(pid), sum(_own_cpu_s(child) for child in _children(pid))


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds of pid and every process below it, the ones that ended and were waited for
    included (a server's worker processes come and go); 0 when there is no pid (a server not started here)."""
    if pid is None:
        return 0.0
    return _own_cpu_s(pid, waited=True) + sum(tree_cpu_s(child) for child in _children(pid))


def _own_cpu_s(pid: int, waited: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if waited else 0)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except (OSError, ValueError):
            pass
    return found


def _own_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(
    command: list[str],
    env: dict | None = None,
    cwd: Path | None = None,
) -> tuple[float, int, subprocess.CompletedProcess]:
    """(seconds, peak RSS in KB, result with stdout/stderr text)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, hwm_kb(proc.pid))
            time.sleep(0.02)
        elapsed = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return elapsed, peak, subprocess.CompletedProcess(command, proc.returncode, out.read(), err.read())


def require_rclone() -> None:
    """The reference tool must be there; say how to get it instead of ending in a traceback."""
    import shutil
    import sys

    if shutil.which("rclone") is None:
        sys.stderr.write(
            "this benchmark compares syncd with rclone, which is not installed: install the Debian "
            "package (apt-get install rclone), or run `make bench`, which installs it\n"
        )
        raise SystemExit(2)


class ExternalCouch:
    """A CouchDB the operator already runs (--couchdb URL with credentials); nothing is started."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        self.auth_url = url.rstrip("/")
        parts = urlsplit(url)
        self.url = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self.proc = None
        self.kind, self.version = "couchdb", "CouchDB at " + self.url

    def stop(self) -> None:
        pass


def couch_for_bench(choice: str, work: Path):  # noqa: ANN201 - one of three server kinds
    """--couchdb pouchdb | real | URL: pouchdb-server, shared/couchdb's Apache CouchDB, or yours."""
    from tests.support.servers import ROOT, CouchServer, RealCouchServer

    if choice == "pouchdb":
        return CouchServer(work / "couch")
    if choice == "real":
        runner = ROOT.parent / "shared" / "couchdb" / "run-couchdb"
        if not runner.is_file():
            raise SystemExit(f"--couchdb real needs {runner} (the bundled Apache CouchDB); pass a URL instead")
        return RealCouchServer(work / "couch", str(runner))
    if choice.startswith(("http://", "https://")):
        return ExternalCouch(choice)
    raise SystemExit(f"--couchdb must be pouchdb, real or a URL, not {choice!r}")
