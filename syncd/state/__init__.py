"""SQLite state: one row per (database, doc, attachment, target), feed cursors,
known databases, standing problems and the delete audit.

The connection runs in WAL mode with synchronous=NORMAL: a killed process
loses nothing committed; a power cut may lose the last commits, which only
replays work that is idempotent (an object already present with the same MD5
is recorded, not uploaded twice). One connection is shared by all threads
behind a lock: SQLite serialises writers anyway.

Schema changes are migrations keyed by PRAGMA user_version.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncd.errors import StateError
from syncd.state.db import GuardedConnection, StateLock
from syncd.state.fax import FaxState
from syncd.state.items import ITEM_COLUMNS, Item, ItemStatus, NewItem, item_from_row
from syncd.state.schema import MIGRATIONS, SCHEMA_VERSION
from syncd.state.two_way import TwoWayState, insert_audit

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Item", "ItemStatus", "NewItem", "State"]


class UploadSessionSlot:
    """A backend's resumable-upload session for one item (syncd.backends.base.ResumeSlot).

    `version` ties the session to the bytes it was started for: a new version
    of the attachment never continues an old session.
    """

    def __init__(self, state: State, item_id: int, version: str) -> None:
        self.state, self.item_id, self.version = state, item_id, version

    def load(self) -> str | None:
        row = self.state._db.execute(
            "SELECT session FROM upload_sessions WHERE item_id = ? AND version = ?", (self.item_id, self.version)
        ).fetchone()
        return None if row is None else str(row[0])

    def save(self, session: str) -> None:
        with self.state._tx() as db:
            db.execute(
                "INSERT INTO upload_sessions (item_id, version, session, saved_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET version = excluded.version, "
                "session = excluded.session, saved_at = excluded.saved_at",
                (self.item_id, self.version, session, time.time()),
            )

    def clear(self) -> None:
        with self.state._tx() as db:
            db.execute("DELETE FROM upload_sessions WHERE item_id = ?", (self.item_id,))


class State(TwoWayState, FaxState):
    """exclusive=True (the daemon, an acting reconcile): hold the state lock for the process's life,
    taken before any migration. Read-only commands open it beside a running daemon."""

    def __init__(self, path: str, exclusive: bool = False) -> None:
        self.path = path
        self._held: StateLock | None = None
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the folder of state database {path}: {exc.strerror}; check [state] path"
            ) from None
        if exclusive and path != ":memory:":
            self._held = StateLock(path)
            self._held.acquire()
        try:
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db = GuardedConnection(connection, path)  # type: ignore[assignment]
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except StateError:
            self._release()
            raise
        except (sqlite3.Error, OSError) as exc:
            self._release()
            raise StateError(
                f"cannot open state database {path}: {exc}; check [state] path and that the directory is writable"
            ) from None
        self._lock = threading.RLock()
        try:
            self._migrate()
        except BaseException:
            self._release()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release()

    def _release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                try:
                    self._db.execute("ROLLBACK")
                except StateError:
                    pass  # the transaction is gone with the failure that ended it
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
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
                    raise StateError(
                        f"state database {self.path} needs an upgrade that the syncd holding it "
                        "will make; try again once it is running"
                    )
            try:
                self._apply_migrations()
            finally:
                if brief is not None:
                    brief.release()

    def _apply_migrations(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]  # again, now under the lock
        for number in range(version, SCHEMA_VERSION):
            with self._tx() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number + 1}")

    # -- feeds -------------------------------------------------------------
    def cursor(self, feed: str) -> Any:
        with self._lock:  # read by hot-database watchers too: never beside close()
            row = self._db.execute("SELECT seq FROM cursors WHERE feed = ?", (feed,)).fetchone()
        return None if row is None else json.loads(row[0])

    def record_changes(self, feed: str, seq: Any, items: Iterable[NewItem], deleted_docs: Iterable[str] = ()) -> int:
        """Record found work (and docs deleted in Kazoo) and move the feed's cursor, in one transaction."""
        now = time.time()
        with self._tx() as db:
            count, _ = _record(db, items, feed, deleted_docs, now)
            db.execute(
                "INSERT INTO cursors (feed, seq, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (feed) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
                (feed, json.dumps(seq), now),
            )
        return count

    # -- work --------------------------------------------------------------
    def claim_due(self, limit: int, skip: Iterable[int] = (), ignore_backoff: bool = False) -> list[Item]:
        """Take up to `limit` items that are due, counting this as an attempt."""
        skip_ids = tuple(skip)
        due_before = float("inf") if ignore_backoff else time.time()
        where = "status IN ('pending', 'failed') AND next_attempt_at <= ?"
        if skip_ids:
            where += f" AND id NOT IN ({','.join('?' * len(skip_ids))})"
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE {where} "  # noqa: S608
                "ORDER BY next_attempt_at, id LIMIT ?",
                (due_before, *skip_ids, limit),
            ).fetchall()
            db.executemany("UPDATE items SET attempts = attempts + 1 WHERE id = ?", [(r[0],) for r in rows])
        return [item_from_row(r) for r in rows]

    def record_items(
        self, items: Iterable[NewItem], db_name: str | None = None, deleted_docs: Iterable[str] = ()
    ) -> int:
        """Record work found outside a feed (reconciliation); returns rows added or changed."""
        with self._tx() as db:
            return _record(db, items, db_name, deleted_docs, time.time())[1]

    def mark_synced(self, item_id: int, etag: str, md5: str | None, object_id: str | None = None) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE items SET status = 'synced', etag = ?, md5 = ?, object_id = ?, last_error = NULL, "
                "synced_at = ?, updated_at = ? WHERE id = ?",
                (etag, md5, object_id, now, now, item_id),
            )
            db.execute("DELETE FROM upload_sessions WHERE item_id = ?", (item_id,))

    def resume_slot(self, item: Item) -> UploadSessionSlot:
        return UploadSessionSlot(self, item.id, f"{item.digest}:{item.length}")

    def mark_failed(self, item_id: int, error: str, retry_at: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE items SET status = 'failed', last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                (error, retry_at, time.time(), item_id),
            )

    def forget(self, item_id: int, reason: str) -> None:
        """Drop a work row whose source vanished, leaving an audit line."""
        with self._tx() as db:
            row = db.execute(
                "SELECT account_id, db, doc_id, target, object_key FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                return
            insert_audit(db, "state", "forget", row, reason)
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def count(self, *statuses: str) -> int:
        marks = ",".join("?" * len(statuses))
        row = self._db.execute(
            f"SELECT COUNT(*) FROM items WHERE status IN ({marks})",  # noqa: S608
            statuses,
        ).fetchone()
        return int(row[0])

    def item(self, db: str, doc_id: str, attachment: str, target: str) -> dict[str, Any] | None:
        cur = self._db.execute(
            "SELECT * FROM items WHERE db = ? AND doc_id = ? AND attachment = ? AND target = ?",
            (db, doc_id, attachment, target),
        )
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row, strict=True))

    # -- databases and problems --------------------------------------------
    def databases(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT name, account_id FROM databases").fetchall())

    def add_database(self, name: str, account_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO databases (name, account_id, found_at) VALUES (?, ?, ?)",
                (name, account_id, time.time()),
            )

    def set_problem(self, scope: str, message: str) -> bool:
        """Record a standing problem; True when it is new or its text changed."""
        with self._tx() as db:
            row = db.execute("SELECT message FROM problems WHERE scope = ?", (scope,)).fetchone()
            if row is not None and row[0] == message:
                return False
            db.execute(
                "INSERT INTO problems (scope, message, since) VALUES (?, ?, ?) ON CONFLICT (scope) "
                "DO UPDATE SET message = excluded.message, since = excluded.since",
                (scope, message, time.time()),
            )
            return True

    def clear_problem(self, scope: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM problems WHERE scope = ?", (scope,)).rowcount > 0

    def problems(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT scope, message FROM problems ORDER BY scope").fetchall())

    # -- status ------------------------------------------------------------
    def summary(self) -> list[dict[str, Any]]:
        """Per account, document type and target: counts, last success, last error."""
        rows = self._db.execute(_SUMMARY).fetchall()
        keys = (
            "account_id",
            "pvt_type",
            "target",
            "synced",
            "offloaded",
            "pending",
            "failed",
            "last_success",
            "last_error",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]


_UPSERT = """
INSERT INTO items (db, doc_id, attachment, target, account_id, pvt_type, object_key, digest, length,
                   content_type, may_exist, status, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (db, doc_id, attachment, target) DO UPDATE SET
    object_key = excluded.object_key, digest = excluded.digest, length = excluded.length,
    content_type = excluded.content_type, may_exist = excluded.may_exist, status = excluded.status,
    attempts = 0, last_error = NULL, next_attempt_at = 0, updated_at = excluded.updated_at
WHERE items.digest IS NOT excluded.digest OR items.object_key != excluded.object_key
   OR (items.status = 'offloaded') != (excluded.status = 'offloaded')
"""

_SUMMARY = """
SELECT account_id, pvt_type, target,
       SUM(status = 'synced'), SUM(status = 'offloaded'), SUM(status = 'pending'), SUM(status = 'failed'),
       MAX(synced_at),
       (SELECT last_error FROM items AS e WHERE e.account_id = i.account_id AND e.pvt_type = i.pvt_type
          AND e.target = i.target AND e.last_error IS NOT NULL ORDER BY e.updated_at DESC LIMIT 1)
FROM items AS i GROUP BY account_id, pvt_type, target ORDER BY account_id, pvt_type, target
"""


def _record(
    db: sqlite3.Connection, items: Iterable[NewItem], db_name: str | None, deleted_docs: Iterable[str], now: float
) -> tuple[int, int]:
    """Upsert items and flag docs deleted in Kazoo; (items seen, rows added or changed)."""
    count = changed = 0
    for item in items:
        changed += db.execute(_UPSERT, _upsert_args(item, now)).rowcount
        count += 1
    db.executemany(
        "UPDATE items SET kazoo_deleted_at = ? WHERE db = ? AND doc_id = ? AND kazoo_deleted_at IS NULL",
        [(now, db_name, d) for d in deleted_docs],
    )
    return count, changed


def _upsert_args(item: NewItem, now: float) -> tuple[Any, ...]:
    status = ItemStatus.OFFLOADED if item.offloaded else ItemStatus.PENDING
    return (
        item.db,
        item.doc_id,
        item.attachment,
        item.target,
        item.account_id,
        item.pvt_type,
        item.object_key,
        item.digest,
        item.length,
        item.content_type,
        int(item.may_exist),
        status,
        now,
        now,
    )
