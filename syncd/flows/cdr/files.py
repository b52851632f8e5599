"""The files sink: CSV (Crossbar's header) or Parquet in any backend, one object per account and
day, in Hive-style partitions that DuckDB, Athena, BigQuery and pandas read as one table:

    <folder>/account_id=<A>/year=2026/month=11/day=27/cdrs.csv

A day's object is regenerated whole from the CDRs the state DB recorded for that account and
day, and put with its MD5 (the backend verifies it; the object appears whole or not at all),
so a replay writes the same bytes again: exactly once by construction. The open day is
rewritten at most every flush_interval. A day closes close_after seconds after it ends (UTC);
its object, as last written, is never written again: a CDR Kazoo adds or changes later
(a late rating) goes into a part beside it, late-<seq>.<fmt>, named by the queue position it
starts after (written again after a crash, it is the same object). A changed CDR then has its
old row in the earlier object and its current row in the later part (file names sort in the
order they were written).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from syncd.backends.base import Backend
from syncd.flows.cdr.drain import Offsets
from syncd.flows.cdr.reader import found_cdr
from syncd.flows.cdr.rows import sink_row
from syncd.kazoo.cdrs import (
    INTEGER_COLUMNS,
    NUMBER_COLUMNS,
    UNIX_EPOCH_IN_GREGORIAN,
    USABLE_STARTS,
    call_start,
    started_at,
)
from syncd.kazoo.numbers import float_text
from syncd.model.cdr import CdrSink, FileLayout
from syncd.state import State
from syncd.state.cdrs import QueuedCdr

DAY = 86_400
CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


class FilesPump:
    def __init__(self, sink: CdrSink, state: State, offsets: Offsets, backend: Callable[[], Backend]) -> None:
        assert sink.files is not None  # noqa: S101 - config builds files sinks with their layout
        self.sink, self.layout, self.state, self.offsets = sink, sink.files, state, offsets
        self._backend: Callable[[], Backend] = backend
        self._opened: Backend | None = None
        self._last_flush = 0.0

    def pump(self, stop: Callable[[], bool] = lambda: False, force: bool = False) -> int:
        """Write every day touched since the cursor, then move it; returns CDRs newly covered."""
        if not force and time.monotonic() - self._last_flush < self.layout.flush_interval:
            return 0
        days, seq, covered = set(), self.state.cdrs.cursor(self.sink.name), 0
        while batch := self.state.cdrs.after(self.sink.name, self.sink.batch_size, after=seq):
            for queued in batch:
                if not self.sink.accounts or queued.account_id in self.sink.accounts:
                    days.add((queued.account_id, _day(queued.doc)))
                    covered += 1
            seq = batch[-1].seq
        for account_id, day in sorted(days):
            if stop():
                return 0  # the cursor stays: the next pass writes these days again, whole
            self.write_day(account_id, day)
        if seq > self.state.cdrs.cursor(self.sink.name):
            self.state.cdrs.advance(self.sink.name, seq, covered, None)
        self._last_flush = time.monotonic()
        return covered

    def rewrite(self, cdrs: list[QueuedCdr]) -> int:
        """`syncd cdr export`: the CDRs recorded (as read from Kazoo now) and their days written again."""
        found = [found_cdr(q.db, q.account_id, q.doc) for q in cdrs]
        self.state.cdrs.remember(found)
        for account_id, day in sorted({(q.account_id, _day(q.doc)) for q in cdrs}):
            self.write_day(account_id, day, whole=True)
        return len(cdrs)

    def write_day(self, account_id: str, day: datetime, whole: bool = False) -> int:
        """The day's objects; returns rows written. While the day is open its cdrs.<fmt> is written
        whole from the queue. The object as last written is final once the day closes: CDRs queued
        after it (new ones, or changed ones, which come back with a higher seq) go into a part
        late-<bound>.<fmt> of their own. whole (`syncd cdr export`): every object of the day written
        again, as its bounds say."""
        first = int(day.timestamp()) + UNIX_EPOCH_IN_GREGORIAN
        strays = USABLE_STARTS if first == UNIX_EPOCH_IN_GREGORIAN else None  # where started_at dates them
        cdrs = self.state.cdrs.partition(account_id, first, first + DAY, strays)
        bounds, was_open = self.state.cdrs.bounds(self.sink.name, account_id, first)
        is_open = time.time() < day.timestamp() + DAY + self.layout.close_after
        if not bounds or (was_open and is_open):
            self._put(account_id, day, None, cdrs)
            if cdrs:
                self.state.cdrs.set_bounds(self.sink.name, account_id, first, [max(q.seq for q in cdrs)], is_open)
            return len(cdrs)
        if was_open:  # closed since its last write: that object is final as it stands
            self.state.cdrs.set_bounds(self.sink.name, account_id, first, bounds)
        written = 0
        if whole:
            for lower, upper in zip([0, *bounds[:-1]], bounds, strict=True):
                written += self._put(account_id, day, lower or None, [q for q in cdrs if lower < q.seq <= upper])
        late = [q for q in cdrs if q.seq > bounds[-1]]
        if late:  # the part is named by where it starts: written again after a crash, it is the same object
            written += self._put(account_id, day, bounds[-1], late)
            self.state.cdrs.set_bounds(self.sink.name, account_id, first, [*bounds, max(q.seq for q in late)])
        return written

    def _put(self, account_id: str, day: datetime, after: int | None, cdrs: list[QueuedCdr]) -> int:
        rows = [sink_row(self.sink, q.doc, self.offsets(account_id, call_start(q.doc))) for q in cdrs]
        body = render(self.sink, rows, self.layout.format)
        self.backend().put(
            day_key(self.layout, account_id, day, after),
            io.BytesIO(body),
            length=len(body),
            content_type=CONTENT_TYPES[self.layout.format],
            md5=hashlib.md5(body).hexdigest(),  # noqa: S324 - the backends' integrity check, not security
        )
        return len(rows)

    def backend(self) -> Backend:
        if self._opened is None:
            self._opened = self._backend()
        return self._opened

    def close(self) -> None:
        self._opened = None


def check_files(layout: FileLayout, backend: Backend) -> str:
    backend.check()
    return f"{backend.describe()}, folder {layout.folder!r} ({layout.format})"


def day_key(layout: FileLayout, account_id: str, day: datetime, after: int | None = None) -> str:
    """The day's object, or (after) the part of a closed day holding CDRs queued after that seq."""
    account = account_id or "anonymous"
    name = "cdrs" if after is None else f"late-{after:012d}"  # sorts after cdrs.<fmt>, parts in order
    return (
        f"{layout.folder}/account_id={account}/year={day.year:04d}/month={day.month:02d}/day={day.day:02d}"
        f"/{name}.{layout.format}"
    )


