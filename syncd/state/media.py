"""Media library files and the media they are: rows of the items table (target
`media:<library>`), kept synced from the moment they are recorded.

A library's rows never pass through the upload queue (status 'pending'): the
file is the source, so a row is written once the media holds its audio, and
changed in place when the file is replaced, renamed or moved. The rest of the
two-way machinery (missing sightings, the guard, the audit) reads them as any
other tracked item.
"""

from __future__ import annotations

import time

from syncd.state.db import Database
from syncd.state.items import ITEM_COLUMNS, Item, Placement, item_from_row
from syncd.state.listings import TRACKED


class MediaItems:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, target: str) -> list[Item]:
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE target = ? AND status IN {TRACKED} ORDER BY id",  # noqa: S608
            (target,),
        ).fetchall()
        return [item_from_row(r) for r in rows]

    def track(self, placement: Placement, etag: str, md5: str | None, object_id: str | None) -> None:
        """Record a file and its media as synced (a new pairing, or the same pairing found again)."""
        p, now = placement, time.time()
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO items (db, doc_id, attachment, target, account_id, pvt_type, object_key, digest, "
                "length, content_type, status, etag, md5, object_id, created_at, updated_at, synced_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'synced', ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (db, doc_id, attachment, target) DO UPDATE SET object_key = excluded.object_key, "
                "etag = excluded.etag, md5 = excluded.md5, object_id = excluded.object_id, "
                "status = 'synced', missing_since = NULL, updated_at = excluded.updated_at",
                (
                    *(p.db, p.doc_id, p.attachment, p.target, p.account_id, p.pvt_type, p.object_key),
                    *(p.digest, p.length, p.content_type, etag, md5, object_id, now, now, now),
                ),
            )

    def replaced(self, item: Item, placement: Placement, etag: str, md5: str | None, object_id: str | None) -> None:
        """The file at the item's place has new audio (or a new place): the same row, new facts."""
        p = placement
        with self.db.tx() as db:
            db.execute(
                "UPDATE items SET attachment = ?, object_key = ?, digest = ?, length = ?, content_type = ?, "
                "etag = ?, md5 = ?, object_id = ?, missing_since = NULL, status = 'synced', updated_at = ?, "
                "synced_at = ? WHERE id = ?",
                (
                    *(p.attachment, p.object_key, p.digest, p.length, p.content_type),
                    *(etag, md5, object_id, time.time(), time.time(), item.id),
                ),
            )
