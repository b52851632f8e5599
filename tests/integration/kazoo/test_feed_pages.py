"""The follower's pages of MODB changes, lent to the CDR reader: a backlog is read from CouchDB once,
and nothing depends on the lending (a reader that is elsewhere reads by itself)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from syncd import config
from syncd.daemon import Daemon
from syncd.errors import StateUnavailable
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.feed_pages import CHANGES_PAGE as PAGE
from syncd.kazoo.feed_pages import FeedPages, Page
from syncd.runtime.bulkhead import Bulkhead
from tests.conftest import write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer
from tests.support.sql_servers import sqlite_rows


def page(full: bool) -> Page:
    return Page("account%2Fab%2Fcd%2Fef-202611", 0, [], "s1", full)


def test_a_subscriber_that_fails_is_contained_and_the_others_still_see_the_page(caplog: Any) -> None:
    pages, seen = FeedPages(Bulkhead(logging.getLogger("test"))), []

    def broken(p: Page) -> None:
        raise KeyError("surprise")

    pages.subscribe(broken)
    pages.subscribe(seen.append)
    pages.offer(page(full=True))
    assert len(seen) == 1
    assert "cannot take a page of db=account%2Fab%2Fcd%2Fef-202611 from the follower" in caplog.text


def test_an_unusable_state_database_is_not_swallowed() -> None:
    pages = FeedPages(Bulkhead(logging.getLogger("test")))

    def state_gone(p: Page) -> None:
        raise StateUnavailable("the state database is locked")

    pages.subscribe(state_gone)
    with pytest.raises(StateUnavailable):
        pages.offer(page(full=False))


def test_a_database_counts_as_being_read_only_while_full_pages_come() -> None:
    pages = FeedPages(Bulkhead(logging.getLogger("test")))
    db = page(True).db
    assert not pages.being_read(db)
    pages.offer(page(full=True))
    assert pages.being_read(db)
    pages.offer(page(full=False))  # the end of the feed: the backlog is done
    assert not pages.being_read(db)


def test_a_backlog_of_cdrs_is_read_from_couchdb_once_and_every_cdr_is_exported(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str], monkeypatch: Any
) -> None:
    account_id, modb = account
    start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    docs = [kd.cdr_doc(account_id, start + dt.timedelta(seconds=i), call_id=f"p-{i}") for i in range(3 * PAGE + 20)]
    for first in range(0, len(docs), PAGE):
        answer = requests.post(
            f"{couch_server.auth_url}/{quote(modb, safe='')}/_bulk_docs",
            json={"docs": docs[first : first + PAGE]},
            timeout=60,
        )
        answer.raise_for_status()
    reads: list[Any] = []
    original = CouchClient.changes

    def counted(self: CouchClient, db: str, since: Any, limit: int) -> Any:
        if db == modb:
            reads.append(since)
        return original(self, db, since, limit)

    monkeypatch.setattr(CouchClient, "changes", counted)
    path = write_config(tmp_path / "c.toml", couch_server.auth_url, '[[cdr.sink]]\nname = "local"\n', (account_id,))
    daemon = Daemon(config.load(str(path)), exclusive=True)
    try:
        daemon.run_once(threading.Event())
    finally:
        daemon.close()
    assert {r["id"] for r in sqlite_rows(tmp_path, "kazoo_cdrs")} == {d["_id"] for d in docs}
    follower_pages = len(docs) // PAGE + 1  # the MODB also holds the seeded account's own docs
    assert len(reads) == len(set(map(str, reads))) <= follower_pages + 1, reads  # + the CDR reader's look at the end


def test_a_database_the_cdr_reader_cannot_read_is_its_own_problem_and_the_others_are_read(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, monkeypatch: Any
) -> None:
    """The CDR reader's bulkhead, reading by itself (no follower pages): one database failing in an
    unexpected way is a standing problem naming it; the other account's CDRs are exported."""
    (good, good_modb), (bad, bad_modb) = [(a, kd.seed_account(couch, a)) for a in (kd.new_id(), kd.new_id())]
    now = dt.datetime.now(dt.UTC)
    kept = kd.write_as_kazoo(couch, good_modb, kd.cdr_doc(good, now))
    kd.write_as_kazoo(couch, bad_modb, kd.cdr_doc(bad, now))
    original = CouchClient.changes

    def failing(self: CouchClient, db: str, since: Any, limit: int) -> Any:
        if db == bad_modb:
            raise ValueError("a page no decoder expected")
        return original(self, db, since, limit)

    path = write_config(tmp_path / "c.toml", couch_server.auth_url, '[[cdr.sink]]\nname = "local"\n', (good, bad))
    daemon = Daemon(config.load(str(path)), exclusive=True)
    try:
        daemon.attachments.follower.discover()
        monkeypatch.setattr(CouchClient, "changes", failing)
        daemon.cdr.run_once(threading.Event())  # the CDR reader alone: the follower has not read yet
        problems = daemon.state.problems.all()
    finally:
        daemon.close()
    assert [r["id"] for r in sqlite_rows(tmp_path, "kazoo_cdrs")] == [kept["_id"]]
    assert "a page no decoder expected" in problems[f"cdr-db:{bad_modb}"]
