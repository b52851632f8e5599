"""The state database: one SQLite connection, its transactions and migrations.

- The connection runs in WAL mode with synchronous=NORMAL: a killed process
  loses nothing committed; a power cut may lose the last commits, which only
  replays work that is idempotent (an object already present with the same MD5
  is recorded, not uploaded twice). It is shared by all threads behind a lock:
  SQLite serialises writers anyway. Long reads get their own read-only
  connection (WAL lets readers run beside the writer).
- Every sqlite3 error becomes a StateError that says what happened and what to
  do: StateUnavailable when it can clear by itself (disk full, read-only,
  I/O error, busy), StateDamaged when the file is unusable.
- Schema changes are migrations keyed by PRAGMA user_version (syncd.state.schema),
  applied under the state lock (syncd.state.lock).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncd.errors import StateDamaged, StateError, StateUnavailable
from syncd.state.lock import StateLock
from syncd.state.schema import MIGRATIONS, SCHEMA_VERSION

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
        self.clock: Callable[[], float] = time.time  # the Database's clock, for rows stamped in a transaction
        self._closing = threading.Lock()  # close() never runs beside a statement (sqlite3 could crash)
        self._closed = False

    def execute(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._closing:
            self._refuse_closed()
            try:
                return self._conn.execute(sql, tuple(args))
            except sqlite3.Error as exc:
                raise state_failure(exc, self._path) from None

    def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        """execute's rows, read here: an error met while stepping through them is a StateError too."""
        with self._closing:
            self._refuse_closed()
            try:
                return self._conn.execute(sql, tuple(args)).fetchall()
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


UPGRADE_WAIT = 60.0  # seconds a reader waits for the holder's upgrade of the schema


class Database:
    """The state database at path. exclusive=True (the daemon, an acting reconcile): hold the
    state lock for the process's life, taken before any migration. Read-only commands open it
    beside a running daemon. clock: the time every row is stamped with (a test moves it)."""

    def __init__(self, path: str, exclusive: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.path, self.clock = path, clock
        self._held: StateLock | None = None
        _make_folder(path)
        if exclusive and path != ":memory:":
            self._held = StateLock(path)
            self._held.acquire()
        try:
            self._conn = _connect(path)
        except BaseException:
            self._release()
            raise
        self._conn.clock = clock
        self._lock = threading.RLock()
        self._idle_readers: list[GuardedConnection] = []  # read()'s connections not in use
        self._readers_lock = threading.Lock()
        try:
            self._migrate()
        except BaseException:
            self._release()
            raise

    def execute(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        """A statement outside any transaction (reads, and single writes that need none)."""
        with self._lock:
            return self._conn.execute(sql, args)

    @contextmanager
    def tx(self) -> Iterator[GuardedConnection]:
        """One write transaction (BEGIN IMMEDIATE): all of it commits, or none of it."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                try:
                    self._conn.execute("ROLLBACK")
                except StateError:
                    pass  # the transaction is gone with the failure that ended it
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reader(self) -> Iterator[Any]:
        """A connection of its own for a long read, so it never blocks writers."""
        if self.path == ":memory:":
            yield self
            return
        connection = _connect_reader(self.path)
        try:
            yield connection
        finally:
            connection.close()

    def read(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        """A read's rows, on a connection of its own kept for the next read: in WAL mode it runs
        beside a writer's transaction instead of waiting for this object's lock (a sink reading
        its next batch while a feed's page is queued). It sees what was committed when it began."""
        if self.path == ":memory:":
            return self.execute(sql, args).fetchall()
        with self._readers_lock:
            connection = self._idle_readers.pop() if self._idle_readers else None
        if connection is None:
            connection = _connect_reader(self.path)
        rows = connection.fetchall(sql, args)  # a connection whose read failed is not kept
        with self._readers_lock:
            self._idle_readers.append(connection)
        return rows

    def close(self) -> None:
        with self._readers_lock:
            readers, self._idle_readers = self._idle_readers, []
        for reader in readers:
            reader.close()
        with self._lock:
            self._conn.close()
        self._release()

    def _release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state database {self.path} has schema {version}, newer than this "
                    f"syncd understands ({SCHEMA_VERSION}); upgrade syncd"
                )
            if version == SCHEMA_VERSION:
                return
            brief = None
            if self._held is None and self.path != ":memory:":
                brief = StateLock(self.path)
                if not brief.try_briefly():
                    self._await_upgrade()  # the syncd holding it is making it (a start): its reader waits
                    return
            try:
                self._apply_migrations()
            finally:
                if brief is not None:
                    brief.release()

    def _await_upgrade(self) -> None:
        """A read-only command (syncd status) opened while the syncd that holds the database upgrades
        it, as it does when it starts: wait for that upgrade (it takes well under a second) instead
        of failing, so a command run beside a starting service works."""
        deadline = time.monotonic() + UPGRADE_WAIT
        while time.monotonic() < deadline:
            if self._conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            time.sleep(0.05)
        raise StateError(
            f"state database {self.path} needs an upgrade that the syncd holding it has not finished in "
            f"{UPGRADE_WAIT:.0f} s; try again once it is running"
        )

    def _apply_migrations(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]  # again, now under the lock
        for number in range(version, SCHEMA_VERSION):
            with self.tx() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number + 1}")


def _make_folder(path: str) -> None:
    try:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"cannot create the folder of state database {path}: {exc.strerror}; check [state] path"
        ) from None


def _connect_reader(path: str) -> GuardedConnection:
    """A read-only connection beside the writer (WAL)."""
    try:
        uri = f"{Path(path).absolute().as_uri()}?mode=ro"
        return GuardedConnection(sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30), path)
    except sqlite3.Error as exc:
        raise state_failure(exc, path) from None


def _connect(path: str) -> GuardedConnection:
    try:
        connection = GuardedConnection(
            sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30), path
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except StateError:
        raise
    except (sqlite3.Error, OSError) as exc:
        raise StateError(
            f"cannot open state database {path}: {exc}; check [state] path and that the directory is writable"
        ) from None
    return connection
