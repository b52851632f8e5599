"""A free name in a backend: where a file syncd files or exports lands when its own name is taken.

syncd never replaces a file it did not write: moving a file into rejected/, sent/, failed/ or
the trash, or exporting Kazoo's media, first looks at the name it wants and, when something is
there, puts a tag (and then a count) before the extension until the name is free.
"""

from __future__ import annotations

from syncd.backends.base import Backend
from syncd.errors import NotFound, UnsafeInput

TRIES = 1000


def free_key(backend: Backend, wanted: str, tag: str = "") -> str:
    """wanted if nothing is there, else "stem (tag).ext", "stem (tag-2).ext"... (without a tag:
    "stem (2).ext", "stem (3).ext"...). Raises UnsafeInput when TRIES names are all taken."""
    if not _there(backend, wanted):
        return wanted
    folder, _, name = wanted.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    for n in range(1 if tag else 2, TRIES + 1):
        label = (tag if n == 1 else f"{tag}-{n}") if tag else str(n)
        key = (
            f"{folder}/{stem} ({label}){'.' + ext if ext else ''}"
            if folder
            else f"{stem} ({label}){'.' + ext if ext else ''}"
        )
        if not _there(backend, key):
            return key
    raise UnsafeInput(f"no free name for {wanted!r}: {TRIES} names beside it are taken")


def _there(backend: Backend, key: str) -> bool:
    try:
        backend.stat(key)
    except NotFound:
        return False
    return True
