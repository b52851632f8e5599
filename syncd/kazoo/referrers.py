"""Which docs name a media, without reading every doc of an account per delete.

Kazoo plays a media wherever a doc names it: music_on_hold.media_id on accounts,
users, devices, groups and clicktocall; `moh` and `announce` (and the
announcements' media) of ACDC queues; callflow actions at any depth (`play`,
`menu`, `prompt` data); menus' greetings; vmbox greetings; temporal routes;
conferences. A value names a media as its bare id or as a path
`/<account>/<media id>` (kz_media_util:media_path), which is how another
account's doc names it. New fields appear in every release, so the index does
not list fields: it keeps every id-shaped value of every doc in the followed
account databases (media docs themselves excepted), with where it sits.

The index lives in the state DB (syncd.state.referrers). It learns from the
changes feeds syncd already reads: every page of an account database the
follower reads is applied (FeedPages), a database never indexed is read once
from the start, and before a delete is decided the media's own account
database is caught up from the index's cursor, so a reference set a moment ago
in the same account is seen. `syncd reconcile` rebuilds it. A lookup costs one
indexed query and, per delete, one changes request: not one request per doc.

A media whose id is not indexable (not 32 hex characters, and not a prompt's
<language>/<prompt_id>) is looked for the old way, by reading its account's docs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.feed_pages import CHANGES_PAGE, Page
from syncd.state import State
from syncd.state.referrers import ANY, IndexedDoc, Ref, Referrer

log = logging.getLogger("syncd.kazoo")

MEDIA = "media"
_ID = re.compile(r"[0-9a-f]{32}")
MAX_VALUE = 2048  # media_id's maxLength in accounts.json: a longer value names no media
# A tenant's doc with more id-shaped values than this is kept as one row that matches every
# lookup (ANY): the doc is then read and searched at the delete itself, never left out.
MAX_REFS_PER_DOC = 5_000


def indexable(media_id: str) -> bool:
    """A media id the index can answer for: 32 hex characters, or a prompt's <language>/<prompt_id>."""
    return bool(_ID.fullmatch(media_id)) or (media_id.count("/") == 1 and "" not in media_id.split("/"))


def references(account_id: str, doc: dict[str, Any]) -> tuple[Ref, ...]:
    """Every id-shaped value of a live doc, as (the media's account, media key, path). A value
    with a leading /<account>/ names that account's media; any other value its own account's."""
    if doc.get("pvt_type") == MEDIA or is_deleted(doc) or str(doc.get("_id", "")).startswith("_design/"):
        return ()
    found: dict[tuple[str, str, str], None] = {}
    for path, value in strings(doc):
        for media_account, key in _keys(account_id, value):
            found[(media_account, key, path)] = None
        if len(found) > MAX_REFS_PER_DOC:
            return (Ref(ANY, ANY, f"(more than {MAX_REFS_PER_DOC:,} ids: searched at each delete)"),)
    return tuple(Ref(a, k, p) for a, k, p in found)


def label(doc: dict[str, Any]) -> str:
    name = doc.get("name") or doc.get("username") or doc.get("_id")
    return f"{doc.get('pvt_type') or 'doc'} {str(name)[:80]!r} ({str(doc.get('_id'))[:80]})"


def indexed(account_id: str, change: dict[str, Any]) -> IndexedDoc | None:
    """A change of an account database as the index keeps it (None: nothing to keep)."""
    doc = change.get("doc")
    doc_id = str(change.get("id") or (doc.get("_id") if isinstance(doc, dict) else "") or "")
    if not doc_id:
        return None
    if not isinstance(doc, dict) or change.get("deleted"):
        rev = str((change.get("changes") or [{}])[0].get("rev", "0-")) if change.get("changes") else "0-"
        return IndexedDoc(doc_id, _generation(rev), "", ())
    return IndexedDoc(doc_id, _generation(str(doc.get("_rev", "0-"))), label(doc), references(account_id, doc))


