"""What every pump shares: the loop from a sink's cursor through the queue, and the wait
before a sink that is down is tried again. Light on purpose: the pumps' libraries (SQLAlchemy,
pyarrow, the Google client) are loaded only by the pumps a config asks for."""

from __future__ import annotations

from collections.abc import Callable

from syncd.flows.cdr.records import CdrSink
from syncd.kazoo.cdrs import call_start
from syncd.state import State
from syncd.state.cdrs import QueuedCdr

Offsets = Callable[[str, int], int]  # (account id, Gregorian seconds) -> the account's UTC offset then


def drain(state: State, sink: CdrSink, stop: Callable[[], bool], write: Callable[[list[QueuedCdr]], int]) -> int:
    """Batch after batch from the sink's cursor: write the sink's CDRs, then move the cursor past
    the batch (the write is idempotent, so a crash in between only writes the batch again)."""
    exported = 0
    while not stop():
        batch = state.cdrs.after(sink.name, sink.batch_size)
        if not batch:
            return exported
        wanted = [q for q in batch if not sink.accounts or q.account_id in sink.accounts]
        written = write(wanted)
        newest = max((s for q in wanted if (s := _started(q))), default=None)
        state.cdrs.advance(sink.name, batch[-1].seq, written, newest)
        exported += written
    return exported


def _started(queued: QueuedCdr) -> int | None:
    return call_start(queued.doc) or None


def backoff(failures: int) -> float:
    """Seconds before trying a down sink again: 1, 2, 4 ... at most a minute."""
    return float(min(60, 2 ** min(failures, 6)))
