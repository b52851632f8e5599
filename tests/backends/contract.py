"""The contract every backend passes (syncd/backends/base.py). A backend joins
by subclassing BackendContract and providing a `backend` fixture."""

from __future__ import annotations

import hashlib
import io

import pytest

from syncd.backends.base import Backend
from syncd.errors import IntegrityError, NotFound, PreconditionFailed

HOSTILE_KEYS = [
    "account%2Fab%2Fcd%2Fef-202611/202611-x_vm.mp3",  # Kazoo's S3 default: a literal %2F
    "voicemail/été/message ünïcode.mp3",
    "with spaces/and  double  spaces.mp3",
    "plus+equals=amp&.mp3",
]
BIG = 6 * 1024 * 1024 + 123  # over the multipart threshold the fixtures set


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def put(backend: Backend, key: str, data: bytes, with_md5: bool = True):  # noqa: ANN201
    return backend.put(
        key, io.BytesIO(data), length=len(data), content_type="audio/mpeg", md5=md5(data) if with_md5 else None
    )


class Chunked(io.RawIOBase):
    """A non-seekable stream that yields at most 64 KiB per read, like an HTTP body."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0
        self.max_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else min(size, 65536)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk


class BackendContract:
    def test_put_then_stat_get_list(self, backend: Backend) -> None:
        info = put(backend, "a/b.mp3", b"hello")
        assert (info.key, info.size, info.md5) == ("a/b.mp3", 5, md5(b"hello"))
        stat = backend.stat("a/b.mp3")
        assert (stat.size, stat.etag, stat.md5) == (5, info.etag, md5(b"hello"))
        with backend.get("a/b.mp3") as f:
            assert f.read() == b"hello"
        assert [o.key for o in backend.list("a/")] == ["a/b.mp3"]

    @pytest.mark.parametrize("key", HOSTILE_KEYS)
    def test_hostile_keys_round_trip_unchanged(self, backend: Backend, key: str) -> None:
        put(backend, key, key.encode())
        assert backend.stat(key).md5 == md5(key.encode())
        with backend.get(key) as f:
            assert f.read() == key.encode()
        assert key in {o.key for o in backend.list()}

    def test_overwrite_changes_etag(self, backend: Backend) -> None:
        first = put(backend, "k", b"one")
        second = put(backend, "k", b"two!")
        assert first.etag != second.etag and backend.stat("k").md5 == md5(b"two!")

    def test_missing_key_is_not_found(self, backend: Backend) -> None:
        for call in (lambda: backend.stat("nope"), lambda: backend.get("nope"), lambda: backend.delete("nope")):
            with pytest.raises(NotFound):
                call()

    def test_delete_with_matching_etag(self, backend: Backend) -> None:
        info = put(backend, "d", b"x")
        backend.delete("d", etag=info.etag)
        with pytest.raises(NotFound):
            backend.stat("d")

    def test_delete_refuses_a_changed_object(self, backend: Backend) -> None:
        old = put(backend, "d2", b"x")
        put(backend, "d2", b"changed")
        with pytest.raises(PreconditionFailed):
            backend.delete("d2", etag=old.etag)
        assert backend.stat("d2").md5 == md5(b"changed")

    def test_wrong_md5_stores_nothing(self, backend: Backend) -> None:
        with pytest.raises(IntegrityError):
            backend.put("bad", io.BytesIO(b"data"), length=4, content_type="x", md5=md5(b"other"))
        with pytest.raises(NotFound):
            backend.stat("bad")

    def test_short_body_stores_nothing(self, backend: Backend) -> None:
        with pytest.raises(IntegrityError):
            backend.put("short", io.BytesIO(b"abc"), length=10, content_type="x")
        with pytest.raises(NotFound):
            backend.stat("short")

    def test_large_body_streams_and_keeps_md5(self, backend: Backend) -> None:
        data = bytes(range(256)) * (BIG // 256) + b"tail"
        info = backend.put("big/rec.mp3", Chunked(data), length=len(data), content_type="audio/mpeg", md5=md5(data))
        assert info.md5 == md5(data)
        stat = backend.stat("big/rec.mp3")
        assert (stat.size, stat.md5) == (len(data), md5(data))

    @pytest.mark.parametrize("size", [4096, BIG], ids=["small", "multipart"])
    def test_bad_bytes_over_an_existing_object_leave_it_as_it_was(self, backend: Backend, size: int) -> None:
        good = bytes(range(256)) * (size // 256)
        before = backend.put("keep/rec.mp3", Chunked(good), length=len(good), content_type="audio/mpeg", md5=md5(good))
        bad = b"X" + good[1:]  # one byte off: what a damaged read from CouchDB looks like
        with pytest.raises(IntegrityError):
            backend.put("keep/rec.mp3", Chunked(bad), length=len(bad), content_type="audio/mpeg", md5=md5(good))
        with pytest.raises(IntegrityError):  # the body ends early
            backend.put("keep/rec.mp3", Chunked(good[:-9]), length=len(good), content_type="audio/mpeg")
        after = backend.stat("keep/rec.mp3")
        assert (after.size, after.md5, after.etag) == (len(good), md5(good), before.etag)
        with backend.get("keep/rec.mp3") as f:
            assert b"".join(iter(lambda: f.read(1 << 20), b"")) == good

    def test_list_streams_only_prefix(self, backend: Backend) -> None:
        for key in ("p/1", "p/2", "q/1"):
            put(backend, key, b"x")
        assert sorted(o.key for o in backend.list("p/")) == ["p/1", "p/2"]
