"""The one interface every storage backend implements, with its contract.

Terms
-----
KEY   the object's name inside the backend: any non-empty str. It may hold
      "/", "%2F", spaces and any unicode; a backend that maps keys to paths
      must refuse keys that could escape its root (raise InvalidKey), never
      rewrite them silently.
ETAG  an opaque str that changes whenever the object's bytes change. Only
      compare etags from the same backend.
MD5   lower-case hex MD5 of the object's bytes, when the backend knows it
      (S3 single-part ETag, a stored checksum for multipart, a local file's
      content). None means "unknown", never "empty".

Errors: every method raises syncd.errors.BackendUnavailable when the backend
cannot be reached (the caller retries later), NotFound when the key does not
exist, PreconditionFailed when a conditional call sees another etag, and
InvalidKey for names it cannot store safely. Nothing else escapes.

Backends import neither the engine nor the config.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    md5: str | None = None
    object_id: str | None = None  # the backend's own id when it has one (a Drive file id): survives moves
    special: str | None = None  # not a regular file ("symbolic link", "FIFO" ...): listed, never read or written
    # when the bytes last changed (Unix seconds), where the backend says: a scheduled run tells a
    # file that has been still for hours from one being copied in (not part of the object's identity)
    modified: float | None = field(default=None, compare=False)

    def still_for(self, now: float) -> float | None:
        """Seconds since the bytes last changed, by the backend's own clock; None when it does not say."""
        return None if self.modified is None else now - self.modified


@dataclass(frozen=True)
class ObjectChange:
    """One entry of a backend's change log: which object (by object_id), and whether it is gone."""

    object_id: str
    gone: bool


@runtime_checkable
class ChangeFeed(Protocol):
    """What a backend with a change log (Drive) offers besides the contract: deletions
    arrive within a poll instead of a full listing. Tokens are opaque; keep the last one."""

    def start_token(self) -> str: ...
    def changes_since(self, token: str) -> tuple[list[ObjectChange], str]: ...


class ResumeSlot(Protocol):
    """Where a backend keeps an interrupted upload's session, so a restarted syncd continues it.

    The slot belongs to one item and one version of its bytes; what is saved
    in it is a secret (a Drive session URI lets anyone finish the upload).
    """

    def load(self) -> str | None: ...
    def save(self, session: str) -> None: ...
    def clear(self) -> None: ...


class Backend(ABC):
    """A flat namespace of objects addressed by KEY."""

    #: a short word for logs and status: "s3", "local", "memory"
    kind: str = "backend"

    @abstractmethod
    def describe(self) -> str:
        """A human description without secrets, e.g. "s3://bucket at http://host:9000"."""

    @abstractmethod
    def check(self) -> None:
        """Prove the backend is reachable and usable.

        :raises BackendUnavailable: with a message saying what to fix.
        """

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with prefix, in any order.

        Streams: never holds the whole listing in memory. md5 may be None.
        """

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Return the object's metadata, with md5 when the backend can know it.

        :raises NotFound: the key does not exist.
        """

    @abstractmethod
    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open the object for streaming reads: `with backend.get(k) as f: f.read(n)`.

        :raises NotFound: the key does not exist.
        """

    @abstractmethod
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
        """Store exactly `length` bytes read from body at key, replacing any object there,
        unless a condition says otherwise:

        if_absent: create only: when an object is at key as the write commits (a
        second writer's, made after the caller looked), raise KeyTaken and leave
        it as it is. if_etag: replace only the version with this etag: when
        the object there is another version (or gone), raise PreconditionFailed.
        Where the store has conditional writes (S3's If-None-Match/If-Match, a
        folder's hard link) the check and the write are one step; elsewhere the
        check is made just before the bytes become visible, and the backend's
        docstring says so.

        Streams: memory use does not grow with length. When md5 is given the
        backend stores it where a later stat() finds it and refuses (raises
        IntegrityError, leaving no partial object visible) if the bytes read do
        not match it. Returns the stored object's info (md5 set).

        properties: where the bytes came from (Kazoo database, doc, attachment);
        a backend that can label objects stores them (Drive: appProperties),
        others ignore them. resume: a backend with resumable sessions saves
        its session there and continues it on the next put of the same item;
        body then still starts at byte 0 (the backend skips what was sent).
        """

    @abstractmethod
    def delete(self, key: str, *, etag: str | None = None) -> None:
        """Remove the object.

        :param etag: when given, delete only if the object still has this etag.
        :raises NotFound: the key does not exist.
        :raises PreconditionFailed: etag given and the object's etag differs.
        """


class HashingReader:
    """Wraps a stream: counts and MD5-hashes every byte read through it.

    read(n) fills n bytes unless the stream ends, as a buffered file does;
    callers such as boto3's transfer manager take a short read for the end.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._md5 = hashlib.md5()  # noqa: S324 - integrity check, not security
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data = self._raw.read()
        else:
            parts, wanted = [], size
            while wanted > 0:
                chunk = self._raw.read(wanted)
                if not chunk:
                    break
                parts.append(chunk)
                wanted -= len(chunk)
            data = b"".join(parts)
        self._md5.update(data)
        self.count += len(data)
        return data

    def hexdigest(self) -> str:
        return self._md5.hexdigest()