def render(sink: CdrSink, rows: list[dict[str, Any]], fmt: str) -> bytes:
    names = [c.name for c in sink.columns]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(names)
        cell = inert if sink.files is None or sink.files.neutralize_formulas else _text
        writer.writerows([cell(row[n]) for n in names] for row in rows)
        return out.getvalue().encode()
    return _parquet(sink, rows)


def _parquet(sink: CdrSink, rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa  # loaded by a Parquet sink only: it costs a daemon ~10 MB
    import pyarrow.parquet as pq

    fields, arrays = [], []
    for column in sink.columns:
        kind = _arrow_type(pa, column.source)
        values = [row[column.name] for row in rows]
        if kind == pa.string():
            values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
        fields.append(pa.field(column.name, kind))
        arrays.append(pa.array(values, type=kind))
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), out)
    return out.getvalue()


def _arrow_type(pa: Any, source: str) -> Any:
    if source in INTEGER_COLUMNS:
        return pa.int64()
    if source in NUMBER_COLUMNS:
        return pa.float64()
    return pa.string()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float):
        return float_text(value)  # as Crossbar prints it: 0.012, 7.0, 1.0e+6
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection list
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")  # "+14155550100", "-5": a number to a spreadsheet


def inert(value: Any) -> str:
    """A cell no spreadsheet runs: text starting like a formula gets a leading ' (OWASP's CSV
    injection advice). Numbers stay numbers, and so does text that is one (an E.164 number,
    "+14155550100", is the commonest value of a CDR)."""
    text = _text(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _day(doc: dict[str, Any]) -> datetime:
    """The UTC day the call started: the day whose object holds it."""
    return started_at(doc).replace(hour=0, minute=0, second=0, microsecond=0)
