"""Configuration of faxes: the [fax] table and its [[fax.outbox]] entries.

An outbox is a folder of one [backends.X] backend, owned by one account; PDFs
dropped there are faxed. sent/, failed/ and rejected/ default to folders
beside it (fax/outbox -> fax/sent, fax/failed, fax/rejected).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from syncd.config.validator import Validator
from syncd.model.fax import FaxFileError, Outbox, Sender, normalise_number

RECEIVED_FORMATS = ("tiff", "pdf", "both")
SUBMIT_VIA = ("couchdb", "crossbar")
DEFAULT_REGION = "US"
_SENDER_TEXT = ("faxbox_id", "from_name", "fax_identity_name", "fax_timezone")
_SENDER_NUMBERS = ("from_number", "fax_identity_number")
_OUTBOX_KEYS = {
    "name",
    "account",
    "backend",
    "folder",
    "sent_folder",
    "failed_folder",
    "rejected_folder",
    "max_size_mb",
    "max_pages",
    "default_region",
    "settle_seconds",
    "retries",
    *_SENDER_TEXT,
    *_SENDER_NUMBERS,
}


@dataclass(frozen=True)
class FaxConfig:
    poll_interval: float = 5.0
    received_format: str = "tiff"  # how syncd uploads received faxes: the TIFF, a PDF, or both
    submit_via: str = "couchdb"  # jobs written into the faxes DB, or created through Crossbar
    outboxes: tuple[Outbox, ...] = field(default_factory=tuple)


def fax_config(v: Validator, t: dict[str, Any], backends: set[str]) -> FaxConfig:
    v.unknown(t, "fax", {"poll_interval", "received_format", "submit_via", "outbox"})
    raw = t.get("outbox", [])
    if not isinstance(raw, list):
        v.problem("fax.outbox", "must be an array of tables ([[fax.outbox]])")
        raw = []
    boxes = [box for i, b in enumerate(raw) if (box := _outbox(v, b, f"fax.outbox[{i}]", backends))]
    _no_overlaps(v, boxes)
    return FaxConfig(
        v.number(t, "fax.poll_interval", 5.0, minimum=0.1, maximum=3600),
        v.choice(t, "fax.received_format", RECEIVED_FORMATS, "tiff") or "tiff",
        v.choice(t, "fax.submit_via", SUBMIT_VIA, "couchdb") or "couchdb",
        tuple(boxes),
    )


def _outbox(v: Validator, b: Any, path: str, backends: set[str]) -> Outbox | None:
    if not isinstance(b, dict):
        v.problem(path, "must be a table")
        return None
    v.unknown(b, path, _OUTBOX_KEYS)
    where = v.place(b, path, backends)
    region = str(b.get("default_region", DEFAULT_REGION))
    if len(region) != 2 or not region.isalpha() or not region.isupper():
        v.problem(f"{path}.default_region", f'must be a two-letter country code like "US" (got {region!r})')
        region = DEFAULT_REGION
    sender = _sender(v, b, path, region)
    if where is None:
        return None
    account, backend, folder = where
    parent = posixpath.dirname(folder)
    return Outbox(
        name=v.string(b, f"{path}.name") or f"{backend}:{folder}",
        account_id=account,
        backend=backend,
        folder=folder,
        sent=v.folder(b, f"{path}.sent_folder", posixpath.join(parent, "sent")) or "",
        failed=v.folder(b, f"{path}.failed_folder", posixpath.join(parent, "failed")) or "",
        rejected=v.folder(b, f"{path}.rejected_folder", posixpath.join(parent, "rejected")) or "",
        sender=sender,
        region=region,
        max_bytes=int(v.number(b, f"{path}.max_size_mb", 20, minimum=0.001, maximum=1024) * 1024 * 1024),
        settle=v.number(b, f"{path}.settle_seconds", 5.0, minimum=0, maximum=3600),
        max_pages=int(v.number(b, f"{path}.max_pages", 100, minimum=1, maximum=1000, integer=True)),
    )


def _sender(v: Validator, b: dict[str, Any], path: str, region: str) -> Sender:
    values: dict[str, Any] = {k: v.string(b, f"{path}.{k}") for k in _SENDER_TEXT}
    for key in _SENDER_NUMBERS:
        raw = v.string(b, f"{path}.{key}")
        try:
            values[key] = normalise_number(raw, region) if raw else None
        except FaxFileError as exc:
            values[key] = None
            v.problem(f"{path}.{key}", str(exc))
    if "retries" in b:
        values["retries"] = int(
            v.number(b, f"{path}.retries", 1, minimum=0, maximum=4, integer=True)
        )  # faxes.json: 0..4
    if not values["faxbox_id"] and not values["from_number"]:
        v.problem(path, "needs from_number, or faxbox_id (whose faxbox gives the caller id)")
    return Sender(**values)


def _no_overlaps(v: Validator, boxes: list[Outbox]) -> None:
    """No folder of one outbox may sit inside another's (a sent/ inside the outbox would be sent again)."""
    seen: list[tuple[str, str, str]] = []
    for box in boxes:
        for role, folder in (
            ("folder", box.folder),
            ("sent_folder", box.sent),
            ("failed_folder", box.failed),
            ("rejected_folder", box.rejected),
        ):
            for other_name, other_backend, other in seen:
                if other_backend == box.backend and _nested(folder, other):
                    v.problem(
                        f"fax.outbox {box.name!r}.{role}",
                        f"{folder!r} overlaps {other!r} "
                        f"({other_name}); every outbox, sent, failed and rejected folder must be apart",
                    )
            seen.append((f"{box.name} {role}", box.backend, folder))


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")
