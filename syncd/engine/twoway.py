"""Backend -> Kazoo: notice objects that vanished and, safely, delete their documents.

Three steps, each callable on its own:
- `scan(target)`: a full listing streamed into the state DB and compared with
  the tracked items: plan.plan_scan decides, without I/O, what the comparison
  means (first sightings of missing objects, objects back, changed objects),
  then the plan is applied (a dry run only reports it);
- `hint(key)`: an event (SQS, watchdog) says an object may be gone: HEAD it and,
  if it is, record the first sighting;
- `confirm()`: items first seen missing a grace period ago are HEADed again;
  those still gone pass the marker check and the mass-delete guard, then become
  Kazoo soft deletes (or re-uploads where the policy keeps Kazoo's copy).
With dry_run, nothing is written anywhere: the plan is only reported.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from syncd.backends.base import Backend
from syncd.backends.names import put_new
from syncd.engine.abc import BackendResolver, KazooSide
from syncd.engine.plan import (
    Act,
    Counts,
    Guard,
    GuardPlan,
    Policy,
    ScanPlan,
    plan_confirm,
    plan_guard,
    plan_scan,
    proceed_command,
)
from syncd.engine.report import PlanLine, Report
from syncd.errors import KeyTaken, NotFound, StateError, StorageError, SyncdError, describe
from syncd.state import Item, ItemStatus, State

__all__ = ["MARKER", "TRASH", "PlanLine", "Report", "TwoWay"]

log = logging.getLogger("syncd.twoway")

MARKER = ".syncd-marker"
TRASH = ".syncd-trash/"


class TwoWay:
    def __init__(
        self,
        state: State,
        backends: BackendResolver,
        kazoo: KazooSide[Any],
        policy: Policy,
        guard: Guard,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """clock: the one time source of every two-way decision (grace periods, the guard's
        window, sightings), so a test can move time instead of waiting."""
        self.state, self.backends, self.kazoo = state, backends, kazoo
        self.policy, self.guard, self.dry_run, self.clock = policy, guard, dry_run, clock
        self._proven: dict[str, Backend | None] = {}  # target -> backend whose marker this pass checked
        self.progress = progress or (lambda _n: None)

    # -- detection ---------------------------------------------------------
    def scan(self, target: str, report: Report, account_id: str | None = None) -> None:
        """List target fully and compare with what syncd tracks there."""
        backend = self.backend(target, report)
        if backend is None:
            return
        try:
            _, objects = self.state.listings.store_listing(target, backend.list())
        except SyncdError as exc:
            self.refuse(
                report,
                target,
                f"listing {backend.describe()} failed ({exc}); nothing is treated as deleted until a listing succeeds",
            )
            return
        rows = self.state.listings.compare_listing(target, account_id)
        now = self.clock()
        plan = plan_scan(self._ticking(rows), now, self.policy.grace)  # no I/O: decided, then applied
        self._report_scan(plan, report)
        for item in plan.items(Act.REUPLOAD_CHANGED):
            self._reupload_changed(backend, item, report)
        if objects == 0 and plan.tracked:
            self.refuse(
                report,
                target,
                f"{backend.describe()} listed no objects at all while syncd tracks "
                "objects there: wrong bucket or folder, or not mounted; no deletes",
            )
            return
        refusal = self.location_refusal(target, backend, plan.present)
        if refusal:
            self.refuse(report, target, refusal)
            return
        if not self.dry_run:
            self.state.listings.mark_missing([i.id for i in plan.items(Act.NOTE_MISSING)], now)
            self.state.listings.clear_missing([i.id for i in plan.items(Act.FOUND_AGAIN)])
            self.state.listings.note_target(target, backend.describe(), scanned_objects=objects)
            self.state.problems.clear(f"target:{target}")

    def _ticking(self, rows: Iterable[tuple[Item, Any]]) -> Iterator[tuple[Item, Any]]:
        for row in rows:
            self.progress(1)
            yield row

    @staticmethod
    def _report_scan(plan: ScanPlan, report: Report) -> None:
        for act, item in plan.acts:
            if act is Act.NOTE_MISSING:
                report.add("missing", item, "not in the listing (first sighting)")
            elif act in (Act.WAIT, Act.CONFIRM_MISSING):
                report.add("still-missing", item, "still not in the listing", keep_line=False)

    def hint(self, target: str | None, key: str) -> bool:
        """An event says key may be gone; True when a HEAD confirms it is (first sighting)."""
        noted = False
        for item in self.state.listings.items_at(key):
            if target is None or item.target == target:
                noted |= self.look(item)
        return noted

    def look(self, item: Item) -> bool:
        """Stat an object an event named: a first sighting when gone (True), cleared when back."""
        try:
            self.backends.backend_for(item).stat(item.object_key)
        except NotFound:
            if not self.dry_run:
                self.state.listings.mark_missing([item.id], self.clock())
            log.info("object reported gone, confirmed by a stat; waiting out the grace period %s", _where(item))
            return True
        except SyncdError as exc:
            log.warning("cannot check an object an event reported gone (%s) %s", exc, _where(item))
            return False
        if item.missing_since is not None and not self.dry_run:
            self.state.listings.clear_missing([item.id])
            log.info("object is back before its grace period ended; nothing will be deleted %s", _where(item))
        return False

    # -- acting ------------------------------------------------------------
    def confirm(
        self, report: Report, allow_deletes: bool = False, account_id: str | None = None, target: str | None = None
    ) -> None:
        """Second sightings: HEAD each due item (I/O), plan what the ones still gone become
        (plan.plan_confirm: the policy and the guard, no I/O), then apply the plan."""
        gone: list[Item] = []
        for item in self.state.listings.due_missing(self.clock() - self.policy.grace, 100_000, target):
            if account_id and item.account_id != account_id:
                continue
            if self._contained(item, report, partial(self._still_gone, item, report)):
                gone.append(item)
        deletes = [i for i in gone if self.policy.deletes_in_kazoo(i)]
        plan = plan_confirm(gone, self.policy, self._counts(deletes), self.guard, allow_deletes)
        for item in plan.reuploads:
            self._contained(item, report, partial(self._restore, item, report))
        for item in self._apply_guard(plan.guard, {i.account_id for i in deletes}, report):
            self._contained(item, report, partial(self._soft_delete_in_kazoo, item, report))

    @staticmethod
    def _contained(item: Item, report: Report, step: Callable[[], Any]) -> Any:
        """One item's unexpected error skips that item (nothing is deleted for it); the others go on."""
        try:
            return step()
        except StateError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bulkhead per item
            report.add("skipped", item, f"{describe(exc)}; tried again later")
            log.warning("two-way step failed, skipped: %s %s", describe(exc), _where(item))
            return None

    def _still_gone(self, item: Item, report: Report) -> bool:
        backend = self.proven_backend(item.target, report)
        if backend is None:
            return False
        try:
            backend.stat(item.object_key)
        except NotFound:
            return True
        except SyncdError as exc:
            report.add("skipped", item, f"cannot stat the object now ({exc}); tried again later")
            return False
        if not self.dry_run:
            self.state.listings.clear_missing([item.id])
        report.add("found-again", item, "the object is back", keep_line=False)
        return False

    def guarded(self, deletes: list[Item], report: Report, allow: bool) -> list[Item]:
        """The deletes the mass-delete guard lets through; the accounts it holds are held."""
        plan = plan_guard(deletes, self._counts(deletes), self.guard, allow)
        return self._apply_guard(plan, {i.account_id for i in deletes}, report)

    def _counts(self, deletes: list[Item]) -> dict[str, Counts]:
        since = self.clock() - self.guard.window
        return {a: self.state.holds.account_counts(a, since) for a in {i.account_id for i in deletes}}

    def _apply_guard(self, plan: GuardPlan, accounts: set[str], report: Report) -> list[Item]:
        for account in sorted(accounts - set(plan.held)):
            self._release(account)
        for account, (why, items) in plan.held.items():
            self._hold(account, why, len(items), report)
            for item in items:
                report.add("held", item, why, keep_line=False)
        return plan.cleared

    def guard_account(
        self, account: str, planned: int, report: Any, allow: bool, run_trip: str | None = None, more: int = 0
    ) -> str | None:
        """None when `planned` removals from account may go ahead (and any hold is released); else
        why not, with the account held, audited and reported as every held delete is. more: what
        the account holds besides its tracked items (a playlist's files), for the guard's share."""
        tracked, missing, recent = self.state.holds.account_counts(account, self.clock() - self.guard.window)
        why = run_trip or (
            None if allow else self.guard.check_account(account, planned, tracked + more, missing, recent)
        )
        if why is None:
            self._release(account)
        else:
            self._hold(account, why, planned, report)
        return why

    def _release(self, account: str) -> None:
        if not self.dry_run and self.state.holds.release(account):
            log.info("deletes for account %s no longer held", account)

    def _hold(self, account: str, why: str, planned: int, report: Any) -> None:
        message = (
            f"deletes held: {why}. Nothing was deleted; uploads continue. If these objects "
            f"were removed on purpose, run: {proceed_command(account)}"
        )
        report.held[account] = message
        if not self.dry_run and self.state.holds.hold(account, message, planned):
            self.state.audit.event("held", f"{planned} delete(s) held: {message}", account_id=account)
            log.error("account=%s %s", account, message)

    def _soft_delete_in_kazoo(self, item: Item, report: Report) -> None:
        why = (
            f"object {item.object_key!r} gone from {item.target} (first missing "
            f"{_ago(item.missing_since, self.clock())}, confirmed by a stat after the grace period)"
        )
        try:
            check = self.kazoo.inspect(item)
            if check.ok and not self.dry_run:
                check = self.kazoo.apply(item, check)
        except SyncdError as exc:
            report.add("skipped", item, f"Kazoo unreachable ({exc}); tried again later")
            return
        if check.already_deleted:
            if not self.dry_run:
                self.state.work.forget(item.id, f"{why}; the doc was already deleted in Kazoo")
            report.add("forget", item, "already deleted in Kazoo")
        elif not check.ok:
            if not self.dry_run:
                self.state.audit.refusal(item, "kazoo", f"{why}; not deleted: {check.reason}")
                self.state.listings.clear_missing([item.id])
            report.add("refused", item, check.reason)
            log.warning("not deleting in Kazoo: %s %s", check.reason, _where(item))
        else:
            if not self.dry_run:
                self.state.audit.record_delete(item, "kazoo", "soft-delete", f"{why}; {check.reason}")
                log.warning("deleted in Kazoo (soft): %s %s", why, _where(item))
            report.add("delete-in-kazoo", item, why)

    def _restore(self, item: Item, report: Report) -> None:
        if item.status != ItemStatus.SYNCED:  # Kazoo's own offloaded copy: CouchDB has no bytes to restore from
            report.add(
                "lost",
                item,
                "Kazoo's only copy is gone from storage and this type's policy "
                "keeps Kazoo documents; restore the object from a backup",
            )
            return
        if not self.dry_run:
            self.state.work.requeue(item.id, "object vanished from the backend; uploading it again")
        report.add("reupload", item, "object gone from the backend; Kazoo keeps this type, upload again")

    def _reupload_changed(self, backend: Backend, item: Item, report: Report) -> None:
        """Keep the changed object aside in the trash prefix, then upload Kazoo's version again."""
        if self.dry_run:
            report.add("reupload-changed", item, "object differs from what syncd stored")
            return
        wanted = f"{TRASH}changed-{int(self.clock())}/{item.object_key}"
        try:
            info = backend.stat(item.object_key)
            aside = put_new(  # never over another object (the same key kept aside twice in a second)
                backend,
                wanted,
                lambda: backend.get(item.object_key),
                length=info.size,
                content_type="application/octet-stream",
            ).key
        except NotFound:
            pass  # gone meanwhile: nothing to keep aside
        except StorageError as exc:
            report.add("skipped", item, f"cannot keep the changed object aside ({exc}); not replaced")
            return
        self.state.work.requeue(item.id, f"object changed behind syncd's back; kept aside as {aside!r}")
        report.add("reupload-changed", item, f"object differs; kept aside as {aside!r}")

    # -- helpers -------------------------------------------------------------
    def backend(self, target: str, report: Report) -> Backend | None:
        """The target's backend, resolved through one of its items (a deleted doc may not route: try a few)."""
        problem = None
        for item in self.state.listings.sample_items(target, 10):
            try:
                return self.backends.backend_for(item)
            except SyncdError as exc:
                problem = exc
        if problem is not None:
            self.refuse(report, target, str(problem))
        return None

    def proven_backend(self, target: str, report: Report) -> Backend | None:
        """The target's backend if its marker is in place, else None (refused once per pass).

        Resolved and checked once per TwoWay (one pass), not once per item.
        """
        if target not in self._proven:
            backend = self.backend(target, report)
            refusal = backend and self.location_refusal(target, backend, tracked_present=None)
            if refusal:
                self.refuse(report, target, refusal)
            self._proven[target] = None if refusal else backend
        return self._proven[target]

    def location_refusal(self, target: str, backend: Backend, tracked_present: int | None) -> str | None:
        """None when the marker proves this is the right, reachable place; else why not.

        The marker is written the first time a listing shows syncd's objects there;
        once written, it must stay: a missing marker means wrong place or not mounted.
        """
        try:
            backend.stat(MARKER)
            return None
        except NotFound:
            pass
        except SyncdError as exc:
            return f"cannot check the marker {MARKER!r} on {backend.describe()}: {exc}"
        known = self.state.listings.target_info(target) or {}
        if known.get("marker_at"):
            return (
                f"the marker {MARKER!r} syncd wrote to {backend.describe()} is gone: wrong bucket or folder, "
                f"or not mounted. No deletes until it is back; if this is the right place, put a file "
                f"named {MARKER} at its top level"
            )
        if not tracked_present:
            return f"no marker {MARKER!r} on {backend.describe()} and none of syncd's objects seen there yet"
        if not self.dry_run:
            body = f"syncd marker for {target}; syncd deletes nothing here while this file is missing\n".encode()
            try:
                backend.put(MARKER, io.BytesIO(body), length=len(body), content_type="text/plain", if_absent=True)
            except KeyTaken:
                pass  # written meanwhile (by a second syncd, or a person): there is one, which is what counts
            self.state.listings.note_target(target, backend.describe(), marker=True)
            log.info("wrote the location marker %s to %s", MARKER, backend.describe())
        return None

    def refuse(self, report: Report, target: str, why: str) -> None:
        report.refused[target] = why
        if not self.dry_run and self.state.problems.set(f"target:{target}", why):
            self.state.audit.event("refused", f"no deletes for this target: {why}", target=target)
            log.error("target %s: %s", target, why)


def _ago(when: float | None, now: float) -> str:
    return "?" if when is None else f"{max(0, int(now - when))} s ago"


def _where(item: Item) -> str:
    return (
        f"account={item.account_id} db={item.db} doc={item.doc_id} attachment={item.attachment!r} "
        f"target={item.target} key={item.object_key!r}"
    )
