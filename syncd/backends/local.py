"""A local or NFS folder as a backend.

Keys map to paths below the root, "/" separating folders. Writes are atomic:
a temp file in the destination folder, fsync, rename over the final name,
fsync of the folder, so a crash leaves either the old object or the new one.
Keys that could leave the root (absolute, "..", ".", empty parts, NUL) are
refused. The root itself is never created: a missing root usually means an
unmounted NFS share, and writing to the local disk underneath would hide that.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from syncd.backends.base import Backend, HashingReader, ObjectInfo, ResumeSlot
from syncd.errors import BackendUnavailable, IntegrityError, InvalidKey, NotFound, PreconditionFailed

TMP_PREFIX = ".syncd-tmp."
_CHUNK = 1024 * 1024


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, path: str) -> None:
        self.root = Path(path)

    def describe(self) -> str:
        return f"folder {self.root}"

    def check(self) -> None:
        if not self.root.is_dir():
            raise BackendUnavailable(f"folder {self.root} does not exist or is not a directory "
                                     "(is the share mounted?); create it or fix the path")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise BackendUnavailable(f"folder {self.root} is not writable by this user")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(TMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    st = full.stat()
                    yield ObjectInfo(key, st.st_size, _etag(st))

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
            md5 = hashlib.md5()  # noqa: S324
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    md5.update(chunk)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot read {key!r}: {exc.strerror}") from None
        return ObjectInfo(key, st.st_size, _etag(st), md5.hexdigest())

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(key) from None

    def put(self, key: str, body: BinaryIO, *, length: int, content_type: str, md5: str | None = None,
            properties: dict[str, str] | None = None, resume: ResumeSlot | None = None) -> ObjectInfo:
        path = self._path(key)
        self.check()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f"{TMP_PREFIX}{secrets.token_hex(8)}"
            digest = self._write(tmp, body, length, key, md5)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            st = path.stat()
        except OSError as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot write {key!r}: {exc.strerror}") from None
        return ObjectInfo(key, st.st_size, _etag(st), digest)

    def _write(self, tmp: Path, body: BinaryIO, length: int, key: str, md5: str | None) -> str:
        reader = HashingReader(body)
        try:
            with tmp.open("xb") as out:
                remaining = length
                while remaining > 0:
                    chunk = reader.read(min(_CHUNK, remaining))
                    if not chunk:
                        break
                    out.write(chunk)
                    remaining -= len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if reader.count != length or (md5 is not None and reader.hexdigest() != md5):
                raise IntegrityError(f"{key!r}: read {reader.count} of {length} bytes or MD5 "
                                     "differs from the expected one; nothing was written")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return reader.hexdigest()

    def delete(self, key: str, *, etag: str | None = None) -> None:
        path = self._path(key)
        try:
            if etag is not None:
                current = _etag(path.stat())
                if current != etag:
                    raise PreconditionFailed(key, etag, current)
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(key) from None
        _fsync_dir(path.parent)

    def _path(self, key: str) -> Path:
        if not key or "\x00" in key:
            raise InvalidKey(key, "empty or contains NUL")
        if key.startswith("/"):
            raise InvalidKey(key, "absolute paths are not allowed")
        parts = key.split("/")
        for part in parts:
            if part in ("", ".", ".."):
                raise InvalidKey(key, "empty, '.' or '..' path parts are not allowed")
            if part.startswith(TMP_PREFIX):
                raise InvalidKey(key, f"names starting with {TMP_PREFIX!r} are reserved")
            if len(part.encode("utf-8")) > 255:
                raise InvalidKey(key, "a path part is longer than 255 bytes")
        return self.root.joinpath(*parts)


def _etag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}-{st.st_ino}-{st.st_size}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
