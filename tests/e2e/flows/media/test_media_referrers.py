"""A media still named anywhere is never deleted: by an ACDC queue, a menu, a callflow 300
actions deep, another account's device through /<account>/<id>. The referrer index that
answers is learnt from the changes feeds, survives a restart and is rebuilt by reconcile."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.daemon import Daemon
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, write_config
from tests.support import audio as au
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer

GRACE = 0.3
USED = ("queue.wav", "menu.wav", "deep.wav", "shared.wav")
STAYING = tuple(f"keep{i}.wav" for i in range(8))  # so five deletes stay under the guard's share


@dataclass
class Accounts:
    config: Path
    folder: Path
    account_id: str
    other_id: str
    couch: CouchClient

    def daemon(self) -> Daemon:
        return Daemon(config.load(str(self.config)), exclusive=True)

    def media(self) -> dict[str, dict[str, Any]]:
        docs = self.couch.all_docs(dbnames.account_db(self.account_id))
        return {d["description"]: d for d in docs if d.get("pvt_type") == "media" and not d.get("pvt_deleted")}


@pytest.fixture
def accounts(tmp_path: Path, couch_server: CouchServer, couch: CouchClient, account: tuple[str, str]) -> Accounts:
    account_id, _ = account
    other_id = kd.new_id()
    kd.seed_account(couch, other_id)
    folder = tmp_path / "store" / "media"
    folder.mkdir(parents=True)
    extra = (
        f'[backends.files]\ntype = "local"\npath = "{folder.parent}"\n\n[two_way]\ngrace_period = {GRACE}\n'
        'reconcile_cron = ""\n\n'
        f'[[media.library]]\nname = "lib"\naccount = "{account_id}"\nbackend = "files"\nfolder = "media"\n'
        "settle_seconds = 0\n"
    )
    path = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id, other_id))
    return Accounts(path, folder, account_id, other_id, couch)


def follow(daemon: Daemon) -> None:
    """What the running daemon's follower does each tick: find the databases, read their feeds."""
    daemon.attachments.follower.discover()
    daemon.attachments.follower.poll()


def started(a: Accounts, named: str) -> tuple[Daemon, str]:
    """A daemon whose library made media of `named` and of the staying files; the media id of `named`."""
    for name in (named, *STAYING):
        au.tone(a.folder / name, 0.3)
    daemon = a.daemon()
    follow(daemon)
    daemon.media.run_pass()
    return daemon, a.media()[named]["_id"]


def past_grace(daemon: Daemon) -> dict[str, int]:
    daemon.media.run_pass()
    time.sleep(GRACE + 0.1)
    return daemon.media.run_pass().counts


def name_them(a: Accounts, ids: dict[str, str]) -> None:
    """Docs of the library's account that name three of the media."""
    db = dbnames.account_db(a.account_id)
    queue = {"_id": kd.new_id(), "pvt_type": "queue", "name": "Support", "moh": ids["queue.wav"]}
    menu = {"_id": kd.new_id(), "pvt_type": "menu", "name": "Main", "media": {"greeting": ids["menu.wav"]}}
    flow: dict[str, Any] = {"module": "play", "data": {"id": ids["deep.wav"]}, "children": {}}
    for _ in range(300):  # chained through Kazoo's default child key "_"
        flow = {"module": "play", "data": {"id": "other"}, "children": {"_": flow}}
    callflow = {"_id": kd.new_id(), "pvt_type": "callflow", "name": "Long IVR", "flow": flow}
    for doc in (queue, menu, callflow):
        a.couch.save(db, doc)


