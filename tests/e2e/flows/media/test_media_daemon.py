"""The media flow in the running daemon: a file dropped into a watched local library becomes
media within seconds (the poll interval is far longer); `syncd status` and `syncd check`
cover the library."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, write_config
from tests.support import audio as au
from tests.support.daemons import daemon, wait_for
from tests.support.servers import CouchServer

pytestmark = [pytest.mark.slow]


def library_config(tmp_path: Path, couch_url: str, account_id: str) -> Path:
    store = tmp_path / "store"
    (store / "media").mkdir(parents=True)
    extra = (
        f'[backends.files]\ntype = "local"\npath = "{store}"\nwatch = "inotify"\n\n[media]\npoll_interval = 600\n\n'
        f'[[media.library]]\nname = "acme"\naccount = "{account_id}"\nbackend = "files"\nfolder = "media"\n'
        "settle_seconds = 0.5\n"
    )
    return write_config(tmp_path / "c.toml", couch_url, extra, (account_id,))


def media_names(couch: CouchClient, account_id: str) -> set[str]:
    docs = couch.all_docs(dbnames.account_db(account_id))
    return {d.get("description", "") for d in docs if d.get("pvt_type") == "media" and not d.get("pvt_deleted")}


def test_a_file_dropped_into_a_watched_library_is_media_within_seconds_and_status_shows_it(
    tmp_path: Path, couch_server: CouchServer, couch: CouchClient, account: tuple[str, str]
) -> None:
    account_id, _ = account
    config = library_config(tmp_path, couch_server.auth_url, account_id)
    with daemon(config):
        wait_for(lambda: (tmp_path / "state.sqlite3").exists(), 30, "the daemon to start")
        au.tone(tmp_path / "hello.wav", 1.0)
        (tmp_path / "hello.wav").rename(tmp_path / "store" / "media" / "hello.wav")
        took = wait_for(lambda: "hello.wav" in media_names(couch, account_id), 20, "the file to become media")
        assert took < 10
    status = json.loads(run_syncd(config, "status", "--json").stdout)
    rows = status["media_libraries"]
    assert rows and rows[0]["target"] == "media:acme" and rows[0]["synced"] == 1, rows


def test_check_reaches_the_library_and_names_ffprobe(
    tmp_path: Path, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, _ = account
    done = run_syncd(library_config(tmp_path, couch_server.auth_url, account_id), "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "media library acme" in done.stdout and "ffprobe" in done.stdout


def test_check_says_which_account_a_library_names_that_kazoo_does_not_have(
    tmp_path: Path, couch_server: CouchServer
) -> None:
    done = run_syncd(library_config(tmp_path, couch_server.auth_url, "f" * 32), "check")
    assert done.returncode != 0
    assert f"account {'f' * 32} has no database in CouchDB" in done.stdout + done.stderr


def test_run_once_takes_a_file_still_for_longer_than_settle_seconds_and_leaves_a_fresh_one(
    tmp_path: Path, couch_server: CouchServer, couch: CouchClient, account: tuple[str, str]
) -> None:
    account_id, _ = account
    config = library_config(tmp_path, couch_server.auth_url, account_id)
    config.write_text(config.read_text().replace("settle_seconds = 0.5", "settle_seconds = 300"))
    media = tmp_path / "store" / "media"
    au.tone(media / "old.wav", 1.0)
    hours_ago = time.time() - 2 * 3600
    os.utime(media / "old.wav", (hours_ago, hours_ago))  # copied in long ago, still since
    au.tone(media / "fresh.wav", 1.0)  # being copied in, as far as anyone can tell
    done = run_syncd(config, "run", "--once")  # a scheduled run: no earlier sighting in this process
    assert done.returncode == 0, done.stdout + done.stderr
    assert media_names(couch, account_id) == {"old.wav"}
