"""`syncd run --once` end to end: real pouchdb-server, real moto S3, real files."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import erlang
import pytest

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.naming import object_name
from tests.conftest import run_syncd, s3_client, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]


def s3_objects(url: str, bucket: str) -> dict[str, dict]:
    client = s3_client(url)
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[obj["Key"]] = client.head_object(Bucket=bucket, Key=obj["Key"])
    return out


def body(url: str, bucket: str, key: str) -> bytes:
    return s3_client(url).get_object(Bucket=bucket, Key=key)["Body"].read()


def kazoo_key(db: str, doc: dict, settings: dict | None = None) -> str:
    (name,) = doc["_attachments"]
    return object_name("s3", settings or {}, db, doc, name)


def raw(doc: dict) -> bytes:
    (att,) = doc["_attachments"].values()
    return base64.b64decode(att["data"])


def voicemail_without_audio(couch: CouchClient, s3_server: S3Server, bucket: str, account_id: str) -> tuple[dict, str]:
    """An S3 plan for the account, and a voicemail doc whose attachment is not written yet."""
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    vm = kd.mailbox_message(account_id, kd.new_id(), b"", *kd.now_month())
    return vm, vm.pop("_attachments").popitem()[0]


def test_plan_routes_voicemail_and_recording_to_s3_at_kazoos_keys(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    handler = kd.new_id()
    couch.save(
        "system_data",
        kd.s3_storage_doc(account_id, handler, bucket=bucket, port=s3_server.port, settings={"folder_base_path": "vm"}),
    )
    year, month = kd.now_month()
    box = kd.new_id()
    couch.save(dbnames.account_db(account_id), kd.vmbox_doc(account_id, box))
    vm = kd.mailbox_message(account_id, box, kd.fake_mp3(2916, "vm"), year, month)
    rec = kd.call_recording(account_id, kd.fake_mp3(40_000, "rec"), year, month)
    fax = kd.inbound_fax(account_id, b"II*\x00fax", year, month)  # fax is not in this plan
    probe = {
        "_id": f"{year}{month:02d}-{kd.new_id()}",
        "pvt_type": "storage_settings_probe",
        "_attachments": kd.inline(f"{kd.new_id()}_test_credentials_file.txt", b"probe", "text/plain"),
    }
    for doc in (vm, rec, fax, probe):
        kd.write_as_kazoo(couch, modb, doc)

    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr

    objects = s3_objects(s3_server.url, bucket)
    vm_key = kazoo_key(modb, vm, {"folder_base_path": "vm"})
    assert vm_key.startswith(f"vm/{dbnames.encode(modb)}/{vm['_id']}_")  # literal %2F, Kazoo's layout
    assert set(objects) == {vm_key, kazoo_key(modb, rec, {"folder_base_path": "vm"})}
    for doc in (vm, rec):
        key = kazoo_key(modb, doc, {"folder_base_path": "vm"})
        assert body(s3_server.url, bucket, key) == raw(doc)
        assert objects[key]["ETag"].strip('"') == hashlib.md5(raw(doc)).hexdigest()

    status = json.loads(run_syncd(config, "status", "--json").stdout)
    rows = {r["pvt_type"]: r for r in status["flows"]}
    assert rows["mailbox_message"]["synced"] == 1 and rows["call_recording"]["synced"] == 1
    assert all(r["pending"] == 0 and r["failed"] == 0 for r in status["flows"])

    again = run_syncd(config, "run", "--once")  # nothing new: nothing uploaded twice
    assert again.returncode == 0 and "0 uploaded" in again.stderr


def test_local_folder_flow_from_syncd_config(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    archive = tmp_path / "archive"
    archive.mkdir()
    year, month = kd.now_month()
    vm = kd.mailbox_message(
        account_id, kd.new_id(), kd.fake_mp3(5000, "local"), year, month, att_name="message été.mp3"
    )
    fax = kd.inbound_fax(account_id, b"II*\x00inbound", year, month)
    outbox_fax = {**kd.inbound_fax(account_id, b"II*\x00sent", year, month), "folder": "outbox"}
    for doc in (vm, fax, outbox_fax):
        kd.write_as_kazoo(couch, modb, doc)
    extra = (
        f'[backends.archive]\ntype = "local"\npath = "{archive}"\n\n'
        '[[flows]]\nkind = "voicemail"\nbackend = "archive"\nprefix = "vm"\n\n'
        '[[flows]]\nkind = "faxes"\nbackend = "archive"\nprefix = "faxes"\n'
    )  # flows never share a folder
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, accounts=(account_id,))
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr

    vm_path = archive / kazoo_key(modb, vm, {"folder_base_path": "vm"})
    assert vm_path.read_bytes() == raw(vm)
    fax_path = archive / kazoo_key(modb, fax, {"folder_base_path": "faxes"})
    assert fax_path.read_bytes() == raw(fax)
    assert not (archive / kazoo_key(modb, outbox_fax, {"folder_base_path": "faxes"})).exists()  # received only
    files = sorted(p for p in archive.rglob("*") if p.is_file())
    assert len(files) == 2 and not any(p.name.startswith(".syncd-tmp") for p in files)


def test_account_db_media_routed_by_plan_account(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, _ = account
    handler = kd.new_id()
    couch.save(
        "system_data",
        kd.s3_storage_doc(
            account_id, handler, bucket=bucket, port=s3_server.port, modb_types=(), account_types=("media",)
        ),
    )
    media = kd.media_doc(account_id, kd.fake_mp3(7000, "moh"))
    account_db = dbnames.account_db(account_id)
    couch.save(account_db, media)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    assert run_syncd(config, "run", "--once").returncode == 0
    key = kazoo_key(account_db, media)
    assert key.startswith(f"account%2F{account_id[:2]}%2F{account_id[2:4]}%2F{account_id[4:]}/{media['_id']}_")
    assert body(s3_server.url, bucket, key) == raw(media)


def test_stub_plan_object_already_there_is_recorded_not_uploaded(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port, stub=True))
    year, month = kd.now_month()
    vm = kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(3000, "stub"), year, month)
    kd.write_as_kazoo(couch, modb, vm)
    key = kazoo_key(modb, vm)
    client = s3_client(s3_server.url)
    client.put_object(Bucket=bucket, Key=key, Body=raw(vm))  # Kazoo wrote it (stub: true)
    before = client.head_object(Bucket=bucket, Key=key)["LastModified"]
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "already stored with the same MD5" in result.stderr
    assert client.head_object(Bucket=bucket, Key=key)["LastModified"] == before
    assert "md5" not in client.head_object(Bucket=bucket, Key=key)["Metadata"]  # not rewritten by syncd


def test_offloaded_attachment_is_recorded_from_its_handler_blob(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    vm, name = voicemail_without_audio(couch, s3_server, bucket, account_id)
    settings = {
        erlang.OtpErlangAtom(b"bucket"): erlang.OtpErlangBinary(bucket.encode()),
        erlang.OtpErlangAtom(b"secret"): erlang.OtpErlangBinary(b"blob-secret-value"),
    }
    stored_key = f"{dbnames.encode(modb)}/{vm['_id']}_{name}"
    blob = base64.b64encode(erlang.term_to_binary((settings, erlang.OtpErlangBinary(stored_key.encode()))))
    vm["pvt_attachments"] = {
        name: {
            "content_type": "audio/mpeg",
            "length": 2916,
            "stub": False,
            "handler": {"kz_att_s3": {"S3": blob.decode(), "metadata": {}}},
        }
    }
    couch.save(modb, vm)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    result = run_syncd(config, "run", "--once", "-v")
    assert result.returncode == 0, result.stderr
    assert s3_objects(s3_server.url, bucket) == {}  # nothing uploaded again
    rows = json.loads(run_syncd(config, "status", "--json").stdout)["flows"]
    assert [(r["target"], r["offloaded"]) for r in rows] == [(f"kazoo-offloaded:kz_att_s3:{bucket}", 1)]
    assert "blob-secret-value" not in result.stderr


def test_doc_first_attachment_second_is_picked_up(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    vm, name = voicemail_without_audio(couch, s3_server, bucket, account_id)
    couch.save(modb, vm)  # Kazoo writes the doc first ...
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    assert run_syncd(config, "run", "--once").returncode == 0
    assert s3_objects(s3_server.url, bucket) == {}
    data = kd.fake_mp3(4000, "late")
    vm["_attachments"] = kd.inline(name, data, "audio/mpeg")  # ... then the attachment, in its own PUT
    kd.write_as_kazoo(couch, modb, vm)
    assert run_syncd(config, "run", "--once").returncode == 0
    assert body(s3_server.url, bucket, kazoo_key(modb, vm)) == data
