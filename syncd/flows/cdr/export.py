"""`syncd cdr export`: a window of CDRs written to the sinks again, from Kazoo itself.

The CDRs are read from the MODBs of the window's months (not from the queue,
which may have been pruned or may predate a sink), and upserted keyed by the
CDR id: a window exported twice, or over rows the daemon already wrote, leaves
each CDR exactly once. Sink cursors are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from syncd.errors import SyncdError
from syncd.flows.cdr.pump import Offsets
from syncd.flows.cdr.records import CdrSink
from syncd.flows.cdr.rows import sink_row
from syncd.flows.cdr.sql import SqlSink
from syncd.kazoo.cdrs import UNIX_EPOCH_IN_GREGORIAN, call_start, is_cdr
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.dbnames import modb


@dataclass(frozen=True)
class Window:
    first: date
    last: date  # inclusive: --to 2026-11-30 covers that whole day (UTC)
    accounts: tuple[str, ...]
    sinks: tuple[CdrSink, ...]
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise SyncdError(f"--to {self.last} is before --from {self.first}: give the window oldest day first")
        if (self.last - self.first).days > 3660:
            raise SyncdError("the window spans more than ten years; export it in parts")


@dataclass
class ExportReport:
    found: int = 0
    written: dict[str, int] = field(default_factory=dict)


def export_window(window: Window, couch: CouchClient, offsets: Offsets) -> ExportReport:
    report = ExportReport(written={s.name: 0 for s in window.sinks})
    lowest = _gregorian(window.first)
    highest = _gregorian(window.last + timedelta(days=1))
    writers = {s.name: SqlSink(s) for s in window.sinks}
    try:
        for account_id in window.accounts:
            for db in _modbs(account_id, window.first, window.last):
                docs = [d for d in couch.all_docs(db) if is_cdr(d) and lowest <= call_start(d) < highest]
                report.found += len(docs)
                for sink in window.sinks:
                    wanted = [d for d in docs if not sink.accounts or account_id in sink.accounts]
                    rows = [sink_row(sink, d, offsets(account_id, call_start(d))) for d in wanted]
                    if not window.dry_run:
                        for start in range(0, len(rows), sink.batch_size):
                            writers[sink.name].upsert(rows[start : start + sink.batch_size])
                    report.written[sink.name] += len(rows)
    finally:
        for writer in writers.values():
            writer.close()
    return report


def _modbs(account_id: str, first: date, last: date) -> list[str]:
    months = {(first.year, first.month)}
    day = first
    while (day.year, day.month) != (last.year, last.month):
        day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        months.add((day.year, day.month))
    return [modb(account_id, y, m) for y, m in sorted(months)]


def _gregorian(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400 + UNIX_EPOCH_IN_GREGORIAN
