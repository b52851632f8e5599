"""`syncd reconcile` and the daemon's scheduled reconciliation: list both sides
fully, plan, and (unless dry_run) repair what events missed.

Kazoo side: every followed database through _all_docs, routed again by the
storage plans, so uploads that never happened are recorded, and rows whose doc
is gone or deleted are flagged. Backend side: every tracked target listed
(streamed into the state DB) and compared. Then second sightings of missing
objects are confirmed (waiting out the grace period when this run saw them
first), and Kazoo deletes are applied by policy. Orphan objects are reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

from syncd.engine.kazoo_to_backend import carry_kazoo_deletes_to_backends
from syncd.engine.twoway import MARKER, TRASH, PlanLine, Report, TwoWay
from syncd.errors import PlanError
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.routing import DocPlanner
from syncd.state import State
from syncd.state.items import as_item

log = logging.getLogger("syncd.flows.attachments.reconcile")

_PAGE = 500  # docs routed and compared with the state DB per query


class Reconciler:
    def __init__(self, state: State, couch: CouchClient, planner: DocPlanner, two_way: TwoWay) -> None:
        self.state, self.couch, self.planner, self.tw = state, couch, planner, two_way

    def run(
        self,
        account_id: str | None = None,
        allow_deletes: bool = False,
        stop: threading.Event | None = None,
        say: Callable[[str], None] = log.info,
    ) -> Report:
        report, scans = Report(), Report()
        # Both sides at once: CouchDB and the backends are different servers, and neither
        # pass reads what the other writes (new work is pending, scans compare synced rows).
        lister = threading.Thread(target=self._scan_all, args=(scans, account_id), name="reconcile-scan")
        lister.start()
        for db_name, owner in sorted(self.state.feeds.databases().items()):
            if not account_id or owner == account_id:
                self._kazoo_db(db_name, owner, report)
        lister.join()
        report.merge(scans)
        if report.counts.get("missing", 0) and not self.tw.dry_run:
            self._wait_grace(stop, say)
        self.tw.confirm(report, allow_deletes, account_id)
        carry_kazoo_deletes_to_backends(self.tw, report, allow_deletes, account_id)
        for target in self.state.listings.tracked_targets(account_id):
            count, keys = self.state.listings.orphans(target, (MARKER, TRASH))
            if count:
                report.orphans[target] = (count, keys)
        return report

    def _scan_all(self, report: Report, account_id: str | None) -> None:
        for target in self.state.listings.tracked_targets(account_id):
            self.tw.scan(target, report, account_id)

    def _kazoo_db(self, db_name: str, account_id: str, report: Report) -> None:
        """Route every doc of one database again; flag rows whose doc is gone."""
        alive: set[str] = set()  # doc ids of one database: bounded by its size, not the install's
        docs = iter(self.couch.all_docs(db_name))
        try:
            while page := list(islice(docs, _PAGE)):
                page = [doc for doc in page if not is_deleted(doc)]
                alive.update(str(doc["_id"]) for doc in page)
                self._route(db_name, page, report)
                self.tw.progress(len(page))
        except PlanError as exc:
            self.tw.refuse(report, f"account:{account_id}", str(exc))
            return
        gone = [d for d in self.state.work.doc_ids(db_name) if d not in alive]
        for doc_id in gone:
            for item in self.state.work.items_of_doc(db_name, doc_id):
                report.add("kazoo-deleted", item, "doc deleted in Kazoo")
        if not self.tw.dry_run and gone:
            self.state.work.record([], db_name, deleted_docs=gone)

    def _route(self, db_name: str, docs: list[dict[str, Any]], report: Report) -> None:
        """Items of these docs that syncd does not hold at this digest and key: new work."""
        routed = [item for doc in docs for item in self.planner.items(db_name, doc)]
        if not routed:
            return
        known = self.state.work.known_versions(routed[0].db, [str(doc["_id"]) for doc in docs])
        fresh = [
            item
            for item in routed
            if known.get((item.doc_id, item.attachment, item.target)) != (item.digest, item.object_key)
        ]
        if fresh and not self.tw.dry_run:
            self.state.work.record(fresh)
        for item in fresh:
            report.counts["upload"] += 1
            report.lines.append(PlanLine("upload", as_item(item), "in Kazoo, routed to this target, not stored yet"))

    def _wait_grace(self, stop: threading.Event | None, say: Callable[[str], None]) -> None:
        grace = self.tw.policy.grace
        say(f"objects missing for the first time: confirming them in {grace:g} s (grace period)")
        if stop is not None:
            stop.wait(grace)
        else:
            time.sleep(grace)
