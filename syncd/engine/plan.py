"""Pure two-way planning: (state row, backend listing) -> what to do, and the
mass-delete guard. No I/O here, so every rule is tested with plain values.

Safety rules encoded below (docs/architecture.md §4, the delete rows):
- only rows in the state DB are ever considered (an object syncd does not track
  is an orphan: reported, never touched);
- a missing object is a candidate only on its second sighting, at least
  `grace` seconds after the first; the caller HEADs it once more before acting;
- what the candidate becomes depends on the document type's policy: a Kazoo
  delete (voicemail by default) or a fresh upload (recordings, faxes);
- the guard holds an account whose deletes look like an accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from syncd.state import Item, ItemStatus


class Act(StrEnum):
    KEEP = "keep"  # object present and unchanged
    FOUND_AGAIN = "found-again"  # was seen missing, is back: forget the sighting
    NOTE_MISSING = "note-missing"  # first sighting of a missing object
    WAIT = "wait"  # seen missing, grace period not over yet
    CONFIRM_MISSING = "confirm-missing"  # second sighting due: HEAD, then delete or re-upload
    REUPLOAD_CHANGED = "reupload-changed"  # object differs from what syncd stored


@dataclass
class ScanPlan:
    """What one full listing of a target means for the items syncd tracks there, decided
    without I/O: TwoWay.scan applies it (or, in a dry run, only reports it). Items whose
    object is present and unchanged are counted, not kept, so a plan stays small."""

    tracked: int = 0
    present: int = 0
    acts: list[tuple[Act, Item]] = field(default_factory=list)

    def items(self, *acts: Act) -> list[Item]:
        return [item for act, item in self.acts if act in acts]


def plan_scan(rows: Iterable[tuple[Item, tuple[Any, ...] | None]], now: float, grace: float) -> ScanPlan:
    """Each tracked item with its listed object (key, size, etag, md5) or None, at time now."""
    plan = ScanPlan()
    for item, listed in rows:
        act = decide(item, listed, now, grace)
        plan.tracked += 1
        plan.present += listed is not None
        if act is not Act.KEEP:
            plan.acts.append((act, item))
    return plan


Counts = tuple[int, int, int]  # an account's (tracked items, items seen missing, deletes within the window)


@dataclass
class GuardPlan:
    """Which deletes the mass-delete guard lets through, and which accounts it holds and why."""

    cleared: list[Item] = field(default_factory=list)
    held: dict[str, tuple[str, list[Item]]] = field(default_factory=dict)  # account -> (why, its deletes)


def plan_guard(deletes: list[Item], counts: dict[str, Counts], guard: Guard, allow: bool) -> GuardPlan:
    """The guard over a run's deletes, account by account, from the accounts' counts: no I/O."""
    by_account: dict[str, list[Item]] = {}
    for item in deletes:
        by_account.setdefault(item.account_id, []).append(item)
    run_trip = None if allow else guard.check_run(len(deletes))
    plan = GuardPlan()
    for account, items in by_account.items():
        tracked, missing, recent = counts[account]
        why = run_trip or (None if allow else guard.check_account(account, len(items), tracked, missing, recent))
        if why is None:
            plan.cleared += items
        else:
            plan.held[account] = (why, items)
    return plan


@dataclass
class ConfirmPlan:
    """What the second sightings mean: objects gone for good become Kazoo deletes (through the
    guard) or fresh uploads, by each type's policy."""

    reuploads: list[Item]
    guard: GuardPlan


def plan_confirm(gone: list[Item], policy: Policy, counts: dict[str, Counts], guard: Guard, allow: bool) -> ConfirmPlan:
    """gone: due items a stat has just found still gone. No I/O."""
    deletes = [item for item in gone if policy.deletes_in_kazoo(item)]
    reuploads = [item for item in gone if not policy.deletes_in_kazoo(item)]
    return ConfirmPlan(reuploads, plan_guard(deletes, counts, guard, allow))


@dataclass(frozen=True)
class Policy:
    grace: float = 60.0
    # pvt_types for which a vanished object deletes the document in Kazoo
    delete_in_kazoo: frozenset[str] = frozenset({"mailbox_message"})
    # pvt_type -> "trash" | "delete": what a delete in Kazoo does to the object (default: keep it)
    on_kazoo_delete: dict[str, str] = field(default_factory=dict)

    def deletes_in_kazoo(self, item: Item) -> bool:
        return item.pvt_type in self.delete_in_kazoo


def decide(item: Item, listed: tuple[Any, ...] | None, now: float, grace: float) -> Act:
    """One tracked item against its listed object (key, size, etag, md5) or None."""
    if listed is None:
        if item.missing_since is None:
            return Act.NOTE_MISSING
        if now - item.missing_since < grace:
            return Act.WAIT
        return Act.CONFIRM_MISSING
    if _changed(item, listed):
        return Act.REUPLOAD_CHANGED
    return Act.FOUND_AGAIN if item.missing_since is not None else Act.KEEP


def _changed(item: Item, listed: tuple[Any, ...]) -> bool:
    _key, size, etag, md5 = listed
    if item.status != ItemStatus.SYNCED:  # Kazoo's own copy: syncd recorded no checksum to compare
        return False
    if item.length and size != item.length:
        return True
    if item.md5 and md5:
        return bool(md5 != item.md5)
    return bool(item.etag and etag and etag != item.etag)


@dataclass(frozen=True)
class Guard:
    """Mass-delete guard per account (and per run), as rclone's --max-delete.

    An account is held when, within `window` seconds, the deletes already done
    plus those planned (or the objects seen missing, whichever is more) exceed
    `max_count`, or exceed `max_share` of the account's tracked items once at
    least `share_from` are involved (so deleting 1 of 2 voicemails is fine).
    """

    max_count: int = 20
    max_share: float = 0.5
    share_from: int = 3
    max_per_run: int = 100
    window: float = 3600.0

    def check_account(self, account_id: str, planned: int, tracked: int, missing: int, recent: int) -> str | None:
        """None when the account's deletes may go ahead, else why not."""
        involved = max(planned, missing) + recent
        base = tracked + recent
        if involved > self.max_count:
            return f"{involved} deletes for account {account_id} within {self.window:g} s (limit {self.max_count})"
        if involved >= self.share_from and base and involved / base > self.max_share:
            return (
                f"{involved} of {base} tracked objects of account {account_id} would be deleted "
                f"({involved / base:.0%}, limit {self.max_share:.0%})"
            )
        return None

    def check_run(self, planned_total: int) -> str | None:
        if planned_total > self.max_per_run:
            return f"{planned_total} deletes planned in one run (limit {self.max_per_run})"
        return None


def proceed_command(account_id: str) -> str:
    """What the operator runs to let held deletes through."""
    return f"syncd reconcile --account {account_id} --allow-deletes"
