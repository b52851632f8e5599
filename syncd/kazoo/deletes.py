"""Deleting in Kazoo the way Kazoo's own API does (docs/kazoo.md §4.5).

A voicemail is soft-deleted: metadata.folder = "deleted", pvt_deleted = true,
pvt_modified bumped (Crossbar's DELETE of a message). Other documents get
pvt_deleted and pvt_modified, as crossbar_doc's soft delete. Nothing is ever
removed from CouchDB.

Two steps, so a change in between wins: `inspect` reads the doc when the delete
is planned and keeps its _rev; `apply` writes only if the doc still has that
_rev (CouchDB answers a conflict otherwise), so a voicemail moved, saved or
re-recorded after the plan is not deleted.

With a Crossbar URL and API key, `apply` calls Crossbar's
DELETE /v2/accounts/{A}/vmboxes/{B}/messages/{M} instead (it also updates the
phone's message-waiting light); the revision is checked just before the call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from syncd.kazoo.couch import CouchClient
from syncd.kazoo.crossbar import Crossbar
from syncd.kazoo.dbnames import GREGORIAN_UNIX_OFFSET
from syncd.kazoo.doc_checks import DocRefused, check_write
from syncd.kazoo.versions import DEFAULT
from syncd.state import Item

log = logging.getLogger("syncd.kazoo")

VOICEMAIL = "mailbox_message"
# pvt_type -> the schema a soft delete is checked against (syncd.kazoo.doc_checks)
SCHEMA_KINDS = {VOICEMAIL: VOICEMAIL, "call_recording": "call_recording", "fax": "fax", "media": "media"}


@dataclass(frozen=True)
class DocCheck:
    """What `inspect` found: ok to delete at `rev`, or why not."""

    ok: bool
    reason: str
    rev: str | None = None
    already_deleted: bool = False


def gregorian_now() -> int:
    return int(time.time()) + GREGORIAN_UNIX_OFFSET


def soft_deleted(doc: dict[str, Any]) -> dict[str, Any]:
    """The doc as Kazoo's API leaves it after a delete (a new dict; doc is untouched)."""
    out = dict(doc)
    if out.get("pvt_type") == VOICEMAIL:
        out["metadata"] = {**(out.get("metadata") or {}), "folder": "deleted"}
    out["pvt_deleted"] = True
    out["pvt_modified"] = gregorian_now()
    return out


def is_deleted(doc: dict[str, Any] | None) -> bool:
    """Gone or soft-deleted (pvt_deleted). The TUI's recoverable 'deleted' folder is not a delete."""
    return doc is None or bool(doc.get("_deleted")) or doc.get("pvt_deleted") is True


class KazooDeleter:
    def __init__(self, couch: CouchClient, crossbar: Crossbar | None = None, version: str = DEFAULT) -> None:
        self.couch, self.crossbar, self.version = couch, crossbar, version

    def inspect(self, item: Item) -> DocCheck:
        """May the doc behind item be deleted, and at which revision?"""
        doc = self.couch.get(item.db, item.doc_id)
        if doc is None or is_deleted(doc):
            return DocCheck(False, "already deleted in Kazoo", already_deleted=True)
        if doc.get("pvt_type") != item.pvt_type:
            return DocCheck(False, f"doc type is now {doc.get('pvt_type')!r}, was {item.pvt_type!r}")
        changed = _attachment_changed(doc, item)
        if changed:
            return DocCheck(False, changed)
        return DocCheck(True, "ok", rev=doc["_rev"])

    def apply(self, item: Item, check: DocCheck) -> DocCheck:
        """Soft-delete at the inspected revision; refuses when the doc changed since."""
        doc = self.couch.get(item.db, item.doc_id)
        if doc is None or is_deleted(doc):
            return DocCheck(False, "already deleted in Kazoo", already_deleted=True)
        if doc["_rev"] != check.rev:
            return DocCheck(False, f"doc changed since the delete was planned (rev {check.rev} -> {doc['_rev']})")
        if self.crossbar is not None and item.pvt_type == VOICEMAIL and doc.get("source_id"):
            self.crossbar.delete_voicemail(item.account_id, doc["source_id"], item.doc_id)
            return DocCheck(True, "deleted through Crossbar", rev=check.rev)
        deleted = soft_deleted(doc)
        kind = SCHEMA_KINDS.get(str(doc.get("pvt_type")))
        try:  # never makes the doc fail Kazoo's schema where it passed before
            if kind is not None:
                check_write(kind, deleted, self.version, before=doc, where=f"of account {item.account_id}")
        except DocRefused as exc:
            return DocCheck(False, str(exc))  # this doc's refusal, audited; not a fault to retry
        if self.couch.update(item.db, deleted) is None:
            return DocCheck(False, "doc changed while it was being deleted (CouchDB conflict)")
        return DocCheck(True, "soft-deleted in CouchDB", rev=check.rev)


def _attachment_changed(doc: dict[str, Any], item: Item) -> str | None:
    """Why the doc no longer holds the attachment version syncd stored, or None."""
    inline = (doc.get("_attachments") or {}).get(item.attachment)
    external = (doc.get("pvt_attachments") or {}).get(item.attachment)
    if inline is None and external is None:
        return f"attachment {item.attachment!r} is no longer on the doc"
    if inline is not None and item.digest is not None and inline.get("digest") != item.digest:
        return "the attachment was re-recorded or replaced since it was uploaded"
    return None
