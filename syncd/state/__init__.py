"""The state database, and one repository per concern over it.

    db        the connection, transactions and migrations (syncd.state.db)
    work      work items from found to uploaded (syncd.state.work)
    feeds     followed databases and their changes-feed cursors
    listings  two-way sync's view of the backends: listings, objects seen missing
    holds     the mass-delete guard's holds and counts
    audit     every delete made or refused, and why
    problems  standing problems by scope
    fax       what each fax outbox file became in Kazoo
    cdrs      CDRs waiting for each sink, and each sink's cursor
    referrers which docs name which media (the referrer index)

Each part of syncd is handed the repositories it needs; all share one
connection (SQLite serialises writers anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from syncd.state.audit import AuditLog
from syncd.state.cdrs import CdrQueue
from syncd.state.db import Database
from syncd.state.fax import FaxJobs
from syncd.state.feeds import Feeds
from syncd.state.guard import Holds
from syncd.state.items import Item, ItemStatus, NewItem
from syncd.state.listings import Listings
from syncd.state.media import MediaItems, Playlists
from syncd.state.problems import Problems
from syncd.state.referrers import ReferrerRows
from syncd.state.schema import MIGRATIONS, SCHEMA_VERSION
from syncd.state.work import WorkItems

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Item", "ItemStatus", "NewItem", "State"]


class State:
    """The state database at path with its repositories. exclusive=True (the daemon, an acting
    reconcile): hold the state lock for the process's life. Read-only commands open it beside
    a running daemon."""

    def __init__(self, path: str, exclusive: bool = False, clock: Callable[[], float] = time.time) -> None:
        """clock: the time the work, feeds, listings, guard, audit and problems stamp rows with."""
        self.path = path
        self.db = Database(path, exclusive, clock)
        self.work = WorkItems(self.db)
        self.feeds = Feeds(self.db)
        self.listings = Listings(self.db)
        self.holds = Holds(self.db)
        self.audit = AuditLog(self.db)
        self.problems = Problems(self.db)
        self.fax = FaxJobs(self.db)
        self.cdrs = CdrQueue(self.db)
        self.media = MediaItems(self.db)
        self.playlists = Playlists(self.db)
        self.referrers = ReferrerRows(self.db)

    def close(self) -> None:
        self.db.close()
