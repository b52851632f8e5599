"""Hot databases: a database that just changed is watched with a longpoll on its own
_changes feed for a while, so the next write is read within milliseconds.

/_db_updates is how syncd hears of changes across thousands of databases, but
CouchDB's _global_changes batches what it writes (`max_write_delay`, 500 ms by
default), so each event arrives up to half a second late. Kazoo writes a
voicemail as two changes (the doc, then the audio), and a busy account's MODB
changes many times a minute: once a database has changed, the next change is
likely soon. Up to `limit` such databases get a watcher that long-polls their
_changes from the recorded cursor and wakes the feed reader the moment
something arrives; a watcher ends after `idle` seconds without a change, and the
least recently active one gives way when the limit is reached.

Watchers only wake the reader: the reader reads and records as always, so
nothing depends on a watcher (events and the periodic poll still cover every
database).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from syncd.errors import CouchUnavailable

log = logging.getLogger("syncd.kazoo")

LONGPOLL_MS = 10_000


class HotFeeds:
    def __init__(
        self,
        wait_for_change: Callable[[str, Any, int], bool],
        cursor: Callable[[str], Any],
        on_change: Callable[[str], None],
        stop: threading.Event,
        limit: int = 16,
        idle: float = 60.0,
    ) -> None:
        """wait_for_change(db, since, timeout_ms): True when db has changes after since (CouchClient);
        cursor(db): the recorded feed cursor; on_change(db): mark it for reading and wake the reader."""
        self.wait_for_change, self.cursor, self.on_change = wait_for_change, cursor, on_change
        self.stop, self.limit, self.idle = stop, limit, idle
        self._active: dict[str, float] = {}  # db -> last change seen (monotonic)
        self._lock = threading.Lock()

    def touch(self, db: str) -> None:
        """db just changed: watch it (or keep watching it)."""
        with self._lock:
            known = db in self._active
            self._active[db] = time.monotonic()
            if not known:
                self._evict()
        if not known:
            threading.Thread(target=self._watch, args=(db,), name=f"hot:{db[-20:]}", daemon=True).start()

    def watching(self) -> set[str]:
        with self._lock:
            return set(self._active)

    def _evict(self) -> None:
        while len(self._active) > self.limit:
            oldest = min(self._active, key=self._active.__getitem__)
            del self._active[oldest]  # its watcher sees it is no longer wanted and ends

    def _watch(self, db: str) -> None:
        try:
            while not self.stop.is_set() and self._wanted(db):
                self._once(db)
        except Exception as exc:  # noqa: BLE001 - an accelerator only: the reader covers everything
            log.debug("hot watcher for db=%s ended: %s", db, exc)
        with self._lock:
            self._active.pop(db, None)

    def _once(self, db: str) -> None:
        since = self.cursor(db)
        try:
            changed = self.wait_for_change(db, since if since is not None else "now", LONGPOLL_MS)
        except CouchUnavailable:
            self.stop.wait(1.0)
            return
        if changed:
            with self._lock:
                if db in self._active:
                    self._active[db] = time.monotonic()
            self.on_change(db)
            self._settle(db, since)

    def _wanted(self, db: str) -> bool:
        with self._lock:
            last = self._active.get(db)
        return last is not None and time.monotonic() - last < self.idle

    def _settle(self, db: str, since: Any) -> None:
        """Until the reader has recorded what woke us (its cursor moved), or a second at most."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self.stop.is_set() and self.cursor(db) == since:
            time.sleep(0.01)
