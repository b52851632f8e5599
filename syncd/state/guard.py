"""The mass-delete guard's record: accounts whose deletes are held, and what it counts.

A hold lasts until the guard finds the account within its limits again (or an
operator runs `syncd reconcile --allow-deletes`).
"""

from __future__ import annotations

from syncd.state.db import Database
from syncd.state.listings import TRACKED

# What the guard counts as done within its window: everything that took something from a tenant
# (a doc soft-deleted, an object deleted or trashed, a file of a hold-music playlist gone with it,
# a media's audio replaced by a file's)
REMOVALS = "('soft-delete', 'delete-object', 'trash-object', 'hold-music-file-removed', 'media-replaced')"


class Holds:
    """Held accounts, and the counts the guard weighs before it lets a delete through."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def account_counts(self, account_id: str, since: float) -> tuple[int, int, int]:
        """(tracked items, items seen missing, deletes applied since `since`) for the guard."""
        tracked, missing = self.db.execute(
            f"SELECT COUNT(*), COUNT(missing_since) FROM items WHERE account_id = ? AND status IN {TRACKED}",  # noqa: S608
            (account_id,),
        ).fetchone()
        (deleted,) = self.db.execute(
            f"SELECT COUNT(*) FROM audit WHERE account_id = ? AND at >= ? AND action IN {REMOVALS}",  # noqa: S608 - a constant
            (account_id, since),
        ).fetchone()
        return int(tracked), int(missing), int(deleted)

    def hold(self, account_id: str, message: str, planned: int) -> bool:
        """Hold an account's deletes; True when the hold is new."""
        with self.db.tx() as db:
            new = db.execute("SELECT 1 FROM holds WHERE account_id = ?", (account_id,)).fetchone() is None
            db.execute(
                "INSERT INTO holds (account_id, message, planned, since) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account_id) DO UPDATE SET message = excluded.message, "
                "planned = excluded.planned",
                (account_id, message, planned, self.db.clock()),
            )
            return new

    def release(self, account_id: str) -> bool:
        with self.db.tx() as db:
            return int(db.execute("DELETE FROM holds WHERE account_id = ?", (account_id,)).rowcount) > 0

    def all(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT account_id, message FROM holds ORDER BY account_id").fetchall())
