"""`syncd reconcile`: a dry run changes nothing; a real run repairs each kind of drift."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, s3_client
from tests.e2e.flows.attachments.test_delete_safety import marked, reconcile
from tests.support import kazoo_data as kd
from tests.support.daemons import key_of, s3_setup, soft_deleted, voicemails
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]


def couch_snapshot(couch: CouchClient, modb: str) -> dict[str, str]:
    return {d["_id"]: d["_rev"] for d in couch.all_docs(modb)}


def s3_snapshot(url: str, bucket: str) -> dict[str, str]:
    listing = s3_client(url).list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listing}


def missed_by_the_feed(couch: CouchClient, state_path: Path, modb: str, account_id: str) -> dict[str, Any]:
    """A voicemail written while syncd's cursor jumped past it (a lost change)."""
    (doc,) = voicemails(couch, modb, account_id, 1)
    _, last_seq = couch.changes(modb, 0, 10_000)
    with sqlite3.connect(state_path) as db:
        db.execute("UPDATE cursors SET seq = ? WHERE feed = ?", (json.dumps(last_seq), modb))
    return doc


def test_dry_run_changes_nothing(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    config, docs = s3_setup(tmp_path, couch, couch_server, s3_server, bucket, account, 3)
    marked(config)
    unsynced = missed_by_the_feed(couch, tmp_path / "state.sqlite3", modb, account_id)
    client = s3_client(s3_server.url)
    client.delete_object(Bucket=bucket, Key=key_of(modb, docs[0]))
    client.put_object(Bucket=bucket, Key=key_of(modb, docs[1]), Body=b"edited behind syncd's back")
    client.put_object(Bucket=bucket, Key="stray/file.mp3", Body=b"not ours")
    before = couch_snapshot(couch, modb), s3_snapshot(s3_server.url, bucket)
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        state_before = db.execute("SELECT id, status, missing_since FROM items ORDER BY id").fetchall()
    result = run_syncd(config, "reconcile", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    actions = {(a["action"], a["doc_id"]) for a in plan["actions"]}
    assert ("upload", unsynced["_id"]) in actions
    assert ("missing", docs[0]["_id"]) in actions
    assert ("reupload-changed", docs[1]["_id"]) in actions
    assert plan["orphans"][next(iter(plan["orphans"]))]["examples"] == ["stray/file.mp3"]
    assert (couch_snapshot(couch, modb), s3_snapshot(s3_server.url, bucket)) == before
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        assert db.execute("SELECT id, status, missing_since FROM items ORDER BY id").fetchall() == state_before


def test_reconcile_uploads_what_the_feed_missed(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    config, _ = s3_setup(tmp_path, couch, couch_server, s3_server, bucket, account, 1)
    doc = missed_by_the_feed(couch, tmp_path / "state.sqlite3", modb, account_id)
    assert run_syncd(config, "run", "--once").returncode == 0
    assert key_of(modb, doc) not in s3_snapshot(s3_server.url, bucket)  # the feed alone never sees it
    code, out = reconcile(config)
    assert code == 0, out
    assert key_of(modb, doc) in s3_snapshot(s3_server.url, bucket)


def test_reconcile_restores_an_object_changed_behind_syncds_back_and_keeps_the_changed_copy(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    _, modb = account
    config, docs = s3_setup(tmp_path, couch, couch_server, s3_server, bucket, account, 1)
    marked(config)
    key = key_of(modb, docs[0])
    client = s3_client(s3_server.url)
    client.put_object(Bucket=bucket, Key=key, Body=b"edited")
    now = int(time.time())  # a copy kept aside before, at every name this run could choose: each one stays
    earlier = {f".syncd-trash/changed-{t}/{key}" for t in range(now - 5, now + 300)}
    for planted in earlier:
        client.put_object(Bucket=bucket, Key=planted, Body=b"kept aside earlier")
    code, out = reconcile(config)
    assert code == 0, out
    original = kd.fake_mp3(3000, "vm0")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == original
    kept = [k for k in s3_snapshot(s3_server.url, bucket) if k.startswith(".syncd-trash/changed-")]
    (new,) = set(kept) - earlier
    assert new.endswith(key.removesuffix(".mp3") + " (2).mp3"), new
    assert client.get_object(Bucket=bucket, Key=new)["Body"].read() == b"edited"
    assert {client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in earlier} == {b"kept aside earlier"}
    assert not soft_deleted(couch, modb, docs[0])


def test_reconcile_forgets_rows_whose_doc_is_gone_and_keeps_the_object(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    _, modb = account
    config, docs = s3_setup(tmp_path, couch, couch_server, s3_server, bucket, account, 2)
    marked(config)
    couch._db(modb).delete(couch.get(modb, docs[0]["_id"]))  # an admin removed the doc outright
    code, out = reconcile(config)
    assert code == 0, out
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        ids = {r[0] for r in db.execute("SELECT doc_id FROM items")}
    assert docs[0]["_id"] not in ids and docs[1]["_id"] in ids
    assert key_of(modb, docs[0]) in s3_snapshot(s3_server.url, bucket)  # on_kazoo_delete = keep
    forgets = [a for a in json.loads(run_syncd(config, "audit", "--json").stdout) if a["action"] == "forget"]
    assert [a["doc_id"] for a in forgets] == [docs[0]["_id"]]


def test_voicemail_deleted_in_kazoo_moves_its_object_to_the_trash_when_asked(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    _, modb = account
    config, docs = s3_setup(
        tmp_path,
        couch,
        couch_server,
        s3_server,
        bucket,
        account,
        2,
        more='[two_way.voicemail]\non_kazoo_delete = "trash"\n',
    )
    marked(config)
    doc = couch.get(modb, docs[0]["_id"]) or {}
    doc["pvt_deleted"], doc["metadata"]["folder"] = True, "deleted"  # deleted through Kazoo's API
    couch.save(modb, doc)
    assert run_syncd(config, "run", "--once").returncode == 0  # the feed sees the delete
    code, out = reconcile(config)
    assert code == 0, out
    objects = s3_snapshot(s3_server.url, bucket)
    key = key_of(modb, docs[0])
    assert key not in objects and f".syncd-trash/{key}" in objects
    assert key_of(modb, docs[1]) in objects
    (entry,) = [a for a in json.loads(run_syncd(config, "audit", "--json").stdout) if a["action"] == "trash-object"]
    assert entry["side"] == "backend" and entry["doc_id"] == docs[0]["_id"]
