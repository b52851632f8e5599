"""Outbound fax jobs in Kazoo (docs/kazoo.md §6.1): writing a job into the
`faxes` database as Kazoo's fax worker expects it, and following it to its end.

The job is one document written in one request, PDF inline as
`original_file.pdf` (the worker sends `original_file*` after converting it).
One write means a job is either wholly there or not at all, and its _id is
derived from the file (syncd.model.fax.job_id), so CouchDB itself refuses a
second job for the same file version. PDFs are bounded by the outbox's
max_size, so holding one in memory while it is written is bounded too.

When a job ends, Kazoo moves it to the MODB of its creation month as
`YYYYMM-<id>` (folder "outbox"); following looks there once it has left `faxes`.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from syncd.errors import FaxRefused, KazooError
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.crossbar import Crossbar
from syncd.kazoo.dbnames import GREGORIAN_UNIX_OFFSET
from syncd.kazoo.doc_checks import DocRefused, check_write
from syncd.kazoo.versions import DEFAULT
from syncd.model.fax import FaxRequest, JobResult, Sender, iso

FAXES_DB = "faxes"
SYNCD_JOB_ID = "syncd_job_id"
LOCATE_WINDOW = 3600  # a job is looked for among those Kazoo created up to this long before syncd recorded it
ATTACHMENT = "original_file.pdf"
ENDED = {"completed": True, "failed": False}
# Faxbox field -> job field, as Crossbar's nested PUT /faxboxes/{FB}/faxes fills defaults.
_FROM_FAXBOX = {
    "caller_id": "from_number",
    "caller_name": "from_name",
    "fax_identity": "fax_identity_number",
    "fax_header": "fax_identity_name",
    "fax_timezone": "fax_timezone",
    "retries": "retries",
}
_RESULT_KEYS = (
    "result_text",
    "result_code",
    "error_message",
    "pages_sent",
    "time_elapsed",
    "fax_speed",
    "fax_receiver_id",
)


class KazooFaxQueue:
    """The engine's FaxQueue, writing and reading CouchDB."""

    def __init__(self, couch: CouchClient, version: str = DEFAULT) -> None:
        self.couch, self.version = couch, version

    def sender(self, account_id: str, configured: Sender) -> Sender:
        """The configured sender, with what it leaves empty taken from its faxbox."""
        if not configured.faxbox_id:
            return configured
        faxbox = self.couch.get(dbnames.account_db(account_id), configured.faxbox_id)
        if faxbox is None or faxbox.get("pvt_type") != "faxbox" or faxbox.get("pvt_deleted"):
            raise KazooError(
                f"faxbox {configured.faxbox_id} not found in account {account_id}: check the "
                "outbox's faxbox_id (Crossbar: GET /v2/accounts/{A}/faxboxes)"
            )
        filled = {job_key: faxbox.get(box_key) for box_key, job_key in _FROM_FAXBOX.items()}
        mine = {k: v for k, v in vars(configured).items() if v is not None}
        return Sender(**{**{k: v for k, v in filled.items() if v not in (None, "")}, **mine})

    def submit(self, request: FaxRequest, pdf: bytes) -> tuple[str, bool]:
        """Write the job: (its id, False when a job with this id already existed: never written twice)."""
        doc = job_doc(request)
        checked_job(doc, self.version, request)
        doc["_attachments"] = {
            ATTACHMENT: {"content_type": "application/pdf", "data": base64.b64encode(pdf).decode("ascii")}
        }
        created = self.couch.create(FAXES_DB, doc)
        if created is None:
            raise KazooError(
                f"CouchDB has no {FAXES_DB!r} database: is Kazoo's fax application installed? "
                f"(job {request.job_id} for account {request.account_id} waits)"
            )
        return request.job_id, created

    def locate(self, job: str, account_id: str, created: float) -> str | None:
        """The job's id when Kazoo has it (queued, or already moved to the MODB)."""
        return job if self._find(job, account_id, created) is not None else None

    def result(self, kazoo_id: str, account_id: str, created: float) -> JobResult | None:
        """Where the job stands, or None when Kazoo has no trace of it."""
        found = self._find(kazoo_id, account_id, created)
        if found is None:
            return None
        where, doc = found
        status = str(doc.get("pvt_job_status") or "")
        tx_result = doc.get("tx_result")
        tx: dict[str, Any] = tx_result if isinstance(tx_result, dict) else {}
        if doc.get("pvt_deleted"):
            return JobResult(
                "deleted",
                True,
                False,
                int(doc.get("attempts") or 0),
                {"kazoo_doc": where, "result_text": "the job was deleted in Kazoo before it ended"},
            )
        moved = not where.startswith(FAXES_DB + "/")
        if status not in ENDED and moved and "success" in tx:
            status = "completed" if tx["success"] else "failed"  # moved without its status: trust tx_result
        details = {"kazoo_doc": where, "retries": doc.get("retries"), **{k: tx[k] for k in _RESULT_KEYS if k in tx}}
        if doc.get("pvt_pages"):
            details["pages"] = doc["pvt_pages"]  # after Kazoo's conversion, when it counted them
        if doc.get("pvt_delivered_date"):
            details["delivered_at"] = iso(doc["pvt_delivered_date"] - GREGORIAN_UNIX_OFFSET)
        return JobResult(status, status in ENDED, ENDED.get(status, False), int(doc.get("attempts") or 0), details)

    def _find(self, job: str, account_id: str, created: float) -> tuple[str, dict[str, Any]] | None:
        doc = self.couch.get(FAXES_DB, job)
        if doc is not None:
            return f"{FAXES_DB}/{job}", doc
        # Kazoo copies the ended job to the MODB of its creation month before it
        # deletes it from faxes, so a job read missing from faxes is already there
        # (the next month is looked at too, for a job created at a month's last instant).
        when = dt.datetime.fromtimestamp(created, dt.UTC)
        following = (when.year + when.month // 12, when.month % 12 + 1)
        for year, month in ((when.year, when.month), following):
            modb, moved = dbnames.modb(account_id, year, month), f"{year:04d}{month:02d}-{job}"
            doc = self.couch.get(modb, moved)
            if doc is not None:
                return f"{modb}/{moved}", doc
        return None


def public_fields(request: FaxRequest) -> dict[str, Any]:
    """The job's public fields (faxes.json schema), and syncd_job_id: syncd's id for it. Kazoo stores
    fields its schema does not name unmodified, so the job can be found again after a crash."""
    s = request.sender
    fields = {
        "to_number": request.to_number,
        "to_name": request.to_name,
        "from_number": s.from_number,
        "from_name": s.from_name,
        "fax_identity_number": s.fax_identity_number,
        "fax_identity_name": s.fax_identity_name,
        "fax_timezone": s.fax_timezone,
        "faxbox_id": s.faxbox_id,
        "retries": s.retries,
        SYNCD_JOB_ID: request.job_id,
    }
    return {k: v for k, v in fields.items() if v is not None}


def checked_job(doc: dict[str, Any], version: str, request: FaxRequest) -> None:
    """Kazoo's faxes.json for the job; a job that fails it is refused (the file with it), never sent."""
    try:
        check_write("fax", doc, version, where=f"of account {request.account_id}")
    except DocRefused as exc:
        raise FaxRefused(str(exc)) from None


def job_doc(request: FaxRequest) -> dict[str, Any]:
    """The job as Kazoo's fax worker and its views expect it (pvt_job_status pending)."""
    now = int(request.created) + GREGORIAN_UNIX_OFFSET
    return {
        "_id": request.job_id,
        "retries": 1,
        **public_fields(request),
        "attempts": 0,
        "pvt_type": "fax",
        "pvt_job_status": "pending",
        "pvt_account_id": request.account_id,
        "pvt_account_db": FAXES_DB,
        "pvt_created": now,
        "pvt_modified": now,
        "pvt_pages": request.pages,
        "pvt_size": request.size,
    }


class CrossbarFaxQueue(KazooFaxQueue):
    """Jobs created through Crossbar (PUT /v2/accounts/{A}[/faxboxes/{FB}]/faxes, multipart JSON + PDF), so
    Kazoo normalises the number, converts the PDF and fills the sender from the faxbox itself.

    Kazoo picks the job's id; syncd's own id travels in the job as syncd_job_id, and
    `locate` looks for it among the account's recent jobs before anything is sent
    again. Following a job reads CouchDB, as for jobs written there.
    """

    def __init__(self, couch: CouchClient, crossbar: Crossbar, version: str = DEFAULT) -> None:
        super().__init__(couch, version)
        self.crossbar = crossbar

    def submit(self, request: FaxRequest, pdf: bytes) -> tuple[str, bool]:
        checked_job(public_fields(request), self.version, request)
        saved = self.crossbar.create_fax(request.account_id, request.sender.faxbox_id, public_fields(request), pdf)
        kazoo_id = saved.get("id") or saved.get("_id")
        if not kazoo_id:
            raise KazooError(
                f"Crossbar created fax job {request.job_id} of account {request.account_id} but answered without its id"
            )
        return str(kazoo_id), True

    def locate(self, job: str, account_id: str, created: float) -> str | None:
        since = int(created) + GREGORIAN_UNIX_OFFSET - LOCATE_WINDOW
        for kazoo_id in self.crossbar.fax_ids(account_id, "outgoing", since):
            doc = self.couch.get(FAXES_DB, kazoo_id)
            if doc is not None and doc.get(SYNCD_JOB_ID) == job:
                return kazoo_id
        for moved_id in self.crossbar.fax_ids(account_id, "outbox", since):
            year, month = int(moved_id[:4]), int(moved_id[4:6])
            doc = self.couch.get(dbnames.modb(account_id, year, month), moved_id)
            if doc is not None and doc.get(SYNCD_JOB_ID) == job:
                return moved_id.split("-", 1)[1]
        return None
