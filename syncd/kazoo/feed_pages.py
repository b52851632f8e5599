"""Pages of database changes the follower has read, lent to the other readers of the same feeds.

The attachments follower and the CDR reader both read every followed MODB's
changes feed, each with a cursor of its own. Reading a feed of a million CDRs
twice doubles what CouchDB serves, so the follower offers every page it reads
to the subscribers: one that stands at the page's start takes it and moves its
own cursor, as if it had read the page itself. Nothing depends on the offer: a
subscriber that is elsewhere (behind, ahead, or a follower that is paused on
an account's bad plan) reads the feed by itself, so the flows stay bulkheads.
Subscribers wait for the follower's first pass before reading by themselves:
started side by side on a backlog, both would read its first pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syncd.errors import StateError
from syncd.runtime.bulkhead import Bulkhead

log = logging.getLogger("syncd.feeds")
# Changes per page, for the follower and every reader of the same feeds. A page is decoded whole
# and the next one is read meanwhile, so its size bounds memory: about 7 MB of the daemon's peak
# per 500 CDRs. 1,000 cut CouchDB's CPU for a backlog by about 12%, but with the CDR sink no
# longer waiting on the state DB's lock it took the daemon and its helper over 150 MB at 1M CDRs.
CHANGES_PAGE = 500
BUSY_FOR = 30.0  # seconds a database counts as being read through after the follower's last full page


@dataclass(frozen=True)
class Page:
    db: str
    since: Any  # the cursor the page was read from
    results: list[dict[str, Any]]  # the changes, with their docs
    last_seq: Any
    full: bool  # as long as asked for: more changes follow


Subscriber = Callable[[Page], None]


class FeedPages:
    def __init__(self, bulkhead: Bulkhead) -> None:
        self.bulkhead = bulkhead
        self._subscribers: list[Subscriber] = []
        self._full_page_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self.first_pass = threading.Event()  # the follower has read every followed feed to its end once

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def offer(self, page: Page) -> None:
        """Every subscriber sees the page; one that fails is its own trouble, never the reader's
        (an unusable state database is everyone's: it is raised)."""
        with self._lock:
            if page.full:
                self._full_page_at[page.db] = time.monotonic()
            else:
                self._full_page_at.pop(page.db, None)
        for subscriber in self._subscribers:
            try:
                subscriber(page)
            except StateError:
                raise
            except Exception as exc:  # noqa: BLE001 - the subscriber reads the feed itself instead
                self.bulkhead.contain(f"cannot take a page of db={page.db} from the follower", exc)

    def being_read(self, db: str) -> bool:
        """The follower is working through a backlog of db right now: its pages will be offered,
        so reading the same pages in parallel would only double CouchDB's work."""
        with self._lock:
            at = self._full_page_at.get(db)
        return at is not None and time.monotonic() - at < BUSY_FOR
