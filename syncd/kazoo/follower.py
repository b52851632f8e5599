"""Follow Kazoo's CouchDB: find accounts and their databases, read each
database's _changes, and record the work found before moving its cursor.

- Accounts come from the `accounts` database (never from parsing _all_dbs).
- Databases: each account DB, and its MODBs from `history_months` back to now,
  found by asking whether each exists. New months appear through _db_updates
  where the server answers it, else through a periodic check of the current
  month's MODB.
- system_data changes invalidate the storage plans, so edits take effect at once.
- A broken storage plan pauses that account's feeds (nothing is skipped: the
  cursor stays) until system_data changes; other accounts go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from syncd.errors import CouchUnavailable, PlanError, StateError
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient, DbUpdatesUnsupported
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.feed_pages import CHANGES_PAGE, FeedPages, Page
from syncd.kazoo.hot_feeds import HotFeeds
from syncd.kazoo.routing import DocPlanner
from syncd.runtime.bulkhead import Bulkhead
from syncd.state import NewItem, State

log = logging.getLogger("syncd.kazoo")

SYSTEM_DATA = "system_data"
ACCOUNTS = "accounts"


def account_ids(couch: CouchClient) -> list[str]:
    """Every live account, from Kazoo's `accounts` database."""
    return [
        doc["_id"]
        for doc in couch.all_docs(ACCOUNTS)
        if doc.get("pvt_type") == "account" and doc.get("pvt_deleted") is not True and dbnames.is_account_id(doc["_id"])
    ]


