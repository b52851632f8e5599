"""CDR docs from Kazoo into the state DB's queue.

Every followed MODB (the databases the follower found, back to
history_months) and, when asked, `anonymous_cdrs` is read through its
changes feed with a cursor of its own (`cdr:<db>`), so CDR export never moves
or waits for the attachments flow's cursors. The follower's pages of the same
feeds are taken when this cursor stands where the page starts (kazoo/feed_pages),
so a backlog is read from CouchDB once; a database the follower is working
through is left to it for the moment. Each database is a bulkhead: one that
cannot be read is a problem in `syncd status` and the others carry on.
A CDR deleted in Kazoo keeps its exported rows (billing data is not undone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from syncd.errors import CouchUnavailable, StateError
from syncd.kazoo.cdrs import ANONYMOUS_CDRS, call_start, is_cdr
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.dbnames import parse
from syncd.kazoo.feed_pages import CHANGES_PAGE, FeedPages, Page
from syncd.state import State
from syncd.state.cdrs import FoundCdr

log = logging.getLogger("syncd.cdr")


class CdrReader:
    def __init__(
        self,
        couch: CouchClient,
        state: State,
        anonymous: bool,
        contain: Callable[[str, BaseException], str],
        pages: FeedPages,
    ) -> None:
        self.couch, self.state, self.anonymous, self.contain, self.pages = couch, state, anonymous, contain, pages
        self.on_queued: Callable[[], None] = lambda: None  # rows were queued from a page the follower read

    def databases(self) -> dict[str, str]:
        """Database -> account id, for every database CDRs are read from."""
        found = {}
        for name in self.state.feeds.databases():
            info = parse(name)
            if info is not None and info.classification == "modb":
                found[name] = info.account_id
        if self.anonymous:
            found[ANONYMOUS_CDRS] = ""
        return found

    def read(self) -> int:
        """Read every database's new CDRs into the queue; returns rows queued. Raises CouchUnavailable."""
        queued = 0
        for name, account_id in sorted(self.databases().items()):
            try:
                queued += self._read_db(name, account_id)
                self.state.problems.clear(f"cdr-db:{name}")
            except (CouchUnavailable, StateError):
                raise
            except Exception as exc:  # noqa: BLE001 - one database's trouble never stops the others
                text = self.contain(f"cannot read CDRs of db={name}", exc)
                self.state.problems.set(f"cdr-db:{name}", text)
        return queued

    def take(self, page: Page) -> None:
        """A page the follower read: queued when this reader's cursor stands at its start."""
        info = parse(page.db)
        if info is None or info.classification != "modb":
            return
        if self._record(page.db, info.account_id, page.since, page.results, page.last_seq):
            self.on_queued()

    def _read_db(self, name: str, account_id: str) -> int:
        if name != ANONYMOUS_CDRS and self.pages.being_read(name):
            return 0  # the follower is reading this backlog: its pages come here
        queued = 0
        pages = self.couch.changes_pages(name, self.state.feeds.cursor(f"cdr:{name}") or 0, CHANGES_PAGE)
        for results, since, last_seq in pages:
            taken = self._record(name, account_id, since, results, last_seq)
            if taken is None:  # the follower's pages moved the cursor meanwhile: they go on from there
                pages.close()
                break
            queued += taken
        return queued

    def _record(self, db: str, account_id: str, since: Any, results: list[dict[str, Any]], last_seq: Any) -> int | None:
        found = [found_cdr(db, account_id, c["doc"]) for c in results if _is_live_cdr(c)]
        return self.state.cdrs.record(f"cdr:{db}", since, last_seq, found)


def _is_live_cdr(change: dict[str, Any]) -> bool:
    doc = change.get("doc")
    return not change.get("deleted") and isinstance(doc, dict) and is_cdr(doc)


def found_cdr(db: str, account_id: str, doc: dict[str, Any]) -> FoundCdr:
    """A CDR doc as read from Kazoo, as it is queued. account_id: the MODB's ("" for anonymous_cdrs,
    whose CDRs name their account, if any, in custom_channel_vars)."""
    ccv = doc.get("custom_channel_vars")
    owner = account_id or (ccv.get("account_id") if isinstance(ccv, dict) else None) or ""
    return FoundCdr(db, str(owner), doc, call_start(doc) or None)
