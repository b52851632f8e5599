"""The CDR flow's vocabulary, shared with config and the state DB: what a [[cdr.sink]] asks
for, and how a queued CDR's doc is stored (pack_cdr, unpack_cdr)."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from syncd.errors import SyncdError


class SinkUnavailable(SyncdError):
    """The sink cannot take rows now (down, refused, misconfigured): the rows wait in the queue.
    row_fault: the database refused what a row holds (a value it cannot store), not the table or
    the connection, so the rows beside it can still go."""

    def __init__(self, message: str, row_fault: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.row_fault, self.detail = row_fault, detail  # detail: the database's own words


SINK_TYPES = ("sql", "files", "sheets")
SHEETS_PER = ("account", "month")
FILE_FORMATS = ("csv", "parquet")
CSV_FORMULAS = ("neutralize", "raw")  # a files sink's csv_formulas: what a cell that starts a formula becomes


@dataclass(frozen=True)
class Column:
    """One column of a sink: `source` is a Crossbar CSV column, `ccv:<name>` (a custom channel
    var) or `cdr` (the whole CDR as JSON); `name` is what the sink calls it."""

    source: str
    name: str


@dataclass(frozen=True)
class FileLayout:
    """A files sink: one object per account and day under `folder` of a [backends.X] backend, in
    Hive-style partitions (account_id=.../year=.../month=.../day=...), CSV or Parquet."""

    backend: str
    folder: str
    format: str = "csv"
    flush_interval: float = 60.0  # the open day's object is rewritten at most this often
    close_after: float = 21_600.0  # seconds after its end (UTC) a day closes: its object is final
    # CSV: a text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading '
    neutralize_formulas: bool = True


@dataclass(frozen=True)
class SheetsLayout:
    """A Google Sheets sink: one spreadsheet per account (or per account and month), written with
    the credentials of a google_drive [backends.X]."""

    backend: str
    per: str = "account"


@dataclass(frozen=True)
class CdrSink:
    name: str
    type: str
    url: str = field(repr=False)  # may hold a password: never logged (see display)
    display: str  # the URL without its password, for messages
    table: str
    columns: tuple[Column, ...]
    accounts: tuple[str, ...] = ()  # only these accounts; () = every followed account
    batch_size: int = 500
    files: FileLayout | None = None  # type "files": where and how the files go
    sheets: SheetsLayout | None = None  # type "sheets": which Google account, one book per what
    kazoo_version: str = "4.3"  # [kazoo] version: whose Crossbar CSV the columns are (syncd.kazoo.versions)

    @property
    def key_column(self) -> str:
        """The column holding the CDR id: the upsert key, so a replay never duplicates."""
        return next(c.name for c in self.columns if c.source == "id")


def pack_cdr(doc: dict[str, Any]) -> bytes:
    """A CDR doc as the state DB's queue holds it: JSON. Not compressed: zlib costs 20 times the
    encoding for a 1 KB CDR."""
    try:
        return orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits: the standard encoder
        return json.dumps(doc, separators=(",", ":")).encode()


def unpack_cdr(blob: bytes) -> dict[str, Any]:
    text = zlib.decompress(blob) if blob[:1] == b"x" else blob  # zlib: queued by an earlier syncd
    try:
        doc: dict[str, Any] = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = json.loads(text)
    return doc
