"""A free name in a backend: where a file syncd files or exports lands when its own name is taken.

syncd never replaces a file it did not write: moving a file into rejected/, sent/, failed/ or
the trash, or exporting Kazoo's media, first looks at the name it wants and, when something is
there, puts a tag (and then a count) before the extension until the name is free. The write
itself is create-only (put(if_absent=True)), so a second writer that takes the name after
syncd looked keeps its file, and syncd takes the next free name. Status files follow the
same rule, except that one syncd wrote about the same thing is brought up to date in place.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

from syncd.backends.base import Backend, ObjectInfo
from syncd.errors import KeyTaken, NotFound, PreconditionFailed, UnsafeInput

TRIES = 1000
STATUS_MAX = 64 * 1024  # a status file syncd wrote is far smaller; anything larger is not one
_JSON = "application/json"
RACES = 5  # names lost to a second writer before the item fails (each one is a file someone made)


def put_new(
    backend: Backend,
    wanted: str,
    body: Callable[[], AbstractContextManager[BinaryIO]],
    *,
    length: int,
    content_type: str,
    md5: str | None = None,
    tag: str = "",
) -> ObjectInfo:
    """Write at wanted, or the free name beside it (free_key), never over anything: body() opens
    the bytes afresh for each try. Raises UnsafeInput when second writers took RACES names."""
    for _ in range(RACES):
        key = free_key(backend, wanted, tag)
        try:
            with body() as stream:
                return backend.put(key, stream, length=length, content_type=content_type, md5=md5, if_absent=True)
        except KeyTaken:
            continue  # taken since free_key looked: the next free name
    raise UnsafeInput(f"no free name for {wanted!r}: other writers took {RACES} names beside it while syncd wrote")


def free_key(backend: Backend, wanted: str, tag: str = "", suffix: str = "") -> str:
    """wanted if nothing is there, else "stem (tag).ext", "stem (tag-2).ext"... (without a tag:
    "stem (2).ext", "stem (3).ext"...). suffix: the name's ending that must stay its ending
    (".status.json": the label goes before it). Raises UnsafeInput when TRIES names are all taken."""
    if not _there(backend, wanted):
        return wanted
    folder, _, name = wanted.rpartition("/")
    if suffix and name.endswith(suffix) and len(name) > len(suffix):
        stem, ext = name[: -len(suffix)], suffix
    else:
        stem, dot, ext = name.rpartition(".")
        stem, ext = (stem, "." + ext) if dot and stem else (name, "")
    for n in range(1 if tag else 2, TRIES + 1):
        label = (tag if n == 1 else f"{tag}-{n}") if tag else str(n)
        key = f"{folder + '/' if folder else ''}{stem} ({label}){ext}"
        if not _there(backend, key):
            return key
    raise UnsafeInput(f"no free name for {wanted!r}: {TRIES} names beside it are taken")


def put_status(
    backend: Backend, key: str, said: dict[str, Any], ours: Callable[[dict[str, Any]], bool], suffix: str = ""
) -> str:
    """Write a status JSON at key; returns where it went. Create-only where nothing is there; a
    status syncd wrote there before about the same thing (ours(old) says so) is replaced, that
    version only; anything else there (a person's file, another job's status) stays, and this
    status takes a free name beside it."""
    body = json.dumps(said, indent=2, ensure_ascii=False).encode()
    for _ in range(RACES):
        current = _stat_or_none(backend, key)
        try:
            if current is None:
                backend.put(key, io.BytesIO(body), length=len(body), content_type=_JSON, if_absent=True)
            elif _syncd_status(backend, current, ours):
                backend.put(key, io.BytesIO(body), length=len(body), content_type=_JSON, if_etag=current.etag)
            else:
                beside = free_key(backend, key, suffix=suffix)
                backend.put(beside, io.BytesIO(body), length=len(body), content_type=_JSON, if_absent=True)
                return beside
            return key
        except PreconditionFailed:  # a second writer changed the name meanwhile (KeyTaken too): look again
            continue
    raise UnsafeInput(f"status file {key!r} not written: other writers changed it {RACES} times while syncd wrote")


def _syncd_status(backend: Backend, info: ObjectInfo, ours: Callable[[dict[str, Any]], bool]) -> bool:
    if info.special or info.size > STATUS_MAX:
        return False
    try:
        with backend.get(info.key) as f:
            old = json.loads(f.read(STATUS_MAX + 1))
    except (NotFound, ValueError):
        return False
    return isinstance(old, dict) and ours(old)


def _stat_or_none(backend: Backend, key: str) -> ObjectInfo | None:
    try:
        return backend.stat(key)
    except NotFound:
        return None


def _there(backend: Backend, key: str) -> bool:
    try:
        backend.stat(key)
    except NotFound:
        return False
    return True
