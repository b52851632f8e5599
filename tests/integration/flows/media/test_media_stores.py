"""A media library on each kind of store (a local folder, an S3 prefix in moto, a Drive folder
on the Drive test server), files added by a person: a wav and an mp3 become media with their
audio, Kazoo's media appear as files, a replaced file keeps its media id and a renamed one
keeps its media."""

from __future__ import annotations

import base64
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
from tests.support import kazoo_data as kd
from tests.support.media_lib import GRACE
from tests.support.servers import CouchServer
from tests.support.shares import Share, drive_share, local_share, s3_share

pytestmark = [pytest.mark.slow]


@pytest.fixture(params=["local", "s3", "drive"])
def share(request: pytest.FixtureRequest, tmp_path: Path) -> Share:
    if request.param == "local":
        return local_share(tmp_path, folders=("media",))
    if request.param == "s3":
        return s3_share(request.getfixturevalue("s3_server"), request.getfixturevalue("bucket"))
    return drive_share(request.getfixturevalue("drive_server"), folders=("media",))


@pytest.fixture
def daemon(tmp_path: Path, couch_server: CouchServer, share: Share, account: tuple[str, str]) -> Iterator[Daemon]:
    account_id, _ = account
    extra = (
        f"[backends.office]\n{share.backend_toml}\n[two_way]\ngrace_period = {GRACE}\n\n"
        f'[[media.library]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "media"\n'
        "settle_seconds = 0\n"
    )
    running = Daemon(config.load(str(write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id,)))))
    try:
        yield running
    finally:
        running.close()


def live_media(couch: CouchClient, account_id: str) -> dict[str, dict[str, Any]]:
    db = dbnames.account_db(account_id)
    docs = [d for d in couch.all_docs(db) if d.get("pvt_type") == "media" and not d.get("pvt_deleted")]
    return {d["description"]: d for d in docs}


def test_files_become_media_and_media_become_files_on_every_store(
    daemon: Daemon, share: Share, couch: CouchClient, account: tuple[str, str], tmp_path: Path
) -> None:
    account_id, _ = account
    share.put("media/Welcome.wav", au.tone(tmp_path / "w.wav", 2.0))
    share.put("media/hold/Jazz.mp3", au.tone(tmp_path / "j.mp3", 3.0))
    kazoo_made = kd.media_doc(account_id, au.tone(tmp_path / "k.mp3", 1.0))
    kazoo_made.update(name="From Monster", description="upload.mp3")
    kd.write_as_kazoo(couch, dbnames.account_db(account_id), kazoo_made)
    report = daemon.media.run_pass()
    assert (report.counts.get("created"), report.counts.get("exported")) == (2, 1), report
    media = live_media(couch, account_id)
    assert {"Welcome.wav", "Jazz.mp3", "upload.mp3"} <= set(media)
    for name, seconds in (("Welcome.wav", 2.0), ("Jazz.mp3", 3.0)):
        doc = media[name]
        stream = couch.open_attachment(dbnames.account_db(account_id), doc["_id"], next(iter(doc["_attachments"])))
        assert stream is not None
        copy = tmp_path / f"couch-{name}"
        copy.write_bytes(stream.read())
        assert abs(au.duration(copy) - seconds) < 0.15, name
    made_audio = base64.b64decode(next(iter(kazoo_made["_attachments"].values()))["data"])
    assert share.read("media/From Monster.mp3") == made_audio

    first_id = media["Welcome.wav"]["_id"]
    share.put("media/Welcome.wav", au.tone(tmp_path / "w2.wav", 4.0, frequency=550))
    first = daemon.media.run_pass()  # a replacement waits the grace period (the library tests time it)
    time.sleep(GRACE + 0.1)
    assert first.counts.get("replaced", 0) + daemon.media.run_pass().counts.get("replaced", 0) == 1
    assert live_media(couch, account_id)["Welcome.wav"]["_id"] == first_id

    jazz = share.read("media/hold/Jazz.mp3")
    assert jazz is not None
    share.put("media/Smooth Jazz.mp3", jazz)
    share.delete("media/hold/Jazz.mp3")
    assert daemon.media.run_pass().counts.get("renamed") == 1
    renamed = live_media(couch, account_id)
    assert "Jazz.mp3" not in renamed and renamed["Smooth Jazz.mp3"]["_id"] == media["Jazz.mp3"]["_id"]
    assert daemon.media.run_pass().counts == {}  # settled: nothing more to do on any side
