"""The work items the state DB holds, as the rest of syncd sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NewItem:
    """Work found on Kazoo's side, to be recorded before the feed moves on."""

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
    may_exist: bool = False  # the object may already be there (Kazoo "stub" plans)
    offloaded: bool = False  # Kazoo already stored it at object_key: record only


@dataclass(frozen=True)
class Item:
    id: int
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
    may_exist: bool
    status: str
    attempts: int
    etag: str | None = None
    md5: str | None = None
    missing_since: float | None = None


ITEM_COLUMNS = ("id, db, doc_id, attachment, target, object_key, digest, length, content_type, "
                 "account_id, pvt_type, may_exist, status, attempts, etag, md5, missing_since")


def item_from_row(row: tuple[Any, ...]) -> Item:
    values = list(row)
    values[11] = bool(values[11])
    return Item(*values)


def as_item(new: NewItem) -> Item:
    """A not-yet-recorded NewItem shaped as an Item (id 0), for plans and reports."""
    return Item(0, new.db, new.doc_id, new.attachment, new.target, new.object_key, new.digest, new.length,
                new.content_type, new.account_id, new.pvt_type, new.may_exist, "pending", 0)
