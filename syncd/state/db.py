"""The state database's connection and lock: SQLite failures named, one daemon per file.

- Every sqlite3 error becomes a StateError that says what happened and what to
  do: StateUnavailable when it can clear by itself (disk full, read-only,
  I/O error, busy), StateDamaged when the file is unusable.
- One syncd may write a state database at a time: `syncd run` (and a
  reconcile that acts) holds an exclusive flock on `<path>.lock`, taken before
  any migration. The lock file says who holds it, so a second run can name
  the holder. Read-only commands (status, audit, check) never take it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from syncd.errors import StateDamaged, StateError, StateLocked, StateUnavailable

_TRANSIENT = (
    "database or disk is full",
    "readonly database",
    "disk i/o error",
    "database is locked",
    "unable to open database file",
    "read-only file system",
)
_DAMAGED = ("malformed", "file is not a database", "no such table", "no such column", "file is encrypted")


def state_failure(exc: sqlite3.Error, path: str) -> StateError:
    """The StateError that names what went wrong with the state database at path."""
    text = str(exc)
    lowered = text.lower()
    if any(word in lowered for word in _DAMAGED):
        return StateDamaged(
            f"state database {path} is damaged ({text}); stop syncd, move the file aside "
            "(its -wal and -shm too) and start again: syncd rebuilds it from Kazoo and "
            "the backends (already stored objects are found, not sent again)"
        )
    if any(word in lowered for word in _TRANSIENT):
        return StateUnavailable(
            f"state database {path} cannot be written ({text}); free disk space or "
            "make it writable: work waits and resumes by itself, nothing is lost"
        )
    return StateUnavailable(f"state database {path}: {text}")


class GuardedConnection:
    """A sqlite3 connection whose errors are StateErrors (see state_failure)."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._conn, self._path = connection, path
        self._closing = threading.Lock()  # close() never runs beside a statement (sqlite3 could crash)
        self._closed = False

    def execute(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._closing:
            self._refuse_closed()
            try:
                return self._conn.execute(sql, tuple(args))
            except sqlite3.Error as exc:
                raise state_failure(exc, self._path) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        with self._closing:
            self._refuse_closed()
            try:
                return self._conn.executemany(sql, rows)
            except sqlite3.Error as exc:
                raise state_failure(exc, self._path) from None

    def close(self) -> None:
        with self._closing:
            self._closed = True
            self._conn.close()

    def _refuse_closed(self) -> None:
        if self._closed:
            raise StateUnavailable(f"state database {self._path} is closed (syncd is stopping)")


class StateLock:
    """An exclusive, non-blocking flock beside the state database, released when the process ends."""

    def __init__(self, state_path: str) -> None:
        self.path = state_path + ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(
                f"cannot open the lock file {self.path}: {exc.strerror}; check [state] path "
                "and that its directory is writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
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
            self.acquire()
        except StateLocked:
            return False
        return True


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
        return f"pid {int(info.get('pid'))} on {info.get('host')}, since {since}: {info.get('command')}"
    except (OSError, ValueError, TypeError):
        return "holder unknown"
