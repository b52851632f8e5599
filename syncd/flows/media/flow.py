"""The media flow as the daemon sees it: one loop over the libraries, their probes and status.

A pass runs every [media] poll_interval, or at once when a file event in a
local library wakes it; each library is a bulkhead of its own.
"""

from __future__ import annotations

import logging
import threading
from functools import partial

from syncd.backends import open_backend
from syncd.backends.base import Backend
from syncd.backends.folder import FolderView
from syncd.config import Config
from syncd.engine.plan import Guard, Policy
from syncd.engine.twoway import Report, TwoWay
from syncd.errors import SyncdError
from syncd.flows.contract import Job, Loop, Probe, Section, Shared
from syncd.flows.media.audio import tool
from syncd.flows.media.library import LibraryReport, MediaLibrary
from syncd.flows.media.to_kazoo import ToKazoo
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.media import MEDIA, KazooMedia
from syncd.kazoo.media_crossbar import CrossbarMedia
from syncd.kazoo.media_deletes import MediaDeleter
from syncd.kazoo.referrers import ReferrerIndex
from syncd.model.media import Library
from syncd.state import Item, State

log = logging.getLogger("syncd.media")
INDEXED = "media references indexed"  # a reconcile's count of what the rebuilt referrer index holds


class LibraryBackends:
    """The engine's BackendResolver for library items: each library's folder as a backend."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._built: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def for_library(self, lib: Library) -> Backend:
        with self._lock:
            if lib.target not in self._built:
                inner = open_backend(self.config.backends[lib.backend].spec())
                self._built[lib.target] = FolderView(inner, lib.folder)
            return self._built[lib.target]

    def backend_for(self, item: Item) -> Backend:
        for lib in self.config.media.libraries:
            if lib.target == item.target:
                return self.for_library(lib)
        raise SyncdError(f"media library {item.target.removeprefix('media:')!r} is no longer configured")


class MediaFlow:
    name = "media"

    def __init__(self, shared: Shared) -> None:
        self.config, self.state, self.guard = shared.config, shared.state, shared.guard
        self.couch, self.crossbar = shared.couch, shared.crossbar
        self.backends = LibraryBackends(self.config)
        t = self.config.two_way
        self.policy = Policy(t.grace_period, frozenset({MEDIA}))
        self.delete_guard = Guard(
            t.max_deletes, t.max_delete_share, t.share_from, t.max_deletes_per_run, t.guard_window
        )
        self._libraries: dict[str, MediaLibrary] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # which docs name which media: learnt from the follower's pages of the account databases
        self.referrers = ReferrerIndex(self.couch, self.state)
        if self.config.media.libraries:
            shared.pages.subscribe(self.referrers.take)

    @staticmethod
    def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
        found = [
            Probe(f"media library {lib.name}", partial(_probe, config, couch, lib)) for lib in config.media.libraries
        ]
        if config.media.libraries:
            found.append(Probe("ffprobe (media libraries judge audio with it)", lambda: tool("ffprobe")))
        return found

    @staticmethod
    def status(state: State) -> Section:
        rows = [row for row in state.work.summary() if str(row["target"]).startswith("media:")]
        return Section(
            "media_libraries",
            rows=rows,
            lines=[f"media library {r['target'][6:]}: {r['synced']} file(s) paired with media" for r in rows],
        )

    def start(self, stop: threading.Event) -> None:
        pass  # the loop's first pass is the start

    def loops(self) -> list[Loop]:
        return [Loop("media", self._loop)] if self.config.media.libraries else []

    def jobs(self) -> list[Job]:
        cron = self.config.two_way.reconcile_cron
        if not (self.config.media.libraries and cron):
            return []
        jitter = self.config.two_way.reconcile_jitter
        return [Job("media-referrers", self._rebuild_referrers, cron=cron, jitter=jitter)]

    def _rebuild_referrers(self) -> None:
        """Scheduled reconciliation: the referrer index read again from every account database."""
        self.guard("rebuild the media referrer index", lambda: self.referrers.rebuild(), problem="media-referrers")

    def run_once(self, stop: threading.Event) -> None:
        self.run_pass()

    def on_file(self, backend: str, key: str) -> None:
        if any(lib.backend == backend and key.startswith(lib.folder + "/") for lib in self.config.media.libraries):
            self._wake.set()

    def on_gone(self, backend: str, key: str) -> None:
        self.on_file(backend, key)  # the pass looks: a file gone is a first sighting, never a delete by itself

    def wake(self) -> None:
        self._wake.set()

    def reconcile(self, account: str | None, allow_deletes: bool) -> Report:
        """`syncd reconcile` (acting): one pass over the libraries (of one account), as an engine
        report; --allow-deletes lets deletes the guard held go through."""
        indexed = self.referrers.rebuild((account,) if account else ())
        library = self.run_pass(allow_deletes, account)
        report = Report(held=library.held, refused=library.refused)
        report.counts[INDEXED] += indexed
        for action, count in library.counts.items():
            report.counts[f"media {action}"] += count
        report.counts["skipped"] += len(library.errors)
        return report

    def run_pass(self, allow_deletes: bool = False, account: str | None = None) -> LibraryReport:
        total = LibraryReport()
        with self._lock:
            for lib in self.config.media.libraries:
                if account and lib.account_id != account:
                    continue

                def run(lib: Library = lib) -> None:
                    report = self._library(lib).run_pass(allow_deletes)
                    for what, n in report.counts.items():
                        total.add(what, n)
                    total.errors += report.errors
                    total.held.update(report.held)
                    total.refused.update(report.refused)
                    if report.look_again_in is not None:
                        total.look_again_in = min(total.look_again_in or report.look_again_in, report.look_again_in)
                    if self.state.problems.clear(f"media-pass:{lib.name}"):
                        log.info("media library %r readable again", lib.name)

                self.guard(f"sync media library {lib.name!r}", run, problem=f"media-pass:{lib.name}")
        return total

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            report = self.run_pass()
            self._wake.wait(min(self.config.media.poll_interval, report.look_again_in or float("inf")))
            self._wake.clear()

    def _library(self, lib: Library) -> MediaLibrary:
        if lib.name not in self._libraries:
            backend = self.backends.for_library(lib)
            media = (
                CrossbarMedia(self.couch, self.crossbar, self.config.kazoo.version)
                if self.crossbar and self.config.media.write_via == "crossbar"
                else KazooMedia(self.couch, self.config.kazoo.version)
            )
            deleter = MediaDeleter(media, self.referrers)
            twoway = TwoWay(self.state, self.backends, deleter, self.policy, self.delete_guard)
            to_kazoo = ToKazoo(backend, media, self.state)
            self._libraries[lib.name] = MediaLibrary(lib, backend, to_kazoo, self.state, twoway)
        return self._libraries[lib.name]


def _probe(config: Config, couch: CouchClient, lib: Library) -> str:
    """The folder is reachable and the account's database exists."""
    backend = FolderView(open_backend(config.backends[lib.backend].spec()), lib.folder)
    backend.check()
    if not couch.db_exists(dbnames.account_db(lib.account_id)):
        raise SyncdError(f"account {lib.account_id} has no database in CouchDB: is the account id right?")
    return f"{backend.describe()}; media of account {lib.account_id}"
