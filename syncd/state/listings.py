"""Two-way sync's view of the backends: targets, listings and objects seen missing.

Listings are streamed into the `listing` table in batches and compared with
`items` in SQL, so a backend of any size never sits in memory. Long reads go
through their own connection (Database.reader) so a reconcile never blocks
uploads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Protocol

from syncd.state.db import Database
from syncd.state.items import ITEM_COLUMNS, NOT_LIBRARY, Item, item_from_row

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


class Listings:
    """What syncd last saw in each target, and which tracked objects went missing when."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- targets and markers ----------------------------------------------
    def target_info(self, target: str) -> dict[str, Any] | None:
        cur = self.db.execute("SELECT * FROM targets WHERE target = ?", (target,))
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row, strict=True))

    def note_target(
        self, target: str, location: str, *, marker: bool = False, scanned_objects: int | None = None
    ) -> None:
        now = self.db.clock()
        with self.db.tx() as db:
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
        """Targets the attachments flow scans (a media library scans its own)."""
        sql = f"SELECT DISTINCT target FROM items WHERE status IN {TRACKED} AND {NOT_LIBRARY}"  # noqa: S608
        args: tuple[Any, ...] = ()
        if account_id:
            sql, args = sql + " AND account_id = ?", (account_id,)
        return [r[0] for r in self.db.execute(sql + " ORDER BY target", args)]

    def sample_items(self, target: str, limit: int) -> list[Item]:
        """A few items of target, those whose doc is not deleted in Kazoo first."""
        rows = self.db.execute(
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
            with self.db.tx() as db:
                db.executemany(
                    "INSERT INTO listing (target, object_key, size, etag, md5, scan) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, object_key) DO UPDATE SET "
                    "size = excluded.size, etag = excluded.etag, md5 = excluded.md5, "
                    "scan = excluded.scan",
                    batch,
                )
            count += len(batch)
        with self.db.tx() as db:
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
        with self.db.reader() as reader:
            for row in reader.execute(sql + " ORDER BY i.object_key", args):
                listed = None if row[-4] is None else row[-4:]
                yield item_from_row(row[:-4]), listed

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
        count = self.db.execute(f"SELECT COUNT(*) FROM listing AS l WHERE {where}", args).fetchone()[0]  # noqa: S608
        keys = [
            r[0]
            for r in self.db.execute(
                f"SELECT object_key FROM listing AS l WHERE {where} "  # noqa: S608
                "ORDER BY object_key LIMIT ?",
                (*args, limit),
            )
        ]
        return count, keys

    # -- missing objects ---------------------------------------------------
    def mark_missing(self, item_ids: Iterable[int], when: float | None = None) -> None:
        """First sighting of a missing object; later sightings keep the first time."""
        with self.db.tx() as db:
            db.executemany(
                "UPDATE items SET missing_since = ? WHERE id = ? AND missing_since IS NULL",
                [(when or self.db.clock(), i) for i in item_ids],
            )

    def clear_missing(self, item_ids: Iterable[int]) -> None:
        with self.db.tx() as db:
            db.executemany(
                "UPDATE items SET missing_since = NULL WHERE id = ? AND missing_since IS NOT NULL",
                [(i,) for i in item_ids],
            )

    def due_missing(self, seen_before: float, limit: int = 500, target: str | None = None) -> list[Item]:
        """Items first seen missing before `seen_before`: due for their second sighting. Without a
        target, a media library's items are left out (their flow asks for them by target)."""
        scope, args = ("target = ?", (target,)) if target else (NOT_LIBRARY, ())
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE missing_since IS NOT NULL "  # noqa: S608
            f"AND missing_since <= ? AND status IN {TRACKED} AND {scope} ORDER BY missing_since "
            "LIMIT ?",
            (seen_before, *args, limit),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def items_at(self, object_key: str) -> list[Item]:
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE object_key = ? "  # noqa: S608
            f"AND status IN {TRACKED} AND {NOT_LIBRARY}",
            (object_key,),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def items_with_object_id(self, target: str, object_id: str) -> list[Item]:
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE target = ? AND object_id = ? "  # noqa: S608
            f"AND status IN {TRACKED}",
            (target, object_id),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def deleted_in_kazoo(self, limit: int = 1000) -> list[Item]:
        """Tracked items whose Kazoo doc was deleted, waiting for their backend policy."""
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE kazoo_deleted_at IS NOT NULL "  # noqa: S608
            f"AND status IN {TRACKED} AND {NOT_LIBRARY} ORDER BY kazoo_deleted_at LIMIT ?",
            (limit,),
        ).fetchall()
        return [item_from_row(r) for r in rows]


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))
