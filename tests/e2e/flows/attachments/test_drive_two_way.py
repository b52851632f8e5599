"""Google Drive, both ways, end to end: the daemon reads Drive's changes log, a
person trashes, restores and moves voicemail files; a burst of 429s during a
backlog; syncd killed halfway through a resumable upload. Real pouchdb-server,
the strict Drive v3 test server, the real Google client."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from syncd.backends.gdrive import FOLDER, DriveBackend
from syncd.kazoo.couch import CouchClient
from tests.conftest import ROOT, run_syncd, write_config
from tests.e2e.flows.attachments.test_drive import drive_storage_doc
from tests.support import kazoo_data as kd
from tests.support.daemons import audit, daemon, soft_deleted, voicemails, wait_for
from tests.support.servers import DriveServer

pytestmark = [pytest.mark.couchdb, pytest.mark.drive, pytest.mark.slow]

GRACE = 4


def drive_setup(
    tmp_path: Path,
    couch: CouchClient,
    couch_url: str,
    drive_server: DriveServer,
    account: tuple[str, str],
    more: str = "",
) -> tuple[Path, str, Path]:
    """A plan routing voicemails and recordings to a Drive folder; returns (config, folder id, key file)."""
    account_id, _ = account
    folder = drive_server.control("as-user", {"meta": {"name": "voicemails", "mimeType": FOLDER}})["id"]
    couch.save("system_data", drive_storage_doc(account_id, kd.new_id(), folder))
    key_file = drive_server.service_account_file()
    config = write_config(
        tmp_path / "c.toml",
        couch_url,
        accounts=(account_id,),
        extra=(
            f'[kazoo.google_drive]\ncredentials_file = "{key_file}"\napi_endpoint = "{drive_server.url}"\n\n'
            f"[two_way]\ngrace_period = {GRACE}\nscan_interval = 300\nrecheck_interval = 0.2\n"
            f'change_poll_interval = 0.3\nreconcile_cron = ""\n{more}'
        ),
    )
    return config, folder, key_file


def state_rows(config: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of syncd's state DB, read-only; none while syncd has not created it yet."""
    try:
        with sqlite3.connect(f"file:{config.parent / 'state.sqlite3'}?mode=ro", uri=True) as db:
            return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


def file_id(config: Path, doc: dict[str, Any]) -> str:
    ((object_id,),) = state_rows(config, "SELECT object_id FROM items WHERE doc_id = ?", doc["_id"])
    return str(object_id)


def missing(config: Path, doc: dict[str, Any]) -> bool:
    return state_rows(config, "SELECT missing_since FROM items WHERE doc_id = ?", doc["_id"])[0][0] is not None


