"""The fax outbox: PDFs dropped into a folder of any backend become Kazoo fax
jobs, sent at most once per file version; each ends filed beside the outbox.

One pass (FaxOutbox.run_pass), run every poll interval:
1. jobs recorded as `submitting` by a syncd that died mid-request are settled
   (Kazoo is asked first: a job already there is never sent again);
2. the outbox is listed; each file version not seen before, once it has stopped
   changing for `settle` seconds, is checked (size, recipient, parsed as PDF),
   recorded, and handed to Kazoo, or rejected with the reason;
3. jobs in Kazoo are followed until they end;
4. ended jobs are filed (syncd.flows.fax.filing): the file moves to sent/,
   failed/ or rejected/ beside the outbox with a status JSON.

The job id is derived from (target, key, MD5), so the same bytes at the same
place are one job, whatever restarts, repeated listings or events happen.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from syncd.backends.base import Backend, ObjectInfo
from syncd.errors import FaxRefused, NotFound, StateDamaged, SyncdError, describe
from syncd.flows.fax.files import count_pdf_pages, recipient_for
from syncd.flows.fax.filing import Filing
from syncd.model.fax import (
    COMPLETED,
    ENDED,
    FAILED,
    REJECTED,
    SUBMITTED,
    SUBMITTING,
    FaxFileError,
    FaxJob,
    FaxRequest,
    JobResult,
    Outbox,
    Sender,
    iso,
    job_id,
)
from syncd.state.fax import FaxJobs

log = logging.getLogger("syncd.fax")

GONE_AFTER = 300.0  # seconds a followed job may be missing from Kazoo before it counts as failed


class FaxQueue(Protocol):
    """Kazoo's side of the outbox (syncd.flows.fax.kazoo: written into CouchDB, or sent through Crossbar).

    Kazoo may give a job an id of its own (Crossbar does): `submit` and `locate`
    return it, and `result` takes it."""

    def sender(self, account_id: str, configured: Sender) -> Sender: ...
    def submit(self, request: FaxRequest, pdf: bytes) -> tuple[str, bool]: ...  # (Kazoo's id, newly created)
    def locate(self, job: str, account_id: str, created: float) -> str | None: ...
    def result(self, kazoo_id: str, account_id: str, created: float) -> JobResult | None: ...


@dataclass
class PassReport:
    submitted: int = 0
    rejected: int = 0
    ended: int = 0
    filed: int = 0
    errors: list[str] = field(default_factory=list)
    look_again_in: float | None = None  # seconds until a file still settling may be taken

    def merge(self, other: PassReport) -> None:
        self.submitted += other.submitted
        self.rejected += other.rejected
        self.ended += other.ended
        self.filed += other.filed
        self.errors += other.errors
        if other.look_again_in is not None:
            self.look_again_in = min(other.look_again_in, self.look_again_in or other.look_again_in)


class FaxOutbox:
    def __init__(self, outbox: Outbox, backend: Backend, queue: FaxQueue, jobs: FaxJobs) -> None:
        self.box, self.backend, self.queue, self.jobs = outbox, backend, queue, jobs
        self.prefix = outbox.folder.strip("/") + "/"
        self.filing = Filing(outbox, backend, self.prefix)
        self._sightings: dict[str, tuple[str, int, float]] = {}  # key -> (etag, size, first seen)
        self._missing: dict[str, float] = {}  # job id -> when Kazoo was first found without it
        self._reported: set[str] = set()

    def run_pass(self) -> PassReport:
        """One full pass. Raises SyncdError when the outbox cannot be listed (nothing is decided then)."""
        report = PassReport()
        for job in self.jobs.jobs(self.box.name, SUBMITTING):
            self._guarded(report, job.source_key, lambda j=job: self._settle_submitting(j))
        listed = set()
        for obj in self.backend.list(self.prefix):
            listed.add(obj.key)
            if self._wanted(obj, report):
                self._guarded(report, obj.key, lambda o=obj: self._take(o, report))
        self._sightings = {k: v for k, v in self._sightings.items() if k in listed}
        for job in self.jobs.jobs(self.box.name, SUBMITTED):
            self._guarded(report, job.source_key, lambda j=job: self._follow(j, report))
        for job in self.jobs.jobs(self.box.name, *ENDED, unfiled=True):
            self._guarded(report, job.source_key, lambda j=job: self._file(j, report))
        return report

    # -- new files ---------------------------------------------------------------
    def _wanted(self, obj: ObjectInfo, report: PassReport) -> bool:
        """A settled file version not handled before (hidden files and folder placeholders are skipped)."""
        relative = obj.key[len(self.prefix) :]
        if not relative or obj.key.endswith("/") or any(p.startswith(".") for p in relative.split("/")):
            return False
        if self.jobs.seen(self.box.name, obj.key, obj.etag):
            return False
        seen = self._sightings.get(obj.key)
        now = time.monotonic()
        if seen is None or seen[:2] != (obj.etag, obj.size):
            seen = self._sightings[obj.key] = (obj.etag, obj.size, now)  # new or changing: wait until it settles
        still = max(now - seen[2], obj.still_for(time.time()) or 0.0)  # the backend's clock, where it has one
        wait = self.box.settle - still
        if wait > 0:
            report.look_again_in = min(wait, report.look_again_in or wait)
        return wait <= 0

    def _take(self, obj: ObjectInfo, report: PassReport) -> None:
        relative = obj.key[len(self.prefix) :]
        if obj.special:  # anyone with folder access can plant one; what it points to is never read or copied
            return self._reject(
                obj,
                None,
                f"this is a {obj.special}, not a file; only regular PDF files are "
                "faxed, so it was not read and is left where it is",
                report,
                special=True,
            )
        problem = self._size_problem(obj.size)
        if problem:
            return self._reject(obj, None, problem, report)
        try:
            recipient = recipient_for(relative, self.box.region)
        except FaxFileError as exc:
            return self._reject(obj, None, str(exc), report)
        data = self._read(obj)
        if data is None:
            return None  # changed while read: the next pass sees the new version
        fingerprint = "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324 - identity, not security
        earlier = self.jobs.job(job_id(self.box.backend, obj.key, fingerprint))
        if earlier is not None:
            return self._again(earlier, obj, report)
        try:
            pages = count_pdf_pages(io.BytesIO(data))
        except FaxFileError as exc:
            return self._reject(obj, fingerprint, str(exc), report)
        if pages > self.box.max_pages:
            return self._reject(
                obj,
                fingerprint,
                f"the PDF has {pages:,} pages, more than this outbox sends "
                f"({self.box.max_pages}, max_pages); split it and drop the parts",
                report,
            )
        sender = self._sender()
        job = self._job(
            obj,
            fingerprint,
            recipient.number,
            SUBMITTING,
            {"to_name": recipient.name, "pages": pages, "submitted_at": iso(time.time())},
        )
        self.jobs.record(job)  # before Kazoo is asked: a crash from here on is settled, not re-sent
        self._submit(job, sender, data, report)
        return None

    def _size_problem(self, size: int) -> str | None:
        if size == 0:
            return "the file is empty (0 bytes); drop the PDF again once it is complete"
        if size > self.box.max_bytes:
            return (
                f"the file is {size:,} bytes, more than this outbox accepts ({self.box.max_bytes:,} bytes, "
                "max_size_mb); split or compress the PDF"
            )
        return None

    def _read(self, obj: ObjectInfo) -> bytes | None:
        data = self._bytes(obj.key)
        if len(data) != obj.size:
            self._sightings.pop(obj.key, None)
            return None
        return data

    def _bytes(self, key: str) -> bytes:
        """The file's bytes, up to one more than max_bytes (a stream may return less than asked per read)."""
        parts, wanted = [], self.box.max_bytes + 1
        with self.backend.get(key) as stream:
            while wanted > 0 and (chunk := stream.read(min(wanted, 1024 * 1024))):
                parts.append(chunk)
                wanted -= len(chunk)
        return b"".join(parts)

    def _sender(self) -> Sender:
        sender = self.queue.sender(self.box.account_id, self.box.sender)
        if not sender.from_number:
            raise SyncdError(
                f"fax outbox {self.box.name!r}: no caller id to send from; set from_number, or "
                "a faxbox_id whose faxbox has a caller_id (files wait in the outbox)"
            )
        return sender

    def _again(self, earlier: FaxJob, obj: ObjectInfo, report: PassReport) -> None:
        """The same bytes at the same key as a job syncd already has."""
        if earlier.filed_at is None:  # dropped again (or touched) before its job ended: that job files it
            self.jobs.update(earlier.job_id, source_etag=obj.etag)
            return
        outcome = earlier.status if earlier.status != COMPLETED else "sent"
        self._reject(
            obj,
            None,
            f"this file, with the same name and content, was already handled as fax job "
            f"{earlier.job_id} ({outcome}); to send it again, rename it",
            report,
        )

    def _reject(
        self, obj: ObjectInfo, fingerprint: str | None, reason: str, report: PassReport, special: bool = False
    ) -> None:
        """Record the file as rejected (filed next). Nothing is sent, so the row's id need not be the
        file's: a file never read (fingerprint None) gets one of its own for each time it is rejected.
        A special entry (link, FIFO ...) is never moved: only its status file is written."""
        fingerprint = fingerprint or f"etag:{obj.etag}:{time.time_ns()}"
        detail: dict[str, object] = {"error": reason, "rejected_at": iso(time.time())}
        if special:
            detail["special"] = obj.special
        job = self._job(obj, fingerprint, None, REJECTED, detail)
        self.jobs.record(job)
        report.rejected += 1
        log.warning("fax rejected, nothing sent: %s %s", reason, self._where(job))

    def _job(
        self, obj: ObjectInfo, fingerprint: str, to_number: str | None, status: str, detail: dict[str, object]
    ) -> FaxJob:
        return FaxJob(
            job_id(self.box.backend, obj.key, fingerprint),
            self.box.name,
            self.box.account_id,
            obj.key,
            obj.etag,
            fingerprint,
            obj.size,
            to_number,
            status,
            detail,
            time.time(),
        )

    # -- Kazoo -------------------------------------------------------------------
    def _submit(self, job: FaxJob, sender: Sender, data: bytes, report: PassReport) -> None:
        request = FaxRequest(
            job.job_id,
            job.account_id,
            job.to_number or "",
            job.detail.get("to_name"),
            sender,
            int(job.detail["pages"]),
            len(data),
            job.created_at,
        )
        try:
            kazoo_id, created = self.queue.submit(request, data)
        except FaxRefused as exc:  # about this fax, not a passing fault: sending again would fail again
            detail = {**job.detail, "error": str(exc), "rejected_at": iso(time.time())}
            self.jobs.update(job.job_id, status=REJECTED, detail=detail)
            report.rejected += 1
            log.warning("fax rejected by Kazoo, nothing sent: %s %s", exc, self._where(job))
            return
        self.jobs.update(job.job_id, status=SUBMITTED, detail={**job.detail, "kazoo_id": kazoo_id})
        report.submitted += created
        log.info(
            "fax job %s in Kazoo: to %s, %s page(s) %s",
            "created" if created else "already",
            job.to_number,
            job.detail["pages"],
            self._where(job),
        )

    def _settle_submitting(self, job: FaxJob) -> None:
        """A job recorded but maybe never written (syncd died mid-request): Kazoo is asked first."""
        kazoo_id = self.queue.locate(job.job_id, job.account_id, job.created_at)
        if kazoo_id is not None:  # it got there: follow it
            self.jobs.update(job.job_id, status=SUBMITTED, detail={**job.detail, "kazoo_id": kazoo_id})
            log.info("fax job found in Kazoo after a restart, not sent again %s", self._where(job))
            return
        try:
            data = self._bytes(job.source_key)
        except NotFound:
            data = b""
        if "md5:" + hashlib.md5(data).hexdigest() != job.fingerprint:  # noqa: S324
            self.jobs.forget(job.job_id)  # never sent, and that version is gone: the new one is new work
            log.warning(
                "fax not sent: the file changed or left the outbox before it reached Kazoo %s", self._where(job)
            )
            return
        self._submit(job, self._sender(), data, PassReport())

    def _follow(self, job: FaxJob, report: PassReport) -> None:
        result = self.queue.result(job.detail.get("kazoo_id") or job.job_id, job.account_id, job.created_at)
        if result is None:
            since = self._missing.setdefault(job.job_id, time.monotonic())
            if time.monotonic() - since < GONE_AFTER:
                return
            result = JobResult(
                "missing", True, False, 0, {"result_text": "the job disappeared from Kazoo before it ended (deleted?)"}
            )
        self._missing.pop(job.job_id, None)
        if not result.ended:
            return
        status = COMPLETED if result.success else FAILED
        detail = {
            **job.detail,
            **result.details,
            "kazoo_status": result.status,
            "attempts": result.attempts,
            "ended_at": iso(time.time()),
        }
        self.jobs.update(job.job_id, status=status, detail=detail)
        report.ended += 1
        log.info(
            "fax job %s: %s after %d attempt(s) %s",
            status,
            detail.get("result_text") or result.status,
            result.attempts,
            self._where(job),
        )

    def _file(self, job: FaxJob, report: PassReport) -> None:
        where = self.filing.file(job)
        self.jobs.update(job.job_id, filed=True)
        report.filed += 1
        log.info("fax file filed in %s %s", where, self._where(job))

    # -- plumbing ----------------------------------------------------------------
    def _guarded(self, report: PassReport, key: str, step: object) -> None:
        """One file's trouble is logged (once per message) and retried next pass; the others go on."""
        try:
            step()  # type: ignore[operator]
        except StateDamaged:
            raise
        except Exception as exc:
            text = describe(exc)
            report.errors.append(f"{key}: {text}")
            if f"{key}\x00{text}" not in self._reported:
                self._reported.add(f"{key}\x00{text}")
                log.warning("fax outbox %r: %s: %s (retried every pass)", self.box.name, key, text)
                log.debug("traceback for fax outbox %r: %s", self.box.name, key, exc_info=exc)

    def _where(self, job: FaxJob) -> str:
        return f"outbox={self.box.name} account={job.account_id} job={job.job_id} key={job.source_key!r}"
