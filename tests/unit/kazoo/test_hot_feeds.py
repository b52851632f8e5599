"""Hot databases: a watcher wakes the reader at once on a change, gives way to the most
recently active ones past the limit, ends when idle, and never takes the reader down."""

from __future__ import annotations

import threading
import time
from typing import Any

from syncd.kazoo.hot_feeds import HotFeeds
from tests.support.daemons import wait_for


class FakeCouch:
    """Each database's changes arrive when the test says; cursors move when the reader records."""

    def __init__(self) -> None:
        self.pending: dict[str, threading.Event] = {}
        self.cursors: dict[str, int] = {}
        self.calls: list[str] = []

    def wait_for_change(self, db: str, since: Any, timeout_ms: int) -> bool:
        self.calls.append(db)
        event = self.pending.setdefault(db, threading.Event())
        changed = event.wait(min(timeout_ms / 1000, 0.2))
        event.clear()
        return changed

    def write(self, db: str) -> None:
        self.pending.setdefault(db, threading.Event()).set()


def test_a_change_in_a_hot_database_wakes_the_reader_at_once() -> None:
    couch, woke, stop = FakeCouch(), [], threading.Event()

    def reader(db: str) -> None:
        woke.append(db)
        couch.cursors[db] = couch.cursors.get(db, 0) + 1  # the reader records what it read

    hot = HotFeeds(couch.wait_for_change, couch.cursors.get, reader, stop, limit=2, idle=5)
    hot.touch("db1")
    time.sleep(0.05)
    started = time.monotonic()
    couch.write("db1")
    wait_for(lambda: woke == ["db1"], 2, "the wake-up")
    assert time.monotonic() - started < 0.5
    stop.set()


def test_past_the_limit_the_least_recently_active_gives_way_and_idle_ones_end() -> None:
    couch, stop = FakeCouch(), threading.Event()
    hot = HotFeeds(couch.wait_for_change, couch.cursors.get, lambda db: None, stop, limit=2, idle=0.5)
    for db in ("a", "b", "c"):
        hot.touch(db)
        time.sleep(0.01)
    assert hot.watching() == {"b", "c"}
    wait_for(lambda: hot.watching() == set(), 3, "idle watchers to end")
    stop.set()


def test_a_failing_watcher_ends_without_raising() -> None:
    stop = threading.Event()

    def broken(db: str, since: Any, timeout_ms: int) -> bool:
        raise TypeError("an answer that is not CouchDB's")

    hot = HotFeeds(broken, lambda db: None, lambda db: None, stop, limit=2, idle=5)
    hot.touch("x")
    wait_for(lambda: hot.watching() == set(), 2, "the watcher to end")
    stop.set()
