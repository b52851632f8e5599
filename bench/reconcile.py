"""Reconcile benchmark: `syncd reconcile` over N tracked items vs `rclone check`, same bucket, same run.

    .venv/bin/python bench/reconcile.py [--count 100000] [--size 1024]

Seeds, on one pouchdb-server and one moto S3 server:
- N voicemail docs in one MODB (bulk writes, a SIZE-byte attachment each), routed to S3 by a plan;
- the same N objects in S3 at Kazoo's keys, and a local folder with the same files (for rclone);
- syncd's state DB with the N items recorded as synced (as after the uploads).
Then times, on the same machine in the same run:
- `syncd reconcile --json` (lists CouchDB and S3 fully, compares with the state DB), peak RSS;
- `rclone check --checkers 8` of the local folder against the bucket (size + MD5), peak RSS.
Each tool runs --rounds times, in A B B A order, and the means are compared:
moto answers each listing page more slowly the more listings it has served.
Nothing differs, so both must report agreement: the measurement is the full comparison itself.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import couch_for_bench, require_rclone, run_measured  # noqa: E402
from syncd.kazoo.couch import CouchClient  # noqa: E402
from syncd.kazoo.naming import object_name  # noqa: E402
from syncd.kazoo.routing import s3_target  # noqa: E402
from syncd.state import NewItem, State  # noqa: E402
from tests.conftest import s3_client, write_config  # noqa: E402
from tests.support import kazoo_data as kd  # noqa: E402
from tests.support.servers import S3Server  # noqa: E402


def seed_couch(couch_url: str, modb: str, account_id: str, count: int, size: int) -> list[dict]:
    docs, year_month = [], kd.now_month()
    session = requests.Session()
    for start in range(0, count, 1000):
        batch = [
            kd.mailbox_message(account_id, "box", kd.fake_mp3(size, f"r{i}"), *year_month)
            for i in range(start, min(count, start + 1000))
        ]
        answer = session.post(
            f"{couch_url}/{requests.utils.quote(modb, safe='')}/_bulk_docs", json={"docs": batch}, timeout=600
        )
        answer.raise_for_status()
        docs += batch
    return docs


def seed_s3_and_folder(s3_url: str, bucket: str, folder: Path, modb: str, docs: list[dict]) -> list[tuple]:
    client = s3_client(s3_url)
    rows = []

    def put(doc: dict) -> tuple:
        ((name, att),) = doc["_attachments"].items()
        data = base64.b64decode(att["data"])
        key = object_name("s3", {}, modb, doc, name)
        etag = client.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return doc, name, key, data, etag

    with ThreadPoolExecutor(16) as pool:
        rows = list(pool.map(put, docs))
    return rows


def seed_state(state_path: Path, storage_doc: dict, modb: str, account_id: str, rows: list[tuple]) -> None:
    from syncd.kazoo.plans import Route

    handler_id, handler = next(iter(storage_doc["attachments"].items()))
    route = Route(handler_id, handler["handler"], handler["settings"], stub=False, storage_doc=account_id)
    target, _ = s3_target(route, "when_required")
    state = State(str(state_path))
    items = [
        NewItem(
            modb,
            doc["_id"],
            name,
            target,
            key,
            kd.couch_digest(data),
            len(data),
            "audio/mpeg",
            account_id,
            "mailbox_message",
        )
        for doc, name, key, data, _ in rows
    ]
    state.work.record(items)
    with state.db.tx() as db:  # as after the uploads: synced, with S3's etag and MD5
        db.executemany(
            "UPDATE items SET status = 'synced', etag = ?, md5 = ?, synced_at = ? WHERE db = ? AND doc_id = ?",
            [(etag, etag, time.time(), modb, doc["_id"]) for doc, *_, etag in rows],
        )
    state.feeds.add_database(modb, account_id)
    state.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--couchdb", default="real", help="pouchdb | real (shared/couchdb) | URL of your CouchDB")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each tool, in A B B A order (even)")
    parser.add_argument("--profile", metavar="FILE", help="run syncd reconcile under py-spy, write a flame summary")
    args = parser.parse_args()
    require_rclone()
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-rec-"))
    couch_server, s3 = couch_for_bench(args.couchdb, work), S3Server(work / "s3")
    try:
        couch = CouchClient(couch_server.auth_url, timeout=900)
        account_id = kd.new_id()
        modb = kd.seed_account(couch, account_id)
        bucket = "syncd-rec-bench"
        s3_client(s3.url).create_bucket(Bucket=bucket)
        storage = kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3.port)
        couch.save("system_data", storage)
        t0 = time.monotonic()
        docs = seed_couch(couch_server.auth_url, modb, account_id, args.count, args.size)
        rows = seed_s3_and_folder(s3.url, bucket, work / "folder", modb, docs)
        config = write_config(work / "config.toml", couch_server.auth_url, accounts=(account_id,))
        seed_state(work / "state.sqlite3", storage, modb, account_id, rows)
        print(f"seeded {args.count} docs, objects, files and state rows in {time.monotonic() - t0:.0f} s", flush=True)
        del docs, rows
        # follow from "now" as a running daemon would (its feed was read before)
        subprocess.run(
            [sys.executable, "-m", "syncd", "-c", str(config), "run", "--once"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        shutil.copy(work / "state.sqlite3", work / "state.seeded")
        conf = work / "rclone.conf"
        conf.write_text(
            f"[moto]\ntype = s3\nprovider = Other\nendpoint = {s3.url}\nforce_path_style = true\n"
            "access_key_id = x\nsecret_access_key = y\nregion = us-east-1\n"
        )
        runs = Runs(work, config, conf, bucket, args.profile)
        # A B B A: the S3 server slows as it serves more listings, so neither tool always goes first.
        for tool in ("syncd", "rclone", "rclone", "syncd") * max(1, args.rounds // 2):
            runs.run(tool)
    finally:
        couch_server.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"CouchDB API: {couch_server.version}")
    print(f"tracked items: {args.count} ({args.size} B each); syncd's plan: {runs.summary or 'nothing to do'}")
    syncd_s, syncd_rss = runs.mean("syncd")
    rclone_s, rclone_rss = runs.mean("rclone")
    print(
        f"syncd reconcile (CouchDB + S3 + state): mean {syncd_s:.1f} s {runs.times('syncd')}, peak RSS "
        f"{syncd_rss / 1024:.0f} MB (target < 200 MB: {'met' if syncd_rss / 1024 < 200 else 'MISSED'})"
    )
    print(
        f"rclone check (folder vs S3):            mean {rclone_s:.1f} s {runs.times('rclone')}, peak RSS "
        f"{rclone_rss / 1024:.0f} MB"
    )
    print(f"time ratio syncd/rclone: {syncd_s / rclone_s:.2f} (target <= 1.0)")
    return 0


class Runs:
    """Each tool's timed runs; every syncd run starts from the same seeded state DB."""

    def __init__(self, work: Path, config: Path, rclone_conf: Path, bucket: str, profile: str | None) -> None:
        self.work, self.config, self.rclone_conf, self.bucket, self.profile = work, config, rclone_conf, bucket, profile
        self.results: dict[str, list[tuple[float, int]]] = {"syncd": [], "rclone": []}
        self.summary: dict = {}

    def run(self, tool: str) -> None:
        seconds, rss = self._syncd() if tool == "syncd" else self._rclone()
        self.results[tool].append((seconds, rss))
        print(f"  {tool}: {seconds:.1f} s, peak RSS {rss / 1024:.0f} MB", flush=True)

    def _syncd(self) -> tuple[float, int]:
        shutil.copy(self.work / "state.seeded", self.work / "state.sqlite3")
        for suffix in ("-wal", "-shm"):
            (self.work / f"state.sqlite3{suffix}").unlink(missing_ok=True)
        command = [sys.executable, "-m", "syncd", "-c", str(self.config), "reconcile", "--json"]
        if self.profile:  # py-spy's own overhead then counts in the time: compare profiles, not figures
            spy = str(Path(sys.executable).with_name("py-spy"))
            command = [spy, "record", "--format", "raw", "-o", self.profile, "--threads", "--", *command]
        seconds, rss, result = run_measured(command, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-2000:]
        out = result.stdout[result.stdout.find("{") :]  # py-spy may print first
        self.summary = json.JSONDecoder().raw_decode(out)[0]["summary"]
        return seconds, rss

    def _rclone(self) -> tuple[float, int]:
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        seconds, rss, checked = run_measured(
            [
                "rclone",
                "--config",
                str(self.rclone_conf),
                "check",
                "--checkers",
                "8",
                "--exclude",
                ".syncd-*",
                str(self.work / "folder"),
                f"moto:{self.bucket}",
            ],
            env,
        )
        assert checked.returncode == 0, checked.stderr[-2000:]
        return seconds, rss

    def mean(self, tool: str) -> tuple[float, int]:
        runs = self.results[tool]
        return sum(s for s, _ in runs) / len(runs), max(r for _, r in runs)

    def times(self, tool: str) -> str:
        return "(" + ", ".join(f"{s:.1f}" for s, _ in self.results[tool]) + ")"


if __name__ == "__main__":
    sys.exit(main())
