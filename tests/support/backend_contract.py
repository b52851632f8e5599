"""The contract every backend passes (syncd/backends/base.py). A backend joins
by subclassing BackendContract and providing a `backend` fixture."""

from __future__ import annotations

import hashlib
import io

import pytest

from syncd.backends.base import Backend
from syncd.errors import IntegrityError, KeyTaken, NotFound, PreconditionFailed

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


class Interloper(Chunked):
    """A body during whose reading another writer writes: `meanwhile` runs once, as the last byte
    is read, so the second write lands after the first writer looked and before its bytes commit."""

    def __init__(self, data: bytes, meanwhile) -> None:  # noqa: ANN001
        super().__init__(data)
        self._meanwhile = meanwhile

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        if self._pos == len(self._data) and self._meanwhile is not None:
            self._meanwhile, meanwhile = None, self._meanwhile
            meanwhile()
        return chunk


def content(backend: Backend, key: str) -> bytes:
    with backend.get(key) as f:
        return b"".join(iter(lambda: f.read(1 << 20), b""))


SIZES = pytest.mark.parametrize("size", [4096, BIG], ids=["small", "multipart"])


class BackendContract:
    @pytest.fixture
    def second_writer(self, backend: Backend) -> Backend:
        """Another writer of the same store (backends with a store of their own give a second client)."""
        return backend

    @SIZES
    def test_create_only_writes_a_free_key(self, backend: Backend, size: int) -> None:
        data = bytes(range(256)) * (size // 256)
        info = backend.put(
            "new/a.pdf", Chunked(data), length=len(data), content_type="x", md5=md5(data), if_absent=True
        )
        assert info.md5 == md5(data) and content(backend, "new/a.pdf") == data

    @SIZES
    def test_a_write_to_a_taken_key_by_a_second_writer_is_refused(
        self, backend: Backend, second_writer: Backend, size: int
    ) -> None:
        """The first writer found the key free; a second writer's file landed there while the first
        one's bytes were on the way: the create-only write fails and the second file stays as it is."""
        ours, theirs = b"o" * size, b"their file"
        with pytest.raises(NotFound):
            backend.stat("taken/a.pdf")

        def second() -> None:
            put(second_writer, "taken/a.pdf", theirs)

        with pytest.raises(KeyTaken):
            backend.put("taken/a.pdf", Interloper(ours, second), length=size, content_type="x", if_absent=True)
        assert content(backend, "taken/a.pdf") == theirs
        assert [o.key for o in backend.list("taken/")] == ["taken/a.pdf"]
        with pytest.raises(KeyTaken):  # and when it was there before the write began
            backend.put("taken/a.pdf", io.BytesIO(ours), length=size, content_type="x", if_absent=True)
        assert content(backend, "taken/a.pdf") == theirs

    @SIZES
    def test_a_replace_of_one_version_refuses_another(
        self, backend: Backend, second_writer: Backend, size: int
    ) -> None:
        first = put(backend, "v/a.json", b"version 1")
        ours = b"n" * size

        def second() -> None:
            put(second_writer, "v/a.json", b"version 2, someone else's")

        with pytest.raises(PreconditionFailed):
            backend.put("v/a.json", Interloper(ours, second), length=size, content_type="x", if_etag=first.etag)
        assert content(backend, "v/a.json") == b"version 2, someone else's"
        now = backend.stat("v/a.json")
        with pytest.raises(PreconditionFailed):  # a version that is gone
            backend.put("v/a.json", io.BytesIO(ours), length=size, content_type="x", if_etag=first.etag)
        with pytest.raises(PreconditionFailed):  # an object that is gone
            backend.put("v/none.json", io.BytesIO(ours), length=size, content_type="x", if_etag=first.etag)
        replaced = backend.put("v/a.json", io.BytesIO(ours), length=size, content_type="x", if_etag=now.etag)
        assert replaced.md5 == md5(ours) and content(backend, "v/a.json") == ours

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
