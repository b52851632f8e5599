"""The CDR flow as the daemon sees it: one loop reads CDRs into the queue, one loop per
sink exports them, so a sink that is down only delays itself."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from syncd.config import Config
from syncd.errors import CouchUnavailable, StorageError, SyncdError
from syncd.flows.cdr.drain import backoff
from syncd.flows.cdr.export import ExportReport, Window, export_window
from syncd.flows.cdr.reader import CdrReader
from syncd.flows.cdr.sinks import Pump, make_pump, probe, streams
from syncd.flows.contract import Job, Loop, Probe, Section, Shared
from syncd.kazoo.cdrs import UNIX_EPOCH_IN_GREGORIAN, utc_offset
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.dbnames import is_account_id
from syncd.kazoo.follower import ACCOUNTS, account_ids
from syncd.model.cdr import CdrSink, SinkUnavailable
from syncd.state import State

log = logging.getLogger("syncd.cdr")
TIMEZONE_TTL = 600.0  # an account's timezone is read again after this many seconds
THIN_EVERY = 3600.0  # seconds between thinnings of the CDR queue


class CdrFlow:
    name = "cdr"

    def __init__(self, shared: Shared) -> None:
        self.config, self.state, self.guard = shared.config, shared.state, shared.guard
        self.shared_couch, self.pages = shared.couch, shared.pages
        self.zones = AccountTimezones(shared.couch)
        self.reader = CdrReader(
            shared.couch, self.state, self.config.cdr.anonymous, shared.bulkhead.contain, shared.pages
        )
        self.pumps = {s.name: make_pump(self.config, s, self.state, self.zones.offset) for s in self.config.cdr.sinks}
        self._queued = threading.Event()  # new rows: the sinks look now
        if self.pumps:  # without a sink nothing is queued: the state database keeps no CDRs for nobody
            self.reader.on_queued = self._queued.set
            shared.pages.subscribe(self.reader.take)
        self._wake = threading.Event()

    @staticmethod
    def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
        return [Probe(f"cdr sink {s.name}", partial(probe, config, s)) for s in config.cdr.sinks]

    @staticmethod
    def status(state: State) -> Section:
        rows = state.cdrs.status()
        return Section("cdr_sinks", rows=rows, lines=[_line(r) for r in rows])

    def start(self, stop: threading.Event) -> None:
        pass  # the read loop's first pass is the start

    def loops(self) -> list[Loop]:
        if not self.pumps:
            return []
        sinks = [Loop(f"cdr-sink:{name}", partial(self._sink_loop, pump)) for name, pump in self.pumps.items()]
        return [Loop("cdr-read", self._read_loop), *sinks]

    def jobs(self) -> list[Job]:
        return [Job("cdr-thin", self.thin, seconds=THIN_EVERY, jitter=60)] if self.pumps else []

    def thin(self) -> int:
        """The queue thinned (state/cdrs: thin) once every sink has exported a CDR and keep_days
        have passed; returns rows thinned. With a files sink, only CDRs of days every files sink
        has closed (a day open is written whole from the queue)."""
        started_before = None
        closing = [s.files.close_after for s in self.config.cdr.sinks if s.files is not None]
        if closing:
            started_before = int(time.time()) + UNIX_EPOCH_IN_GREGORIAN - int(max(closing)) - 2 * 86_400
        cutoff = time.time() - self.config.cdr.keep_days * 86_400
        thinned = self.state.cdrs.thin([s.name for s in self.config.cdr.sinks], cutoff, started_before)
        if thinned:
            log.info(
                "CDR queue: %d CDRs exported to every sink over %g days ago keep only their ids",
                thinned,
                self.config.cdr.keep_days,
            )
        return thinned

    def run_once(self, stop: threading.Event) -> None:
        """Read every CDR feed while the SQL and Sheets sinks export what is already queued (each
        waits on its own server); the files sinks write their days once, after the reading."""
        if not self.pumps:
            return
        for pump in self.pumps.values():
            self._tell_if_thinned(pump.sink)
        reading = threading.Thread(target=self.guard, args=("read CDRs", self.reader.read), name="cdr-read")
        reading.start()
        streaming = {name: pump for name, pump in self.pumps.items() if streams(pump)}
        while reading.is_alive():
            self._export_once(streaming, stop)
            reading.join(0.1)
        self._export_once(self.pumps, stop)
        self.guard("thin the CDR queue", self.thin)

    def _export_once(self, pumps: Mapping[str, Pump], stop: threading.Event) -> None:
        for name, pump in pumps.items():
            work = partial(pump.pump, stop.is_set, force=True)
            self.guard(f"export CDRs to sink {name!r}", work, problem=f"cdr-sink:{name}")

    def on_file(self, backend: str, key: str) -> None:
        pass  # CDRs come from Kazoo only

    def on_gone(self, backend: str, key: str) -> None:
        pass

    def wake(self) -> None:
        self._wake.set()
        self._queued.set()

    def export(self, first: date, last: date, account: str | None, sink: str | None, dry_run: bool) -> ExportReport:
        """`syncd cdr export`: the window from Kazoo to the sinks again. Raises SyncdError on a bad ask."""
        sinks = tuple(s for s in self.config.cdr.sinks if sink in (None, s.name))
        if not sinks:
            known = ", ".join(s.name for s in self.config.cdr.sinks) or "none configured"
            raise SyncdError(f"no CDR sink named {sink!r} (sinks: {known}); see [[cdr.sink]] in the config")
        if account is not None and not is_account_id(account):
            raise SyncdError(f"--account {account!r} is not a 32-character lowercase hex account id")
        accounts = (account,) if account else self.config.kazoo.accounts or tuple(account_ids(self.shared_couch))
        window = Window(first, last, accounts, sinks, dry_run)
        return export_window(window, self.shared_couch, {s.name: self.pumps[s.name] for s in sinks})

    def _read_loop(self, stop: threading.Event) -> None:
        while not (stop.is_set() or self.pages.first_pass.wait(1)):
            pass  # the follower's pages bring the backlog meanwhile (kazoo/feed_pages)
        while not stop.is_set():
            self.guard("read CDRs", self._read)
            self._wake.wait(self.config.cdr.poll_interval)

    def _read(self) -> None:
        if self.reader.read():
            self._queued.set()  # the sinks look now, not at their next poll

    def _sink_loop(self, pump: Pump, stop: threading.Event) -> None:
        failures = 0
        self._tell_if_thinned(pump.sink)
        while not stop.is_set():
            try:
                pump.pump(stop.is_set)
                if failures:
                    log.info("CDR sink %r takes rows again", pump.sink.name)
                failures = 0
                self.state.problems.clear(f"cdr-sink:{pump.sink.name}")
                self._queued.wait(self.config.cdr.poll_interval)
                self._queued.clear()
            except (SinkUnavailable, CouchUnavailable, StorageError) as exc:  # the sink's side: wait, retry
                failures += 1
                self._sink_down(pump.sink, str(exc), failures == 1)
                stop.wait(backoff(failures))
        pump.close()

    def _tell_if_thinned(self, sink: CdrSink) -> None:
        """A sink added after the queue was thinned starts where the whole CDRs do."""
        if self.state.cdrs.cursor(sink.name) < self.state.cdrs.thinned_through():
            log.warning(
                "CDR sink %r starts after the CDRs the state database no longer holds whole (exported to the "
                "other sinks over %g days ago); `syncd cdr export --sink %s --from DATE --to DATE` brings "
                "those from Kazoo",
                sink.name,
                self.config.cdr.keep_days,
                sink.name,
            )

    def _sink_down(self, sink: CdrSink, error: str, first: bool) -> None:
        self.state.cdrs.failed(sink.name, error)
        if self.state.problems.set(f"cdr-sink:{sink.name}", error) or first:
            log.error("%s", error)


class AccountTimezones:
    """The account doc's `timezone` (Monster UI sets it), read from `accounts` and kept a while."""

    def __init__(self, couch: CouchClient) -> None:
        self.couch = couch
        self._known: dict[str, tuple[str | None, float]] = {}

    def offset(self, account_id: str, gregorian: int) -> int:
        return utc_offset(self.timezone(account_id), gregorian)

    def timezone(self, account_id: str) -> str | None:
        if not account_id:
            return None
        known = self._known.get(account_id)
        if known is None or time.monotonic() - known[1] > TIMEZONE_TTL:
            doc = self.couch.get(ACCOUNTS, account_id) or {}
            zone = doc.get("timezone")
            known = (zone if isinstance(zone, str) else None, time.monotonic())
            self._known[account_id] = known
        return known[0]


def _line(row: dict[str, Any]) -> str:
    newest = _when(row.get("newest_started"))
    lag = ""
    if row.get("newest_in_kazoo") and row.get("newest_started"):
        lag = f", {int(row['newest_in_kazoo']) - int(row['newest_started'])} s behind Kazoo's newest call"
    text = f"cdr sink {row['sink']}: {row['exported']} exported, {row['waiting']} waiting; newest call {newest}{lag}"
    return text + (f"; last error: {row['last_error']}" if row.get("last_error") else "")


def _when(gregorian: Any) -> str:
    if not gregorian:
        return "-"
    moment = datetime.fromtimestamp(int(gregorian) - UNIX_EPOCH_IN_GREGORIAN, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
