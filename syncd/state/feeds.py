"""The feeds syncd follows: the databases found, and each changes feed's cursor.

A feed's batch of found work and its new cursor are written in one
transaction, so a crash either keeps both or replays the batch (recording is
idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from syncd.state.db import Database
from syncd.state.items import NewItem
from syncd.state.work import record_rows


class Feeds:
    """Followed databases and their cursors."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def cursor(self, feed: str) -> Any:
        row = self.db.execute("SELECT seq FROM cursors WHERE feed = ?", (feed,)).fetchone()
        return None if row is None else json.loads(row[0])

    def record_changes(self, feed: str, seq: Any, items: Iterable[NewItem], deleted_docs: Iterable[str] = ()) -> int:
        """Record found work (and docs deleted in Kazoo) and move the feed's cursor, in one transaction."""
        now = self.db.clock()
        with self.db.tx() as db:
            count, _ = record_rows(db, items, feed, deleted_docs, now)
            _move(db, feed, seq, now)
        return count

    def move(self, feed: str, seq: Any) -> None:
        """Move a cursor with nothing to record beside it (a feed read for a flow of its own)."""
        with self.db.tx() as db:
            _move(db, feed, seq, self.db.clock())

    def databases(self) -> dict[str, str]:
        """Followed database name -> its account id."""
        return dict(self.db.execute("SELECT name, account_id FROM databases").fetchall())

    def add_database(self, name: str, account_id: str) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO databases (name, account_id, found_at) VALUES (?, ?, ?)",
                (name, account_id, self.db.clock()),
            )


def _move(db: Any, feed: str, seq: Any, now: float) -> None:
    db.execute(
        "INSERT INTO cursors (feed, seq, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (feed) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        (feed, json.dumps(seq), now),
    )
