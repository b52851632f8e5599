"""Filing an ended fax job: its file moves from the outbox to sent/, failed/ or
rejected/ (beside the outbox, keeping its path below it), with a status JSON
next to it (`<name>.json`) saying what happened. Neither replaces another file:
the file takes a free name, and a status file there from another job (or anyone
else's file) stays, this job's status going beside it.

A move is a verified copy, then a delete of the original that only happens
while the original is still the version that was handled (etag-conditional):
a file replaced in the outbox meanwhile is a new fax and stays where it is.
If the copy fails, the original stays too; nothing is ever deleted uncopied.
"""

from __future__ import annotations

import logging
from typing import Any

from syncd.backends.base import Backend
from syncd.backends.names import put_new, put_status
from syncd.errors import NotFound, PreconditionFailed
from syncd.model.fax import COMPLETED, FAILED, REJECTED, FaxJob, Outbox

log = logging.getLogger("syncd.fax")

OUTCOME = {COMPLETED: "sent", FAILED: "failed", REJECTED: "rejected"}


class Filing:
    def __init__(self, outbox: Outbox, backend: Backend, prefix: str) -> None:
        self.box, self.backend, self.prefix = outbox, backend, prefix
        self.folders = {COMPLETED: outbox.sent, FAILED: outbox.failed, REJECTED: outbox.rejected}

    def file(self, job: FaxJob) -> str:
        """Move job's file and write its status JSON; returns where the file now is (or its status)."""
        relative = job.source_key[len(self.prefix) :]
        wanted = f"{self.folders[job.status].strip('/')}/{relative}"
        moved_to, note = self._move(job, wanted)
        said = self._status(job, relative, moved_to, note)
        status_key = put_status(self.backend, (moved_to or wanted) + ".json", said, lambda old: _same_job(old, job))
        return moved_to or status_key

    def _move(self, job: FaxJob, wanted: str) -> tuple[str | None, str | None]:
        if job.detail.get("special"):
            return None, f"a {job.detail['special']} is never read, copied or moved; it was left in the outbox"
        try:
            current = self.backend.stat(job.source_key)
        except NotFound:
            return None, "the file was no longer in the outbox, so only this status file was written"
        if current.etag != job.source_etag:
            return None, (
                "the file in the outbox was replaced after it was handled; the new version is "
                "handled as a new fax and was left in the outbox"
            )
        md5 = job.fingerprint[4:] if job.fingerprint.startswith("md5:") else None
        target = put_new(  # a free name (the job id's start, then a count, beside it): never another file
            self.backend,
            wanted,
            lambda: self.backend.get(job.source_key),  # put verifies md5 and length before it counts
            length=current.size,
            content_type="application/pdf",
            md5=md5,
            tag=job.job_id[:8],
        ).key
        try:
            self.backend.delete(job.source_key, etag=job.source_etag)
        except PreconditionFailed:
            log.warning(
                "fax file replaced while it was being filed; the new version stays in the outbox "
                "outbox=%s job=%s key=%r",
                self.box.name,
                job.job_id,
                job.source_key,
            )
            return target, "the file in the outbox was replaced while it was filed; the new version stays there"
        except NotFound:
            pass  # someone removed it meanwhile: the copy is filed
        return target, None

    def _status(self, job: FaxJob, relative: str, moved_to: str | None, note: str | None) -> dict[str, Any]:
        d = job.detail
        out: dict[str, Any] = {
            "file": relative,
            "status": OUTCOME[job.status],
            "job_id": job.job_id,
            "account_id": job.account_id,
            "to_number": job.to_number,
            "size": job.size,
        }
        keys = (
            "to_name",
            "pages",
            "pages_sent",
            "attempts",
            "result_text",
            "result_code",
            "error_message",
            "time_elapsed",
            "submitted_at",
            "delivered_at",
            "ended_at",
            "kazoo_status",
            "kazoo_doc",
            "error",
            "rejected_at",
        )
        out.update({k: d[k] for k in keys if d.get(k) is not None and d.get(k) != ""})
        if job.fingerprint.startswith("md5:"):
            out["md5"] = job.fingerprint[4:]
        out["moved_to"] = moved_to
        if note:
            out["note"] = note
        return out


def _same_job(old: dict[str, Any], job: FaxJob) -> bool:
    """A status file there is brought up to date only when it is this job's; another job's stays."""
    return old.get("job_id") == job.job_id
