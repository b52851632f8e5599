"""Helpers for end-to-end tests that run the daemon: waiting, a daemon in the
background, voicemails in a MODB with an S3 plan, and what Kazoo's soft delete looks like."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncd.kazoo.couch import CouchClient
from syncd.kazoo.doc_checks import problems
from syncd.kazoo.naming import object_name
from tests.conftest import ROOT, run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, S3Server

FAST = '[two_way]\ngrace_period = 1\nscan_interval = {scan}\nrecheck_interval = 0.2\nreconcile_cron = ""\n{more}\n'


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def daemon(config: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        _until_it_handles_sigterm(proc)  # a SIGTERM before that kills the interpreter (exit -15)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        sys.stderr.write(err)
        assert proc.returncode == 0, err


def _until_it_handles_sigterm(proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until the daemon has installed its SIGTERM handler (SigCgt in /proc), or has ended."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            return
        caught = int(status.split("SigCgt:")[1].split()[0], 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.05)


def voicemails(couch: CouchClient, modb: str, account_id: str, count: int) -> list[dict[str, Any]]:
    box = kd.new_id()
    docs = []
    for i in range(count):
        doc = kd.mailbox_message(account_id, box, kd.fake_mp3(3000 + i, f"vm{i}"), *kd.now_month())
        kd.write_as_kazoo(couch, modb, doc)
        docs.append(doc)
    return docs


def key_of(modb: str, doc: dict[str, Any]) -> str:
    (name,) = doc["_attachments"]
    return object_name("s3", {}, modb, doc, name)


def s3_setup(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
    count: int,
    scan: float = 1,
    more: str = "",
) -> tuple[Path, list[dict]]:
    """count voicemails routed by a Kazoo plan to S3, uploaded by `run --once`."""
    account_id, modb = account
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    docs = voicemails(couch, modb, account_id, count)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, FAST.format(scan=scan, more=more), accounts=(account_id,)
    )
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    return config, docs


def soft_deleted(couch: CouchClient, modb: str, doc: dict[str, Any]) -> bool:
    return bool((couch.get(modb, doc["_id"]) or {}).get("pvt_deleted"))


def assert_soft_deleted_as_kazoo_does(couch: CouchClient, modb: str, before: dict[str, Any]) -> None:
    after = couch.get(modb, before["_id"]) or {}
    assert after["metadata"]["folder"] == "deleted" and after["pvt_deleted"] is True
    assert after["pvt_modified"] >= before["pvt_modified"]
    for release in ("4.3", "master"):  # Kazoo's mailbox_message.json (its metadata object)
        assert problems("mailbox_message", after, release) == [], release
    assert after["_attachments"].keys() == before["_attachments"].keys()  # soft: nothing removed
    assert {k: v for k, v in after["metadata"].items() if k != "folder"} == {
        k: v for k, v in before["metadata"].items() if k != "folder"
    }


def audit(config: Path) -> list[dict[str, Any]]:
    result = run_syncd(config, "audit", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
