"""Every doc a media library writes into Kazoo validates against Kazoo's schema for it, on 4.3
and on master, whether syncd writes CouchDB or goes through Crossbar: media from files (a
plain file, a name Kazoo would refuse, a prompt), hold-music playlists, hold music on the
account, a user, a device and a group, renames, soft deletes, a prompt's delete."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.daemon import Daemon
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.doc_checks import problems
from tests.conftest import write_config
from tests.support import audio as au
from tests.support import kazoo_data as kd
from tests.support.crossbar_faxes import API_KEY
from tests.support.crossbar_media import crossbar_media
from tests.support.servers import CouchServer

GRACE = 0.3
KINDS = {"media": "media", "account": "account", "user": "user", "device": "device", "group": "group"}
UGLY = "Welcome\x07 to\tthe\u200b " + "very " * 40 + "long name"  # a bell, a tab, a zero-width space, 230+ chars


@pytest.fixture(params=[("4.3", "couchdb"), ("4.3", "crossbar"), ("master", "couchdb"), ("master", "crossbar")])
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, couch_server: CouchServer, couch: CouchClient, account: Any
) -> Iterator[tuple[Daemon, Path, str, str, dict[str, str], list[str]]]:
    version, write_via = request.param
    account_id, _ = account
    db = dbnames.account_db(account_id)
    owners = {
        "user": kd.new_id(),
        "device": kd.new_id(),
        "group": kd.new_id(),
    }
    couch.save(
        db, {"_id": owners["user"], "pvt_type": "user", "username": "alice", "first_name": "A", "last_name": "L"}
    )
    couch.save(db, {"_id": owners["device"], "pvt_type": "device", "name": "lobby"})
    couch.save(db, {"_id": owners["group"], "pvt_type": "group", "name": "sales", "endpoints": {}})
    folder = tmp_path / "store" / "media"
    folder.mkdir(parents=True)
    with ExitStack() as stack:
        crossbar, calls = "", []
        if write_via == "crossbar":
            url, api = stack.enter_context(crossbar_media(couch, version))
            calls = api.calls
            crossbar = f'[kazoo.crossbar]\nurl = "{url}"\napi_key = "{API_KEY}"\n\n'
        extra = (
            f'{crossbar}[backends.files]\ntype = "local"\npath = "{folder.parent}"\n\n'
            f'[two_way]\ngrace_period = {GRACE}\n\n[media]\nwrite_via = "{write_via}"\n\n'
            f'[[media.library]]\nname = "lib"\naccount = "{account_id}"\nbackend = "files"\nfolder = "media"\n'
            "settle_seconds = 0\n"
        )
        path = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id,))
        path.write_text(path.read_text().replace("[kazoo]\n", f'[kazoo]\nversion = "{version}"\n', 1))
        daemon = Daemon(config.load(str(path)), exclusive=True)
        stack.callback(daemon.close)
        yield daemon, folder, account_id, version, owners, calls


def written(couch: CouchClient, account_id: str) -> list[dict[str, Any]]:
    """Every doc of the kinds a library writes, deleted ones too (a soft delete is a write)."""
    return [d for d in couch.all_docs(dbnames.account_db(account_id)) if d.get("pvt_type") in KINDS]


def assert_valid_for_both_releases(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        for release in ("4.3", "master"):
            assert problems(KINDS[doc["pvt_type"]], doc, release) == [], (release, doc)


def test_every_doc_a_library_writes_passes_kazoos_schemas(
    setup: tuple[Daemon, Path, str, str, dict[str, str], list[str]], couch: CouchClient
) -> None:
    daemon, folder, account_id, version, owners, calls = setup
    au.tone(folder / "plain.wav", 1.0)
    au.tone(folder / f"{UGLY}.mp3", 1.0)
    (folder / "prompts" / "en-us").mkdir(parents=True)
    au.tone(folder / "prompts" / "en-us" / "vm-enter_pass.wav", 1.0)
    for place in ("", "users/alice", "devices/lobby", "groups/sales"):
        (folder / "music-on-hold" / place).mkdir(parents=True, exist_ok=True)
        au.tone(folder / "music-on-hold" / place / "tune.wav", 1.0)
    report = daemon.media.run_pass()
    assert report.counts.get("created") == 3 and report.counts.get("hold-music") == 4, report
    docs = {d["_id"]: d for d in written(couch, account_id)}
    media = [d for d in docs.values() if d["pvt_type"] == "media"]
    assert len(media) == 7  # three files, four playlists
    ugly = next(d for d in media if d.get("description", "").startswith("Welcome"))
    assert ugly["name"].startswith("Welcome to the very very") and len(ugly["name"]) == 128
    assert "\x07" not in ugly["name"] and "\u200b" not in ugly["name"]
    assert (folder / f"{UGLY}.mp3").exists()  # the file keeps its name
    for kind, owner in owners.items():
        assert docs[owner]["music_on_hold"]["media_id"] in docs, kind
    account = docs[account_id]
    copy = couch.get("accounts", account_id)
    assert copy is not None and copy["music_on_hold"] == account["music_on_hold"]  # as a Crossbar save leaves it
    assert_valid_for_both_releases(list(docs.values()))
    uploads = [c for c in calls if c.startswith("POST") and "/media/" in c]
    if calls:  # through Crossbar: the audio goes where that release's Crossbar takes it
        assert uploads and all(c.endswith("/raw") == (version == "4.3") for c in uploads[:7]), uploads

    (folder / "plain.wav").rename(folder / "renamed.wav")
    assert daemon.media.run_pass().counts.get("renamed") == 1
    assert_valid_for_both_releases(written(couch, account_id))
    for gone in (folder / "renamed.wav", folder / "prompts" / "en-us" / "vm-enter_pass.wav"):
        gone.unlink()
    shutil.rmtree(folder / "music-on-hold" / "groups")
    daemon.media.run_pass()
    time.sleep(GRACE + 0.1)
    daemon.media.run_pass()
    after = {d["_id"]: d for d in written(couch, account_id)}
    assert "en-us/vm-enter_pass" not in after  # a prompt goes as Crossbar deletes prompts: for good
    deleted = [d for d in after.values() if d.get("pvt_deleted")]
    assert len(deleted) == 2, deleted  # the renamed file's media and the group's playlist, soft-deleted
    assert "music_on_hold" not in after[owners["group"]] or not after[owners["group"]]["music_on_hold"]
    assert_valid_for_both_releases(list(after.values()))


def test_media_an_earlier_syncd_wrote_with_a_refused_source_id_are_repaired_once(
    setup: tuple[Daemon, Path, str, str, dict[str, str], list[str]], couch: CouchClient
) -> None:
    daemon, folder, account_id, version, _, _ = setup
    au.tone(folder / "old.wav", 1.0)
    daemon.media.run_pass()
    db = dbnames.account_db(account_id)
    (doc,) = [d for d in written(couch, account_id) if d["pvt_type"] == "media"]
    couch.save(db, {**doc, "source_id": "lib"})  # as syncd wrote every media before: the library's name
    mark = "repaired:source_id:media:lib"
    with daemon.state.db.tx() as tx:  # a state DB from before the repair existed
        tx.execute("DELETE FROM cursors WHERE feed = ?", (mark,))
    assert problems("media", couch.get(db, doc["_id"]) or {}, version)  # Crossbar would refuse to save it
    assert daemon.media.run_pass().counts.get("repaired") == 1
    fixed = couch.get(db, doc["_id"]) or {}
    assert "source_id" not in fixed and problems("media", fixed, version) == []
    assert fixed["source_type"] == "syncd_media_library" and fixed["_attachments"]  # the rest as it was
    assert daemon.media.run_pass().counts.get("repaired") is None  # once: never looked at again
