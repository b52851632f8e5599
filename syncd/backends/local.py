"""A local or NFS folder as a backend.

Keys map to paths below the root, "/" separating folders. Writes are atomic:
a temp file in the destination folder, fsync, rename over the final name (a
hard link for a create-only write, refused by the kernel when the name is
taken), fsync of the folder, so a crash leaves either the old object or the new one.
Keys that could leave the root (absolute, "..", ".", empty parts, NUL) are
refused. The root itself is never created: a missing root usually means an
unmounted NFS share, and writing to the local disk underneath would hide that.

Anyone with access to the folder may plant a symbolic link in it, so no
symlink is ever followed below the root: every path is walked one component at
a time from a descriptor of the root (openat with O_NOFOLLOW), and a link,
FIFO, socket or device at a key is refused (InvalidKey), never opened. Listings
report such entries (ObjectInfo.special) without touching what they point to.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import secrets
import stat as stat_mode
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, cast

from syncd.backends.base import Backend, HashingReader, ObjectInfo, ResumeSlot
from syncd.errors import (
    BackendUnavailable,
    IntegrityError,
    InvalidKey,
    KeyTaken,
    NotFound,
    PreconditionFailed,
)

TMP_PREFIX = ".syncd-tmp."
_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs us
_SPECIAL = (
    (stat_mode.S_ISLNK, "symbolic link"),
    (stat_mode.S_ISFIFO, "FIFO"),
    (stat_mode.S_ISSOCK, "socket"),
    (stat_mode.S_ISCHR, "device"),
    (stat_mode.S_ISBLK, "device"),
    (stat_mode.S_ISDIR, "folder"),
)


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, path: str) -> None:
        self.root = Path(path)

    def describe(self) -> str:
        return f"folder {self.root}"

    def check(self) -> None:
        if not self.root.is_dir():
            raise BackendUnavailable(
                f"folder {self.root} does not exist or is not a directory "
                "(is the share mounted?); create it or fix the path"
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise BackendUnavailable(f"folder {self.root} is not writable by this user")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # os.walk never descends into a linked folder; links and other non-files are reported, not followed
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            names = sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))
            for name in names:
                if name.startswith(TMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        st = full.lstat()
                    except FileNotFoundError:
                        continue  # gone since the folder was read
                    yield ObjectInfo(key, st.st_size, _etag(st), special=_special(st), modified=st.st_mtime)

    def stat(self, key: str) -> ObjectInfo:
        try:
            with self._open_file(key) as f:
                st = os.fstat(f.fileno())
                md5 = hashlib.md5()  # noqa: S324
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    md5.update(chunk)
        except OSError as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot read {key!r}: {exc.strerror}") from None
        return ObjectInfo(key, st.st_size, _etag(st), md5.hexdigest(), modified=st.st_mtime)

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._open_file(key)

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
        parts = self._parts(key)
        self.check()
        try:
            with self._folder(parts[:-1], create=True) as folder:
                tmp = f"{TMP_PREFIX}{secrets.token_hex(8)}"
                digest = self._write(folder, tmp, body, length, key, md5)
                try:
                    _refuse_special_at(folder, parts[-1], key)
                    _commit(folder, tmp, parts[-1], key, if_absent, if_etag)
                finally:
                    _unlink_quietly(folder, tmp)  # after a link or a refusal (a rename left nothing)
                os.fsync(folder)
                st = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except OSError as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot write {key!r}: {_why(exc)}") from None
        return ObjectInfo(key, st.st_size, _etag(st), digest, modified=st.st_mtime)

    def _write(self, folder: int, tmp: str, body: BinaryIO, length: int, key: str, md5: str | None) -> str:
        reader = HashingReader(body)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as out:
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
                raise IntegrityError(
                    f"{key!r}: read {reader.count} of {length} bytes or MD5 "
                    "differs from the expected one; nothing was written"
                )
        except BaseException:
            _unlink_quietly(folder, tmp)
            raise
        return reader.hexdigest()

    def delete(self, key: str, *, etag: str | None = None) -> None:
        parts = self._parts(key)
        try:
            with self._folder(parts[:-1]) as folder:
                st = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
                if etag is not None and _etag(st) != etag:
                    raise PreconditionFailed(key, etag, _etag(st))
                if _special(st):
                    raise InvalidKey(key, f"it is a {_special(st)}, not a file syncd wrote; it is left alone")
                os.unlink(parts[-1], dir_fd=folder)
                os.fsync(folder)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot delete {key!r}: {_why(exc)}") from None

    # -- paths: walked from the root, one component at a time, following no link -------------
    def _open_file(self, key: str) -> BinaryIO:
        parts = self._parts(key)
        try:
            with self._folder(parts[:-1]) as folder:
                fd = os.open(parts[-1], _READ_FLAGS, dir_fd=folder)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidKey(key, "it is a symbolic link; links are never followed") from None
            raise BackendUnavailable(f"{self.describe()}: cannot read {key!r}: {_why(exc)}") from None
        st = os.fstat(fd)
        if _special(st):
            os.close(fd)
            if stat_mode.S_ISDIR(st.st_mode):
                raise NotFound(key)
            raise InvalidKey(key, f"it is a {_special(st)}, not a regular file; it is never read")
        os.set_blocking(fd, True)
        return cast(BinaryIO, os.fdopen(fd, "rb"))

    @contextmanager
    def _folder(self, parts: builtins.list[str], create: bool = False) -> Iterator[int]:
        """A descriptor of root/parts..., every component a real folder (a link there: InvalidKey)."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts:
                child = _enter(fd, part, create, "/".join(parts))
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _parts(self, key: str) -> builtins.list[str]:
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
            if len(part.encode("utf-8", "surrogateescape")) > 255:
                raise InvalidKey(key, "a path part is longer than 255 bytes")
        return parts


def _enter(parent: int, part: str, create: bool, where: str) -> int:
    """Open folder `part` below the descriptor parent, creating it when asked; a link there is refused."""
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(part, 0o755, dir_fd=parent)
        except FileExistsError:
            pass  # made meanwhile by another writer
        return os.open(part, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(parent, part):
            raise InvalidKey(where, f"{part!r} is a symbolic link; links are never followed") from None
        raise


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat_mode.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _commit(folder: int, tmp: str, name: str, key: str, if_absent: bool, if_etag: str | None) -> None:
    """Make the written temp file visible as name. Create-only is a hard link, which the kernel
    refuses atomically when name exists; a filesystem without hard links gets the check just
    before the rename. A replace of one version is checked just before the rename: a folder has
    no compare-and-swap, so a writer in the same instant could still slip in between."""
    if if_absent:
        try:
            os.link(tmp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
            return
        except FileExistsError:
            raise KeyTaken(key) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                raise
        if _current_etag(folder, name) is not None:
            raise KeyTaken(key)
    elif if_etag is not None:
        current = _current_etag(folder, name)
        if current != if_etag:
            raise PreconditionFailed(key, if_etag, current)
    os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)


def _current_etag(folder: int, name: str) -> str | None:
    try:
        return _etag(os.stat(name, dir_fd=folder, follow_symlinks=False))
    except FileNotFoundError:
        return None


def _unlink_quietly(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass


def _refuse_special_at(folder: int, name: str, key: str) -> None:
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return
    if _special(st):
        raise InvalidKey(key, f"a {_special(st)} is in its place; it is never replaced or followed")


def _special(st: os.stat_result) -> str | None:
    return next((what for test, what in _SPECIAL if test(st.st_mode)), None)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _etag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}-{st.st_ino}-{st.st_size}"
