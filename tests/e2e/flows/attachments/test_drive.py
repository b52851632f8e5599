"""`syncd run --once` with a Kazoo storage plan that routes to a google_drive handler:
real pouchdb-server, the strict Drive v3 test server, the real Google client."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from syncd.backends.gdrive import FOLDER, DriveBackend
from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, DriveServer

pytestmark = [pytest.mark.couchdb, pytest.mark.drive]


def drive_storage_doc(account_id: str, handler_id: str, folder_id: str | None, params: dict | None = None) -> dict:
    """As docs/kazoo.md §1.1 says: the handler names its OAuth doc, the plan's params give folder_id."""
    params = params or {"folder_id": folder_id, "folder_name": "kazoo"}
    att = {"handler": handler_id, "params": params}
    return {
        "_id": account_id,
        "pvt_type": "storage",
        "pvt_account_id": account_id,
        "attachments": {
            handler_id: {"handler": "google_drive", "name": "mydrive", "settings": {"oauth_doc_id": kd.new_id()}}
        },
        "plan": {"modb": {"types": {t: {"attachments": dict(att)} for t in ("mailbox_message", "call_recording")}}},
    }


def test_plan_routes_voicemail_and_a_20_mb_recording_into_the_drive_folder(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    folder = drive_server.control("as-user", {"meta": {"name": "voicemails", "mimeType": FOLDER}})["id"]
    couch.save("system_data", drive_storage_doc(account_id, kd.new_id(), folder))
    year, month = kd.now_month()
    vm = kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(2916, "vm"), year, month)
    rec = kd.call_recording(account_id, kd.fake_mp3(20 * 1024 * 1024, "rec"), year, month)
    for doc in (vm, rec):
        kd.write_as_kazoo(couch, modb, doc)
    key_file = drive_server.service_account_file()
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=(f'[kazoo.google_drive]\ncredentials_file = "{key_file}"\napi_endpoint = "{drive_server.url}"\n'),
    )
    before = len(drive_server.control("log"))

    result = run_syncd(config, "run", "--once", timeout=300)
    assert result.returncode == 0, result.stderr

    drive = DriveBackend(key_file.read_text(), folder_id=folder, api_endpoint=drive_server.url)
    stored = {o.key: o for o in drive.list()}
    expected = {
        f"{doc['_id']}_{name}": base64.b64decode(att["data"])
        for doc in (vm, rec)
        for name, att in doc["_attachments"].items()
    }
    assert set(stored) == set(expected)  # Kazoo's name <docid>_<attachment>, flat in folder_id
    for key, data in expected.items():
        with drive.get(key) as body:
            assert b"".join(iter(lambda b=body: b.read(1 << 20), b"")) == data
    for doc in (vm, rec):  # where each file came from, kept with it (identity survives renames and moves)
        (name,) = doc["_attachments"]
        key = f"{doc['_id']}_{name}"
        properties = drive_server.control("file", {"id": stored[key].object_id})["appProperties"]
        assert properties == {
            "kazoo_db": modb,
            "kazoo_doc": doc["_id"],
            "kazoo_attachment": name,
            "syncd_key": key,
            "syncd_root": folder,
        }
    uploads = [e for e in drive_server.control("log")[before:] if e["path"].startswith("/upload/")]
    assert ("POST", "multipart") in [(e["method"], e["uploadType"]) for e in uploads]
    chunks = [e for e in uploads if e["method"] == "PUT"]
    assert len(chunks) == 3 and chunks[-1]["status"] == 200  # 20 MiB in 8 MiB resumable chunks
    key_body = json.loads(key_file.read_text())["private_key"].splitlines()[1]  # a line of the PEM itself
    assert key_body not in result.stderr


def test_without_folder_id_path_tokens_become_nested_folders_under_the_root(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    base = "kazoo-" + kd.new_id()[-8:]
    couch.save(
        "system_data",
        drive_storage_doc(account_id, kd.new_id(), None, {"folder_base_path": base, "folder_path": "voicemail"}),
    )
    vm = kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(1500, "vm"), *kd.now_month())
    couch.save(modb, vm)
    key_file = drive_server.service_account_file()
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=(f'[kazoo.google_drive]\ncredentials_file = "{key_file}"\napi_endpoint = "{drive_server.url}"\n'),
    )

    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr

    (name,) = vm["_attachments"]
    root = DriveBackend(key_file.read_text(), folder_id="root", api_endpoint=drive_server.url)
    assert [o.key for o in root.list(prefix=base + "/")] == [f"{base}/voicemail/{vm['_id']}_{name}"]
