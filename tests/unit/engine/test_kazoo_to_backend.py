"""Kazoo -> backend deletes in process, on the memory backend: a document deleted in
Kazoo keeps, trashes or deletes its object by policy, and refuses when the object is
not the one syncd stored, when the marker is missing, or when the guard holds."""

from __future__ import annotations

import io

import pytest

from syncd.backends.memory import MemoryBackend
from syncd.engine.kazoo_to_backend import carry_kazoo_deletes_to_backends
from syncd.engine.plan import Guard, Policy
from syncd.engine.twoway import MARKER, TRASH, Report, TwoWay
from syncd.kazoo.deletes import DocCheck
from syncd.state import NewItem, State

ACCOUNT, DB, TARGET = "b" * 32, "account/bb/bb/bbbbbbbbbbbbbbbbbbbbbbbbbbbb-202611", "t"


class NoKazoo:
    def inspect(self, item: object) -> DocCheck:
        raise AssertionError("this direction never touches Kazoo")

    def apply(self, item: object, check: DocCheck) -> DocCheck:
        raise AssertionError("this direction never touches Kazoo")


class Resolver:
    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    def backend_for(self, item: object) -> MemoryBackend:
        return self.backend


def _put(backend: MemoryBackend, key: str, body: bytes) -> None:
    backend.put(key, io.BytesIO(body), length=len(body), content_type="audio/mpeg")


def _world(count: int, marker: bool = True) -> tuple[State, MemoryBackend, list[str]]:
    """count synced voicemails at TARGET; their docs are then deleted in Kazoo."""
    state, backend = State(":memory:"), MemoryBackend()
    if marker:
        _put(backend, MARKER, b"m")
        state.listings.note_target(TARGET, backend.describe(), marker=True)
    docs = [f"vm{i}" for i in range(count)]
    for doc in docs:
        _put(backend, f"vm/{doc}", doc.encode())
    state.work.record(
        [
            NewItem(
                db=DB,
                doc_id=d,
                attachment="a.mp3",
                target=TARGET,
                object_key=f"vm/{d}",
                digest=None,
                length=len(d),
                content_type="audio/mpeg",
                account_id=ACCOUNT,
                pvt_type="mailbox_message",
            )
            for d in docs
        ]
    )
    for item in state.work.claim_due(100):
        state.work.mark_synced(item.id, backend.stat(item.object_key).etag, None)
    state.work.record([], db_name=DB, deleted_docs=docs)
    return state, backend, docs


def _carry(state: State, backend: MemoryBackend, mode: str, guard: Guard | None = None, allow: bool = False) -> Report:
    policy = Policy(grace=60, on_kazoo_delete={"mailbox_message": mode})
    tw = TwoWay(state, Resolver(backend), NoKazoo(), policy, guard or Guard(max_count=100, share_from=100))
    report = Report()
    carry_kazoo_deletes_to_backends(tw, report, allow)
    return report


def _keys(backend: MemoryBackend) -> set[str]:
    return {info.key for info in backend.list()}


@pytest.mark.parametrize(
    ("mode", "left"),
    [
        ("keep", {MARKER, "vm/vm0", "vm/vm1"}),
        ("trash", {MARKER, f"{TRASH}vm/vm0", f"{TRASH}vm/vm1"}),
        ("delete", {MARKER}),
    ],
)
def test_each_policy_does_what_it_says_and_audits_removals(mode: str, left: set[str]) -> None:
    state, backend, _ = _world(2)
    report = _carry(state, backend, mode)
    assert _keys(backend) == left
    assert state.work.count("synced") == 0  # every row settled, whatever the policy
    removed = [row.action for row in state.audit.lines() if row.side == "backend"]
    assert removed == ([] if mode == "keep" else [f"{mode}-object"] * 2)
    assert report.counts["forget" if mode == "keep" else f"{mode}-object"] == 2


def test_an_object_changed_behind_syncds_back_is_left_in_place_and_audited() -> None:
    state, backend, _ = _world(2)
    _put(backend, "vm/vm1", b"someone replaced this recording")
    report = _carry(state, backend, "delete")
    assert _keys(backend) == {MARKER, "vm/vm1"}
    assert report.counts["refused"] == 1
    assert [row.action for row in state.audit.lines() if row.side == "backend"].count("refused") == 1


def test_without_the_marker_nothing_is_removed() -> None:
    state, backend, _ = _world(2, marker=False)
    state.listings.note_target(TARGET, backend.describe(), marker=True)  # written once, gone since: a wrong mount
    report = _carry(state, backend, "delete")
    assert _keys(backend) == {"vm/vm0", "vm/vm1"}
    assert TARGET in report.refused and "marker" in report.refused[TARGET]


def test_the_guard_holds_a_mass_delete_until_allowed() -> None:
    state, backend, docs = _world(5)
    guard = Guard(max_count=3, max_share=0.5, share_from=3)
    held = _carry(state, backend, "delete", guard)
    assert ACCOUNT in held.held and _keys(backend) == {MARKER, *(f"vm/{d}" for d in docs)}
    allowed = _carry(state, backend, "delete", guard, allow=True)
    assert not allowed.held and _keys(backend) == {MARKER}


def test_trashing_never_replaces_an_earlier_copy_in_the_trash() -> None:
    """A key trashed before (an earlier doc with the same object key) keeps its copy: the new one
    takes a free name beside it, and the audit says where it went."""
    state, backend, _ = _world(1)
    _put(backend, f"{TRASH}vm/vm0", b"last month's copy")
    report = _carry(state, backend, "trash")
    assert report.counts["trash-object"] == 1
    assert _keys(backend) == {MARKER, f"{TRASH}vm/vm0", f"{TRASH}vm/vm0 (2)"}
    with backend.get(f"{TRASH}vm/vm0") as f:
        assert f.read() == b"last month's copy"
    (row,) = [row for row in state.audit.lines() if row.side == "backend"]
    assert f"{TRASH}vm/vm0 (2)" in row.reason