class ReferrerIndex:
    def __init__(self, couch: CouchClient, state: State, page_size: int = CHANGES_PAGE) -> None:
        self.couch, self.state, self.page_size = couch, state, page_size

    def take(self, page: Page) -> None:
        """A FeedPages subscriber: a page of an account database the follower read."""
        info = dbnames.parse(page.db)
        if info is None or info.classification != "account" or not page.results:
            return
        docs = [d for c in page.results if (d := indexed(info.account_id, c)) is not None]
        aligned = self.state.referrers.cursor(page.db) == page.since
        self.state.referrers.apply(page.db, docs, page.last_seq if aligned else None)

    def referrers(self, account_id: str, media_id: str) -> list[Referrer] | None:
        """The docs that name the media, fresh for its own account; None when the id is not one
        the index keeps (the caller reads the account's docs instead)."""
        if not indexable(media_id):
            return None
        self.build_missing()
        self.catch_up(dbnames.account_db(account_id))
        found = self.state.referrers.of(account_id, media_id)
        return [r for r in found if r.path] + self._search_unindexed(account_id, media_id, found)

    def _search_unindexed(self, account_id: str, media_id: str, found: list[Referrer]) -> list[Referrer]:
        """The docs too big to index (ANY rows), read now and searched for the media."""
        hits = []
        for row in (r for r in found if not r.path):
            info = dbnames.parse(row.db)
            doc = self.couch.get(row.db, row.doc_id)
            if info is None or doc is None:
                continue
            for path, value in strings(doc) if not is_deleted(doc) else ():
                if (account_id, media_id) in set(_keys(info.account_id, value)):
                    hits.append(Referrer(row.db, row.doc_id, label(doc), path))
        return hits

    def catch_up(self, db: str) -> None:
        """Read db's changes from the index's cursor to the end (from the start if never read)."""
        info = dbnames.parse(db)
        if info is None:
            return
        since = self.state.referrers.cursor(db)
        for results, _, last_seq in self.couch.changes_pages(db, since or 0, self.page_size):
            docs = [d for c in results if (d := indexed(info.account_id, c)) is not None]
            self.state.referrers.apply(db, docs, last_seq)

    def build_missing(self) -> None:
        """Read once every followed account database the index has never read."""
        for db in self.state.referrers.unbuilt(self._account_dbs()):
            log.info("referrer index: reading db=%s from its start (once)", db)
            self.catch_up(db)

    def rebuild(self, account_ids: tuple[str, ...] = ()) -> int:
        """Forget and read again every followed account database (of account_ids, if given);
        returns the references indexed."""
        for db in self._account_dbs():
            info = dbnames.parse(db)
            if account_ids and (info is None or info.account_id not in account_ids):
                continue
            self.state.referrers.forget(db)
            self.catch_up(db)
        return self.state.referrers.count()

    def _account_dbs(self) -> list[str]:
        return sorted(
            name
            for name in self.state.feeds.databases()
            if (info := dbnames.parse(name)) is not None and info.classification == "account"
        )


def describe(referrers: list[Referrer]) -> list[str]:
    """One line per doc for a person: the doc, its database when another account's, the fields."""
    by_doc: dict[tuple[str, str], list[Referrer]] = {}
    for ref in referrers:
        by_doc.setdefault((ref.db, ref.doc_id), []).append(ref)
    lines = []
    for (db, _), refs in sorted(by_doc.items()):
        info = dbnames.parse(db)
        where = f" of account {info.account_id}" if info else f" in {db}"
        lines.append(f"{refs[0].label}{where} at {', '.join(sorted({r.path for r in refs}))}")
    return lines


def _generation(rev: str) -> int:
    head = rev.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def strings(doc: dict[str, Any], longest: int | None = MAX_VALUE) -> Iterator[tuple[str, str]]:
    """(dotted path, value) of every string in the doc's public part (of at most `longest`
    characters), walked with a stack, not recursion: a callflow of many chained actions nests deep,
    and a reference too deep to reach must never let a delete through. Kazoo's private fields sit
    at a doc's top level only."""
    stack: list[tuple[str, Any, int]] = [("", doc, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict):
            top = not path
            stack += [
                (f"{path}.{k}" if path else str(k), v, depth + 1)
                for k, v in value.items()
                if not (top and str(k).startswith(("_", "pvt_")))
            ]
        elif isinstance(value, list):
            stack += [(f"{path}[{i}]", v, depth + 1) for i, v in enumerate(value)]
        elif isinstance(value, str) and value and (longest is None or len(value) <= longest):
            yield path or "(top)", value


def _keys(account_id: str, value: str) -> Iterator[tuple[str, str]]:
    """The (account, media key) pairs a value could name."""
    if "/" not in value:
        if _ID.fullmatch(value):
            yield account_id, value
        return
    parts = [p for p in value.split("/") if p]
    if not parts:
        return
    if value.startswith("/") and len(parts) >= 2 and _ID.fullmatch(parts[0]):
        owner, rest = parts[0], parts[1:]  # /<account>/<media>: that account's media
    else:
        owner, rest = account_id, parts
    yield owner, rest[-1]
    if len(rest) >= 2:
        yield owner, f"{rest[-2]}/{rest[-1]}"  # a prompt's <language>/<prompt_id>
