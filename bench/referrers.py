"""Referrer benchmark: what one media delete costs CouchDB, reading every doc of the account
(before: the scan syncd did until the referrer index) vs asking the index (after), same run.

    .venv/bin/python bench/referrers.py [--docs 20000] [--deletes 200] [--couchdb real|pouchdb|URL]

Seeds one account database with --docs docs (users, devices, callflows, menus; a few of them
naming media that stay) and --deletes + 10 media docs, then soft-deletes --deletes media the
way a media library does (MediaDeleter.inspect, then .apply: each asks who names the media),
first without the index, then with it (its one-time build from the changes feed is measured
apart). Reported per delete: wall time, CPU seconds of this process and of CouchDB, and
CouchDB's own request count (its /_node/_local/_stats httpd requests counter; real CouchDB
only: pouchdb-server has no stats, so there the count is the HTTP requests this process sent).
The ratio the issue asks for is requests per delete, after / before: it must not grow with --docs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import couch_for_bench, tree_cpu_s  # noqa: E402
from syncd.kazoo import dbnames  # noqa: E402
from syncd.kazoo.couch import CouchClient  # noqa: E402
from syncd.kazoo.media import KazooMedia, media_doc  # noqa: E402
from syncd.kazoo.media_deletes import MediaDeleter  # noqa: E402
from syncd.kazoo.referrers import ReferrerIndex  # noqa: E402
from syncd.state import Item, State  # noqa: E402
from tests.support import kazoo_data as kd  # noqa: E402

KINDS = ("user", "device", "callflow", "menu")


class Counted:
    """CouchDB's request count: the server's own counter (real CouchDB's stats), else the HTTP
    requests CouchDB-Python sent from this process (pouchdb-server keeps no stats)."""

    STATS = "/_node/_local/_stats/couchdb/httpd/requests"

    def __init__(self, auth_url: str) -> None:
        self.auth_url, self.sent = auth_url, 0
        self.server_side = requests.get(auth_url + self.STATS, timeout=10).ok
        if not self.server_side:
            import couchdb.http

            raw = couchdb.http.Session.request

            def counting(session: Any, *args: Any, **kwargs: Any) -> Any:
                self.sent += 1
                return raw(session, *args, **kwargs)

            couchdb.http.Session.request = counting  # type: ignore[method-assign]

    def now(self) -> int:
        if not self.server_side:
            return self.sent
        stats = requests.get(self.auth_url + self.STATS, timeout=10).json()
        return int(stats["value"])


def seed(url: str, account_id: str, docs: int, deletes: int) -> list[str]:
    db = dbnames.account_db(account_id)
    quoted = requests.utils.quote(db, safe="")
    media_ids = [kd.new_id() for _ in range(deletes + 10)]
    kept = media_ids[deletes:]  # named by some docs: never deleted
    batch: list[dict[str, Any]] = [
        {
            **media_doc(account_id, m, {"name": f"m{i}", "description": f"m{i}.wav"}),
            "_attachments": kd.inline("a.wav", b"RIFF" + bytes(60), "audio/wav"),
        }
        for i, m in enumerate(media_ids)
    ]
    for i in range(docs):
        kind = KINDS[i % len(KINDS)]
        doc: dict[str, Any] = {"_id": kd.new_id(), "pvt_type": kind, "name": f"{kind} {i}", "owner_id": kd.new_id()}
        if kind == "callflow":
            doc["flow"] = {"module": "user", "data": {"id": kd.new_id()}, "children": {}}
        if i % 500 == 0:
            doc["music_on_hold"] = {"media_id": kept[i % len(kept)]}
        batch.append(doc)
    session = requests.Session()
    for start in range(0, len(batch), 2000):
        answer = session.post(f"{url}/{quoted}/_bulk_docs", json={"docs": batch[start : start + 2000]}, timeout=600)
        answer.raise_for_status()
    return media_ids[:deletes]


def item(account_id: str, media_id: str, n: int) -> Item:
    return Item(
        db=dbnames.account_db(account_id),
        doc_id=media_id,
        attachment="a.wav",
        target="media:bench",
        object_key=f"m{n}.wav",
        digest=None,
        length=0,
        content_type="audio/wav",
        account_id=account_id,
        pvt_type="media",
        id=n,
        may_exist=False,
        status="synced",
        attempts=0,
    )


def deletes(deleter: MediaDeleter, account_id: str, media_ids: list[str], offset: int) -> None:
    for n, media_id in enumerate(media_ids):
        found = item(account_id, media_id, offset + n)
        check = deleter.inspect(found)
        if not check.ok:
            raise SystemExit(f"media {media_id} was refused: {check.reason}")
        done = deleter.apply(found, check)
        if not done.ok:
            raise SystemExit(f"media {media_id} was not deleted: {done.reason}")


def measured(what: str, counted: Counted, server_pid: int | None, fn: Any, per: int) -> dict[str, float]:
    requests_before, cpu_before, server_before = counted.now(), time.process_time(), tree_cpu_s(server_pid)
    start = time.monotonic()
    fn()
    wall = time.monotonic() - start
    cpu, server = time.process_time() - cpu_before, tree_cpu_s(server_pid) - server_before
    sent = counted.now() - requests_before - (1 if counted.server_side else 0)  # the stats read itself
    row = {"wall": wall / per, "cpu": cpu / per, "server_cpu": server / per, "requests": sent / per}
    print(
        f"{what:34} {per:6} x  {row['wall'] * 1000:9.2f} ms  {row['cpu'] * 1000:8.2f} ms CPU  "
        f"{row['server_cpu'] * 1000:8.2f} ms CouchDB CPU  {row['requests']:9.2f} requests",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--deletes", type=int, default=200)
    parser.add_argument("--couchdb", default="real", help="real (../shared/couchdb), pouchdb, or a URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-refs-") as tmp:
        work = Path(tmp)
        server = couch_for_bench(args.couchdb, work)
        try:
            run(server, work, args.docs, args.deletes)
        finally:
            server.stop()


def run(server: Any, work: Path, docs: int, count: int) -> None:
    couch = CouchClient(server.auth_url)
    account_id = kd.new_id()
    kd.seed_account(couch, account_id)
    half = count // 2 or 1
    targets = seed(server.auth_url, account_id, docs, half * 2)
    print(f"{server.version}: 1 account, {docs:,} docs, {half * 2} media deleted ({half} each way)", flush=True)
    counted = Counted(server.auth_url)
    pid = getattr(getattr(server, "proc", None), "pid", None)
    state = State(str(work / "state.sqlite3"), exclusive=True)
    try:
        state.feeds.add_database(dbnames.account_db(account_id), account_id)
        media = KazooMedia(couch)
        before = measured(
            "before: scan the account per delete",
            counted,
            pid,
            lambda: deletes(MediaDeleter(media), account_id, targets[:half], 0),
            half,
        )
        index = ReferrerIndex(couch, state)
        build = measured("referrer index, built once", counted, pid, index.build_missing, 1)
        after = measured(
            "after: ask the referrer index",
            counted,
            pid,
            lambda: deletes(MediaDeleter(media, index), account_id, targets[half:], half),
            half,
        )
    finally:
        state.close()
    print(
        f"\nrequests per delete: before {before['requests']:.2f}, after {after['requests']:.2f} "
        f"(ratio after/before {after['requests'] / before['requests']:.4f}); "
        f"time per delete: before {before['wall'] * 1000:.1f} ms, after {after['wall'] * 1000:.1f} ms "
        f"(ratio {after['wall'] / before['wall']:.4f}); the index's one-time build: "
        f"{build['requests']:.0f} requests, {build['wall']:.2f} s"
    )


if __name__ == "__main__":
    main()
