"""The CDR queue: every revision of a CDR once, in order; a cursor moves only from where it stands."""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path
from typing import Any

import orjson

from syncd.kazoo.cdrs import call_start
from syncd.state import State
from syncd.state.cdrs import FoundCdr
from tests.support import kazoo_data as kd

ACCOUNT = kd.new_id()
MODB = "account%2Fab%2Fcd%2Fef-202611"


def found(doc: dict[str, Any]) -> FoundCdr:
    return FoundCdr(MODB, ACCOUNT, doc, call_start(doc))


def cdrs(n: int, rev: str = "1-a") -> list[dict[str, Any]]:
    start = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
    return [{**kd.cdr_doc(ACCOUNT, start + dt.timedelta(minutes=i), call_id=f"q-{i}"), "_rev": rev} for i in range(n)]


def queued(state: State) -> list[tuple[str, str]]:
    return [(q.doc["_id"], q.doc["_rev"]) for q in state.cdrs.after("probe", 10_000, after=0)]


def test_a_page_is_queued_in_order_and_a_replay_queues_nothing(tmp_path: Path) -> None:
    state = State(str(tmp_path / "s.sqlite3"))
    docs = cdrs(600)  # more than one multi-row chunk
    assert state.cdrs.record("cdr:db", None, "s1", [found(d) for d in docs]) == 600
    assert state.cdrs.record("cdr:db", "s1", "s2", [found(d) for d in docs[:10]]) == 0  # the same revisions
    assert queued(state) == [(d["_id"], "1-a") for d in docs]


def test_a_changed_cdr_leaves_its_old_row_and_comes_back_behind_the_others(tmp_path: Path) -> None:
    state = State(str(tmp_path / "s.sqlite3"))
    first, second = cdrs(3), cdrs(3, rev="2-b")
    state.cdrs.record("cdr:db", None, "s1", [found(d) for d in first])
    assert state.cdrs.record("cdr:db", "s1", "s2", [found(second[0])]) == 1
    assert queued(state) == [(first[1]["_id"], "1-a"), (first[2]["_id"], "1-a"), (first[0]["_id"], "2-b")]


def test_the_cursor_moves_only_from_where_it_stands(tmp_path: Path) -> None:
    """Two readers of one feed (the follower's pages and the CDR reader): the second to arrive with
    the same page writes nothing and is told so."""
    state = State(str(tmp_path / "s.sqlite3"))
    docs = cdrs(4)
    assert state.cdrs.record("cdr:db", 0, "s1", [found(d) for d in docs[:2]]) == 2
    assert state.cdrs.record("cdr:db", 0, "s1", [found(d) for d in docs[:2]]) is None
    assert state.cdrs.record("cdr:db", "s0", "s2", [found(d) for d in docs[2:]]) is None
    assert state.feeds.cursor("cdr:db") == "s1"
    assert len(queued(state)) == 2


def test_rows_an_earlier_syncd_compressed_are_read(tmp_path: Path) -> None:
    state = State(str(tmp_path / "s.sqlite3"))
    (doc,) = cdrs(1)
    state.db.execute(
        "INSERT INTO cdrs (db, doc_id, account_id, rev, started, doc, recorded_at) VALUES (?, ?, ?, ?, ?, ?, 0)",
        (MODB, doc["_id"], ACCOUNT, "1-a", call_start(doc), zlib.compress(orjson.dumps(doc), 1)),
    )
    assert queued(state) == [(doc["_id"], "1-a")]
