"""One folder of a backend seen as a backend of its own: keys are relative to the folder.

A flow that owns a folder (a media library) works with keys as its users see
them ("music-on-hold/jazz.mp3"), and what the engine writes at a backend's top
level (the location marker) lands inside the folder, not beside it. Every call
goes to the backend below with the folder in front; the contract is the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import BinaryIO

from syncd.backends.base import Backend, ObjectInfo, ResumeSlot
from syncd.errors import InvalidKey


class FolderView(Backend):
    def __init__(self, inner: Backend, folder: str) -> None:
        self.inner, self.prefix = inner, folder.strip("/") + "/"
        self.kind = inner.kind

    def describe(self) -> str:
        return f"{self.inner.describe()}, folder {self.prefix.rstrip('/')!r}"

    def check(self) -> None:
        self.inner.check()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for info in self.inner.list(self.prefix + prefix):
            yield replace(info, key=info.key[len(self.prefix) :])

    def stat(self, key: str) -> ObjectInfo:
        return replace(self.inner.stat(self._full(key)), key=key)

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.inner.get(self._full(key))

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
        info = self.inner.put(
            self._full(key),
            body,
            length=length,
            content_type=content_type,
            md5=md5,
            properties=properties,
            resume=resume,
            if_absent=if_absent,
            if_etag=if_etag,
        )
        return replace(info, key=key)

    def delete(self, key: str, *, etag: str | None = None) -> None:
        self.inner.delete(self._full(key), etag=etag)

    def _full(self, key: str) -> str:
        if not key or key.startswith("/") or {".", ".."} & set(key.split("/")):
            raise InvalidKey(key, "a key inside a folder must be relative, without '.' or '..' parts")
        return self.prefix + key
