"""A free name beside a taken one: syncd files and exports never replace a file it did not write."""

from __future__ import annotations

import io
import json
from contextlib import nullcontext

import pytest

from syncd.backends.memory import MemoryBackend
from syncd.backends.names import RACES, TRIES, free_key, put_new, put_status
from syncd.errors import UnsafeInput
from tests.support.backend_contract import content


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


def opener(data: bytes, meanwhile=None):  # noqa: ANN001, ANN201
    """body() for put_new: each call opens the bytes afresh; meanwhile() runs as it opens."""

    def body():  # noqa: ANN202
        if meanwhile is not None:
            meanwhile()
        return nullcontext(io.BytesIO(data))

    return body


def test_a_name_a_second_writer_takes_while_syncd_writes_is_left_to_it() -> None:
    backend = MemoryBackend()
    taken: list[str] = []

    def someone_takes_the_free_name() -> None:
        if not taken:  # the first try only: free_key found "sent/a.pdf" free, then a person put a file there
            taken.append("sent/a.pdf")
            put(backend, "sent/a.pdf")

    info = put_new(backend, "sent/a.pdf", opener(b"fax", someone_takes_the_free_name), length=3, content_type="x")
    assert info.key == "sent/a (2).pdf"
    assert content(backend, "sent/a.pdf") == b"a person's file" and content(backend, "sent/a (2).pdf") == b"fax"


def test_names_lost_to_other_writers_again_and_again_fail_the_item_and_replace_nothing() -> None:
    backend = MemoryBackend()
    made: list[str] = []

    def someone_takes_every_free_name() -> None:
        key = free_key(backend, "sent/a.pdf")
        made.append(key)
        put(backend, key)

    with pytest.raises(UnsafeInput, match=f"other writers took {RACES} names"):
        put_new(backend, "sent/a.pdf", opener(b"fax", someone_takes_every_free_name), length=3, content_type="x")
    assert len(made) == RACES and all(content(backend, k) == b"a person's file" for k in made)


def test_a_status_file_replaces_only_syncd_own_status_of_the_same_thing() -> None:
    backend = MemoryBackend()

    def same(old: dict) -> bool:  # type: ignore[type-arg]
        return old.get("job_id") == "j1"

    assert put_status(backend, "sent/a.pdf.json", {"job_id": "j1", "status": "sent"}, same) == "sent/a.pdf.json"
    assert put_status(backend, "sent/a.pdf.json", {"job_id": "j1", "status": "sent", "n": 2}, same) == "sent/a.pdf.json"
    assert json.loads(content(backend, "sent/a.pdf.json"))["n"] == 2  # brought up to date in place
    assert put_status(backend, "sent/a.pdf.json", {"job_id": "j2"}, lambda old: old.get("job_id") == "j2") == (
        "sent/a.pdf (2).json"  # another job's status stays
    )
    assert json.loads(content(backend, "sent/a.pdf.json"))["job_id"] == "j1"
    put(backend, "lib/x.wav.status.json")  # a person's file where syncd's status would go
    where = put_status(backend, "lib/x.wav.status.json", {"file": "lib/x.wav"}, lambda _o: True, ".status.json")
    assert where == "lib/x.wav (2).status.json"  # still ends as a status file, so the library passes it over
    assert content(backend, "lib/x.wav.status.json") == b"a person's file"


def test_a_status_file_changed_by_someone_while_syncd_writes_is_not_replaced() -> None:
    backend = MemoryBackend()
    put_status(backend, "s.json", {"job_id": "j1"}, lambda _o: True)
    real_put = backend.put

    def interfering_put(key, body, **kw):  # noqa: ANN001, ANN003, ANN202
        if kw.get("if_etag") and key == "s.json":  # a person replaces it between syncd's look and its write
            real_put(key, io.BytesIO(b"mine"), length=4, content_type="x")
        return real_put(key, body, **kw)

    backend.put = interfering_put  # type: ignore[method-assign]
    where = put_status(backend, "s.json", {"job_id": "j1", "n": 2}, lambda old: old.get("job_id") == "j1")
    assert content(backend, "s.json") == b"mine" and where == "s (2).json"
    assert json.loads(content(backend, where))["n"] == 2
