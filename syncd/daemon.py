"""Wires config, CouchDB, storage plans, state, backends, engine and scheduler.

The one module (with cli.py) that sees everything. Long-running mode:
- a feeds thread reads the changes feeds every kazoo.poll_interval s, and at once when
  /_db_updates names a followed database or a hot database's watcher sees a change
  (syncd.kazoo.hot_feeds); APScheduler runs discovery of
  accounts and databases (every kazoo.discovery_interval s, with jitter) and
  the current-month MODB check;
- one thread longpolls /_db_updates where CouchDB has it;
- one thread drains the upload backlog, woken as soon as work is recorded;
- two-way: a listing scan of every tracked target (scan_interval, jittered
  3/4..5/4 as Syncthing does), a frequent confirm pass over objects seen
  missing, scheduled reconciliation (cron, with jitter), and deletion hints from
  watchdog (syncd's local folders) and SQS (S3 event notifications). These run
  one at a time (one lock), so two passes never plan the same delete.
SIGTERM sets `stop`: no new item starts, the ones in flight finish, exit 0.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from syncd.backends import open_backend
from syncd.config import Config
from syncd.engine.kazoo_to_backend import carry_kazoo_deletes_to_backends
from syncd.engine.plan import Guard, Policy
from syncd.engine.runner import RunStats, UploadRunner
from syncd.engine.twoway import Report, TwoWay
from syncd.engine.uploader import RetryPolicy, Uploader
from syncd.errors import CouchUnavailable, StateDamaged, StateUnavailable
from syncd.flows.attachments.reconcile import Reconciler
from syncd.flows.attachments.targets import CouchSource, Targets, backend_spec, flow_setup
from syncd.flows.fax.convert import TiffToPdf
from syncd.flows.fax.outbox import FaxOutbox, PassReport
from syncd.flows.fax.records import Outbox
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.crossbar import Crossbar
from syncd.kazoo.deletes import KazooDeleter
from syncd.kazoo.endpoints import EndpointPolicy
from syncd.kazoo.faxes import CrossbarFaxQueue, KazooFaxQueue
from syncd.kazoo.follower import SYSTEM_DATA, Follower
from syncd.kazoo.hot_feeds import HotFeeds
from syncd.kazoo.plans import PlanBook
from syncd.kazoo.routing import DocPlanner, needs_pdf
from syncd.runtime import logs, sdnotify
from syncd.runtime.bulkhead import Bulkhead, supervised
from syncd.runtime.hints import HintHooks, Hints
from syncd.state import ItemStatus, State

log = logging.getLogger("syncd")


class ReconcileArgs(Protocol):
    """What `syncd reconcile` was asked (the CLI's parsed arguments fit)."""

    @property
    def dry_run(self) -> bool: ...
    @property
    def account(self) -> str | None: ...
    @property
    def allow_deletes(self) -> bool: ...


class Daemon:
    def __init__(self, config: Config, exclusive: bool = False) -> None:
        """exclusive: this process writes (run, an acting reconcile) and holds the state lock."""
        for secret in config.secrets():
            logs.redact(secret)
        self.config = config
        self.bulkhead = Bulkhead(log)
        self.feeds_wake = threading.Event()  # _db_updates named a database: read its changes now
        self._fatal: BaseException | None = None
        self._stop = threading.Event()
        self.state = State(config.state_path, exclusive=exclusive)
        c = config.couchdb
        self.couch = CouchClient(c.url, c.username, c.password, c.timeout)
        self.plans = PlanBook(lambda doc_id: self.couch.get(SYSTEM_DATA, doc_id))
        rules, self.flow_specs = flow_setup(config)
        k = config.kazoo
        self.planner = DocPlanner(
            self.plans, rules, k.follow_storage_plans, k.s3_checksum, k.google_drive, config.fax.received_format
        )
        self.targets = Targets(self.flow_specs, self.planner, self.couch, EndpointPolicy(k.allow_endpoints, c.url))
        retry = RetryPolicy(config.upload.retry_base, config.upload.retry_max)
        uploader = Uploader(self.state, CouchSource(self.couch), self.targets, retry, TiffToPdf(needs_pdf))
        self.runner = UploadRunner(self.state, uploader, config.upload.workers)
        self.follower = Follower(
            self.couch,
            self.state,
            self.planner,
            k.accounts,
            k.history_months,
            on_work=self.runner.wake.set,
            bulkhead=self.bulkhead,
            on_update=self.feeds_wake.set,
        )
        t = config.two_way
        crossbar = Crossbar(cb.url, cb.api_key) if (cb := k.crossbar) else None
        self.kazoo_deleter = KazooDeleter(self.couch, crossbar)
        self.policy = Policy(t.grace_period, t.pvt_types(lambda p: p.delete_in_kazoo), t.kazoo_delete_modes())
        self.guard = Guard(t.max_deletes, t.max_delete_share, t.share_from, t.max_deletes_per_run, t.guard_window)
        self.twoway_lock = threading.Lock()
        self.fax_queue = (
            CrossbarFaxQueue(self.couch, crossbar)
            if crossbar and config.fax.submit_via == "crossbar"
            else KazooFaxQueue(self.couch)
        )
        self._outboxes: dict[str, FaxOutbox] = {}
        self.fax_lock = threading.Lock()
        self.fax_wake = threading.Event()  # a file event in an outbox: look now, not at the next poll

    def two_way(self, dry_run: bool = False, progress: Any = None) -> TwoWay:
        return TwoWay(self.state, self.targets, self.kazoo_deleter, self.policy, self.guard, dry_run, progress)

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
        return self.state.count(ItemStatus.PENDING, ItemStatus.FAILED)

    def problems(self) -> dict[str, str]:
        """Standing problems by scope (doc:..., account:..., target:...)."""
        return self.state.problems()

    def run_once(self, stop: threading.Event) -> RunStats:
        """Drain every feed and the whole backlog once. Raises CouchUnavailable."""
        self.follower.discover()
        self.follower.poll()
        self.fax_pass()
        return self.runner.drain(stop, once=True)

    def run_forever(self, stop: threading.Event) -> None:
        """Until stop. Raises StateDamaged when the state database became unusable (exit 4)."""
        self._stop = stop
        self.follower.hot = HotFeeds(self.couch.wait_for_change, self.state.cursor, self._changed, stop)
        self._guard("discover databases", self.follower.discover)
        scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        scheduler.add_job(
            self._discovery_job,
            "interval",
            seconds=self.config.kazoo.discovery_interval,
            jitter=max(1, int(self.config.kazoo.discovery_interval / 10)),
            id="discover",
        )
        self._schedule_two_way(scheduler)
        threads = [
            self.thread("uploads", lambda: self.runner.run_forever(stop)),
            self.thread("feeds", lambda: self._feeds_loop(stop)),
            self.thread("db-updates", lambda: self.follower.watch_db_updates(stop), daemon=True),
        ]
        if self.config.fax.outboxes:
            threads.append(self.thread("fax", lambda: self._fax_loop(stop)))
        for thread in threads:
            thread.start()
        hooks = HintHooks(self.two_way, self.twoway_lock, self.fax_hint, self.bulkhead.contain, self.thread)
        self.hints = Hints(self.config, self.state, hooks, stop)
        scheduler.start()
        sdnotify.notify("READY=1")
        log.info(
            "syncd running: CouchDB %s, %d database(s) followed", self.couch.display_url, len(self.state.databases())
        )
        stop.wait()
        sdnotify.notify("STOPPING=1")
        log.info("stopping: finishing uploads in flight")
        scheduler.shutdown(wait=True)
        self.hints.close()
        self.runner.wake.set()
        self.fax_wake.set()
        self.feeds_wake.set()
        for thread in threads:
            if not thread.daemon:
                thread.join()
        if self._fatal is not None:
            raise self._fatal
        log.info("stopped")

    def thread(self, name: str, loop: Any, daemon: bool = False) -> threading.Thread:
        """A supervised thread: its loop resumes after an unexpected error; a damaged state DB stops all."""
        body = supervised(name, loop, self._stop, self.bulkhead, self.fatal)
        return threading.Thread(target=body, name=name, daemon=daemon)

    def fatal(self, exc: BaseException) -> None:
        """Only an unusable state database stops the daemon: say it once, stop everything."""
        if self._fatal is None:
            self._fatal = exc
            log.critical("%s; stopping", exc)
        self._stop.set()

    def _schedule_two_way(self, scheduler: BackgroundScheduler) -> None:
        t = self.config.two_way
        scheduler.add_job(
            self.two_way_pass, "interval", args=(True,), seconds=t.scan_interval, jitter=t.scan_interval / 4, id="scan"
        )
        scheduler.add_job(self.two_way_pass, "interval", args=(False,), seconds=t.recheck_interval, id="confirm")
        if t.reconcile_cron:
            trigger = CronTrigger.from_crontab(t.reconcile_cron)
            # jitter spreads hosts (and restarts) so reconciliations do not all start at once
            scheduler.add_job(
                self._reconcile_job,
                CronTrigger(**_cron_fields(trigger), jitter=int(t.reconcile_jitter) or None),
                id="reconcile",
            )

    def two_way_pass(self, scan: bool) -> Report:
        """scan=True: list every tracked target first. Then confirm due deletes either way."""
        report = Report()
        with self.twoway_lock:
            tw = self.two_way()

            def run() -> None:
                if scan:
                    for target in self.state.tracked_targets():
                        self._guard(
                            f"list {target}",
                            lambda t=target: tw.scan(t, report),
                            reads_couch=False,
                            problem=f"scan:{target}",
                        )
                tw.confirm(report)
                carry_kazoo_deletes_to_backends(tw, report)

            self._guard("compare storage with Kazoo", run, reads_couch=False)
        return report

    def _fax_loop(self, stop: threading.Event) -> None:
        """A pass over the outboxes every [fax] poll_interval, or at once when a file event wakes it."""
        while not stop.is_set():
            report = self.fax_pass()
            self.fax_wake.wait(min(self.config.fax.poll_interval, report.look_again_in or float("inf")))
            self.fax_wake.clear()

    def fax_hint(self, backend: str, key: str) -> None:
        """A file appeared or changed in a local backend: wake the outbox pass if it is in an outbox."""
        if any(b.backend == backend and key.startswith(b.folder + "/") for b in self.config.fax.outboxes):
            self.fax_wake.set()

    def fax_pass(self) -> PassReport:
        """One pass over every fax outbox: new files to Kazoo, jobs followed, ended ones filed."""
        total = PassReport()
        with self.fax_lock:
            for box in self.config.fax.outboxes:

                def run(box: Outbox = box) -> None:
                    total.merge(self._outbox(box).run_pass())
                    if self.state.clear_problem(f"fax:{box.name}"):
                        log.info("fax outbox %r reachable again", box.name)

                self._guard(f"read fax outbox {box.name!r}", run, problem=f"fax:{box.name}")
        return total

    def _outbox(self, box: Outbox) -> FaxOutbox:
        if box.name not in self._outboxes:
            backend = open_backend(backend_spec(self.config.backends[box.backend]))
            self._outboxes[box.name] = FaxOutbox(box, backend, self.fax_queue, self.state)
        return self._outboxes[box.name]

    def _reconcile_job(self) -> None:
        with self.twoway_lock:
            self._guard("reconcile", lambda: self.reconciler().run())

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

        self._guard("read changes", poll)

    def _discovery_job(self) -> None:
        def discover() -> None:
            self.follower.discover()
            if not self.follower.db_updates_supported:
                self.follower.check_current_month()
            self.follower.poll()  # a full pass, whatever _db_updates said

        self._guard("discover databases", discover)
        self._publish_status()

    def _publish_status(self) -> None:
        """`systemctl status syncd` shows what the bulkheads contained since start, by error type."""
        counts = ", ".join(f"{name} x{n}" for name, n in sorted(self.bulkhead.counts.items()))
        sdnotify.notify(
            f"STATUS={len(self.state.databases())} database(s) followed; contained errors: {counts or 'none'}"
        )

    def _guard(self, what: str, fn: Any, reads_couch: bool = True, problem: str | None = None) -> None:
        """Keep the daemon up through outages and bad input; say so once, and once when it recovers.

        A state database that cannot be written is said once per change of condition and waits;
        a damaged one stops the daemon (fatal)."""
        try:
            fn()
            if problem is not None and self.state.clear_problem(problem):
                log.info("%s works again", what)
                self.bulkhead.forget(f"cannot {what}")
            if reads_couch and self.state.clear_problem("couchdb"):
                log.info("CouchDB reachable again")
            self.bulkhead.state_recovered()
        except StateDamaged as exc:
            self.fatal(exc)
        except StateUnavailable as exc:
            self.bulkhead.contain("state database", exc)
        except CouchUnavailable as exc:
            if self.state.set_problem("couchdb", str(exc)):
                log.error("%s; will keep retrying", exc)
        except Exception as exc:  # noqa: BLE001 - one pass's trouble never ends the daemon
            text = self.bulkhead.contain(f"cannot {what}", exc)
            if problem is not None:
                self.state.set_problem(problem, text)

    def close(self) -> None:
        self.state.close()


def _cron_fields(trigger: CronTrigger) -> dict[str, str]:
    return {f.name: str(f) for f in trigger.fields if f.name in ("minute", "hour", "day", "month", "day_of_week")}
