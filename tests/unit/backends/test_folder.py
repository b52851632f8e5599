"""A folder of a backend, seen as a backend of its own, keeps the contract; its keys never leave the folder."""

from __future__ import annotations

import io

import pytest

from syncd.backends.folder import FolderView
from syncd.backends.memory import MemoryBackend
from syncd.errors import InvalidKey
from tests.support.backend_contract import BackendContract


class TestFolderView(BackendContract):
    @pytest.fixture
    def backend(self) -> FolderView:
        inner = MemoryBackend()
        inner.put("beside/other.mp3", io.BytesIO(b"x"), length=1, content_type="audio/mpeg")
        return FolderView(inner, "media/library/")


def test_keys_are_relative_to_the_folder_and_what_lies_beside_it_is_not_listed() -> None:
    inner = MemoryBackend()
    inner.put("media/libraryX/near.mp3", io.BytesIO(b"n"), length=1, content_type="audio/mpeg")
    view = FolderView(inner, "media/library")
    view.put("moh/a.mp3", io.BytesIO(b"abc"), length=3, content_type="audio/mpeg")
    assert inner.stat("media/library/moh/a.mp3").size == 3
    assert [o.key for o in view.list()] == ["moh/a.mp3"]
    assert view.stat("moh/a.mp3").key == "moh/a.mp3"


@pytest.mark.parametrize("key", ["../escape.mp3", "a/../../escape.mp3", "/abs.mp3", "./a.mp3", ""])
def test_a_key_that_could_leave_the_folder_is_refused(key: str) -> None:
    view = FolderView(MemoryBackend(), "media/library")
    with pytest.raises(InvalidKey):
        view.put(key, io.BytesIO(b"x"), length=1, content_type="audio/mpeg")
