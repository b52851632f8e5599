"""Drive files as syncd sees them: the appProperties that name a file's key and
root (Drive's search cannot match a path), query quoting, and ObjectInfo records."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from syncd.backends.base import ObjectInfo

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
