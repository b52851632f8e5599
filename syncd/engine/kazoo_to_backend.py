"""Kazoo -> backend: a document deleted in Kazoo, and what happens to its object.

Opt-in per kind of document (Policy.on_kazoo_delete): "keep" (the default:
the row is forgotten, the object stays), "trash" (moved under the trash
prefix, so it can be restored), or "delete". The same safety as the other
direction: the location marker, the mass-delete guard, an audit line, and the
object must still be the one syncd stored (etag / MD5), or it is left alone.
"""

from __future__ import annotations

import logging
from functools import partial

from syncd.backends.names import put_new
from syncd.engine.twoway import TRASH, Report, TwoWay
from syncd.errors import NotFound, PreconditionFailed, SyncdError
from syncd.state import Item

log = logging.getLogger("syncd.twoway")


def carry_kazoo_deletes_to_backends(
    tw: TwoWay, report: Report, allow: bool = False, account_id: str | None = None
) -> None:
    flagged = [
        i for i in tw.state.listings.deleted_in_kazoo(limit=100_000) if not account_id or i.account_id == account_id
    ]
    acting = []
    for item in flagged:
        mode = tw.policy.on_kazoo_delete.get(item.pvt_type, "keep")
        if mode == "keep":
            if not tw.dry_run:
                tw.state.work.forget(item.id, "deleted in Kazoo; its object is kept (on_kazoo_delete = keep)")
            report.add("forget", item, "deleted in Kazoo; object kept by policy")
        else:
            acting.append(item)
    for item in tw.guarded(acting, report, allow):
        _remove_object(tw, item, tw.policy.on_kazoo_delete[item.pvt_type], report)


def _remove_object(tw: TwoWay, item: Item, mode: str, report: Report) -> None:
    backend = tw.proven_backend(item.target, report)
    if backend is None:
        return
    try:
        info = backend.stat(item.object_key)
    except NotFound:
        if not tw.dry_run:
            tw.state.work.forget(item.id, "deleted in Kazoo; its object was already gone")
        report.add("forget", item, "deleted in Kazoo; object already gone")
        return
    except SyncdError as exc:
        report.add("skipped", item, f"cannot stat the object ({exc}); tried again later")
        return
    if (item.md5 and info.md5 and info.md5 != item.md5) or (not item.md5 and item.etag and info.etag != item.etag):
        if not tw.dry_run:
            tw.state.audit.refusal(
                item, "backend", "deleted in Kazoo, but the object changed since syncd stored it; left in place"
            )
            tw.state.work.forget(item.id, "deleted in Kazoo; object changed behind syncd's back, left in place")
        report.add("refused", item, "object changed since syncd stored it; left in place")
        return
    action = "trash-object" if mode == "trash" else "delete-object"
    where = f"{TRASH}{item.object_key}" if mode == "trash" else None
    if tw.dry_run:
        report.add(action, item, f"deleted in Kazoo{f'; would move to {where!r}' if where else ''}")
        return
    try:
        if where:  # a free name: an earlier copy of the same key in the trash stays
            open_body = partial(backend.get, item.object_key)
            where = put_new(backend, where, open_body, length=info.size, content_type=item.content_type).key
        backend.delete(item.object_key, etag=info.etag)
    except PreconditionFailed:
        report.add("refused", item, "object changed while it was being removed; left in place")
        return
    except SyncdError as exc:
        report.add("skipped", item, f"cannot remove the object ({exc}); tried again later")
        return
    reason = "deleted in Kazoo" + (f"; moved to {where!r}" if where else "; object deleted (on_kazoo_delete = delete)")
    tw.state.audit.record_delete(item, "backend", action, reason)
    log.warning(
        "%s: %s account=%s db=%s doc=%s key=%r", action, reason, item.account_id, item.db, item.doc_id, item.object_key
    )
    report.add(action, item, reason)
