"""One syncd writes a state database at a time.

`syncd run` (and a reconcile that acts) holds an exclusive flock on
`<path>.lock`, taken before any migration. The lock file says who holds it,
so a second run can name the holder. Read-only commands (status, audit,
check) take it only for a moment, to create or upgrade a database nobody
holds; a syncd starting meanwhile waits for that moment to pass instead of
taking the command for a second syncd.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time

from syncd.errors import StateError, StateLocked

BRIEF_WAIT = 30.0  # seconds a starting syncd waits for a read-only command's brief hold (an upgrade)


class StateLock:
    """An exclusive, non-blocking flock beside the state database, released when the process ends."""

    def __init__(self, state_path: str) -> None:
        self.path = state_path + ".lock"
        self._fd: int | None = None

    def acquire(self, brief: bool = False) -> None:
        """Take the lock for this process's life; brief: for a moment (a read-only command's
        migration), said so in the lock file so that a syncd starting meanwhile waits for it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(
                f"cannot open the lock file {self.path}: {exc.strerror}; check [state] path "
                "and that its directory is writable"
            ) from None
        if not _lock(fd, wait_for_brief=not brief):
            holder = _read_holder(fd)
            os.close(fd)
            raise StateLocked(
                f"state database {self.path.removesuffix('.lock')} is in use by another syncd "
                f"({holder}); only one syncd may run on a state database: stop the other one "
                "(systemctl stop syncd) or give this one its own [state] path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.time(),
                    "command": " ".join(sys.argv[:3]),
                    "brief": brief,
                }
            ).encode(),
        )
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def try_briefly(self) -> bool:
        """Take the lock if free (True) - for a migration by a read-only command; else False."""
        try:
            self.acquire(brief=True)
        except StateLocked:
            return False
        return True


def _lock(fd: int, wait_for_brief: bool) -> bool:
    """flock fd; when a brief holder has it (and wait_for_brief), try again until BRIEF_WAIT passes."""
    deadline = time.monotonic() + BRIEF_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not (wait_for_brief and _held_briefly(fd)) or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _held_briefly(fd: int) -> bool:
    """The holder said it holds briefly, or has not said anything yet (it writes just after it locks)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return not info or bool(info.get("brief"))
    except (OSError, ValueError, AttributeError):
        return False


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
        return f"pid {int(info.get('pid'))} on {info.get('host')}, since {since}: {info.get('command')}"
    except (OSError, ValueError, TypeError):
        return "holder unknown"
