"""Moving a library's files aside: rejected files to rejected/ with a status file saying
why, files whose media was deleted in Kazoo to .syncd-trash/.

Nothing is written over another file: a copy takes a free name, and a status file
replaces only syncd's own status of the same file (backends/names.py).
A move is a verified copy (length and MD5), then a delete of the original that
only happens while it is still the version that was judged (etag-conditional):
a file replaced meanwhile is judged again and stays. Nothing is deleted uncopied.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from syncd.backends.base import Backend, ObjectInfo
from syncd.backends.names import put_new, put_status
from syncd.errors import NotFound, PreconditionFailed
from syncd.model.media import REJECTED, STATUS_SUFFIX, TRASH

log = logging.getLogger("syncd.media")


def move(backend: Backend, info: ObjectInfo, wanted: str) -> tuple[str, bool]:
    """Copy info's object to `wanted` (or a free name beside it: another file there stays), then
    delete it if unchanged. Returns where the copy is, and False when the original changed meanwhile."""
    md5 = info.md5 or backend.stat(info.key).md5
    copy = put_new(
        backend,
        wanted,
        lambda: backend.get(info.key),
        length=info.size,
        content_type="application/octet-stream",
        md5=md5,
    )
    to = copy.key
    try:
        backend.delete(info.key, etag=info.etag)
    except NotFound:
        pass  # gone meanwhile: the copy is what is left
    except PreconditionFailed:
        log.warning("file %r changed while it was moved to %r; the new version stays and is judged again", info.key, to)
        return to, False
    return to, True


def reject(backend: Backend, info: ObjectInfo, library: str, reason: str) -> str:
    """File a file that is not usable audio under rejected/, with <name>.status.json beside it."""
    where, moved = REJECTED + info.key, False
    if info.special is None:
        where, moved = move(backend, info, where)
    note = None
    if info.special:
        note = f"a {info.special} is never read, copied or moved; it was left where it is"
    elif not moved:
        note = "the file was replaced while it was being rejected; the new version stays in the library"
    tell(backend, where, library, "rejected", reason, "fix the file and put it into the library again", note)
    return where


def tell(
    backend: Backend, key: str, library: str, status: str, reason: str, what_to_do: str = "", note: str | None = None
) -> None:
    """Write <key>.status.json: what syncd did with the file at key, and why."""
    said: dict[str, Any] = {"file": key, "library": library, "status": status, "reason": reason}
    said.update({"what_to_do": what_to_do} if what_to_do else {})
    said.update({"note": note} if note else {})
    said["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def about_this_file(old: dict[str, Any]) -> bool:  # syncd's own status of this file: brought up to date
        return old.get("file") == key and old.get("library") == library

    where = put_status(backend, key + STATUS_SUFFIX, said, about_this_file, suffix=STATUS_SUFFIX)
    if where != key + STATUS_SUFFIX:
        log.warning(
            "library=%s another file is at %r; the status of %r went to %r", library, key + STATUS_SUFFIX, key, where
        )


def to_trash(backend: Backend, info: ObjectInfo) -> str:
    where, _ = move(backend, info, f"{TRASH}{int(time.time())}/{info.key}")
    return where
