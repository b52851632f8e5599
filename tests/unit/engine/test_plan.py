"""The pure planning rules and the mass-delete guard, with plain values."""

from __future__ import annotations

import dataclasses

import pytest

from syncd.engine.plan import Act, Guard, Policy, decide, plan_confirm, plan_guard, plan_scan
from syncd.state.items import Item


def item(
    missing_since: float | None = None,
    md5: str | None = "a" * 32,
    etag: str | None = "e1",
    status: str = "synced",
    length: int = 10,
) -> Item:
    return Item(
        "db",
        "doc",
        "a.mp3",
        "t",
        "k",
        "md5-x",
        length,
        "audio/mpeg",
        "acct",
        "mailbox_message",
        id=1,
        may_exist=False,
        status=status,
        attempts=1,
        etag=etag,
        md5=md5,
        missing_since=missing_since,
    )


@pytest.mark.parametrize(
    ("row", "listed", "expected"),
    [
        (item(), ("k", 10, "e1", "a" * 32), Act.KEEP),
        (item(missing_since=50.0), ("k", 10, "e1", "a" * 32), Act.FOUND_AGAIN),
        (item(), None, Act.NOTE_MISSING),
        (item(missing_since=95.0), None, Act.WAIT),  # seen 5 s ago, grace 10 s
        (item(missing_since=90.0), None, Act.CONFIRM_MISSING),  # seen exactly a grace period ago
        (item(), ("k", 10, "e2", "b" * 32), Act.REUPLOAD_CHANGED),
        (item(), ("k", 11, "e1", None), Act.REUPLOAD_CHANGED),  # size differs
        (item(md5=None), ("k", 10, "e2", None), Act.REUPLOAD_CHANGED),  # only etags to compare
        (item(etag="m-2"), ("k", 10, "m-2", None), Act.KEEP),  # multipart: no MD5 listed, same etag
        (item(etag="m-2"), ("k", 10, "m-3", None), Act.REUPLOAD_CHANGED),  # rewritten
        (item(status="offloaded", md5=None, etag=None, length=0), ("k", 99, "x", None), Act.KEEP),
    ],
)
def test_decide(row: Item, listed: tuple | None, expected: Act) -> None:
    assert decide(row, listed, now=100.0, grace=10.0) is expected


def test_guard_lets_a_single_delete_through_even_in_a_tiny_mailbox() -> None:
    assert Guard().check_account("acct", planned=1, tracked=1, missing=1, recent=0) is None
    assert Guard().check_account("acct", planned=2, tracked=2, missing=2, recent=0) is None


def test_guard_trips_on_share_from_three() -> None:
    why = Guard().check_account("acct", planned=3, tracked=4, missing=3, recent=0)
    assert why is not None and "3 of 4" in why


def test_guard_trips_on_count_and_counts_recent_deletes_and_unconfirmed_sightings() -> None:
    g = Guard(max_count=20, max_share=1.0)
    assert g.check_account("acct", planned=21, tracked=1000, missing=21, recent=0) is not None
    assert g.check_account("acct", planned=1, tracked=1000, missing=1, recent=20) is not None  # drip-fed
    assert g.check_account("acct", planned=1, tracked=1000, missing=25, recent=0) is not None  # more on the way
    assert g.check_account("acct", planned=5, tracked=1000, missing=5, recent=5) is None


def test_guard_per_run() -> None:
    assert Guard(max_per_run=100).check_run(101) is not None
    assert Guard(max_per_run=100).check_run(100) is None


def test_a_listing_is_planned_with_no_backend_no_clock_and_no_state_db() -> None:
    """plan_scan is the two-way planner: plain rows and a time in, a plan out; nothing is read,
    written or timed. Present, unchanged objects are counted and not kept."""
    listed = ("k", 10, "e1", "a" * 32)
    rows = [
        (item(), listed),  # synced and there
        (item(), None),  # gone: a first sighting
        (item(missing_since=95.0), None),  # gone 5 s, grace 10 s
        (item(missing_since=50.0), None),  # gone 50 s: due
        (item(missing_since=50.0), listed),  # back
        (item(md5="b" * 32), listed),  # someone changed it
    ]
    plan = plan_scan(rows, now=100.0, grace=10.0)
    assert (plan.tracked, plan.present) == (6, 3)
    assert [act for act, _ in plan.acts] == [
        Act.NOTE_MISSING,
        Act.WAIT,
        Act.CONFIRM_MISSING,
        Act.FOUND_AGAIN,
        Act.REUPLOAD_CHANGED,
    ]
    assert plan.items(Act.NOTE_MISSING) == [rows[1][0]]
    assert plan_scan(iter(rows), now=100.0, grace=10.0) == plan  # any iterable, the same plan


def account_item(account: str, pvt_type: str = "mailbox_message") -> Item:
    return dataclasses.replace(item(missing_since=1.0), account_id=account, pvt_type=pvt_type)


def test_second_sightings_are_planned_with_no_backend_no_clock_and_no_state_db() -> None:
    """plan_confirm: by policy a gone voicemail is a Kazoo delete and a gone recording a fresh
    upload; the guard, from each account's counts, clears one account and holds another."""
    small = [account_item("small")]
    mass = [account_item("mass") for _ in range(3)]
    recording = account_item("small", "call_recording")
    counts = {"small": (10, 1, 0), "mass": (4, 3, 0)}  # (tracked, seen missing, deleted within the window)
    guard = Guard(max_count=20, max_share=0.5, share_from=3)
    plan = plan_confirm([*small, recording, *mass], Policy(), counts, guard, allow=False)
    assert plan.reuploads == [recording]
    assert plan.guard.cleared == small
    assert set(plan.guard.held) == {"mass"} and plan.guard.held["mass"][1] == mass
    assert "3 of 4" in plan.guard.held["mass"][0]
    allowed = plan_confirm([*small, *mass], Policy(), counts, guard, allow=True)  # --allow-deletes
    assert allowed.guard.cleared == [*small, *mass] and not allowed.guard.held
    too_many = plan_guard([*small, *mass], counts, Guard(max_per_run=3), allow=False)
    assert not too_many.cleared and set(too_many.held) == {"small", "mass"}  # the run's limit holds them all
