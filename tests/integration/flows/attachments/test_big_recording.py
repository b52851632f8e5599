"""A 200 MB call recording written into real CouchDB as Kazoo writes it (the doc,
then a standalone attachment PUT) arrives in S3 byte-identical, streamed: the
daemon's peak RSS, sampled while it works, stays under 120 MB."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from bench.measure import hwm_kb
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.naming import object_name
from tests.conftest import ROOT, s3_client, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, S3Server

pytestmark = [
    pytest.mark.couchdb,
    pytest.mark.s3,
    pytest.mark.slow,
    pytest.mark.only_on("couchdb", reason="pouchdb-server 4.2 aborts on attachments of about 110 MB"),
]
SIZE = 200 << 20
RSS_LIMIT_MB = 120


def _random_file(path: Path, size: int) -> str:
    md5 = hashlib.md5()
    with path.open("wb") as f:
        for _ in range(size >> 20):
            chunk = os.urandom(1 << 20)
            md5.update(chunk)
            f.write(chunk)
    return md5.hexdigest()


def test_a_200_mb_recording_streams_to_s3_md5_identical_in_bounded_memory(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    audio = tmp_path / "recording.mp3"
    expected = _random_file(audio, SIZE)
    recording = kd.call_recording(account_id, b"", *kd.now_month())
    name = recording.pop("_attachments").popitem()[0]
    couch.save(modb, recording)
    with audio.open("rb") as body:  # streamed from disk, as Kazoo streams the recording it made
        answer = requests.put(
            f"{couch_server.auth_url}/{quote(modb, safe='')}/{recording['_id']}/{quote(name)}",
            params={"rev": recording["_rev"]},
            data=body,
            headers={"Content-Type": "audio/mpeg"},
            timeout=600,
        )
    assert answer.status_code == 201, answer.text
    audio.unlink()
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,), extra='[two_way]\nreconcile_cron = ""\n'
    )
    key = object_name("s3", {}, modb, {**recording, "_attachments": {}}, name)
    client = s3_client(s3_server.url)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    peak_kb, deadline = 0, time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            peak_kb = max(peak_kb, hwm_kb(daemon.pid))
            if client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"):
                break
            time.sleep(0.1)
        peak_kb = max(peak_kb, hwm_kb(daemon.pid))
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err[-3000:]
    md5 = hashlib.md5()
    for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
        md5.update(chunk)
    assert md5.hexdigest() == expected
    assert peak_kb / 1024 < RSS_LIMIT_MB, f"daemon peak RSS {peak_kb / 1024:.0f} MB"
