"""Upload benchmark: syncd vs `rclone copy`, same bytes, same moto S3 server, same run.

    .venv/bin/python bench/upload.py [--couchdb pouchdb|real|URL] [--count 2000] [--size 65536]
                                     [--big-mb 200] [--latency-count 200] [--latency-rate 20]

Phases:
1. reference: the same files from a local folder to a fresh bucket with `rclone copy --transfers 8`;
2. backlog: N voicemails of SIZE bytes plus one BIG-MB recording in a Kazoo MODB, routed to S3
   by a storage plan; `syncd run` starts and the clock runs until syncd has verified every
   object (polled in its state DB, so the S3 server is not loaded by the measurement);
3. latency: with the daemon running, voicemails are written at a steady rate as Kazoo writes them
   (the doc, then a standalone attachment PUT) and the time from each attachment write to its
   object being listed in S3 is recorded.
Reports objects/s, MB/s, the ratio to rclone, p50/p95 latency and the daemon's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import couch_for_bench, hwm_kb, require_rclone, run_measured  # noqa: E402
from syncd.kazoo import dbnames  # noqa: E402
from syncd.kazoo.couch import CouchClient  # noqa: E402
from tests.conftest import s3_client, write_config  # noqa: E402
from tests.support import kazoo_data as kd  # noqa: E402
from tests.support.servers import S3Server  # noqa: E402


def listed_keys(client, bucket: str, prefix: str = "") -> set[str]:  # noqa: ANN001
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for p in pages for o in p.get("Contents", [])}


def rclone_reference(s3: S3Server, work: Path, count: int, size: int, big: int) -> tuple[float, int, str]:
    src = work / "rclone-src"
    src.mkdir()
    for i in range(count):
        (src / f"vm-{i}.mp3").write_bytes(kd.fake_mp3(size, f"r{i}"))
    with (src / "recording.mp3").open("wb") as f:
        for _ in range(big // (1 << 20)):
            f.write(os.urandom(1 << 20))
    s3_client(s3.url).create_bucket(Bucket="rclone-ref")
    conf = work / "rclone.conf"
    conf.write_text(
        f"[moto]\ntype = s3\nprovider = Other\nendpoint = {s3.url}\nforce_path_style = true\n"
        "access_key_id = x\nsecret_access_key = y\nregion = us-east-1\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    s3_cpu = cpu_seconds(s3.proc.pid)
    elapsed, rss_kb, done = run_measured(
        ["rclone", "--config", str(conf), "copy", "--transfers", "8", str(src), "moto:rclone-ref"], env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU only: maxrss would count the forked parent
    cpu = f"rclone {usage.ru_utime + usage.ru_stime:.1f}, S3 server {cpu_seconds(s3.proc.pid) - s3_cpu:.1f}"
    assert len(listed_keys(s3_client(s3.url), "rclone-ref")) == count + 1
    shutil.rmtree(src)
    return elapsed, rss_kb, cpu


def seed_backlog(
    couch: CouchClient, couch_url: str, account_id: str, modb: str, count: int, size: int, big: int, pouchdb: bool
) -> None:
    year, month = kd.now_month()
    for i in range(count):
        couch.save(modb, kd.mailbox_message(account_id, "box", kd.fake_mp3(size, f"b{i}"), year, month))
    rec = kd.call_recording(account_id, b"", year, month)
    name = rec.pop("_attachments").popitem()[0]
    couch.save(modb, rec)
    # Standalone PUT, as Kazoo stores audio. Sent with requests: pouchdb-server drops
    # the connection on CouchDB-Python's streamed upload of a body this size.
    url = f"{couch_url}/{quote(modb, safe='')}/{rec['_id']}/{quote(name)}"
    answer = requests.put(
        url, params={"rev": rec["_rev"]}, data=os.urandom(big), headers={"Content-Type": "audio/mpeg"}, timeout=1800
    )
    answer.raise_for_status()
    if pouchdb:  # pouchdb-server drops a doc's fields on an attachment PUT: write them back
        fresh = couch.get(modb, rec["_id"]) or {}
        rec["_rev"], rec["_attachments"] = fresh["_rev"], fresh["_attachments"]
        couch.save(modb, rec)


def wait_synced(state_path: Path, expected: int) -> None:
    while True:
        try:
            with sqlite3.connect(f"file:{state_path}?mode=ro", uri=True) as db:
                (synced,) = db.execute("SELECT count(*) FROM items WHERE status = 'synced'").fetchone()
        except sqlite3.OperationalError:  # not created yet
            synced = 0
        if synced >= expected:
            return
        time.sleep(0.1)


def couch_cpu_seconds(server) -> float:  # noqa: ANN001
    return cpu_seconds(server.proc.pid) if server.proc is not None else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def measure_latency(
    couch: CouchClient,
    couch_url: str,
    client: Any,
    bucket: str,
    account_id: str,
    modb: str,
    count: int,
    rate: float,
) -> list[float]:
    year, month = kd.now_month()
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() or not written.keys() <= seen.keys():
            now = time.monotonic()
            for key in listed_keys(client, bucket, prefix=dbnames.encode(modb)):
                seen.setdefault(key, now)
            time.sleep(0.05)
            if done.is_set() and time.monotonic() - last_write[0] > 30:
                return

    last_write = [time.monotonic()]
    watcher = threading.Thread(target=watch)
    before = listed_keys(client, bucket)
    for key in before:
        seen[key] = 0.0
    watcher.start()
    session = requests.Session()
    for i in range(count):
        tick = time.monotonic()
        doc = kd.mailbox_message(account_id, "box", b"", year, month)
        name = doc.pop("_attachments").popitem()[0]
        couch.save(modb, doc)  # as Kazoo: the doc first, then the audio in a standalone PUT
        answer = session.put(
            f"{couch_url}/{quote(modb, safe='')}/{doc['_id']}/{quote(name)}",
            params={"rev": doc["_rev"]},
            data=kd.fake_mp3(65536, f"l{i}"),
            headers={"Content-Type": "audio/mpeg"},
            timeout=60,
        )
        answer.raise_for_status()
        written[f"{dbnames.encode(modb)}/{doc['_id']}_{name}"] = last_write[0] = time.monotonic()
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - tick)))
    done.set()
    watcher.join()
    return [seen[k] - t for k, t in written.items() if k in seen]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--couchdb", default="real", help="pouchdb | real (shared/couchdb) | URL of your CouchDB")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    # pouchdb-server 4.2 aborts ("invalid table size", a V8 limit) on one attachment of
    # about 110 MB or more, so there the default big recording is the largest it stores.
    parser.add_argument("--big-mb", type=int, default=None, help="default 200 (100 on pouchdb)")
    parser.add_argument("--latency-count", type=int, default=200)
    parser.add_argument("--latency-rate", type=float, default=20.0, help="voicemails written per second")
    parser.add_argument("--profile", metavar="FILE", help="run the daemon under py-spy, write a flame summary")
    args = parser.parse_args()
    require_rclone()
    args.big_mb = args.big_mb or (100 if args.couchdb == "pouchdb" else 200)
    big = args.big_mb << 20
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    couch_server, s3 = couch_for_bench(args.couchdb, work), S3Server(work / "s3")
    daemon = None
    try:
        ref_s, ref_rss, ref_cpu = rclone_reference(s3, work, args.count, args.size, big)
        couch = CouchClient(couch_server.auth_url, timeout=900)  # pouchdb-server is slow on big bodies
        account_id = kd.new_id()
        modb = kd.seed_account(couch, account_id)
        s3_client(s3.url).create_bucket(Bucket="syncd-bench")
        couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket="syncd-bench", port=s3.port))
        seed_backlog(
            couch,
            couch_server.auth_url,
            account_id,
            modb,
            args.count,
            args.size,
            big,
            pouchdb=couch_server.kind == "pouchdb",
        )
        # latency is measured in an account of its own: its objects are listed by their prefix alone,
        # so the watcher does not page through the whole backlog's listing for every look
        lat_account = kd.new_id()
        lat_modb = kd.seed_account(couch, lat_account)
        couch.save("system_data", kd.s3_storage_doc(lat_account, kd.new_id(), bucket="syncd-bench", port=s3.port))
        config = write_config(work / "config.toml", couch_server.auth_url, accounts=(account_id, lat_account))
        config.write_text(config.read_text().replace("[log]", "") + '\n[log]\nlevel = "warning"\n')
        client = s3_client(s3.url)
        s3_cpu, couch_cpu = cpu_seconds(s3.proc.pid), couch_cpu_seconds(couch_server)
        start = time.monotonic()
        command = [sys.executable, "-m", "syncd", "-c", str(config), "run"]
        if args.profile:
            spy = str(Path(sys.executable).with_name("py-spy"))
            command = [spy, "record", "--format", "raw", "-o", args.profile, "--threads", "--", *command]
        daemon = subprocess.Popen(command, cwd=ROOT)
        # Poll syncd's own state DB (read-only, cheap) rather than listing the bucket, which
        # would load the shared S3 server while it is being measured; then confirm in S3.
        wait_synced(work / "state.sqlite3", args.count + 1)
        syncd_s = time.monotonic() - start
        syncd_cpu = (
            f"syncd {cpu_seconds(daemon.pid):.1f}, S3 server {cpu_seconds(s3.proc.pid) - s3_cpu:.1f}, "
            f"CouchDB server {couch_cpu_seconds(couch_server) - couch_cpu:.1f}"
        )
        assert len(listed_keys(client, "syncd-bench")) == args.count + 1, "state says synced, S3 disagrees"
        latencies = measure_latency(
            couch,
            couch_server.auth_url,
            client,
            "syncd-bench",
            lat_account,
            lat_modb,
            args.latency_count,
            args.latency_rate,
        )
        rss = hwm_kb(daemon.pid)
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGINT if args.profile else signal.SIGTERM)
            daemon.wait(60)
        couch_server.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    total_mb = (args.count * args.size + big) / (1 << 20)
    objects = args.count + 1
    q = statistics.quantiles(latencies, n=20)
    print(f"CouchDB API: {couch_server.version}")
    print(f"backlog: {args.count} x {args.size // 1024} KB + 1 x {args.big_mb} MB = {total_mb:.0f} MB")
    print(
        f"rclone copy --transfers 8: {ref_s:.2f} s, {objects / ref_s:.0f} objects/s, "
        f"{total_mb / ref_s:.1f} MB/s, peak RSS {ref_rss / 1024:.0f} MB"
    )
    print(
        f"syncd run (8 workers):     {syncd_s:.2f} s, {objects / syncd_s:.0f} objects/s, "
        f"{total_mb / syncd_s:.1f} MB/s, peak RSS {rss / 1024:.0f} MB"
    )
    print(f"CPU seconds during the copy: {ref_cpu} | {syncd_cpu}")
    print(f"throughput ratio syncd/rclone: {ref_s / syncd_s:.2f}x (target >= 1.0)")
    print(
        f"latency write->visible over {len(latencies)}/{args.latency_count} voicemails at "
        f"{args.latency_rate:g}/s: p50 {statistics.median(latencies):.2f} s, p95 {q[18]:.2f} s "
        "(target on real CouchDB <= 0.6 s)"
    )
    print(f"peak RSS target < 120 MB: {'met' if rss / 1024 < 120 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
