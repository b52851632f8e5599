"""What every pump shares: the loop from a sink's cursor through the queue, and the wait
before a sink that is down is tried again. Light on purpose: the pumps' libraries (SQLAlchemy,
pyarrow, the Google client) are loaded only by the pumps a config asks for."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from syncd.model.cdr import CdrSink
from syncd.state import State
from syncd.state.cdrs import QueuedCdr

T = TypeVar("T")
Offsets = Callable[[str, int], int]  # (account id, Gregorian seconds) -> the account's UTC offset then


def drain(
    state: State,
    sink: CdrSink,
    stop: Callable[[], bool],
    write: Callable[[T], int],
    prepare: Callable[[list[QueuedCdr]], T],
) -> int:
    """Batch after batch from the sink's cursor: write the sink's CDRs, then move the cursor past
    the batch (the write is idempotent, so a crash in between only writes the batch again). The
    next batch is read and prepared (rows computed) while the sink takes this one: the sink's
    server works while syncd does. The cursor is moved while the next batch is written, not
    before: the state DB's lock may be held by a feed's page being queued, and the sink need not
    wait for it (a crash then writes at most two batches again)."""
    loaded = _load(state, sink, prepare, state.cdrs.cursor(sink.name))
    if not loaded[0]:
        return 0  # the usual poll: nothing waiting, no thread
    exported, moving = 0, None
    with ThreadPoolExecutor(2, thread_name_prefix=f"cdr-prepare:{sink.name}") as pool:
        try:
            while loaded[0] and not stop():
                batch, wanted, prepared = loaded
                ahead = pool.submit(_load, state, sink, prepare, batch[-1].seq)
                written = write(prepared)
                if moving is not None:
                    moving.result()  # the cursor moves batch after batch, never past one not yet moved
                newest = max((q.started for q in wanted if q.started), default=None)
                moving = pool.submit(state.cdrs.advance, sink.name, batch[-1].seq, written, newest)
                exported += written
                loaded = ahead.result()
        finally:
            if moving is not None:
                moving.result()  # back to the caller only with the cursor past every batch written
    return exported


def _load(
    state: State, sink: CdrSink, prepare: Callable[[list[QueuedCdr]], T], after: int
) -> tuple[list[QueuedCdr], list[QueuedCdr], T]:
    """The batch after seq `after`, the CDRs of it this sink takes, and what prepare makes of them."""
    batch = state.cdrs.after(sink.name, sink.batch_size, after)
    wanted = [q for q in batch if not sink.accounts or q.account_id in sink.accounts]
    return batch, wanted, prepare(wanted)


def backoff(failures: int) -> float:
    """Seconds before trying a down sink again: 1, 2, 4 ... at most a minute."""
    return float(min(60, 2 ** min(failures, 6)))
