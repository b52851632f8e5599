"""The reference backend: objects in a dict. Used by engine tests and as the
first implementation the contract suite checks."""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import BinaryIO

from syncd.backends.base import Backend, HashingReader, ObjectInfo, ResumeSlot
from syncd.errors import IntegrityError, InvalidKey, KeyTaken, NotFound, PreconditionFailed


class MemoryBackend(Backend):
    kind = "memory"
    _counter = itertools.count(1)

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "memory"

    def check(self) -> None:
        return None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            keys = [k for k in self._objects if k.startswith(prefix)]
        for key in keys:
            try:
                yield self.stat(key)
            except NotFound:
                continue

    def stat(self, key: str) -> ObjectInfo:
        with self._lock:
            if key not in self._objects:
                raise NotFound(key)
            data, etag = self._objects[key]
        return ObjectInfo(key, len(data), etag, hashlib.md5(data).hexdigest())  # noqa: S324

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        with self._lock:
            if key not in self._objects:
                raise NotFound(key)
            data = self._objects[key][0]
        return nullcontext(io.BytesIO(data))

    def put(
        self,
        key: str,
        body: BinaryIO,
        *,
        length: int,
        content_type: str,
        md5: str | None = None,
        properties: dict[str, str] | None = None,
        resume: ResumeSlot | None = None,
        if_absent: bool = False,
        if_etag: str | None = None,
    ) -> ObjectInfo:
        if not key or "\x00" in key:
            raise InvalidKey(key, "empty or contains NUL")
        reader = HashingReader(body)
        data = reader.read(length)
        if len(data) != length or (md5 is not None and reader.hexdigest() != md5):
            raise IntegrityError(f"{key!r}: bytes read do not match the expected length/MD5")
        with self._lock:  # the condition and the write are one step under the lock
            current = self._objects.get(key)
            if if_absent and current is not None:
                raise KeyTaken(key)
            if if_etag is not None and (current is None or current[1] != if_etag):
                raise PreconditionFailed(key, if_etag, current[1] if current else None)
            self._objects[key] = (data, f"m{next(self._counter)}")
        return self.stat(key)

    def delete(self, key: str, *, etag: str | None = None) -> None:
        with self._lock:
            if key not in self._objects:
                raise NotFound(key)
            current = self._objects[key][1]
            if etag is not None and etag != current:
                raise PreconditionFailed(key, etag, current)
            del self._objects[key]
