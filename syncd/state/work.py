"""The work items: one row per (database, doc, attachment, target), from found to uploaded.

The feeds and reconciliation record items; the upload runner claims the due
ones and marks them synced or failed (retried with backoff); two-way sync
requeues an item whose object vanished or changed behind syncd's back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from syncd.state.audit import insert_audit
from syncd.state.db import Database, GuardedConnection
from syncd.state.items import ITEM_COLUMNS, NOT_LIBRARY, Item, ItemStatus, NewItem, item_from_row


class UploadSessionSlot:
    """A backend's resumable-upload session for one item (syncd.backends.base.ResumeSlot).

    `version` ties the session to the bytes it was started for: a new version
    of the attachment never continues an old session.
    """

    def __init__(self, db: Database, item_id: int, version: str) -> None:
        self.db, self.item_id, self.version = db, item_id, version

    def load(self) -> str | None:
        row = self.db.execute(
            "SELECT session FROM upload_sessions WHERE item_id = ? AND version = ?", (self.item_id, self.version)
        ).fetchone()
        return None if row is None else str(row[0])

    def save(self, session: str) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO upload_sessions (item_id, version, session, saved_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET version = excluded.version, "
                "session = excluded.session, saved_at = excluded.saved_at",
                (self.item_id, self.version, session, self.db.clock()),
            )

    def clear(self) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM upload_sessions WHERE item_id = ?", (self.item_id,))


class WorkItems:
    """The items table, as the upload runner, the feeds and reconciliation use it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim_due(self, limit: int, skip: Iterable[int] = (), ignore_backoff: bool = False) -> list[Item]:
        """Take up to `limit` items that are due, counting this as an attempt."""
        skip_ids = tuple(skip)
        due_before = float("inf") if ignore_backoff else self.db.clock()
        where = "status IN ('pending', 'failed') AND next_attempt_at <= ?"
        if skip_ids:
            where += f" AND id NOT IN ({','.join('?' * len(skip_ids))})"
        with self.db.tx() as db:
            rows = db.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE {where} "  # noqa: S608
                "ORDER BY next_attempt_at, id LIMIT ?",
                (due_before, *skip_ids, limit),
            ).fetchall()
            db.executemany("UPDATE items SET attempts = attempts + 1 WHERE id = ?", [(r[0],) for r in rows])
        return [item_from_row(r) for r in rows]

    def record(self, items: Iterable[NewItem], db_name: str | None = None, deleted_docs: Iterable[str] = ()) -> int:
        """Record work found outside a feed (reconciliation); returns rows added or changed."""
        with self.db.tx() as db:
            return record_rows(db, items, db_name, deleted_docs, self.db.clock())[1]

    def mark_synced(self, item_id: int, etag: str, md5: str | None, object_id: str | None = None) -> None:
        now = self.db.clock()
        with self.db.tx() as db:
            db.execute(
                "UPDATE items SET status = 'synced', etag = ?, md5 = ?, object_id = ?, last_error = NULL, "
                "synced_at = ?, updated_at = ? WHERE id = ?",
                (etag, md5, object_id, now, now, item_id),
            )
            db.execute("DELETE FROM upload_sessions WHERE item_id = ?", (item_id,))

    def resume_slot(self, item: Item) -> UploadSessionSlot:
        return UploadSessionSlot(self.db, item.id, f"{item.digest}:{item.length}")

    def mark_failed(self, item_id: int, error: str, retry_at: float) -> None:
        with self.db.tx() as db:
            db.execute(
                "UPDATE items SET status = 'failed', last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                (error, retry_at, self.db.clock(), item_id),
            )

    def forget(self, item_id: int, reason: str) -> None:
        """Drop a work row whose source vanished, leaving an audit line."""
        with self.db.tx() as db:
            row = db.execute(
                "SELECT account_id, db, doc_id, target, object_key FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                return
            insert_audit(db, "state", "forget", row, reason)
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def count(self, *statuses: str) -> int:
        marks = ",".join("?" * len(statuses))
        row = self.db.execute(
            f"SELECT COUNT(*) FROM items WHERE status IN ({marks})",  # noqa: S608
            statuses,
        ).fetchone()
        return int(row[0])

    def item(self, db: str, doc_id: str, attachment: str, target: str) -> dict[str, Any] | None:
        cur = self.db.execute(
            "SELECT * FROM items WHERE db = ? AND doc_id = ? AND attachment = ? AND target = ?",
            (db, doc_id, attachment, target),
        )
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row, strict=True))

    def summary(self) -> list[dict[str, Any]]:
        """Per account, document type and target: counts, last success, last error."""
        rows = self.db.execute(_SUMMARY).fetchall()
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

    def get_item(self, item_id: int) -> Item | None:
        row = self.db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()  # noqa: S608
        return None if row is None else item_from_row(row)

    def requeue(self, item_id: int, reason: str) -> None:
        """Upload again (object gone or changed behind syncd's back)."""
        now = self.db.clock()
        with self.db.tx() as db:
            db.execute(
                "UPDATE items SET status = 'pending', may_exist = 0, attempts = 0, next_attempt_at = 0, "
                "missing_since = NULL, last_error = ?, updated_at = ? WHERE id = ?",
                (reason, now, item_id),
            )

    def items_of_doc(self, db_name: str, doc_id: str) -> list[Item]:
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE db = ? AND doc_id = ?",  # noqa: S608
            (db_name, doc_id),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def known_versions(self, db_name: str, doc_ids: list[str]) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(doc_id, attachment, target) -> (digest, object_key) of the items these docs have (one query)."""
        marks = ",".join("?" * len(doc_ids))
        rows = self.db.execute(
            f"SELECT doc_id, attachment, target, digest, object_key FROM items "  # noqa: S608
            f"WHERE db = ? AND doc_id IN ({marks})",
            (db_name, *doc_ids),
        )
        return {(d, a, t): (digest, key) for d, a, t, digest, key in rows}

    def doc_ids(self, db_name: str) -> Iterator[str]:
        query = f"SELECT DISTINCT doc_id FROM items WHERE db = ? AND {NOT_LIBRARY}"  # noqa: S608
        for (doc_id,) in self.db.execute(query, (db_name,)).fetchall():
            yield doc_id


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


def record_rows(
    db: GuardedConnection, items: Iterable[NewItem], db_name: str | None, deleted_docs: Iterable[str], now: float
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
