"""State DB queries for two-way sync: backend listings, missing objects, holds, the audit.

A mixin of syncd.state.State (it uses State's connection, lock and `_tx`).
Listings are streamed into the `listing` table in batches and compared with
`items` in SQL, so a backend of any size never sits in memory. Long reads go
through their own connection (WAL lets readers run beside the writer) so a
reconcile never blocks uploads.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from syncd.state.items import ITEM_COLUMNS, Item, item_from_row

TRACKED = "('synced', 'offloaded')"  # statuses whose object should exist in the backend
_BATCH = 1000


class Listed(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def etag(self) -> str: ...
    @property
    def md5(self) -> str | None: ...


@dataclass(frozen=True)
class AuditRow:
    at: float
    side: str
    action: str
    account_id: str | None
    db: str | None
    doc_id: str | None
    target: str | None
    object_key: str | None
    reason: str


class TwoWayState:
    path: str
    _db: sqlite3.Connection
    _lock: Any

    def _tx(self) -> Any:  # provided by State
        raise NotImplementedError

    def _reader(self) -> sqlite3.Connection:
        return (
            sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30) if self.path != ":memory:" else self._db
        )

    # -- targets and markers ----------------------------------------------
    def target_info(self, target: str) -> dict[str, Any] | None:
        cur = self._db.execute("SELECT * FROM targets WHERE target = ?", (target,))
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row, strict=True))

    def note_target(
        self, target: str, location: str, *, marker: bool = False, scanned_objects: int | None = None
    ) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO targets (target, location) VALUES (?, ?) ON CONFLICT (target) "
                "DO UPDATE SET location = excluded.location",
                (target, location),
            )
            if marker:
                db.execute("UPDATE targets SET marker_at = ? WHERE target = ?", (now, target))
            if scanned_objects is not None:
                db.execute(
                    "UPDATE targets SET last_scan = ?, last_scan_objects = ? WHERE target = ?",
                    (now, scanned_objects, target),
                )

    def tracked_targets(self, account_id: str | None = None) -> list[str]:
        sql = f"SELECT DISTINCT target FROM items WHERE status IN {TRACKED}"  # noqa: S608
        args: tuple[Any, ...] = ()
        if account_id:
            sql, args = sql + " AND account_id = ?", (account_id,)
        return [r[0] for r in self._db.execute(sql + " ORDER BY target", args)]

    def sample_items(self, target: str, limit: int) -> list[Item]:
        """A few items of target, those whose doc is not deleted in Kazoo first."""
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE target = ? "  # noqa: S608
            "ORDER BY kazoo_deleted_at IS NOT NULL, id DESC LIMIT ?",
            (target, limit),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    # -- listings ----------------------------------------------------------
    def store_listing(self, target: str, objects: Iterable[Listed]) -> tuple[int, int]:
        """Stream a full listing into the state DB; returns (scan id, objects seen).

        If the iterator raises, the previous listing of this target stays as it was
        and the exception propagates: a failed listing never looks like deletions.
        """
        scan = time.time_ns()
        count = 0
        rows = ((target, o.key, o.size, o.etag, o.md5, scan) for o in objects)
        while batch := list(islice(rows, _BATCH)):
            with self._tx() as db:
                db.executemany(
                    "INSERT INTO listing (target, object_key, size, etag, md5, scan) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, object_key) DO UPDATE SET "
                    "size = excluded.size, etag = excluded.etag, md5 = excluded.md5, "
                    "scan = excluded.scan",
                    batch,
                )
            count += len(batch)
        with self._tx() as db:
            db.execute("DELETE FROM listing WHERE target = ? AND scan != ?", (target, scan))
        return scan, count

    def compare_listing(self, target: str, account_id: str | None = None) -> Iterator[tuple[Item, Any]]:
        """Each tracked item of target with its listed object (key, size, etag, md5) or None."""
        sql = (
            f"SELECT {_prefixed(ITEM_COLUMNS, 'i')}, l.object_key, l.size, l.etag, l.md5 "  # noqa: S608
            "FROM items AS i LEFT JOIN listing AS l ON l.target = i.target AND l.object_key = i.object_key "
            f"WHERE i.target = ? AND i.status IN {TRACKED}"
        )
        args: tuple[Any, ...] = (target,)
        if account_id:
            sql, args = sql + " AND i.account_id = ?", (target, account_id)
        reader = self._reader()
        try:
            for row in reader.execute(sql + " ORDER BY i.object_key", args):
                listed = None if row[-4] is None else row[-4:]
                yield item_from_row(row[:-4]), listed
        finally:
            if reader is not self._db:
                reader.close()

    def orphans(self, target: str, ignore_prefixes: tuple[str, ...], limit: int = 20) -> tuple[int, list[str]]:
        """Listed objects no item tracks (reported, never deleted): (count, first few keys)."""
        where = (
            "l.target = ? AND NOT EXISTS (SELECT 1 FROM items AS i WHERE i.target = l.target "
            "AND i.object_key = l.object_key)"
        )
        args: list[Any] = [target]
        for prefix in ignore_prefixes:
            where += " AND substr(l.object_key, 1, ?) != ?"
            args += [len(prefix), prefix]
        count = self._db.execute(f"SELECT COUNT(*) FROM listing AS l WHERE {where}", args).fetchone()[0]  # noqa: S608
        keys = [
            r[0]
            for r in self._db.execute(
                f"SELECT object_key FROM listing AS l WHERE {where} "  # noqa: S608
                "ORDER BY object_key LIMIT ?",
                (*args, limit),
            )
        ]
        return count, keys

    # -- missing objects ---------------------------------------------------
    def mark_missing(self, item_ids: Iterable[int], when: float | None = None) -> None:
        """First sighting of a missing object; later sightings keep the first time."""
        with self._tx() as db:
            db.executemany(
                "UPDATE items SET missing_since = ? WHERE id = ? AND missing_since IS NULL",
                [(when or time.time(), i) for i in item_ids],
            )

    def clear_missing(self, item_ids: Iterable[int]) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE items SET missing_since = NULL WHERE id = ? AND missing_since IS NOT NULL",
                [(i,) for i in item_ids],
            )

    def due_missing(self, seen_before: float, limit: int = 500) -> list[Item]:
        """Items first seen missing before `seen_before`: due for their second sighting."""
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE missing_since IS NOT NULL "  # noqa: S608
            f"AND missing_since <= ? AND status IN {TRACKED} ORDER BY missing_since "
            "LIMIT ?",
            (seen_before, limit),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def items_at(self, object_key: str) -> list[Item]:
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE object_key = ? "  # noqa: S608
            f"AND status IN {TRACKED}",
            (object_key,),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def items_with_object_id(self, target: str, object_id: str) -> list[Item]:
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE target = ? AND object_id = ? "  # noqa: S608
            f"AND status IN {TRACKED}",
            (target, object_id),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def get_item(self, item_id: int) -> Item | None:
        row = self._db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()  # noqa: S608
        return None if row is None else item_from_row(row)

    def requeue(self, item_id: int, reason: str) -> None:
        """Upload again (object gone or changed behind syncd's back)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE items SET status = 'pending', may_exist = 0, attempts = 0, next_attempt_at = 0, "
                "missing_since = NULL, last_error = ?, updated_at = ? WHERE id = ?",
                (reason, now, item_id),
            )

    def deleted_in_kazoo(self, limit: int = 1000) -> list[Item]:
        """Tracked items whose Kazoo doc was deleted, waiting for their backend policy."""
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE kazoo_deleted_at IS NOT NULL "  # noqa: S608
            f"AND status IN {TRACKED} ORDER BY kazoo_deleted_at LIMIT ?",
            (limit,),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def items_of_doc(self, db_name: str, doc_id: str) -> list[Item]:
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE db = ? AND doc_id = ?",  # noqa: S608
            (db_name, doc_id),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def known_versions(self, db_name: str, doc_ids: list[str]) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(doc_id, attachment, target) -> (digest, object_key) of the items these docs have (one query)."""
        marks = ",".join("?" * len(doc_ids))
        rows = self._db.execute(
            f"SELECT doc_id, attachment, target, digest, object_key FROM items "  # noqa: S608
            f"WHERE db = ? AND doc_id IN ({marks})",
            (db_name, *doc_ids),
        )
        return {(d, a, t): (digest, key) for d, a, t, digest, key in rows}

    def doc_ids(self, db_name: str) -> Iterator[str]:
        for (doc_id,) in self._db.execute("SELECT DISTINCT doc_id FROM items WHERE db = ?", (db_name,)).fetchall():
            yield doc_id

    # -- guard inputs --------------------------------------------------------
    def account_counts(self, account_id: str, since: float) -> tuple[int, int, int]:
        """(tracked items, items seen missing, deletes applied since `since`) for the guard."""
        tracked, missing = self._db.execute(
            f"SELECT COUNT(*), COUNT(missing_since) FROM items WHERE account_id = ? AND status IN {TRACKED}",  # noqa: S608
            (account_id,),
        ).fetchone()
        (deleted,) = self._db.execute(
            "SELECT COUNT(*) FROM audit WHERE account_id = ? AND at >= ? AND "
            "action IN ('soft-delete', 'delete-object', 'trash-object')",
            (account_id, since),
        ).fetchone()
        return int(tracked), int(missing), int(deleted)

    # -- holds -------------------------------------------------------------
    def hold(self, account_id: str, message: str, planned: int) -> bool:
        """Hold an account's deletes; True when the hold is new."""
        with self._tx() as db:
            new = db.execute("SELECT 1 FROM holds WHERE account_id = ?", (account_id,)).fetchone() is None
            db.execute(
                "INSERT INTO holds (account_id, message, planned, since) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account_id) DO UPDATE SET message = excluded.message, "
                "planned = excluded.planned",
                (account_id, message, planned, time.time()),
            )
            return new

    def release(self, account_id: str) -> bool:
        with self._tx() as db:
            return int(db.execute("DELETE FROM holds WHERE account_id = ?", (account_id,)).rowcount) > 0

    def holds(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT account_id, message FROM holds ORDER BY account_id").fetchall())

    # -- audit -------------------------------------------------------------
    def record_delete(self, item: Item, side: str, action: str, reason: str) -> None:
        """Audit a delete and drop its work row, in one transaction."""
        with self._tx() as db:
            insert_audit(db, side, action, _audit_subject(item), reason)
            db.execute("DELETE FROM items WHERE id = ?", (item.id,))

    def audit_refusal(self, item: Item, side: str, reason: str) -> None:
        with self._tx() as db:
            insert_audit(db, side, "refused", _audit_subject(item), reason)

    def audit_event(self, action: str, reason: str, account_id: str | None = None, target: str | None = None) -> None:
        """A refusal or hold about a whole target or account (not one item)."""
        with self._tx() as db:
            insert_audit(db, "syncd", action, (account_id, None, None, target, None), reason)

    def audit(self, limit: int = 100, account_id: str | None = None) -> list[AuditRow]:
        sql = "SELECT at, side, action, account_id, db, doc_id, target, object_key, reason FROM audit"
        args: tuple[str, ...] = ()
        if account_id:
            sql, args = sql + " WHERE account_id = ?", (account_id,)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [AuditRow(*r) for r in rows]


def insert_audit(db: sqlite3.Connection, side: str, action: str, subject: tuple[Any, ...], reason: str) -> None:
    """One audit line; subject is (account_id, db, doc_id, target, object_key)."""
    db.execute(
        "INSERT INTO audit (at, side, action, account_id, db, doc_id, target, object_key, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (time.time(), side, action, *subject, reason),
    )


def _audit_subject(item: Item) -> tuple[Any, ...]:
    return item.account_id, item.db, item.doc_id, item.target, item.object_key


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))
