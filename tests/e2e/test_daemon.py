"""Crashes, outages, bad input and secrets, against real servers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import ROOT, run_syncd, s3_client, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, S3Server, free_port

pytestmark = [pytest.mark.couchdb, pytest.mark.s3, pytest.mark.slow]


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def count_objects(url: str, bucket: str) -> int:
    pages = s3_client(url).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(len(p.get("Contents", [])) for p in pages)


def seed_voicemails(couch: CouchClient, account_id: str, modb: str, count: int) -> dict[str, bytes]:
    year, month = kd.now_month()
    docs, payloads = [], {}
    for i in range(count):
        doc = kd.mailbox_message(account_id, "box", kd.fake_mp3(2048, f"{account_id}{i}"), year, month)
        docs.append(doc)
        (name,) = doc["_attachments"]
        payloads[f"{dbnames.encode(modb)}/{doc['_id']}_{name}"] = kd.fake_mp3(2048, f"{account_id}{i}")
    for doc in docs:
        kd.write_as_kazoo(couch, modb, doc)
    return payloads


def status(config: Path) -> dict:
    return json.loads(run_syncd(config, "status", "--json").stdout)


def test_sigkill_mid_backlog_then_restart_gives_every_object_once(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    payloads = seed_voicemails(couch, account_id, modb, 500)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    config.write_text(config.read_text().replace("retry_base = 0.2", "workers = 2\nretry_base = 0.2"))
    daemon = start_daemon(config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: count_objects(s3_server.url, bucket) >= 40, 120, "the first uploads")
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
    assert count_objects(s3_server.url, bucket) < 500, "killed too late to prove anything"

    result = run_syncd(config, "run", "--once", timeout=300)
    assert result.returncode == 0, result.stderr
    client = s3_client(s3_server.url)
    keys = [
        o["Key"] for p in client.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])
    ]
    assert sorted(keys) == sorted(payloads)  # all 500, no extra, none twice
    for key in keys[::25]:
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == payloads[key]
    (row,) = status(config)["flows"]
    assert (row["synced"], row["pending"], row["failed"]) == (500, 0, 0)


def test_s3_unreachable_items_wait_then_all_arrive(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    # bound but not listening: every connection is refused, and no other server of the suite can
    # take the port before the late S3 does (a free port could be taken: uploads then hung, not failed)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket="late-bucket", port=port))
    payloads = seed_voicemails(couch, account_id, modb, 20)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    daemon = start_daemon(config, tmp_path / "daemon.log")
    late_s3 = None
    try:
        wait_for(lambda: any(r["failed"] for r in status(config)["flows"]), 60, "failed uploads")
        assert daemon.poll() is None, "the daemon died when S3 was unreachable"
        holder.close()
        late_s3 = S3Server(tmp_path / "s3", port=port)
        s3_client(late_s3.url).create_bucket(Bucket="late-bucket")
        wait_for(lambda: count_objects(late_s3.url, "late-bucket") == 20, 90, "all uploads after the outage")
        assert {o["Key"] for o in s3_client(late_s3.url).list_objects_v2(Bucket="late-bucket")["Contents"]} == set(
            payloads
        )
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        holder.close()
        if daemon.poll() is None:
            daemon.kill()
        if late_s3 is not None:
            late_s3.stop()
    log = (tmp_path / "daemon.log").read_text()
    assert "upload failed" in log and "s3://late-bucket" in log


def test_malformed_config_is_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[couchdb]\nurl = "http://x"\n[state\n')
    result = run_syncd(bad, "check")
    assert result.returncode == 2
    assert "invalid configuration in" in result.stderr and "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_couchdb_is_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "c.toml", f"http://admin:hunter2-pass@127.0.0.1:{port}")
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 3
    assert f"CouchDB at http://127.0.0.1:{port} is unreachable" in result.stderr
    assert "hunter2-pass" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("missing_handler", "names handler '00000000000000000000000000000000', which is not in `attachments`"),
        ("unknown_type", "handler: 'dropbocks' is not one of"),
    ],
)
def test_broken_plan_is_named_and_other_accounts_keep_syncing(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    breakage: str,
    expected: str,
) -> None:
    broken, healthy = kd.new_id(), kd.new_id()
    broken_modb, healthy_modb = kd.seed_account(couch, broken), kd.seed_account(couch, healthy)
    doc = kd.s3_storage_doc(broken, "f" * 32, bucket=bucket, port=s3_server.port)
    if breakage == "missing_handler":
        doc["plan"]["modb"]["types"]["mailbox_message"]["attachments"]["handler"] = "0" * 32
    else:
        doc["attachments"]["f" * 32]["handler"] = "dropbocks"
    couch.save("system_data", doc)
    couch.save("system_data", kd.s3_storage_doc(healthy, kd.new_id(), bucket=bucket, port=s3_server.port))
    seed_voicemails(couch, broken, broken_modb, 2)
    healthy_payloads = seed_voicemails(couch, healthy, healthy_modb, 3)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(broken, healthy))

    result = run_syncd(config, "run", "--once")
    assert result.returncode == 1
    assert f"storage plan system_data/{broken}" in result.stderr and expected in result.stderr
    keys = {o["Key"] for o in s3_client(s3_server.url).list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert set(healthy_payloads) <= keys and not any(broken[4:] in k for k in keys)
    assert any(broken in scope for scope in status(config)["problems"])

    # Fixing the storage doc resumes the account from its checkpoint: nothing was skipped.
    fixed = kd.s3_storage_doc(broken, "f" * 32, bucket=bucket, port=s3_server.port)
    fixed["_rev"] = couch.get("system_data", broken)["_rev"]  # type: ignore[index]
    couch.save("system_data", fixed)
    assert run_syncd(config, "run", "--once").returncode == 0
    keys = {o["Key"] for o in s3_client(s3_server.url).list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert len([k for k in keys if broken[4:] in k]) == 2


def test_secrets_never_logged_or_shown(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    s3_secret = "S3-SECRET-" + kd.new_id()
    couch.save(
        "system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port, secret=s3_secret)
    )
    seed_voicemails(couch, account_id, modb, 3)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, '[log]\nlevel = "debug"\n', accounts=(account_id,)
    )
    outputs = [
        run_syncd(config, "-v", "run", "--once"),
        run_syncd(config, "-vv", "run", "--once"),
        run_syncd(config, "status"),
        run_syncd(config, "status", "--json"),
        run_syncd(config, "check"),
    ]
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert "uploaded" in outputs[0].stderr
    for out in outputs:
        for secret in (s3_secret, couch_server.password):
            assert secret not in out.stdout and secret not in out.stderr
