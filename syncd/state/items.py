"""The work items the state DB holds, as the rest of syncd sees them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

# Items of a media library (syncd.flows.media) have targets "media:<library>". Their file is the
# source, not Kazoo's doc: the attachments flow's queries leave them to their own flow.
LIBRARY_TARGET_PREFIX = "media:"
NOT_LIBRARY = "target NOT LIKE 'media:%'"


class ItemStatus(StrEnum):
    """Where an item stands: the items.status column."""

    PENDING = "pending"  # to upload, or to upload again
    FAILED = "failed"  # the last attempt failed: retried with backoff
    SYNCED = "synced"  # uploaded by syncd and verified (MD5 read = MD5 stored)
    OFFLOADED = "offloaded"  # Kazoo stored it itself (pvt_attachments): recorded, never uploaded


@dataclass(frozen=True)
class Placement:
    """One attachment of one Kazoo document, at one target under one object key."""

    db: str
    doc_id: str
    attachment: str
    target: str
    object_key: str
    digest: str | None
    length: int
    content_type: str
    account_id: str
    pvt_type: str


@dataclass(frozen=True)
class NewItem(Placement):
    """Work found on Kazoo's side, to be recorded before the feed moves on."""

    may_exist: bool = False  # the object may already be there (Kazoo "stub" plans)
    offloaded: bool = False  # Kazoo already stored it at object_key: record only


@dataclass(frozen=True, kw_only=True)
class Item(Placement):
    """A recorded row of the items table."""

    id: int
    may_exist: bool
    status: str
    attempts: int
    etag: str | None = None
    md5: str | None = None
    missing_since: float | None = None


ITEM_COLUMNS = (
    "id, db, doc_id, attachment, target, object_key, digest, length, content_type, "
    "account_id, pvt_type, may_exist, status, attempts, etag, md5, missing_since"
)
_ITEM_NAMES = tuple(name.strip() for name in ITEM_COLUMNS.split(","))
_PLACEMENT_NAMES = tuple(f.name for f in fields(Placement))


def item_from_row(row: tuple[Any, ...]) -> Item:
    values = dict(zip(_ITEM_NAMES, row, strict=True))
    values["may_exist"] = bool(values["may_exist"])
    return Item(**values)


def as_item(new: NewItem) -> Item:
    """A not-yet-recorded NewItem shaped as an Item (id 0), for plans and reports."""
    placement = {name: getattr(new, name) for name in _PLACEMENT_NAMES}
    return Item(**placement, id=0, may_exist=new.may_exist, status="pending", attempts=0)
