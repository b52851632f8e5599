"""How a reconcile plan and its summary look on a terminal and as JSON."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from syncd.engine.twoway import Report
from syncd.flows.media.flow import INDEXED  # not an action: what the rebuilt referrer index holds

# Summary rows, in the order an operator reads them.
ACTIONS = (
    "upload",
    "reupload",
    "reupload-changed",
    "missing",
    "still-missing",
    "delete-in-kazoo",
    "trash-object",
    "delete-object",
    "kazoo-deleted",
    "forget",
    "held",
    "refused",
    "lost",
    "skipped",
)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[int], object]]:
    """A tqdm counter on stderr when it is a terminal; a no-op otherwise (journald, pipes)."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda _n: None
        return
    from tqdm import tqdm

    with tqdm(desc="reconcile", unit=" items", file=sys.stderr, leave=False) as bar:
        yield bar.update


def print_report(report: Report, dry_run: bool, out: Callable[[str], None]) -> None:
    verb = "would" if dry_run else "did"
    if report.lines:
        out(f"{'ACTION':17}  {'ACCOUNT':32}  {'DOC':40}  OBJECT / REASON")
    for line in report.lines:
        item = line.item
        out(f"{line.action:17}  {item.account_id:32}  {item.doc_id:40}  {item.object_key!r} on {item.target}")
        out(f"{'':17}  {line.reason}")
    out("")
    out(f"summary ({'dry run: nothing changed' if dry_run else 'applied'}):")
    done = [*ACTIONS, *sorted(k for k in report.counts if k not in ACTIONS and k != INDEXED)]  # the flows' own
    for action in done:
        if report.counts.get(action):
            out(f"  {action:17} {report.counts[action]:8}")
    if not any(report.counts.get(a) for a in done):
        out("  nothing to do: Kazoo, storage and state agree")
    if INDEXED in report.counts:
        out(f"  {INDEXED}: {report.counts[INDEXED]} (the referrer index, read again from the account databases)")
    for target, (count, keys) in report.orphans.items():
        out(
            f"orphans on {target}: {count} object(s) syncd does not track (reported, never deleted), e.g. "
            + ", ".join(repr(k) for k in keys[:5])
        )
    for scope, why in report.refused.items():
        out(f"REFUSED {scope}: {why}")
    for account, message in report.held.items():
        out(f"HELD account {account}: {message}")
    if report.held or report.refused:
        out(f"syncd {verb} not delete anything where a hold or refusal is shown above.")


def as_json(report: Report, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "summary": {a: report.counts[a] for a in ACTIONS if report.counts.get(a)},
        "actions": [
            {
                "action": ln.action,
                "account_id": ln.item.account_id,
                "db": ln.item.db,
                "doc_id": ln.item.doc_id,
                "attachment": ln.item.attachment,
                "target": ln.item.target,
                "object_key": ln.item.object_key,
                "reason": ln.reason,
            }
            for ln in report.lines
        ],
        "orphans": {t: {"count": c, "examples": k} for t, (c, k) in report.orphans.items()},
        "refused": report.refused,
        "held": report.held,
    }
