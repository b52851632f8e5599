"""The CDR queue: every revision of a CDR once, in order; a cursor moves only from where it stands."""

from __future__ import annotations

import datetime as dt
import time
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


def _doc_bytes(state: State) -> int:
    return int(state.db.execute("SELECT COALESCE(SUM(LENGTH(doc)), 0) FROM cdrs").fetchone()[0])


def test_thinning_waits_for_every_sink_and_for_keep_days(tmp_path: Path) -> None:
    """Only CDRs every configured sink has exported, queued before the cutoff, lose their docs; a
    sink that has exported nothing yet (just added) holds all of them back."""
    state = State(str(tmp_path / "s.sqlite3"))
    state.cdrs.record("cdr:db", None, "s1", [found(d) for d in cdrs(10)])
    seqs = [q.seq for q in state.cdrs.after("probe", 100, after=0)]
    whole = _doc_bytes(state)
    later = time.time() + 60
    state.cdrs.advance("sql", seqs[7], 8, None)
    assert state.cdrs.thin(["sql", "sheets"], later) == 0  # sheets has exported nothing
    assert _doc_bytes(state) == whole
    state.cdrs.advance("sheets", seqs[3], 4, None)
    assert state.cdrs.thin(["sql", "sheets"], 0.0) == 0  # everything was queued after the cutoff
    assert state.cdrs.thin(["sql", "sheets"], later) == 4  # what both sinks hold
    assert state.cdrs.thinned_through() == seqs[3]
    assert [q.seq for q in state.cdrs.after("probe", 100, after=0)] == seqs[4:]  # thinned rows are not read
    assert state.cdrs.after("sql", 100) == state.cdrs.after("probe", 100, after=seqs[7])
    state.cdrs.advance("sheets", seqs[9], 6, None)
    assert state.cdrs.thin(["sql", "sheets"], later) == 4  # up to sql's cursor, from where it stopped
    assert [q.seq for q in state.cdrs.after("probe", 100, after=0)] == seqs[8:]


def test_a_thinned_cdr_read_again_is_not_queued_again_and_export_makes_it_whole(tmp_path: Path) -> None:
    """The point of keeping the row: a replayed page still finds each CDR it holds (a sink sees
    nothing twice); a changed CDR still comes back; `cdr export` (remember) restores the doc."""
    state = State(str(tmp_path / "s.sqlite3"))
    docs = cdrs(3)
    state.cdrs.record("cdr:db", None, "s1", [found(d) for d in docs])
    last = state.cdrs.after("probe", 100, after=0)[-1].seq
    state.cdrs.advance("sql", last, 3, None)
    assert state.cdrs.thin(["sql"], time.time() + 60) == 3
    assert state.cdrs.record("cdr:db", "s1", "s2", [found(d) for d in docs]) == 0  # a replay
    assert state.cdrs.after("sql", 100) == []
    assert _doc_bytes(state) == 0
    assert state.cdrs.remember([found(docs[1])]) == 0  # the same revision: no new seq, no new export
    assert state.cdrs.after("sql", 100) == []
    account_day = state.cdrs.partition(ACCOUNT, 0, 2**62)
    assert [q.doc["_id"] for q in account_day] == [docs[1]["_id"]]  # whole again, for the files sink
    changed = {**docs[2], "_rev": "2-b", "cost": 5}
    assert state.cdrs.record("cdr:db", "s2", "s3", [found(changed)]) == 1
    assert [(q.doc["_id"], q.doc["_rev"]) for q in state.cdrs.after("sql", 100)] == [(docs[2]["_id"], "2-b")]


def test_with_a_files_sink_a_cdr_without_a_usable_time_or_dated_in_the_future_stays_whole(tmp_path: Path) -> None:
    """A tenant's CDR may carry no time or a time years ahead: its day is never closed, so a files
    sink could still write it whole from the queue, and thinning leaves it."""
    state = State(str(tmp_path / "s.sqlite3"))
    docs = cdrs(3)
    undated = FoundCdr(MODB, ACCOUNT, docs[1], None)
    future = FoundCdr(MODB, ACCOUNT, docs[2], 2**62)
    state.cdrs.record("cdr:db", None, "s1", [found(docs[0]), undated, future])
    last = state.cdrs.after("probe", 100, after=0)[-1].seq
    state.cdrs.advance("days", last, 3, None)
    assert state.cdrs.thin(["days"], time.time() + 60, started_before=call_start(docs[0]) + 1) == 1
    assert sorted(q.doc["_id"] for q in state.cdrs.after("probe", 100, after=0)) == sorted(
        [docs[1]["_id"], docs[2]["_id"]]
    )
