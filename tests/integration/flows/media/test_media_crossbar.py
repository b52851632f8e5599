"""A media library that writes through Crossbar ([media] write_via = "crossbar"), against a
Crossbar stand-in on the test CouchDB: media made by PUT then POST .../raw, hold music set by
PATCH, deletes by DELETE, and a media made by a syncd that stopped before recording it found
again by the id syncd derived for its file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.daemon import Daemon
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import write_config
from tests.support import audio as au
from tests.support.crossbar_faxes import API_KEY
from tests.support.crossbar_media import CrossbarMedia, crossbar_media
from tests.support.servers import CouchServer

GRACE = 0.3


@pytest.fixture
def setup(
    tmp_path: Path, couch_server: CouchServer, couch: CouchClient, account: tuple[str, str]
) -> Iterator[tuple[Daemon, Path, CrossbarMedia, str]]:
    account_id, _ = account
    folder = tmp_path / "store" / "media"
    folder.mkdir(parents=True)
    with crossbar_media(couch) as (url, api):
        extra = (
            f'[kazoo.crossbar]\nurl = "{url}"\napi_key = "{API_KEY}"\n\n'
            f'[backends.files]\ntype = "local"\npath = "{folder.parent}"\n\n[two_way]\ngrace_period = {GRACE}\n\n'
            f'[media]\nwrite_via = "crossbar"\n\n[[media.library]]\nname = "cb"\naccount = "{account_id}"\n'
            'backend = "files"\nfolder = "media"\nsettle_seconds = 0\n'
        )
        path = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id,))
        daemon = Daemon(config.load(str(path)), exclusive=True)
        try:
            yield daemon, folder, api, account_id
        finally:
            daemon.close()


def live(couch: CouchClient, account_id: str) -> dict[str, dict[str, Any]]:
    docs = couch.all_docs(dbnames.account_db(account_id))
    return {d["description"]: d for d in docs if d.get("pvt_type") == "media" and not d.get("pvt_deleted")}


def test_media_hold_music_and_deletes_go_through_crossbar(
    setup: tuple[Daemon, Path, CrossbarMedia, str], couch: CouchClient, tmp_path: Path
) -> None:
    daemon, folder, api, account_id = setup
    for name in ("a.wav", "b.wav", "c.wav"):
        au.tone(folder / name, 1.0)
    (folder / "music-on-hold").mkdir()
    au.tone(folder / "music-on-hold" / "tune.mp3", 2.0)
    report = daemon.media.run_pass()
    assert report.counts.get("created") == 3 and report.counts.get("hold-music") == 1, report
    media = live(couch, account_id)
    made = media["a.wav"]
    assert len(made["_id"]) == 32 and made["syncd_file_id"]  # Crossbar's id; syncd's travels in the doc
    assert f"PUT v2/accounts/{account_id}/media" in api.calls
    assert f"POST v2/accounts/{account_id}/media/{made['_id']}/raw" in api.calls
    account = couch.get(dbnames.account_db(account_id), account_id) or {}
    playlist_id = account["music_on_hold"]["media_id"]
    assert f"PATCH v2/accounts/{account_id}" in api.calls

    (folder / "a.wav").unlink()
    (folder / "music-on-hold" / "tune.mp3").unlink()
    daemon.media.run_pass()
    time.sleep(GRACE + 0.1)
    report = daemon.media.run_pass()
    assert report.counts.get("delete-in-kazoo") == 1, report
    assert f"DELETE v2/accounts/{account_id}/media/{made['_id']}" in api.calls
    assert f"DELETE v2/accounts/{account_id}/media/{playlist_id}" in api.calls
    account = couch.get(dbnames.account_db(account_id), account_id) or {}
    assert "media_id" not in (account.get("music_on_hold") or {})  # it had none before
    assert set(live(couch, account_id)) == {"b.wav", "c.wav"}


def test_a_media_put_through_crossbar_by_a_syncd_that_stopped_before_recording_it_is_found_again(
    setup: tuple[Daemon, Path, CrossbarMedia, str], couch: CouchClient, monkeypatch: Any
) -> None:
    daemon, folder, api, account_id = setup
    au.tone(folder / "once.wav", 0.5)
    real = daemon.state.media.track
    monkeypatch.setattr(daemon.state.media, "track", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    assert daemon.media.run_pass().errors
    monkeypatch.setattr(daemon.state.media, "track", real)
    assert daemon.media.run_pass().counts.get("created") == 1
    assert len(live(couch, account_id)) == 1
    assert sum(1 for call in api.calls if call == f"PUT v2/accounts/{account_id}/media") == 1
