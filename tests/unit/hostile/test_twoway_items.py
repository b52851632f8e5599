"""Two-way confirmation, in process: one item whose Kazoo document makes the
delete step raise an unexpected error is skipped (nothing deleted for it) and
the other confirmed deletes go ahead in the same pass."""

from __future__ import annotations

import io
import time
from typing import Any

from syncd.backends.memory import MemoryBackend
from syncd.engine.plan import Guard, Policy
from syncd.engine.twoway import MARKER, Report, TwoWay
from syncd.kazoo.deletes import DocCheck
from syncd.state import NewItem, State

ACCOUNT = "a" * 32


class Kazoo:
    """Kazoo's side; the document behind `bad` is a shape the code does not expect."""

    def __init__(self, bad: str) -> None:
        self.bad, self.deleted = bad, []

    def inspect(self, item: Any) -> DocCheck:
        if item.doc_id == self.bad:
            raise AttributeError("'list' object has no attribute 'get'")
        return DocCheck(True, "ok", rev="1-a")

    def apply(self, item: Any, check: DocCheck) -> DocCheck:
        self.deleted.append(item.doc_id)
        return DocCheck(True, "soft-deleted in CouchDB", rev=check.rev)


class Resolver:
    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    def backend_for(self, item: Any) -> MemoryBackend:
        return self.backend


def test_an_unexpected_error_on_one_item_skips_it_and_the_others_are_deleted() -> None:
    state = State(":memory:")
    backend = MemoryBackend()
    backend.put(MARKER, io.BytesIO(b"m"), length=1, content_type="text/plain")
    docs = [f"doc{i}" for i in range(4)]
    state.work.record(
        [
            NewItem(
                db="account/aa/aa/x-202611",
                doc_id=d,
                attachment="a.mp3",
                target="t",
                object_key=f"k/{d}",
                digest=None,
                length=1,
                content_type="audio/mpeg",
                account_id=ACCOUNT,
                pvt_type="mailbox_message",
            )
            for d in docs
        ]
    )
    for item in state.work.claim_due(10):
        state.work.mark_synced(item.id, "etag", None)
    state.listings.note_target("t", backend.describe(), marker=True)
    ids = [state.work.item("account/aa/aa/x-202611", d, "a.mp3", "t")["id"] for d in docs]  # type: ignore[index]
    state.listings.mark_missing(ids, when=time.time() - 1000)
    kazoo = Kazoo(bad="doc1")
    guard = Guard(max_count=100, max_share=1.0, share_from=100, max_per_run=100, window=3600)
    report = Report()
    TwoWay(state, Resolver(backend), kazoo, Policy(grace=0), guard).confirm(report)  # type: ignore[arg-type]
    assert sorted(kazoo.deleted) == ["doc0", "doc2", "doc3"]
    assert state.work.item("account/aa/aa/x-202611", "doc1", "a.mp3", "t") is not None  # kept, tried again later
    skipped = [line for line in report.lines if "AttributeError" in str(line)]
    assert skipped, report.lines
    assert [r.action for r in state.audit.lines()].count("soft-delete") == 3
