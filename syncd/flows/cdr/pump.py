"""One sink's export: queued CDRs out in order, in batches, the cursor moved after each.

A batch the sink refuses is told apart from a sink that is down: if the sink
still answers, the batch is written row by row and a row it refuses alone is
skipped with a standing problem naming the CDR (one bad CDR never blocks the
ones behind it); if it does not answer, nothing moves and the rows wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from syncd.flows.cdr.drain import Offsets, drain
from syncd.flows.cdr.pg_copy import CopyBatch, copy_of_queued
from syncd.flows.cdr.rows import sink_row
from syncd.flows.cdr.sql import SqlSink
from syncd.model.cdr import CdrSink, SinkUnavailable
from syncd.runtime.helper import Helper
from syncd.state import State
from syncd.state.cdrs import QueuedCdr

log = logging.getLogger("syncd.cdr")


HELPED = 100  # CDRs in a batch from which PostgreSQL's COPY text is made by the helper process
# A batch's CDRs, their rows (None when the helper made the text), and the batch for COPY (PostgreSQL)
Prepared = tuple[list[QueuedCdr], list[dict[str, Any]] | None, CopyBatch | None]


class SinkPump:
    def __init__(self, sink: CdrSink, state: State, offsets: Offsets) -> None:
        self.sink, self.state, self.offsets = sink, state, offsets
        self.writer = SqlSink(sink)
        self.helper = Helper(f"CDR sink {sink.name!r}")

    def pump(self, stop: Callable[[], bool] = lambda: False, force: bool = False) -> int:
        """Export until the queue is drained (or stop); returns rows exported. Raises SinkUnavailable.
        (force: for files sinks, which wait for their flush_interval; a SQL sink always writes.)"""
        return drain(self.state, self.sink, stop, self._write, self._prepare)

    def rewrite(self, cdrs: list[QueuedCdr]) -> int:
        """`syncd cdr export`: these CDRs upserted again, the cursor untouched."""
        wanted = [q for q in cdrs if not self.sink.accounts or q.account_id in self.sink.accounts]
        self.writer.upsert([self._row(q) for q in wanted])
        return len(wanted)

    def _row(self, queued: QueuedCdr) -> dict[str, Any]:
        return sink_row(self.sink, queued.doc, self._offset(queued))

    def _offset(self, queued: QueuedCdr) -> int:
        return self.offsets(queued.account_id, queued.started or 0)

    def _prepare(self, wanted: list[QueuedCdr]) -> Prepared:
        """A batch made ready for the sink while the batch before is written. A backlog's batch for
        PostgreSQL goes to the helper process as the queue's bytes and comes back as COPY's text:
        the CPU-heavy part then runs beside the threads that read Kazoo, not in turns with them."""
        if len(wanted) >= HELPED and self.writer.copies():
            cdrs = [(q.blob, self._offset(q)) for q in wanted]
            return wanted, None, self.helper.run(copy_of_queued, self.sink, cdrs)
        rows = [self._row(q) for q in wanted]
        return wanted, rows, self.writer.copy_text(rows)

    def _write(self, prepared: Prepared) -> int:
        wanted, rows, copy_batch = prepared
        try:
            if copy_batch is not None:
                self.writer.copy(copy_batch)
            else:
                self.writer.upsert(rows or [])
            return len(wanted)
        except SinkUnavailable as exc:
            self.writer.check()  # raises SinkUnavailable when the sink itself is away: the rows wait
            self._table_fault(exc)
            log.warning(
                "CDR sink %r refused a batch of %d (%s); its rows go one by one", self.sink.name, len(wanted), exc
            )
        written = 0
        for queued, row in zip(wanted, rows or [self._row(q) for q in wanted], strict=True):
            try:
                self.writer.upsert([row])
                written += 1
            except SinkUnavailable as exc:
                self.writer.check()
                self._table_fault(exc)
                self._refused(queued, exc)
        return written

    def _table_fault(self, exc: SinkUnavailable) -> None:
        """A refusal of the table itself (a column of another type, no permission) is the sink's one
        problem: nothing is skipped, the cursor stays, and the CDRs go once the table is fixed."""
        if not exc.row_fault:
            raise SinkUnavailable(
                f"CDR sink {self.sink.name!r}: the table {self.sink.table!r} does not take the sink's rows: fix its "
                "columns (or let syncd make it: drop it, or name another table) and the CDRs go out in order, "
                f"none skipped ({exc.detail or exc})"
            ) from None

    def _refused(self, queued: QueuedCdr, exc: SinkUnavailable) -> None:
        doc_id = str(queued.doc.get("_id"))[:200]
        scope = f"cdr:{self.sink.name}/{queued.db}/{doc_id}"
        log.error(
            "CDR sink %r refused account=%s db=%s doc=%s: %s; skipped",
            self.sink.name,
            queued.account_id,
            queued.db,
            doc_id,
            exc,
        )
        self.state.problems.set(scope, f"refused by the sink, skipped: {exc}")

    def close(self) -> None:
        self.writer.close()
        self.helper.close()
