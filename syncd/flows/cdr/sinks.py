"""Which pump writes a sink, and how `syncd check` reaches it. Each kind's module is imported
only when a config has a sink of that kind: SQLAlchemy, pyarrow and the Google client cost a
daemon tens of MB it should not carry for sinks it does not have."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from syncd.backends import open_backend
from syncd.config import Config
from syncd.config.backends import DriveOptions
from syncd.flows.cdr.drain import Offsets
from syncd.model.cdr import CdrSink
from syncd.state import State
from syncd.state.cdrs import QueuedCdr

if TYPE_CHECKING:
    from syncd.backends.gsheets import SheetsClient


class Pump(Protocol):
    sink: CdrSink

    def pump(self, stop: Callable[[], bool] = ..., force: bool = False) -> int: ...
    def rewrite(self, cdrs: list[QueuedCdr]) -> int: ...
    def close(self) -> None: ...


def make_pump(config: Config, sink: CdrSink, state: State, offsets: Offsets) -> Pump:
    if sink.files is not None:
        from syncd.flows.cdr.files import FilesPump

        backend = config.backends[sink.files.backend]
        return FilesPump(sink, state, offsets, lambda: open_backend(backend.spec()))
    if sink.sheets is not None:
        from syncd.flows.cdr.sheets import SheetsPump

        return SheetsPump(sink, state, offsets, lambda: _sheets_client(config, sink))
    from syncd.flows.cdr.pump import SinkPump

    return SinkPump(sink, state, offsets)


def probe(config: Config, sink: CdrSink) -> str:
    """What `syncd check` says of a sink it reached; raises what is wrong."""
    if sink.files is not None:
        from syncd.flows.cdr.files import check_files

        return check_files(sink.files, open_backend(config.backends[sink.files.backend].spec()))
    if sink.sheets is not None:
        client = _sheets_client(config, sink)
        client.exists("syncd-check")  # a token is granted and Sheets answers (a 404 for this made-up id)
        return f"{client.describe()} answers with the credentials of [backends.{sink.sheets.backend}]"
    from syncd.flows.cdr.sql import SqlSink

    writer = SqlSink(sink)
    try:
        return writer.check()
    finally:
        writer.close()


def streams(pump: Pump) -> bool:
    """Whether the pump writes as rows come (SQL, Sheets) rather than whole days (files)."""
    return pump.sink.files is None


def _sheets_client(config: Config, sink: CdrSink) -> SheetsClient:
    from syncd.backends.gsheets import SheetsClient

    assert sink.sheets is not None  # noqa: S101 - only sheets sinks ask
    options = config.backends[sink.sheets.backend].options
    assert isinstance(options, DriveOptions)  # noqa: S101 - config refuses a sheets sink on another type
    return SheetsClient(options.credentials or "", options.subject, options.api_endpoint)
