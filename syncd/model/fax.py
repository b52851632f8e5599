"""The fax flow's vocabulary, shared with the config, the state DB and the Kazoo side:
job records and statuses, outboxes and senders, and phone numbers as E.164.

Numbers are normalised and validated with
phonenumbers (libphonenumber's rules), as E.164, the form Kazoo's
knm_converters normalise to."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import phonenumbers


class FaxFileError(Exception):
    """Why a file cannot be faxed, in words for the person who dropped it."""


def normalise_number(raw: str, region: str) -> str:
    """raw as E.164 ("+14155550100"); FaxFileError when it is not a valid phone number."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise FaxFileError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise FaxFileError(
            f"{raw!r} is not a valid phone number (read as "
            f"{phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}; "
            f"numbers without + are read as {region} numbers)"
        )
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# Where a job stands in syncd's state DB.
SUBMITTING = "submitting"  # recorded before Kazoo is asked: a crash here is resolved by looking in Kazoo
SUBMITTED = "submitted"  # Kazoo holds the job; followed until it ends
COMPLETED, FAILED, REJECTED = "completed", "failed", "rejected"  # ended: the file is filed beside the outbox
ENDED = (COMPLETED, FAILED, REJECTED)


def iso(unix: float) -> str:
    """Unix time as the UTC ISO 8601 text status files and logs show."""
    return dt.datetime.fromtimestamp(unix, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def job_id(target: str, key: str, fingerprint: str) -> str:
    """The Kazoo job id of one version of one file: 32 hex, as Kazoo's own ids.

    The same bytes at the same place always give the same id, so a restart, a
    repeated event or a re-listing can never create a second job (CouchDB
    refuses a second document with that id).
    """
    return hashlib.sha256(f"syncd-fax\x00{target}\x00{key}\x00{fingerprint}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Sender:
    """Who the fax is from, as configured; a faxbox fills what is left empty (as Crossbar does)."""

    faxbox_id: str | None = None
    from_number: str | None = None
    from_name: str | None = None
    fax_identity_number: str | None = None
    fax_identity_name: str | None = None
    fax_timezone: str | None = None
    retries: int | None = None


@dataclass(frozen=True)
class Outbox:
    """A folder of one backend whose PDFs are faxed from one account, and where files are filed."""

    name: str
    account_id: str
    backend: str  # the [backends.X] name: part of every job id
    folder: str  # where files are dropped, e.g. "fax/outbox"
    sent: str
    failed: str
    rejected: str
    sender: Sender
    max_bytes: int = 20 * 1024 * 1024
    region: str = "US"  # how numbers without + are read
    settle: float = 5.0  # seconds a file must stop changing before it is read
    max_pages: int = 100  # a longer PDF is rejected: a fax line is busy ~30 s a page


@dataclass(frozen=True)
class FaxRequest:
    """One outbound fax for Kazoo: a job id, the account, recipient, sender and the PDF's facts."""

    job_id: str
    account_id: str
    to_number: str
    to_name: str | None
    sender: Sender
    pages: int
    size: int
    created: float  # Unix time the job was first recorded: decides the MODB Kazoo moves it to


@dataclass(frozen=True)
class JobResult:
    """What Kazoo says of a job: still going (ended False) or how it ended."""

    status: str  # Kazoo's pvt_job_status
    ended: bool
    success: bool = False
    attempts: int = 0
    details: dict[str, Any] = field(default_factory=dict)  # pages, result text and code, times, where


@dataclass(frozen=True)
class FaxJob:
    """One row of the state DB's fax_jobs: a file version in an outbox and what became of it."""

    job_id: str
    outbox: str
    account_id: str
    source_key: str  # the file's key in the outbox's backend
    source_etag: str  # the version that was handled: the file is moved only while it still has it
    fingerprint: str  # "md5:<hex>" of the bytes, or "etag:<etag>" when they were never read
    size: int
    to_number: str | None
    status: str
    detail: dict[str, Any]
    created_at: float
    filed_at: float | None = None