class Follower:
    def __init__(
        self,
        couch: CouchClient,
        state: State,
        planner: DocPlanner,
        accounts: tuple[str, ...] = (),
        history_months: int = 12,
        page_size: int = CHANGES_PAGE,
        on_work: Callable[[], None] = lambda: None,
        bulkhead: Bulkhead | None = None,
        on_update: Callable[[], None] = lambda: None,
        pages: FeedPages | None = None,
    ) -> None:
        """on_work: work was recorded (wake the uploads); on_update: _db_updates named a followed
        database (read its changes now, not at the next poll); pages: where every page read is
        offered to the other readers of the same feeds."""
        self.couch, self.state, self.planner = couch, state, planner
        self.on_update = on_update
        self.hot: HotFeeds | None = None  # set by the daemon: databases that just changed, long-polled
        self.bulkhead = bulkhead or Bulkhead(log)
        self.pages = pages or FeedPages(self.bulkhead)
        self.only_accounts = frozenset(accounts)
        self.history_months, self.page_size, self.on_work = history_months, page_size, on_work
        self._plan_generation = 0
        # account id -> plan generation it failed under; problems left by an earlier run are
        # retried once (generation -1) and cleared when the account's feeds read cleanly.
        self._paused: dict[str, int] = {
            scope.split(":", 1)[1]: -1 for scope in state.problems.all() if scope.startswith("account:")
        }
        self._doc_problems = {scope for scope in state.problems.all() if scope.startswith("doc:")}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self.db_updates_supported: bool | None = None

    # -- discovery -----------------------------------------------------------
    def discover(self) -> int:
        """Find followed accounts and their databases; returns how many new databases."""
        known = self.state.feeds.databases()
        added = 0
        for account_id in self._account_ids():
            for name in self._candidate_dbs(account_id, full=True):
                if name not in known and self.couch.db_exists(name):
                    self.state.feeds.add_database(name, account_id)
                    added += 1
        if added:
            log.info("following %d new database(s)", added)
        return added

    def check_current_month(self) -> int:
        """The fallback when _db_updates is unavailable: look for this month's MODBs."""
        known = self.state.feeds.databases()
        added = 0
        for account_id in set(known.values()):
            name = self._modb_now(account_id)
            if name not in known and self.couch.db_exists(name):
                self.state.feeds.add_database(name, account_id)
                added += 1
        return added

    def _account_ids(self) -> list[str]:
        return sorted(self.only_accounts) if self.only_accounts else account_ids(self.couch)

    def _candidate_dbs(self, account_id: str, full: bool) -> list[str]:
        today = dt.datetime.now(dt.UTC)
        months = dbnames.months_back(today.year, today.month, self.history_months if full else 0)
        return [dbnames.account_db(account_id)] + [dbnames.modb(account_id, y, m) for y, m in months]

    def _modb_now(self, account_id: str) -> str:
        today = dt.datetime.now(dt.UTC)
        return dbnames.modb(account_id, today.year, today.month)

    # -- _db_updates ---------------------------------------------------------
    def watch_db_updates(self, stop: threading.Event, timeout_ms: int = 25000) -> None:
        """Longpoll /_db_updates until stop; marks changed databases dirty. Returns at once
        (db_updates_supported = False) on servers that do not answer it."""
        since: Any = "now"
        while not stop.is_set():
            try:
                results, since = self.couch.db_updates(since, timeout_ms)
            except DbUpdatesUnsupported:
                self.db_updates_supported = False
                log.info(
                    "CouchDB does not answer /_db_updates; checking each account's current "
                    "month database on a timer instead"
                )
                return
            except CouchUnavailable as exc:
                log.warning("%s; retrying /_db_updates in 5s", exc)
                stop.wait(5)
                continue
            self.db_updates_supported = True
            self._note_updates(results)

    def _note_updates(self, results: list[dict[str, Any]]) -> None:
        followed = set(self.state.feeds.databases().values())
        woke = False
        for update in results:
            name = dbnames.decode(str(update.get("db_name", "")))
            info = dbnames.parse(name)
            if name in (SYSTEM_DATA, ACCOUNTS):
                self._mark_dirty(name)
                woke = True
            elif info is not None and info.account_id in followed:
                if update.get("type") == "created":
                    self.state.feeds.add_database(name, info.account_id)
                self._mark_dirty(name)
                self._heat(name)
                woke = True
        if woke:
            self.on_update()

    def _heat(self, name: str) -> None:
        if self.hot is not None:
            self.hot.touch(name)

    def _mark_dirty(self, name: str) -> None:
        self.mark_dirty({name})

    def mark_dirty(self, names: set[str]) -> None:
        with self._lock:
            self._dirty |= names

    def take_dirty(self) -> set[str]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return dirty

    # -- changes -------------------------------------------------------------
    def poll(self, only: set[str] | None = None) -> int:
        """Read every followed database's changes to the end; returns work items recorded.

        Raises CouchUnavailable when CouchDB itself cannot be reached.
        """
        self._follow_system_data()
        self._follow_accounts()
        recorded = 0
        for name, account_id in sorted(self.state.feeds.databases().items()):
            if only is not None and name not in only:
                continue
            if self._paused.get(account_id) == self._plan_generation:
                continue
            try:
                recorded += self._poll_db(name, account_id)
            except (CouchUnavailable, StateError):
                raise
            except Exception as exc:  # noqa: BLE001 - one account's bad data never stops the others
                self._pause(
                    account_id,
                    f"cannot read database {name}: " + self.bulkhead.contain(f"account={account_id} db={name}", exc),
                )
        self.pages.first_pass.set()
        return recorded

    def _poll_db(self, name: str, account_id: str) -> int:
        recorded = 0
        pages = self.couch.changes_pages(name, self.state.feeds.cursor(name) or 0, self.page_size)
        for results, since, last_seq in pages:
            try:
                items = [
                    item
                    for change in results
                    if isinstance(change.get("doc"), dict)
                    for item in self._doc_items(name, account_id, change["doc"])
                ]
            except PlanError as exc:
                pages.close()  # the page being read ahead is not needed
                self._pause(account_id, str(exc))
                return recorded
            deleted = [c["id"] for c in results if c.get("deleted") or (c.get("doc") and is_deleted(c["doc"]))]
            self.state.feeds.record_changes(name, last_seq, items, deleted_docs=deleted)
            self.pages.offer(Page(name, since, results, last_seq, len(results) >= self.page_size))
            recorded += len(items)
            if items:
                self.on_work()
                self._heat(name)
            if account_id in self._paused:
                del self._paused[account_id]
                if self.state.problems.clear(f"account:{account_id}"):
                    log.info("storage plan fixed; resuming account=%s", account_id)
        return recorded

    def _doc_items(self, name: str, account_id: str, doc: dict[str, Any]) -> list[NewItem]:
        """The work in one document. A document that cannot be read is that document's problem
        (in status, until it changes); PlanError (the account's plan) is the account's."""
        try:
            items = self.planner.items(name, doc)
        except (PlanError, StateError):
            raise
        except Exception as exc:  # noqa: BLE001 - one document's bad data never stops the others
            text = self.bulkhead.contain(f"account={account_id} db={name} doc={str(doc.get('_id'))[:200]!r}", exc)
            scope = _doc_scope(name, doc)
            self.state.problems.set(scope, f"{text}; skipped until the document changes (account {account_id})")
            self._doc_problems.add(scope)
            return []
        if self._doc_problems and (scope := _doc_scope(name, doc)) in self._doc_problems:
            self._doc_problems.discard(scope)
            self.state.problems.clear(scope)
        return items

    def _pause(self, account_id: str, problem: str) -> None:
        self._paused[account_id] = self._plan_generation
        if self.state.problems.set(f"account:{account_id}", problem):
            log.error(
                "%s; account=%s waits (nothing is skipped) until the storage document is fixed", problem, account_id
            )

    def _follow_system_data(self) -> None:
        changed = self._drain_feed(SYSTEM_DATA)
        if changed:
            self.planner.plans.invalidate()
            self._plan_generation += 1
            log.info("storage documents changed in system_data; plans reloaded")

    def _follow_accounts(self) -> None:
        if self.only_accounts:
            return
        changed = self._drain_feed(ACCOUNTS)
        known = self.state.feeds.databases() if changed else {}
        for doc in changed:
            account_id = str(doc.get("_id", ""))
            if doc.get("pvt_type") == "account" and dbnames.is_account_id(account_id):
                for name in self._candidate_dbs(account_id, full=False):
                    if name not in known and self.couch.db_exists(name):
                        self.state.feeds.add_database(name, account_id)
                        known[name] = account_id
                        log.info("following new account=%s db=%s", account_id, name)

    def _drain_feed(self, db: str) -> list[dict[str, Any]]:
        """Read a system database's feed to the end; returns the changed docs."""
        docs: list[dict[str, Any]] = []
        while True:
            since = self.state.feeds.cursor(db) or 0
            results, last_seq = self.couch.changes(db, since, self.page_size)
            docs += [c["doc"] for c in results if c.get("doc")]
            self.state.feeds.record_changes(db, last_seq, [])
            if len(results) < self.page_size:
                return docs


def _doc_scope(db: str, doc: dict[str, Any]) -> str:
    """A document's problem scope in the state database (made only when there is a problem to find)."""
    return f"doc:{db}/{str(doc.get('_id'))[:200]}"
