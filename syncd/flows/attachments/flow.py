"""The attachments flow as the daemon sees it: voicemails, recordings and faxes kept
in the storage backends, both ways.

- Kazoo to storage: a feeds loop reads the changes feeds every
  kazoo.poll_interval s, and at once when /_db_updates names a followed
  database (its own loop) or a hot database's watcher sees a change
  (syncd.kazoo.hot_feeds); a discovery job finds new accounts and databases
  (discovery_interval, with jitter) and checks the current month's MODB; an
  uploads loop drains the backlog, woken as soon as work is recorded.
- Storage to Kazoo: a listing scan of every tracked target (scan_interval,
  jittered 3/4..5/4 as Syncthing does), a frequent confirm pass over objects
  seen missing, scheduled reconciliation (cron, with jitter), and deletion
  hints (syncd.flows.attachments.hints). These run one at a time (one lock),
  so two passes never plan the same delete.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any, Protocol

from syncd.config import Config
from syncd.engine.kazoo_to_backend import carry_kazoo_deletes_to_backends
from syncd.engine.plan import Guard, Policy
from syncd.engine.runner import RunStats, UploadRunner
from syncd.engine.twoway import Report, TwoWay
from syncd.engine.uploader import RetryPolicy, Uploader
from syncd.flows.attachments import checks
from syncd.flows.attachments.hints import Hints
from syncd.flows.attachments.reconcile import Reconciler
from syncd.flows.attachments.targets import CouchSource, Targets, flow_setup
from syncd.flows.contract import Job, Loop, Probe, Section, Shared
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.deletes import KazooDeleter
from syncd.kazoo.endpoints import EndpointPolicy
from syncd.kazoo.follower import SYSTEM_DATA, Follower
from syncd.kazoo.hot_feeds import HotFeeds
from syncd.kazoo.plans import PlanBook
from syncd.kazoo.routing import DocPlanner
from syncd.state import ItemStatus, State


class ReconcileArgs(Protocol):
    """What `syncd reconcile` was asked (the CLI's parsed arguments fit)."""

    @property
    def dry_run(self) -> bool: ...
    @property
    def account(self) -> str | None: ...
    @property
    def allow_deletes(self) -> bool: ...


class AttachmentsFlow:
    name = "attachments"

    def __init__(self, shared: Shared) -> None:
        config, couch, self.state, self.guard = shared.config, shared.couch, shared.state, shared.guard
        self.config, self.couch = config, couch
        self.feeds_wake = threading.Event()  # _db_updates named a database: read its changes now
        rules, specs = flow_setup(config)
        k = config.kazoo
        planner = DocPlanner(
            PlanBook(lambda doc_id: couch.get(SYSTEM_DATA, doc_id)),
            rules,
            k.follow_storage_plans,
            k.s3_checksum,
            k.google_drive,
            config.fax.received_format,
        )
        self.planner = planner
        self.targets = Targets(specs, planner, couch, EndpointPolicy(k.allow_endpoints, config.couchdb.url))
        retry = RetryPolicy(config.upload.retry_base, config.upload.retry_max)
        uploader = Uploader(self.state.work, CouchSource(couch), self.targets, retry, shared.rendition)
        self.runner = UploadRunner(self.state.work, uploader, config.upload.workers)
        self.follower = Follower(
            couch,
            self.state,
            planner,
            k.accounts,
            k.history_months,
            on_work=self.runner.wake.set,
            bulkhead=shared.bulkhead,
            on_update=self.feeds_wake.set,
            pages=shared.pages,
        )
        t = config.two_way
        self.kazoo_deleter = KazooDeleter(couch, shared.crossbar, config.kazoo.version)
        self.policy = Policy(t.grace_period, t.pvt_types(lambda p: p.delete_in_kazoo), t.kazoo_delete_modes())
        self.delete_guard = Guard(
            t.max_deletes, t.max_delete_share, t.share_from, t.max_deletes_per_run, t.guard_window
        )
        self.twoway_lock = threading.Lock()
        self.hints = Hints(config, self.state, self.two_way, self.twoway_lock, shared.bulkhead.contain)

    # -- what syncd check and syncd status ask ---------------------------------
    @staticmethod
    def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
        return checks.probes(config, couch, kazoo_reachable)

    @staticmethod
    def status(state: State) -> Section:
        """Per account, document type and target: counts, last success, last error."""
        rows = state.work.summary()
        return Section("flows", rows=rows, lines=_table(rows))

    # -- the daemon's contract -------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        self.follower.hot = HotFeeds(self.couch.wait_for_change, self.state.feeds.cursor, self._changed, stop)
        self.guard("discover databases", self.follower.discover)

    def loops(self) -> list[Loop]:
        return [
            Loop("uploads", self.runner.run_forever),
            Loop("feeds", self._feeds_loop),
            Loop("db-updates", self.follower.watch_db_updates, abandon_at_exit=True),
            *self.hints.loops(),
        ]

    def jobs(self) -> list[Job]:
        k, t = self.config.kazoo, self.config.two_way
        found = [
            Job(
                "discover",
                self._discovery_job,
                seconds=k.discovery_interval,
                jitter=max(1, int(k.discovery_interval / 10)),
            ),
            Job("scan", lambda: self.two_way_pass(scan=True), seconds=t.scan_interval, jitter=t.scan_interval / 4),
            Job("confirm", lambda: self.two_way_pass(scan=False), seconds=t.recheck_interval),
        ]
        if t.reconcile_cron:
            # jitter spreads hosts (and restarts) so reconciliations do not all start at once
            found.append(Job("reconcile", self._reconcile_job, cron=t.reconcile_cron, jitter=t.reconcile_jitter))
        return found

    def run_once(self, stop: threading.Event) -> None:
        self.follower.discover()
        self.follower.poll()

    def drain(self, stop: threading.Event) -> RunStats:
        """The whole upload backlog, once (`syncd run --once`, after every flow's pass)."""
        return self.runner.drain(stop, once=True)

    def on_file(self, backend: str, key: str) -> None:
        pass  # a new file in a backend is not Kazoo's: the attachments flow never imports it

    def on_gone(self, backend: str, key: str) -> None:
        self.hints.add(f"syncd:{backend}", key)

    def wake(self) -> None:
        self.runner.wake.set()
        self.feeds_wake.set()
        self.hints.wake()

    # -- passes ------------------------------------------------------------------
    def two_way(self, dry_run: bool = False, progress: Any = None) -> TwoWay:
        return TwoWay(self.state, self.targets, self.kazoo_deleter, self.policy, self.delete_guard, dry_run, progress)

    def reconciler(self, dry_run: bool = False, progress: Any = None) -> Reconciler:
        return Reconciler(self.state, self.couch, self.planner, self.two_way(dry_run, progress))

    def reconcile(self, args: ReconcileArgs, stop: threading.Event, progress: Any, say: Any) -> Report:
        """`syncd reconcile`: plan over every followed database and target; unless dry_run, apply
        it and upload what it recorded (an upload that fails counts as skipped)."""
        self.follower.discover()
        report = self.reconciler(args.dry_run, progress).run(args.account, args.allow_deletes, stop, say=say)
        if not args.dry_run:
            report.counts["skipped"] += self.runner.drain(stop, once=True).failed
        return report

    def waiting(self) -> int:
        """Items not uploaded yet: pending or failed (retried with backoff)."""
        return self.state.work.count(ItemStatus.PENDING, ItemStatus.FAILED)

    def two_way_pass(self, scan: bool) -> Report:
        """scan=True: list every tracked target first. Then confirm due deletes either way."""
        report = Report()
        with self.twoway_lock:
            tw = self.two_way()

            def run() -> None:
                if scan:
                    for target in self.state.listings.tracked_targets():
                        self.guard(
                            f"list {target}",
                            partial(tw.scan, target, report),
                            reads_couch=False,
                            problem=f"scan:{target}",
                        )
                tw.confirm(report)
                carry_kazoo_deletes_to_backends(tw, report)

            self.guard("compare storage with Kazoo", run, reads_couch=False)
        return report

    def _reconcile_job(self) -> None:
        with self.twoway_lock:
            self.guard("reconcile", lambda: self.reconciler().run())

    def _changed(self, db: str) -> None:
        """A hot database's watcher saw a change: read it now."""
        self.follower.mark_dirty({db})
        self.feeds_wake.set()

    def _feeds_loop(self, stop: threading.Event) -> None:
        """Read the changes feeds every poll_interval, or at once when _db_updates names a database:
        an event never waits for the next tick."""
        while not stop.is_set():
            self.feeds_wake.clear()
            self._poll_job()
            self.feeds_wake.wait(self.config.kazoo.poll_interval)

    def _poll_job(self) -> None:
        dirty = self.follower.take_dirty() if self.follower.db_updates_supported else None

        def poll() -> None:
            try:
                self.follower.poll(only=dirty)
            except BaseException:
                self.follower.mark_dirty(dirty or set())  # not read: named again for the next pass
                raise

        self.guard("read changes", poll)

    def _discovery_job(self) -> None:
        def discover() -> None:
            self.follower.discover()
            if not self.follower.db_updates_supported:
                self.follower.check_current_month()
            self.follower.poll()  # a full pass, whatever _db_updates said

        self.guard("discover databases", discover)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'ACCOUNT':32}  {'TYPE':15}  {'TARGET':30}  SYNCED  KAZOO  PENDING  FAILED  LAST SUCCESS"]
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["last_success"])) if r["last_success"] else "-"
        lines.append(
            f"{r['account_id']:32}  {r['pvt_type']:15}  {r['target'][:30]:30}  {r['synced']:6}  "
            f"{r['offloaded']:5}  {r['pending']:7}  {r['failed']:6}  {when}"
        )
        if r["failed"] and r["last_error"]:
            lines.append(f"    last error: {r['last_error']}")
    return lines if rows else [*lines, "(nothing recorded yet)"]
