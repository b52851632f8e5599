"""`syncd cdr export`: a window of CDRs written to the sinks again, from Kazoo itself.

The CDRs are read from the MODBs of the window's months (not from the queue,
which may have been pruned or may predate a sink), and upserted keyed by the
CDR id: a window exported twice, or over rows the daemon already wrote, leaves
each CDR exactly once. Sink cursors are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from syncd.errors import SyncdError
from syncd.kazoo.cdrs import UNIX_EPOCH_IN_GREGORIAN, call_start, is_cdr
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.dbnames import modb
from syncd.model.cdr import CdrSink
from syncd.state.cdrs import QueuedCdr


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


class Rewriter(Protocol):
    """A sink's pump, asked to write these CDRs again whatever its cursor says."""

    def rewrite(self, cdrs: list[QueuedCdr]) -> int: ...


def export_window(window: Window, couch: CouchClient, pumps: dict[str, Rewriter]) -> ExportReport:
    report = ExportReport(written={s.name: 0 for s in window.sinks})
    lowest = _gregorian(window.first)
    highest = _gregorian(window.last + timedelta(days=1))
    for account_id in window.accounts:
        for db in _modbs(account_id, window.first, window.last):
            docs = [d for d in couch.all_docs(db) if is_cdr(d) and lowest <= call_start(d) < highest]
            report.found += len(docs)
            cdrs = [QueuedCdr.holding(0, db, account_id, d, call_start(d) or None) for d in docs]
            for sink in window.sinks:
                wanted = cdrs if not sink.accounts or account_id in sink.accounts else []
                for start in range(0, len(wanted), sink.batch_size):
                    batch = wanted[start : start + sink.batch_size]
                    report.written[sink.name] += len(batch) if window.dry_run else pumps[sink.name].rewrite(batch)
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
