"""Bounded memory for a daemon that streams large attachments.

An upload moves recordings in multipart chunks of several megabytes, read and
sent by a few threads. glibc's malloc serves a freed block that large from mmap
at first, then raises its mmap threshold to the block's size (up to 32 MB), so
later chunks land in per-thread heaps it seldom gives back: the daemon's RSS
grows by tens of megabytes after one large recording and stays there. A fixed
threshold keeps every buffer of 1 MB or more in its own mapping, returned to the
system the moment it is freed, and a small arena count stops each thread from
holding its own heap. Other C libraries (musl, macOS) are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20
ARENA_MAX = 2


def return_large_buffers_to_the_system() -> bool:
    """Tune glibc's malloc as above; False (and nothing changed) on another C library."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not applied:
        log.debug("glibc refused the malloc settings; memory stays as glibc manages it by default")
    return applied
