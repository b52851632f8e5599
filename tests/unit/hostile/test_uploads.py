"""One upload's trouble stays with it: an error of any type from a backend or a
source marks that item failed with the reason and backoff; an attachment without
a CouchDB digest is verified against the bytes read; state DB errors are named."""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing
from typing import Any, BinaryIO

import pytest

from syncd.backends.base import Backend, ObjectInfo
from syncd.backends.memory import MemoryBackend
from syncd.engine.uploader import Outcome, RetryPolicy, Uploader
from syncd.errors import StateDamaged, StateUnavailable
from syncd.state import NewItem, State
from syncd.state.db import state_failure


class Source:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    def open(self, item: Any) -> Any:
        return closing(io.BytesIO(self.data[item.doc_id]))


class Lying(MemoryBackend):
    """Stores the bytes but reports another MD5 (a backend that mangles, or a wrong answer)."""

    def put(self, key: str, body: BinaryIO, **kwargs: Any) -> ObjectInfo:
        info = super().put(key, body, **kwargs)
        return ObjectInfo(info.key, info.size, info.etag, "0" * 32)


class Exploding(MemoryBackend):
    def put(self, key: str, body: BinaryIO, **kwargs: Any) -> ObjectInfo:
        raise AttributeError("'NoneType' object has no attribute 'region'")  # an SDK's surprise


class Resolver:
    def __init__(self, backends: dict[str, Backend]) -> None:
        self.backends = backends

    def backend_for(self, item: Any) -> Backend:
        return self.backends[item.doc_id]


def _item(doc_id: str, data: bytes, digest: str | None) -> NewItem:
    return NewItem(
        db="account/aa/aa/x-202611",
        doc_id=doc_id,
        attachment="a.mp3",
        target="t",
        object_key=doc_id,
        digest=digest,
        length=len(data),
        content_type="audio/mpeg",
        account_id="a" * 32,
        pvt_type="mailbox_message",
    )


def test_one_items_unexpected_error_fails_it_alone_and_no_digest_is_verified_by_the_bytes_read() -> None:
    state = State(":memory:")
    data = {"ok": b"fine bytes", "boom": b"boom bytes", "liar": b"liar bytes"}
    backends: dict[str, Backend] = {"ok": MemoryBackend(), "boom": Exploding(), "liar": Lying()}
    state.work.record([_item(k, v, None) for k, v in data.items()])  # no CouchDB digest on any
    uploader = Uploader(state.work, Source(data), Resolver(backends), RetryPolicy(1, 2))
    outcomes = {item.doc_id: uploader.process(item) for item in state.work.claim_due(10)}
    assert outcomes == {"ok": Outcome.SYNCED, "boom": Outcome.FAILED, "liar": Outcome.FAILED}
    rows = {d: state.work.item("account/aa/aa/x-202611", d, "a.mp3", "t") for d in data}
    assert rows["ok"]["status"] == "synced"  # type: ignore[index]
    assert rows["boom"]["last_error"] == "AttributeError: 'NoneType' object has no attribute 'region'"  # type: ignore[index]
    assert "the bytes read from CouchDB have" in rows["liar"]["last_error"]  # type: ignore[index]
    assert rows["boom"]["next_attempt_at"] > 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("database or disk is full", StateUnavailable),
        ("attempt to write a readonly database", StateUnavailable),
        ("disk I/O error", StateUnavailable),
        ("database is locked", StateUnavailable),
        ("database disk image is malformed", StateDamaged),
        ("file is not a database", StateDamaged),
    ],
)
def test_state_failures_are_named_by_what_they_mean(message: str, kind: type) -> None:
    failure = state_failure(sqlite3.OperationalError(message), "/var/lib/syncd/state.sqlite3")
    assert isinstance(failure, kind) and "/var/lib/syncd/state.sqlite3" in str(failure)
    assert ("move the file aside" in str(failure)) == (kind is StateDamaged)