def test_trash_deletes_after_the_grace_period_restore_and_move_delete_nothing(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    config, folder, _ = drive_setup(tmp_path, couch, couch_server.auth_url, drive_server, account)
    trashed, restored, moved = voicemails(couch, modb, account_id, 3)
    assert run_syncd(config, "run", "--once").returncode == 0
    assert run_syncd(config, "reconcile").returncode == 0  # the first listing writes the marker
    elsewhere = drive_server.control("as-user", {"meta": {"name": "archive", "mimeType": FOLDER}})["id"]

    def person(doc: dict[str, Any], **change: Any) -> None:
        drive_server.control("as-user", {"op": "update", "id": file_id(config, doc), **change})

    with daemon(config):
        wait_for(
            lambda: state_rows(config, "SELECT seq FROM cursors WHERE feed LIKE 'changes:%'"),
            30,
            "the daemon to start reading Drive's changes log",
        )
        person(moved, addParents=elsewhere, removeParents=folder, meta={"name": "kept.mp3"})
        person(restored, meta={"trashed": True})
        wait_for(lambda: missing(config, restored), 10, "the trashed file's first sighting")
        person(restored, meta={"trashed": False})  # within the grace period
        wait_for(lambda: not missing(config, restored), 10, "the restored file to count as back")
        person(trashed, meta={"trashed": True})
        took = wait_for(lambda: soft_deleted(couch, modb, trashed), 30, "the soft delete of the trashed file")
        assert took >= GRACE - 0.5  # the grace period applied; the restored and moved files' grace ended too
        assert not missing(config, moved)
    assert not soft_deleted(couch, modb, restored) and not soft_deleted(couch, modb, moved)
    assert [a["doc_id"] for a in audit(config) if a["action"] == "soft-delete"] == [trashed["_id"]]


def test_a_burst_of_rate_limits_during_a_backlog_delays_nothing_for_good(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    config, folder, key_file = drive_setup(tmp_path, couch, couch_server.auth_url, drive_server, account)
    docs = voicemails(couch, modb, account_id, 12)
    drive_server.control("faults", {"status": 429, "count": 8, "path": "/upload/"})
    drive_server.control("faults", {"status": 403, "count": 2, "path": "/drive/v3/files"})
    result = run_syncd(config, "run", "--once", timeout=300)
    assert result.returncode == 0, result.stderr
    drive = DriveBackend(key_file.read_text(), folder_id=folder, api_endpoint=drive_server.url)
    assert {o.key for o in drive.list()} == {f"{d['_id']}_{next(iter(d['_attachments']))}" for d in docs}
    backoffs = [line for line in result.stderr.splitlines() if "backing off" in line]
    assert len(backoffs) == 10, result.stderr  # each fault met once, each followed by a backoff
    assert any("HTTP 429 rateLimitExceeded" in line for line in backoffs)
    assert any("HTTP 403 userRateLimitExceeded" in line for line in backoffs)


def test_a_recording_upload_killed_halfway_continues_after_a_restart(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    config, folder, key_file = drive_setup(tmp_path, couch, couch_server.auth_url, drive_server, account)
    data = kd.fake_mp3(20 * 1024 * 1024, "rec")
    rec = kd.call_recording(account_id, data, *kd.now_month())
    kd.write_as_kazoo(couch, modb, rec)
    # the second chunk is held by the server: syncd is killed while sending it
    drive_server.control("faults", {"delay": 20, "count": 1, "path": "/upload/", "method": "PUT", "skip": 1})
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            lambda: state_rows(config, "SELECT session FROM upload_sessions"),
            60,
            "the upload session to be saved after the first chunk",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    before = len(drive_server.control("log"))

    result = run_syncd(config, "run", "--once", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "continuing the interrupted upload" in result.stderr
    assert "upload_id" not in result.stderr  # a session URI lets anyone finish the upload: never logged
    # (the held request, cut off by the kill, is answered 400 or 404 whenever its delay ends: left out)
    uploads = [
        e
        for e in drive_server.control("log")[before:]
        if e["path"].startswith("/upload/") and e["status"] in (200, 308)
    ]
    assert all(e["method"] == "PUT" for e in uploads)  # no new session was started
    assert uploads[0]["range"] == f"bytes */{len(data)}"  # Drive was asked where it stopped
    assert sum(e["bytes"] for e in uploads) == len(data) - 8 * 1024 * 1024  # only what Drive lacked was sent
    drive = DriveBackend(key_file.read_text(), folder_id=folder, api_endpoint=drive_server.url)
    (stored,) = drive.list()
    with drive.get(stored.key) as body:
        assert b"".join(iter(lambda: body.read(1 << 20), b"")) == data
    assert state_rows(config, "SELECT COUNT(*) FROM upload_sessions") == [(0,)]


def problems(config: Path, like: str) -> list[str]:
    return [row[0] for row in state_rows(config, "SELECT message FROM problems WHERE scope LIKE ?", like)]


def test_a_person_trashing_the_whole_folder_deletes_nothing(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    config, folder, _ = drive_setup(tmp_path, couch, couch_server.auth_url, drive_server, account)
    docs = voicemails(couch, modb, account_id, 3)
    assert run_syncd(config, "run", "--once").returncode == 0
    assert run_syncd(config, "reconcile").returncode == 0  # the marker goes into the folder
    with daemon(config):
        wait_for(
            lambda: state_rows(config, "SELECT seq FROM cursors WHERE feed LIKE 'changes:%'"),
            30,
            "the daemon to start reading Drive's changes log",
        )
        drive_server.control("as-user", {"op": "update", "id": folder, "meta": {"trashed": True}})
        wait_for(lambda: all(missing(config, d) for d in docs), 10, "the trashed files' first sightings")
        wait_for(lambda: problems(config, "target:%"), GRACE + 10, "the refusal after the grace period")
    (why,) = problems(config, "target:%")
    assert "marker '.syncd-marker'" in why and "is gone" in why  # the folder itself went: not a delete
    assert not any(soft_deleted(couch, modb, d) for d in docs)


def test_a_person_trashing_every_voicemail_file_is_held_by_the_guard(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    config, _, _ = drive_setup(tmp_path, couch, couch_server.auth_url, drive_server, account)
    docs = voicemails(couch, modb, account_id, 3)
    assert run_syncd(config, "run", "--once").returncode == 0
    assert run_syncd(config, "reconcile").returncode == 0
    with daemon(config):
        wait_for(
            lambda: state_rows(config, "SELECT seq FROM cursors WHERE feed LIKE 'changes:%'"),
            30,
            "the daemon to start reading Drive's changes log",
        )
        for doc in docs:
            drive_server.control("as-user", {"op": "update", "id": file_id(config, doc), "meta": {"trashed": True}})
        wait_for(
            lambda: state_rows(config, "SELECT message FROM holds WHERE account_id = ?", account_id),
            GRACE + 10,
            "the guard to hold the deletes",
        )
    ((why,),) = state_rows(config, "SELECT message FROM holds WHERE account_id = ?", account_id)
    assert "3 of 3 tracked objects" in why and f"--account {account_id} --allow-deletes" in why
    assert not any(soft_deleted(couch, modb, d) for d in docs)
