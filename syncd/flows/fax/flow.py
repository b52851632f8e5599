"""The fax flow as the daemon sees it: one loop over the outboxes, their probes and status.

A pass runs every [fax] poll_interval, or at once when a file event in an
outbox wakes it; each outbox is a bulkhead of its own (one unreachable folder
never delays another).
"""

from __future__ import annotations

import logging
import threading
from functools import partial

from syncd.backends import open_backend
from syncd.config import Config
from syncd.errors import KazooError
from syncd.flows.contract import Job, Loop, Probe, Section, Shared
from syncd.flows.fax.convert import TiffToPdf
from syncd.flows.fax.kazoo import FAXES_DB, CrossbarFaxQueue, KazooFaxQueue
from syncd.flows.fax.outbox import FaxOutbox, FaxQueue, PassReport
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.routing import needs_pdf
from syncd.model.fax import Outbox
from syncd.state import State

log = logging.getLogger("syncd")


def received_fax_rendition() -> TiffToPdf:
    """What the attachments flow converts before it uploads: a received fax's TIFF to PDF,
    where [fax] received_format (or the plan) asks for PDF."""
    return TiffToPdf(needs_pdf)


class FaxFlow:
    name = "fax"

    def __init__(self, shared: Shared) -> None:
        self.config, self.state, self.guard = shared.config, shared.state, shared.guard
        crossbar, couch = shared.crossbar, shared.couch
        self.queue: FaxQueue = (
            CrossbarFaxQueue(couch, crossbar, self.config.kazoo.version)
            if crossbar and self.config.fax.submit_via == "crossbar"
            else KazooFaxQueue(couch, self.config.kazoo.version)
        )
        self._outboxes: dict[str, FaxOutbox] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a file event in an outbox: look now, not at the next poll

    @staticmethod
    def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
        return [Probe(f"fax outbox {box.name}", partial(_probe, config, couch, box)) for box in config.fax.outboxes]

    @staticmethod
    def status(state: State) -> Section:
        counts = state.fax.counts()
        return Section(
            "fax_outboxes",
            rows=[{"outbox": o, "status": s, "count": n} for o, s, n in counts],
            lines=[f"fax outbox {o}: {n} {s}" for o, s, n in counts],
        )

    def start(self, stop: threading.Event) -> None:
        pass  # the loop's first pass is the start

    def loops(self) -> list[Loop]:
        return [Loop("fax", self._loop)] if self.config.fax.outboxes else []

    def jobs(self) -> list[Job]:
        return []

    def run_once(self, stop: threading.Event) -> None:
        self.run_pass()

    def on_file(self, backend: str, key: str) -> None:
        if any(b.backend == backend and key.startswith(b.folder + "/") for b in self.config.fax.outboxes):
            self._wake.set()

    def on_gone(self, backend: str, key: str) -> None:
        pass  # a file leaving an outbox is syncd filing it, or a sender taking it back: nothing to do

    def wake(self) -> None:
        self._wake.set()

    def run_pass(self) -> PassReport:
        """One pass over every fax outbox: new files to Kazoo, jobs followed, ended ones filed."""
        total = PassReport()
        with self._lock:
            for box in self.config.fax.outboxes:

                def run(box: Outbox = box) -> None:
                    total.merge(self._outbox(box).run_pass())
                    if self.state.problems.clear(f"fax:{box.name}"):
                        log.info("fax outbox %r reachable again", box.name)

                self.guard(f"read fax outbox {box.name!r}", run, problem=f"fax:{box.name}")
        return total

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            report = self.run_pass()
            self._wake.wait(min(self.config.fax.poll_interval, report.look_again_in or float("inf")))
            self._wake.clear()

    def _outbox(self, box: Outbox) -> FaxOutbox:
        if box.name not in self._outboxes:
            backend = open_backend(self.config.backends[box.backend].spec())
            self._outboxes[box.name] = FaxOutbox(box, backend, self.queue, self.state.fax)
        return self._outboxes[box.name]


def _probe(config: Config, couch: CouchClient, box: Outbox) -> str:
    """The folder is reachable, Kazoo has its fax queue, and there is a caller id to send from."""
    backend = open_backend(config.backends[box.backend].spec())
    backend.check()
    if not couch.db_exists(FAXES_DB):
        raise KazooError(f"CouchDB has no {FAXES_DB!r} database: is Kazoo's fax application installed?")
    sender = KazooFaxQueue(couch).sender(box.account_id, box.sender)
    if not sender.from_number:
        raise KazooError(f"faxbox {box.sender.faxbox_id} has no caller_id; set from_number on the outbox")
    return f"{backend.describe()}, folder {box.folder!r}; faxes sent as {sender.from_number}"
