"""The audit: every delete syncd made or refused, on either side, and why.

`syncd audit` reads it. A delete is audited in the transaction that drops its
work row, so the audit never misses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncd.state.db import Database, GuardedConnection
from syncd.state.items import Item


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


class AuditLog:
    """Append-only lines; read newest first."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record_delete(self, item: Item, side: str, action: str, reason: str) -> None:
        """Audit a delete and drop its work row, in one transaction."""
        with self.db.tx() as db:
            insert_audit(db, side, action, _audit_subject(item), reason)
            db.execute("DELETE FROM items WHERE id = ?", (item.id,))

    def refusal(self, item: Item, side: str, reason: str) -> None:
        with self.db.tx() as db:
            insert_audit(db, side, "refused", _audit_subject(item), reason)

    def removal(self, account_id: str, target: str, doc_id: str, object_key: str, action: str, reason: str) -> None:
        """Something taken from a tenant that is no item of syncd's (a playlist's file, a media's
        old audio): audited on Kazoo's side, as a soft delete is, and counted by the guard."""
        with self.db.tx() as db:
            insert_audit(db, "kazoo", action, (account_id, None, doc_id, target, object_key), reason)

    def event(self, action: str, reason: str, account_id: str | None = None, target: str | None = None) -> None:
        """A refusal or hold about a whole target or account (not one item)."""
        with self.db.tx() as db:
            insert_audit(db, "syncd", action, (account_id, None, None, target, None), reason)

    def lines(self, limit: int = 100, account_id: str | None = None) -> list[AuditRow]:
        sql = "SELECT at, side, action, account_id, db, doc_id, target, object_key, reason FROM audit"
        args: tuple[str, ...] = ()
        if account_id:
            sql, args = sql + " WHERE account_id = ?", (account_id,)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [AuditRow(*r) for r in rows]


def insert_audit(db: GuardedConnection, side: str, action: str, subject: tuple[Any, ...], reason: str) -> None:
    """One audit line; subject is (account_id, db, doc_id, target, object_key)."""
    db.execute(
        "INSERT INTO audit (at, side, action, account_id, db, doc_id, target, object_key, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (db.clock(), side, action, *subject, reason),
    )


def _audit_subject(item: Item) -> tuple[Any, ...]:
    return item.account_id, item.db, item.doc_id, item.target, item.object_key
