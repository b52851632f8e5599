"""The referrer index's rows: which doc of which database names which media, and where.

Kazoo's own view of a doc is its latest revision, so a doc's rows are replaced
whole each time a newer revision of it is read (from the follower's pages, a
catch-up of one database, or a rebuild), and a revision older than the one
indexed is ignored: pages and rebuilds may interleave in any order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from syncd.state.db import Database

CURSOR_PREFIX = "refs:"  # the index's own cursor per database, in the cursors table
ANY = "*"  # media_account and media_key of a doc too big to index: it matches every lookup


@dataclass(frozen=True)
class Ref:
    """One place in one doc that names a media: (media's account, media id or prompt id)."""

    media_account: str
    media_key: str
    path: str  # where in the doc, dotted ("music_on_hold.media_id", "flow.children._.data.id")


@dataclass(frozen=True)
class IndexedDoc:
    """A doc's revision as read, and what it names (none for a deleted doc)."""

    doc_id: str
    rev_gen: int
    label: str  # the doc for a person: its type, name and id
    refs: tuple[Ref, ...]


@dataclass(frozen=True)
class Referrer:
    db: str
    doc_id: str
    label: str
    path: str


class ReferrerRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def apply(self, db_name: str, docs: Iterable[IndexedDoc], seq: Any = None) -> None:
        """Index docs of one database (each only if no newer revision is indexed) and, with seq,
        move that database's cursor, in one transaction."""
        with self.db.tx() as db:
            for doc in docs:
                row = db.execute(
                    "SELECT rev_gen FROM ref_docs WHERE db = ? AND doc_id = ?", (db_name, doc.doc_id)
                ).fetchone()
                if row is not None and row[0] > doc.rev_gen:
                    continue
                db.execute("DELETE FROM refs WHERE db = ? AND doc_id = ?", (db_name, doc.doc_id))
                db.execute(
                    "INSERT INTO ref_docs (db, doc_id, rev_gen) VALUES (?, ?, ?) "
                    "ON CONFLICT (db, doc_id) DO UPDATE SET rev_gen = excluded.rev_gen",
                    (db_name, doc.doc_id, doc.rev_gen),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO refs (media_account, media_key, db, doc_id, label, path) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.media_account, r.media_key, db_name, doc.doc_id, doc.label, r.path) for r in doc.refs],
                )
            if seq is not None:
                db.execute(
                    "INSERT INTO cursors (feed, seq, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (feed) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
                    (CURSOR_PREFIX + db_name, json.dumps(seq), time.time()),
                )

    def forget(self, db_name: str) -> None:
        """Drop one database's rows and cursor (a rebuild starts from nothing)."""
        with self.db.tx() as db:
            db.execute("DELETE FROM refs WHERE db = ?", (db_name,))
            db.execute("DELETE FROM ref_docs WHERE db = ?", (db_name,))
            db.execute("DELETE FROM cursors WHERE feed = ?", (CURSOR_PREFIX + db_name,))

    def cursor(self, db_name: str) -> Any:
        row = self.db.execute("SELECT seq FROM cursors WHERE feed = ?", (CURSOR_PREFIX + db_name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def unbuilt(self, db_names: Iterable[str]) -> list[str]:
        """Those of db_names the index has never read to the end."""
        built = {
            row[0][len(CURSOR_PREFIX) :]
            for row in self.db.execute("SELECT feed FROM cursors WHERE feed LIKE 'refs:%'").fetchall()
        }
        return [name for name in db_names if name not in built]

    def of(self, media_account: str, media_key: str) -> list[Referrer]:
        """The docs that name the media, and, with an empty path, the docs too big to index
        (stored under the ANY key) that the caller must read to know."""
        rows = self.db.execute(
            "SELECT db, doc_id, label, path FROM refs WHERE media_account = ? AND media_key = ? "
            "UNION ALL SELECT db, doc_id, label, '' FROM refs WHERE media_account = ? AND media_key = ? "
            "ORDER BY 1, 2, 4",
            (media_account, media_key, ANY, ANY),
        ).fetchall()
        return [Referrer(*row) for row in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM refs").fetchone()[0])
