"""Drive files as syncd sees them: the appProperties that name a file's key and
root (Drive's search cannot match a path), query quoting, ObjectInfo records, and
the rules of conditional writes (Drive has none of its own: names are not unique)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from syncd.backends.base import ObjectInfo
from syncd.errors import KeyTaken, PreconditionFailed, StorageError

KEY_PROPERTY, ROOT_PROPERTY = "syncd_key", "syncd_root"
PROPERTY_BYTES = 124  # Drive's limit for one property's key and value together (UTF-8)


def key_property_value(key: str) -> str:
    """The key itself when it fits in one property, else its SHA-256 (Drive's 124-byte limit)."""
    if len(KEY_PROPERTY.encode()) + len(key.encode()) <= PROPERTY_BYTES:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def has_property(name: str, value: str) -> str:
    return f"appProperties has {{ key='{name}' and value='{quote_query(value)}' }}"


def object_info(key: str, file: dict[str, Any]) -> ObjectInfo:
    md5 = file.get("md5Checksum")
    size, etag = int(file.get("size") or 0), md5 or f"id:{file['id']}"
    return ObjectInfo(key, size, etag, md5, file["id"], modified=_when(file.get("modifiedTime")))


def _when(rfc3339: Any) -> float | None:
    """Drive's modifiedTime ("2026-12-04T18:00:00.000Z") as Unix seconds; None if absent or not one."""
    try:
        return dt.datetime.fromisoformat(str(rfc3339)).timestamp() if rfc3339 else None
    except ValueError:
        return None


def quote_query(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def newest(files: list[dict[str, Any]]) -> dict[str, Any]:
    """The file that is the object when several share a name: the last modified."""
    return max(files, key=lambda f: f.get("modifiedTime", "") + f["id"])


def check_conditions(key: str, files: list[dict[str, Any]], if_absent: bool, if_etag: str | None) -> None:
    """Refuse before uploading: create-only with a file there, or a replace of another version."""
    if if_absent and files:
        raise KeyTaken(key)
    if if_etag is not None:
        current = newest(files).get("md5Checksum") if files else None
        if current != if_etag:
            raise PreconditionFailed(key, if_etag, current)


def lost_to(key: str, created: dict[str, Any], rivals: list[dict[str, Any]], absent: bool) -> StorageError | None:
    """Whether a conditional write lost to files another writer made of its name while it ran.
    Create-only: the first created stays (every writer that looks after its upload agrees which
    one that is); a replace of one version loses to any newcomer."""
    if not rivals:
        return None
    if absent:
        first = min([*rivals, created], key=lambda f: (f.get("createdTime", ""), f["id"]))
        return None if first["id"] == created["id"] else KeyTaken(key)
    return PreconditionFailed(key, None, rivals[0].get("md5Checksum"))
