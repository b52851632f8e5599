"""Run a command and measure its wall time and its own peak RSS.

Peak RSS is sampled from /proc/<pid>/status (VmHWM) while it runs. getrusage /
wait4 are not used: after fork + exec, Linux's ru_maxrss still counts the forked
copy of the (large) benchmark process, so it reports the parent's size.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path


def hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(command: list[str], env: dict | None = None, cwd: Path | None = None,
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
