"""The CDR flow's vocabulary, shared with config: what a [[cdr.sink]] asks for."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncd.errors import SyncdError


class SinkUnavailable(SyncdError):
    """The sink cannot take rows now (down, refused, misconfigured): the rows wait in the queue."""


SINK_TYPES = ("sql", "files", "sheets")
SHEETS_PER = ("account", "month")
FILE_FORMATS = ("csv", "parquet")


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

    @property
    def key_column(self) -> str:
        """The column holding the CDR id: the upsert key, so a replay never duplicates."""
        return next(c.name for c in self.columns if c.source == "id")
