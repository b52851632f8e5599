"""The daemon's lifecycle: builds the shared machinery and the flows, runs them, stops them.

Each flow (syncd.flows.*) gives the daemon its loops, scheduled jobs, checks
and status through one contract (syncd.flows.contract); the daemon starts each
loop as a supervised thread, schedules the jobs with APScheduler, forwards
watchdog events from syncd's local folders to every flow, and publishes its
status to systemd. SIGTERM sets `stop`: no new item starts, the ones in
flight finish, exit 0. Only an unusable state database stops it early.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from syncd.config import Config
from syncd.engine.runner import RunStats
from syncd.engine.twoway import Report
from syncd.flows.attachments.flow import AttachmentsFlow, ReconcileArgs
from syncd.flows.cdr.flow import CdrFlow
from syncd.flows.contract import Flow, Job, Probe, Section, Shared
from syncd.flows.fax.flow import FaxFlow, received_fax_rendition
from syncd.flows.media.flow import MediaFlow
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.crossbar import Crossbar
from syncd.kazoo.feed_pages import FeedPages
from syncd.runtime import logs, sdnotify
from syncd.runtime.bulkhead import Bulkhead, supervised
from syncd.runtime.passes import PassGuard
from syncd.runtime.watch import FolderWatch
from syncd.state import State

log = logging.getLogger("syncd")

FLOWS: tuple[type[Flow], ...] = (AttachmentsFlow, FaxFlow, CdrFlow, MediaFlow)


def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
    """What `syncd check` asks every flow."""
    return [probe for flow in FLOWS for probe in flow.probes(config, couch, kazoo_reachable)]


def status(state: State) -> list[Section]:
    """What `syncd status` shows of every flow."""
    return [flow.status(state) for flow in FLOWS]


class Daemon:
    def __init__(self, config: Config, exclusive: bool = False) -> None:
        """exclusive: this process writes (run, an acting reconcile) and holds the state lock."""
        for secret in config.secrets():
            logs.redact(secret)
        self.config = config
        self.bulkhead = Bulkhead(log)
        self._fatal: BaseException | None = None
        self._stop = threading.Event()
        self.state = State(config.state_path, exclusive=exclusive)
        c, cb = config.couchdb, config.kazoo.crossbar
        self.couch = CouchClient(c.url, c.username, c.password, c.timeout)
        shared = Shared(
            config,
            self.state,
            self.couch,
            Crossbar(cb.url, cb.api_key) if cb else None,
            self.bulkhead,
            PassGuard(self.state.problems, self.bulkhead, self.fatal),
            FeedPages(self.bulkhead),
            rendition=received_fax_rendition(),
        )
        self.attachments = AttachmentsFlow(shared)
        self.fax = FaxFlow(shared)
        self.cdr = CdrFlow(shared)
        self.media = MediaFlow(shared)
        self.flows: list[Flow] = [self.attachments, self.fax, self.cdr, self.media]

    # -- what the CLI asks -------------------------------------------------------
    def reconcile(self, args: ReconcileArgs, stop: threading.Event, progress: Any, say: Any) -> Report:
        report = self.attachments.reconcile(args, stop, progress, say)
        if self.config.media.libraries and not args.dry_run:  # a library pass acts: never in a dry run
            report.merge(self.media.reconcile(args.account, args.allow_deletes))
        return report

    def waiting(self) -> int:
        return self.attachments.waiting()

    def problems(self) -> dict[str, str]:
        """Standing problems by scope (doc:..., account:..., target:...)."""
        return self.state.problems.all()

    def run_once(self, stop: threading.Event) -> RunStats:
        """Every flow's pass once, in order (the attachments flow's discovery finds the databases
        the others read), then the whole upload backlog. Raises CouchUnavailable."""
        for flow in self.flows:
            flow.run_once(stop)
        return self.attachments.drain(stop)

    # -- the long-running mode -------------------------------------------------
    def run_forever(self, stop: threading.Event) -> None:
        """Until stop. Raises StateDamaged when the state database became unusable (exit 4)."""
        self._stop = stop
        for flow in self.flows:
            flow.start(stop)
        scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        for job in [j for flow in self.flows for j in flow.jobs()] + [self._status_job()]:
            _schedule(scheduler, job)
        threads = [
            self.thread(loop.name, lambda run=loop.run: run(stop), daemon=loop.abandon_at_exit)
            for flow in self.flows
            for loop in flow.loops()
        ]
        for thread in threads:
            thread.start()
        watch = FolderWatch(self.config.local_folders(), self._on_gone, self._on_file)
        scheduler.start()
        sdnotify.notify("READY=1")
        log.info(
            "syncd running: CouchDB %s, %d database(s) followed",
            self.couch.display_url,
            len(self.state.feeds.databases()),
        )
        stop.wait()
        sdnotify.notify("STOPPING=1")
        log.info("stopping: finishing uploads in flight")
        scheduler.shutdown(wait=True)
        watch.close()
        for flow in self.flows:
            flow.wake()
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

    def _on_file(self, backend: str, key: str) -> None:
        for flow in self.flows:
            flow.on_file(backend, key)

    def _on_gone(self, backend: str, key: str) -> None:
        for flow in self.flows:
            flow.on_gone(backend, key)

    def _status_job(self) -> Job:
        interval = self.config.kazoo.discovery_interval
        return Job("status", self._publish_status, seconds=interval)

    def _publish_status(self) -> None:
        """`systemctl status syncd` shows what the bulkheads contained since start, by error type."""
        counts = ", ".join(f"{name} x{n}" for name, n in sorted(self.bulkhead.counts.items()))
        sdnotify.notify(
            f"STATUS={len(self.state.feeds.databases())} database(s) followed; contained errors: {counts or 'none'}"
        )

    def close(self) -> None:
        self.state.close()


def _schedule(scheduler: BackgroundScheduler, job: Job) -> None:
    if job.cron:
        fields = CronTrigger.from_crontab(job.cron).fields
        wanted = {f.name: str(f) for f in fields if f.name in ("minute", "hour", "day", "month", "day_of_week")}
        scheduler.add_job(job.run, CronTrigger(**wanted, jitter=int(job.jitter) or None), id=job.id)
    else:
        scheduler.add_job(job.run, "interval", seconds=job.seconds, jitter=job.jitter or None, id=job.id)
