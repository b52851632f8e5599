"""kill -9 at random moments while a 1,500-voicemail backlog uploads: every object
is written exactly once. The bucket keeps versions, so a second write of a key
shows up as a second version (README: "a kill -9 ... duplicates nothing")."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from syncd.kazoo.couch import CouchClient
from tests.conftest import ROOT, s3_client, write_config
from tests.support import kazoo_data as kd
from tests.support.daemons import wait_for
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3, pytest.mark.slow]
BACKLOG = 1500
KILLS = 4


def _keys(s3_server: S3Server, bucket: str) -> int:
    client = s3_client(s3_server.url)
    return sum(page.get("KeyCount", 0) for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket))


def _versions(s3_server: S3Server, bucket: str) -> tuple[Counter[str], int]:
    writes: Counter[str] = Counter()
    markers = 0
    for page in s3_client(s3_server.url).get_paginator("list_object_versions").paginate(Bucket=bucket):
        writes.update(v["Key"] for v in page.get("Versions", []))
        markers += len(page.get("DeleteMarkers", []))
    return writes, markers


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.DEVNULL
    )


def test_kill_9_during_a_backlog_writes_every_object_exactly_once(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    s3_client(s3_server.url).put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    box = kd.new_id()
    docs = [kd.mailbox_message(account_id, box, kd.fake_mp3(1024, str(i)), *kd.now_month()) for i in range(BACKLOG)]
    answer = requests.post(
        f"{couch_server.auth_url}/{quote(modb, safe='')}/_bulk_docs", json={"docs": docs}, timeout=120
    )
    assert answer.status_code == 201, answer.text
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,), extra='[two_way]\nreconcile_cron = ""\n'
    )
    rng = random.Random()
    seen_at_kills = []
    for _ in range(KILLS):
        before = _keys(s3_server, bucket)
        proc = _start(config)
        try:
            wait_for(lambda before=before: _keys(s3_server, bucket) > before, 60, "uploads to resume")
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        seen_at_kills.append(_keys(s3_server, bucket))
    assert all(0 < n < BACKLOG for n in seen_at_kills), seen_at_kills  # every kill landed mid-backlog
    proc = _start(config)
    try:
        wait_for(lambda: _keys(s3_server, bucket) == BACKLOG, 180, "the whole backlog")
        time.sleep(1)  # anything still in flight would show as a second version
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    writes, markers = _versions(s3_server, bucket)
    twice = {key: n for key, n in writes.items() if n > 1}
    assert len(writes) == BACKLOG and not twice and markers == 0, (len(writes), twice, seen_at_kills)
