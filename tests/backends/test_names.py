"""A free name beside a taken one: syncd files and exports never replace a file it did not write."""

from __future__ import annotations

import io

import pytest

from syncd.backends.memory import MemoryBackend
from syncd.backends.names import TRIES, free_key
from syncd.errors import UnsafeInput


def put(backend: MemoryBackend, key: str) -> None:
    backend.put(key, io.BytesIO(b"a person's file"), length=15, content_type="x")


def test_a_free_name_is_used_as_it_is_and_a_taken_one_gets_a_tag_then_a_count() -> None:
    backend = MemoryBackend()
    assert free_key(backend, "rejected/bad.wav") == "rejected/bad.wav"
    put(backend, "rejected/bad.wav")
    assert free_key(backend, "rejected/bad.wav") == "rejected/bad (2).wav"
    put(backend, "rejected/bad (2).wav")
    assert free_key(backend, "rejected/bad.wav") == "rejected/bad (3).wav"
    put(backend, "sent/+1415 - Acme.pdf")
    put(backend, "sent/+1415 - Acme (1a2b3c4d).pdf")  # the tagged name is taken too
    assert free_key(backend, "sent/+1415 - Acme.pdf", "1a2b3c4d") == "sent/+1415 - Acme (1a2b3c4d-2).pdf"
    put(backend, "noext")
    assert free_key(backend, "noext") == "noext (2)"


def test_when_every_name_is_taken_the_item_fails_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MemoryBackend()
    monkeypatch.setattr("syncd.backends.names._there", lambda _b, _k: True)
    with pytest.raises(UnsafeInput, match=f"{TRIES} names beside it are taken"):
        free_key(backend, "rejected/bad.wav")
