"""Standing problems, by scope (couchdb, doc:..., account:..., target:..., fax:...).

A problem is recorded when a pass meets it and cleared when a pass succeeds;
`syncd status` and `syncd check` show what stands. Setting returns whether
the problem is new or changed, so the caller logs it once, not every pass.
"""

from __future__ import annotations

from syncd.state.db import Database


class Problems:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, scope: str, message: str) -> bool:
        """Record a standing problem; True when it is new or its text changed."""
        with self.db.tx() as db:
            row = db.execute("SELECT message FROM problems WHERE scope = ?", (scope,)).fetchone()
            if row is not None and row[0] == message:
                return False
            db.execute(
                "INSERT INTO problems (scope, message, since) VALUES (?, ?, ?) ON CONFLICT (scope) "
                "DO UPDATE SET message = excluded.message, since = excluded.since",
                (scope, message, self.db.clock()),
            )
            return True

    def clear(self, scope: str) -> bool:
        """Drop a problem; True when there was one (the caller says it recovered)."""
        with self.db.tx() as db:
            return int(db.execute("DELETE FROM problems WHERE scope = ?", (scope,)).rowcount) > 0

    def all(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT scope, message FROM problems ORDER BY scope").fetchall())
