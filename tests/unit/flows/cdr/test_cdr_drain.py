"""drain: a sink's cursor moves past each batch once it is written, in order, while the next
batch is written; the pump returns only with the cursor past every batch it wrote, also
when a later batch fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from syncd.flows.cdr.drain import drain
from syncd.kazoo.cdrs import call_start
from syncd.model.cdr import CdrSink, Column, SinkUnavailable
from syncd.state import State
from syncd.state.cdrs import FoundCdr, QueuedCdr
from tests.support import kazoo_data as kd

ACCOUNT = kd.new_id()
MODB = "account%2Fab%2Fcd%2Fef-202611"
SINK = CdrSink("billing", "sql", "sqlite://", "sqlite://", "cdrs", (Column("id", "id"),), batch_size=10)


def _state_with(tmp_path: Path, count: int) -> State:
    state = State(str(tmp_path / "state.db"))
    start = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
    docs = [kd.cdr_doc(ACCOUNT, start + dt.timedelta(minutes=i), call_id=f"d-{i}") for i in range(count)]
    assert state.cdrs.record("cdr:modb", 0, "1-x", [FoundCdr(MODB, ACCOUNT, d, call_start(d)) for d in docs]) == count
    return state


def test_every_batch_is_written_once_in_order_and_the_cursor_ends_past_the_last(tmp_path: Path) -> None:
    state = _state_with(tmp_path, 95)
    written: list[list[int]] = []
    cursors: list[int] = []

    def write(batch: list[QueuedCdr]) -> int:
        cursors.append(state.cdrs.cursor(SINK.name))
        written.append([q.seq for q in batch])
        return len(batch)

    try:
        assert drain(state, SINK, lambda: False, write, list) == 95
        assert [seq for batch in written for seq in batch] == list(range(1, 96))
        assert [len(b) for b in written] == [10] * 9 + [5]
        assert state.cdrs.cursor(SINK.name) == 95
        assert state.cdrs.status()[0]["exported"] == 95
        # while a batch is written the cursor stands past an earlier one, never past this one
        assert all(cursor < batch[0] for cursor, batch in zip(cursors, written, strict=True))
        assert all(cursor >= batch[0] - 21 for cursor, batch in zip(cursors, written, strict=True))
    finally:
        state.close()


def test_a_failed_batch_leaves_the_cursor_past_every_batch_written_before_it(tmp_path: Path) -> None:
    state = _state_with(tmp_path, 50)
    calls: list[int] = []

    def write(batch: list[QueuedCdr]) -> int:
        calls.append(batch[0].seq)
        if len(calls) == 4:
            raise SinkUnavailable("CDR sink 'billing' is down")
        return len(batch)

    try:
        with pytest.raises(SinkUnavailable):
            drain(state, SINK, lambda: False, write, list)
        assert state.cdrs.cursor(SINK.name) == 30  # three batches written, the fourth waits
        assert drain(state, SINK, lambda: False, lambda batch: len(batch), list) == 20
        assert state.cdrs.cursor(SINK.name) == 50
    finally:
        state.close()
