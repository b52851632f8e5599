"""The Google Sheets sink: one spreadsheet per account (or per account and month), a header row,
CDRs appended in batches.

Never twice: the CDR id is the first column. Before its first write to a spreadsheet the sink
reads that column once, so after a crash (rows appended, cursor not yet moved) the rows already
there are found again; a CDR found there (or one that changed in Kazoo) is updated in place,
the others are appended in one request. Sheets' write quota (60 writes a minute per user) is
met by batching (one append and at most one update per spreadsheet per batch) and, on 429, by
backing off. A cell holds at most 50,000 characters: longer values are cut, and say so.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from syncd.backends.gsheets import SheetsClient
from syncd.flows.cdr.drain import Offsets, drain
from syncd.flows.cdr.rows import sink_row
from syncd.kazoo.cdrs import started_at
from syncd.model.cdr import CdrSink, SheetsLayout
from syncd.state import State
from syncd.state.cdrs import QueuedCdr

log = logging.getLogger("syncd.cdr")
SHEET = "CDRs"
MAX_CELL = 50_000
_CUT = " [cut by syncd: a cell holds 50,000 characters]"


class SheetsPump:
    def __init__(self, sink: CdrSink, state: State, offsets: Offsets, client: Callable[[], SheetsClient]) -> None:
        assert sink.sheets is not None  # noqa: S101 - config builds sheets sinks with their layout
        self.sink, self.layout, self.state, self.offsets = sink, sink.sheets, state, offsets
        self._client_factory = client
        self._client: SheetsClient | None = None
        self._rows: dict[str, dict[str, int]] = {}  # spreadsheet id -> CDR id -> its row number

    def pump(self, stop: Callable[[], bool] = lambda: False, force: bool = False) -> int:
        return drain(self.state, self.sink, stop, self.rewrite, list)

    def rewrite(self, cdrs: list[QueuedCdr]) -> int:
        """These CDRs' rows written: appended, or updated in place when they are there (a
        replayed batch, a changed CDR, `syncd cdr export`)."""
        books: dict[str, list[QueuedCdr]] = {}
        for queued in cdrs:
            books.setdefault(book_of(self.layout, queued), []).append(queued)
        for book, grouped in books.items():
            self._write(book, grouped)
        return len(cdrs)

    def client(self) -> SheetsClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def close(self) -> None:
        self._client = None

    def _write(self, book: str, cdrs: list[QueuedCdr]) -> None:
        spreadsheet = self._spreadsheet(book)
        rows = self._known(spreadsheet)
        names = [c.name for c in self.sink.columns]
        fresh, again = [], {}
        for queued in cdrs:
            values = [_cell(v) for v in self._row(queued).values()]
            if values[0] in rows:
                again[f"{SHEET}!A{rows[values[0]]}"] = [values]
            else:
                fresh.append(values)
        if again:
            self.client().update(spreadsheet, again)
        if fresh:
            landed = self.client().append(spreadsheet, f"{SHEET}!A1:{_letters(len(names))}1", fresh)
            first = _first_row(landed)
            rows.update({values[0]: first + i for i, values in enumerate(fresh)})

    def _row(self, queued: QueuedCdr) -> dict[str, Any]:
        return sink_row(self.sink, queued.doc, self.offsets(queued.account_id, queued.started or 0))

    def _spreadsheet(self, book: str) -> str:
        known = self.state.cdrs.spreadsheet(self.sink.name, book)
        if known is not None:
            return known
        made = self.client().create(f"Kazoo CDRs {book}", SHEET)
        # recorded at once: a crash before this line leaves an empty spreadsheet, never a CDR twice
        self.state.cdrs.set_spreadsheet(self.sink.name, book, made)
        log.info("CDR sink %r: spreadsheet %s for %s", self.sink.name, made, book)
        return made

    def _known(self, spreadsheet: str) -> dict[str, int]:
        """CDR id -> row, read once per spreadsheet; a new (or headless) sheet gets its header."""
        if spreadsheet not in self._rows:
            column = self.client().column(spreadsheet, f"{SHEET}!A:A")
            if not column:
                self.client().append(spreadsheet, f"{SHEET}!A1", [[c.name for c in self.sink.columns]])
                column = [self.sink.key_column]
            self._rows[spreadsheet] = {cdr_id: n for n, cdr_id in enumerate(column, start=1) if n > 1 and cdr_id}
        return self._rows[spreadsheet]


def book_of(layout: SheetsLayout, queued: QueuedCdr) -> str:
    account = queued.account_id or "anonymous"
    if layout.per == "account":
        return account
    return f"{account} {started_at(queued.doc):%Y-%m}"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and len(value) > MAX_CELL:
        return value[: MAX_CELL - len(_CUT)] + _CUT
    return value


def _first_row(a1: str) -> int:
    """The first row of a range Sheets answered, e.g. CDRs!A5:AJ9 -> 5."""
    match = re.search(r"![A-Z]+(\d+)", a1)
    if match is None:
        raise ValueError(f"Google Sheets answered an append with range {a1!r}, which names no row")
    return int(match[1])


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(65 + rest) + out
    return out
