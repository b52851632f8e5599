"""Media library files and the media they are: rows of the items table (target
`media:<library>`), kept synced from the moment they are recorded.

A library's rows never pass through the upload queue (status 'pending'): the
file is the source, so a row is written once the media holds its audio, and
changed in place when the file is replaced, renamed or moved. The rest of the
two-way machinery (missing sightings, the guard, the audit) reads them as any
other tracked item.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Playlist:
    """A music-on-hold folder's playlist media and the doc whose hold music it is."""

    scope: str  # "account", "users/alice", "devices/lobby", "groups/sales"
    media_id: str
    fingerprint: str  # what it was made from: files, versions and order
    doc_id: str | None
    previous: str | None  # JSON of the doc's music_on_hold.media_id before syncd set it
    # when the folder was first seen without some of its files (their removal waits a grace period)
    empty_since: float | None = None
    files: tuple[str, ...] | None = None  # the keys it was made from (None: made by a syncd before 14)


class Playlists:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, library: str) -> dict[str, Playlist]:
        rows = self.db.execute(
            "SELECT scope, media_id, fingerprint, doc_id, previous, empty_since, files FROM moh_playlists "
            "WHERE library = ?",
            (library,),
        ).fetchall()
        return {row[0]: _playlist(row) for row in rows}

    def save(self, library: str, playlist: Playlist) -> None:
        p = playlist
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO moh_playlists "
                "(library, scope, media_id, fingerprint, doc_id, previous, updated_at, files) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (library, scope) DO UPDATE SET "
                "media_id = excluded.media_id, fingerprint = excluded.fingerprint, doc_id = excluded.doc_id, "
                "previous = excluded.previous, updated_at = excluded.updated_at, files = excluded.files, "
                "empty_since = NULL",
                (library, p.scope, p.media_id, p.fingerprint, p.doc_id, p.previous, time.time(), _files(p)),
            )

    def seen_empty(self, library: str, scope: str, since: float | None) -> None:
        """When the folder was first seen without some of the playlist's files; None: they are back."""
        with self.db.tx() as db:
            db.execute(
                "UPDATE moh_playlists SET empty_since = ? WHERE library = ? AND scope = ?", (since, library, scope)
            )

    def drop(self, library: str, scope: str) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM moh_playlists WHERE library = ? AND scope = ?", (library, scope))


def _files(playlist: Playlist) -> str | None:
    return json.dumps(list(playlist.files)) if playlist.files is not None else None


def _playlist(row: tuple[Any, ...]) -> Playlist:
    scope, media_id, fingerprint, doc_id, previous, empty_since, files = row
    made_of = tuple(json.loads(files)) if files else None
    return Playlist(scope, media_id, fingerprint, doc_id, previous, empty_since, made_of)