def test_a_media_named_anywhere_is_not_deleted_and_an_unused_one_is(accounts: Accounts) -> None:
    a = accounts
    for name in (*USED, "free.wav", *STAYING):
        au.tone(a.folder / name, 0.3)
    other_db = dbnames.account_db(a.other_id)
    device = {"_id": kd.new_id(), "pvt_type": "device", "name": "lobby"}
    a.couch.save(other_db, device)
    daemon = a.daemon()
    try:
        follow(daemon)
        daemon.media.run_pass()
        ids = {name: doc["_id"] for name, doc in a.media().items()}
        (a.folder / "free.wav").unlink()
        assert past_grace(daemon).get("delete-in-kazoo") == 1  # unused: deleted; the index is built
        assert "free.wav" not in a.media()
        name_them(a, ids)  # not followed yet: the delete's own catch-up of this account must see them
        shared = f"/{a.account_id}/{ids['shared.wav']}"  # kz_media_util:media_path's form
        a.couch.save(other_db, {**device, "music_on_hold": {"media_id": shared}})
        daemon.attachments.follower.poll(only={other_db})  # another account reaches the index by its feed
        for name in USED:
            (a.folder / name).unlink()
        counts = past_grace(daemon)
        assert counts.get("refused") == 4 and not counts.get("delete-in-kazoo"), counts
        assert set(USED) <= set(a.media())
        reasons = {r.doc_id: r.reason for r in daemon.state.audit.lines(200, a.account_id) if "still used" in r.reason}
        assert "queue 'Support'" in reasons[ids["queue.wav"]] and " at moh" in reasons[ids["queue.wav"]]
        assert "menu 'Main'" in reasons[ids["menu.wav"]] and "media.greeting" in reasons[ids["menu.wav"]]
        assert "callflow 'Long IVR'" in reasons[ids["deep.wav"]] and ".children._." in reasons[ids["deep.wav"]]
        assert (
            f"device 'lobby' ({device['_id']}) of account {a.other_id} at music_on_hold.media_id"
            in (reasons[ids["shared.wav"]])
        )
    finally:
        daemon.close()


def test_the_index_survives_a_restart_and_reconcile_rebuilds_it(accounts: Accounts) -> None:
    a = accounts
    daemon, media_id = started(a, "named.wav")
    try:
        menu = {"_id": kd.new_id(), "pvt_type": "menu", "name": "Night", "media": {"greeting": media_id}}
        a.couch.save(dbnames.account_db(a.account_id), menu)
        follow(daemon)
        assert daemon.state.referrers.of(a.account_id, media_id)
    finally:
        daemon.close()
    state_db = Path(config.load(str(a.config)).state_path)
    again = a.daemon()  # a restart: the rows are in the state DB, nothing is read again
    try:
        (found,) = again.state.referrers.of(a.account_id, media_id)
        assert found.doc_id == menu["_id"] and found.path == "media.greeting"
    finally:
        again.close()
    with sqlite3.connect(state_db) as lost:  # the index lost (an operator cleared it, a bug)
        lost.execute("DELETE FROM refs")
        lost.execute("DELETE FROM cursors WHERE feed LIKE 'refs:%'")
    done = run_syncd(a.config, "reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "media references indexed" in done.stdout, done.stdout
    rebuilt = a.daemon()
    try:
        assert [r.doc_id for r in rebuilt.state.referrers.of(a.account_id, media_id)] == [menu["_id"]]
    finally:
        rebuilt.close()


def test_a_doc_too_big_to_index_is_read_at_the_delete_and_still_blocks_it(accounts: Accounts) -> None:
    a = accounts
    daemon, media_id = started(a, "hidden.wav")
    try:
        noise = [kd.new_id() for _ in range(6_000)]  # a tenant's doc with more ids than the index keeps
        doc = {"_id": kd.new_id(), "pvt_type": "list", "name": "Big", "entries": [*noise, {"play": media_id}]}
        a.couch.save(dbnames.account_db(a.account_id), doc)
        (a.folder / "hidden.wav").unlink()
        counts = past_grace(daemon)
        assert counts.get("refused") == 1 and "hidden.wav" in a.media(), counts
        (reason,) = [r.reason for r in daemon.state.audit.lines(200, a.account_id) if "still used" in r.reason]
        assert "list 'Big'" in reason and "entries[6000].play" in reason
    finally:
        daemon.close()
