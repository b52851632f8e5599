"""Hostile input to a media library: links, names and docs from tenants or anyone with folder
access. Each fails alone with a clear reason, nothing leaves the library's folder, nothing
is read that should not be, and the other files carry on in the same pass."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.daemon import Daemon
from syncd.flows.media import to_kazoo
from syncd.flows.media.from_kazoo import FromKazoo
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import s3_client, write_config
from tests.support import audio as au
from tests.support import kazoo_data as kd
from tests.support.media_lib import Lib
from tests.support.servers import CouchServer, S3Server


def test_a_link_in_the_library_is_never_read_and_the_file_it_points_to_never_becomes_media(
    lib: Lib, tmp_path: Path
) -> None:
    secret = tmp_path / "credentials.wav"
    au.tone(secret, 1.0)  # even real audio behind a link stays out
    os.symlink(secret, lib.folder / "innocent.wav")
    au.tone(lib.folder / "fine.wav", 1.0)
    report = lib.run()
    assert report.counts.get("created") == 1 and report.counts.get("rejected") == 1, report
    assert set(lib.media()) == {"fine.wav"}
    status = json.loads((lib.folder / "rejected" / "innocent.wav.status.json").read_text())
    assert "symbolic link" in status["reason"] and "never read" in status["note"]
    assert not (lib.folder / "rejected" / "innocent.wav").exists()
    assert lib.run().counts.get("rejected") is None  # told once, not every pass


@pytest.mark.parametrize(
    ("name", "prompt", "language"),
    [("../../../etc/evil", None, None), ("a/b\\c:d*e?f", None, None), ("x", "../../outside", "../..")],
)
def test_a_tenants_media_names_never_put_a_file_outside_the_library(
    lib: Lib, tmp_path: Path, name: str, prompt: str | None, language: str | None
) -> None:
    doc = kd.media_doc(lib.account_id, au.tone(tmp_path / "k.mp3", 0.5))
    doc.update(name=name, prompt_id=prompt, language=language)
    kd.write_as_kazoo(lib.couch, lib.db, {k: v for k, v in doc.items() if v is not None})
    assert lib.run().counts.get("exported") == 1
    store = lib.folder.parent
    files = [p for p in store.rglob("*") if p.is_file()]
    assert files and all(p.resolve().is_relative_to(lib.folder.resolve()) for p in files), files
    assert [p for p in files if p.suffix == ".mp3"], files


@pytest.mark.parametrize("bad", [{"name": {"nested": 1}}, {"content_type": ["audio/mpeg"]}, {"language": 42}])
def test_a_media_doc_with_fields_of_the_wrong_type_is_exported_under_a_safe_name(
    lib: Lib, tmp_path: Path, bad: dict[str, Any]
) -> None:
    doc = kd.media_doc(lib.account_id, au.tone(tmp_path / "k.mp3", 0.5))
    doc.update(bad)
    kd.write_as_kazoo(lib.couch, lib.db, doc)
    report = lib.run()
    assert report.counts.get("exported") == 1, report
    assert lib.run().counts.get("created") is None  # the exported file is that media


def test_one_file_that_fails_fails_alone_and_is_tried_again(lib: Lib, monkeypatch: Any) -> None:
    for name, seconds in (("a.wav", 0.5), ("b.wav", 0.7), ("c.wav", 0.5)):
        au.tone(lib.folder / name, seconds)
    real, b_size, failed = to_kazoo.judge, (lib.folder / "b.wav").stat().st_size, []

    def crashes_once_on_b(path: Path, limits: Any) -> Any:
        if path.stat().st_size == b_size and not failed:
            failed.append(path)
            raise RuntimeError("decoder crashed")
        return real(path, limits)

    monkeypatch.setattr(to_kazoo, "judge", crashes_once_on_b)
    report = lib.run()
    assert report.counts.get("created") == 2 and len(report.errors) == 1, report
    assert "b.wav" in report.errors[0] and "RuntimeError: decoder crashed" in report.errors[0]
    assert lib.run().counts.get("created") == 1
    assert set(lib.media()) == {"a.wav", "b.wav", "c.wav"}


@pytest.mark.library("max_size_mb = 1")
def test_a_file_over_max_size_is_rejected_before_it_is_read(lib: Lib, monkeypatch: Any) -> None:
    (lib.folder / "huge.wav").write_bytes(b"\0" * (2 * 1024 * 1024))
    backend = lib.daemon.media.backends.for_library(lib.daemon.config.media.libraries[0])
    opened: list[str] = []
    real_get = backend.get
    monkeypatch.setattr(backend, "get", lambda key: opened.append(key) or real_get(key))
    monkeypatch.setattr(to_kazoo, "judge", lambda *_: pytest.fail("a file over max_size_mb was judged"))
    report = lib.run()
    assert report.counts.get("rejected") == 1
    status = json.loads((lib.folder / "rejected/huge.wav.status.json").read_text())
    assert "over the library's max_size_mb" in status["reason"]
    assert opened == ["huge.wav"]  # read once, by the move to rejected/, never spooled for judging
    assert lib.media() == {}


def test_a_reference_from_a_deleted_user_does_not_block_and_a_live_callflow_does(lib: Lib) -> None:
    for name in ("menu.wav", "other1.wav", "other2.wav", "other3.wav"):
        au.tone(lib.folder / name, 0.5)
    lib.run()
    media = lib.media()
    gone_user = {
        "_id": kd.new_id(),
        "pvt_type": "user",
        "pvt_deleted": True,
        "music_on_hold": {"media_id": media["menu.wav"]["_id"]},
    }
    lib.couch.save(lib.db, gone_user)
    callflow = {
        "_id": kd.new_id(),
        "pvt_type": "callflow",
        "name": "Main",
        "flow": {"module": "play", "data": {"id": media["other1.wav"]["_id"]}, "children": {}},
    }
    lib.couch.save(lib.db, callflow)
    (lib.folder / "menu.wav").unlink()
    (lib.folder / "other1.wav").unlink()
    report = lib.run_past_grace()
    assert report.counts.get("delete-in-kazoo") == 1 and report.counts.get("refused") == 1, report
    assert "menu.wav" not in lib.media() and "other1.wav" in lib.media()
    refusal = [a for a in lib.audit() if a.doc_id == media["other1.wav"]["_id"] and "still used" in a.reason]
    assert refusal and "callflow 'Main'" in refusal[0].reason and "flow.data.id" in refusal[0].reason


def test_a_syncd_stopped_between_writing_the_media_and_recording_it_makes_no_second_media(
    lib: Lib, monkeypatch: Any
) -> None:
    au.tone(lib.folder / "once.wav", 0.5)
    state_media = lib.daemon.state.media
    real_track = state_media.track
    monkeypatch.setattr(state_media, "track", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    assert lib.run().errors  # the doc and its audio are in CouchDB, the state DB knows nothing
    assert len(lib.media()) == 1
    monkeypatch.setattr(state_media, "track", real_track)
    report = lib.run()  # as after a restart: the same derived id is found, not a second media
    assert report.counts.get("created") == 1 and report.counts.get("exported") is None, report
    assert len(lib.media()) == 1 and len(lib.daemon.state.media.of("media:main")) == 1
    assert sorted(p.name for p in lib.folder.iterdir() if p.is_file()) == [".syncd-marker", "once.wav"]


def test_hold_music_fields_of_the_wrong_type_on_a_tenants_docs_are_replaced_not_a_crash(lib: Lib) -> None:
    alice = {"_id": kd.new_id(), "pvt_type": "user", "username": "alice", "music_on_hold": ["not", "an", "object"]}
    lib.couch.save(lib.db, alice)
    account = lib.couch.get(lib.db, lib.account_id) or {}
    lib.couch.save(lib.db, {**account, "music_on_hold": "silence"})
    (lib.folder / "music-on-hold" / "users" / "alice").mkdir(parents=True)
    au.tone(lib.folder / "music-on-hold" / "users" / "alice" / "a.wav", 0.5)
    au.tone(lib.folder / "music-on-hold" / "b.wav", 0.5)
    report = lib.run()
    assert report.counts.get("hold-music") == 2 and not report.errors, report
    for doc_id in (alice["_id"], lib.account_id):
        doc = lib.couch.get(lib.db, doc_id) or {}
        assert isinstance(doc["music_on_hold"], dict) and doc["music_on_hold"]["media_id"]


def test_a_reference_deep_in_a_long_callflow_chain_still_blocks_the_delete(lib: Lib) -> None:
    for name in ("deep.wav", "p.wav", "q.wav", "r.wav"):
        au.tone(lib.folder / name, 0.5)
    lib.run()
    media_id = lib.media()["deep.wav"]["_id"]
    flow: dict[str, Any] = {"module": "play", "data": {"id": media_id}, "children": {}}
    for _ in range(300):  # 300 actions chained through Kazoo's default child key "_"
        flow = {"module": "play", "data": {"id": "other"}, "children": {"_": flow}}
    lib.couch.save(lib.db, {"_id": kd.new_id(), "pvt_type": "callflow", "name": "Long IVR", "flow": flow})
    (lib.folder / "deep.wav").unlink()
    report = lib.run_past_grace()
    assert report.counts.get("refused") == 1, report
    assert "deep.wav" in lib.media()
    refusal = [a.reason for a in lib.audit() if a.doc_id == media_id and "still used" in a.reason]
    assert refusal and "callflow 'Long IVR'" in refusal[0] and ".children._." in refusal[0]


def test_a_library_whose_backend_is_unreachable_fails_alone_and_recovers(
    tmp_path: Path, couch_server: CouchServer, couch: CouchClient, s3_server: S3Server, bucket: str
) -> None:
    """Two libraries in one pass: one's S3 endpoint does not answer, the other's audio still
    becomes media; status names the library that failed; once its endpoint answers, it syncs."""
    good, away = kd.new_id(), kd.new_id()
    for account_id in (good, away):
        kd.seed_account(couch, account_id)
    store = tmp_path / "store"
    (store / "good").mkdir(parents=True)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port held but never listened on: connections are refused
    endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    libraries = "".join(
        f'[[media.library]]\nname = "{name}"\naccount = "{account_id}"\nbackend = "{backend}"\n'
        f'folder = "media"\nsettle_seconds = 0\n\n'
        for name, account_id, backend in (("away", away, "office"), ("good", good, "files"))
    )
    s3 = (
        f'type = "s3"\nbucket = "{bucket}"\naccess_key_id = "AKIATEST"\nsecret_access_key = "test-secret"\n'
        'region = "us-east-1"\n'
    )
    extra = (
        f'[backends.files]\ntype = "local"\npath = "{store}"\n\n'
        f'[backends.office]\n{s3}endpoint_url = "{endpoint}"\n\n'
        f"[media]\npoll_interval = 0.2\n\n{libraries}"
    )
    (store / "media").mkdir()
    au.tone(store / "media" / "hello.wav", 1.0)
    daemon = _daemon(write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (good, away)))
    try:
        assert daemon.media.run_pass().counts.get("created") == 1
        assert _media_names(couch, good) == {"hello.wav"} and _media_names(couch, away) == set()
        problem = daemon.state.problems.all()["media-pass:away"]
        assert f"at {endpoint}: cannot list objects: Could not connect" in problem, problem
    finally:
        daemon.close()
        closed.close()
    mended = extra.replace(endpoint, s3_server.url)
    tone = au.tone(tmp_path / "menu.wav", 1.0)
    s3_client(s3_server.url).put_object(Bucket=bucket, Key="media/menu.wav", Body=tone)
    daemon = _daemon(write_config(tmp_path / "c.toml", couch_server.auth_url, mended, (good, away)))
    try:
        assert daemon.media.run_pass().counts.get("created") == 1
        assert _media_names(couch, away) == {"menu.wav"}
        assert "media-pass:away" not in daemon.state.problems.all()
    finally:
        daemon.close()


def _daemon(path: Path) -> Daemon:
    return Daemon(config.load(str(path)), exclusive=True)


def _media_names(couch: CouchClient, account_id: str) -> set[str]:
    docs = couch.all_docs(dbnames.account_db(account_id))
    return {d.get("description") for d in docs if d.get("pvt_type") == "media" and not d.get("pvt_deleted")}


@pytest.mark.library('normalize = "wav"', "sample_rate = 48000")
def test_a_rendition_over_kazoos_media_size_is_rejected_saying_what_to_do(lib: Lib) -> None:
    au.tone(lib.folder / "long.mp3", 60.0)  # 60 s: a small mp3, but 5.76 MB as 48 kHz 16-bit wav
    au.tone(lib.folder / "short.mp3", 2.0)
    report = lib.run()
    assert report.counts.get("rejected") == 1 and report.counts.get("created") == 1, report
    status = json.loads((lib.folder / "rejected/long.mp3.status.json").read_text())
    assert "its rendition is 5,760,0" in status["reason"] and "up to 5,242,880 bytes" in status["reason"]
    assert 'normalize = "mp3"' in status["reason"]
    assert list(lib.media()) == ["short.mp3"]  # nothing was written for the long one


def test_a_media_exported_from_kazoo_never_replaces_a_persons_file_under_any_name(lib: Lib, tmp_path: Path) -> None:
    twin = kd.media_doc(lib.account_id, au.tone(tmp_path / "twin.mp3", 0.5))
    twin["name"] = "Welcome"
    mine = {"Welcome.mp3": 1.0, f"Welcome ({twin['_id'][:8]}).mp3": 2.0}  # the name and its fallback: taken
    mine = {name: au.tone(lib.folder / name, seconds, frequency=550) for name, seconds in mine.items()}
    kd.write_as_kazoo(lib.couch, lib.db, twin)
    report = lib.run()
    assert report.counts.get("exported") == 1, report
    for name, data in mine.items():
        assert (lib.folder / name).read_bytes() == data  # untouched
    exported = lib.folder / f"Welcome ({twin['_id'][:8]}-2).mp3"
    assert abs(au.duration(exported) - 0.5) < 0.1  # Kazoo's audio, under a name nobody had


def test_a_file_rejected_onto_a_taken_name_leaves_the_file_there_alone(lib: Lib) -> None:
    (lib.folder / "rejected").mkdir()
    (lib.folder / "rejected" / "bad.wav").write_bytes(b"rejected last week, kept by a person")
    (lib.folder / "bad.wav").write_bytes(b"not audio at all")
    report = lib.run()
    assert report.counts.get("rejected") == 1, report
    assert (lib.folder / "rejected" / "bad.wav").read_bytes() == b"rejected last week, kept by a person"
    assert (lib.folder / "rejected" / "bad (2).wav").read_bytes() == b"not audio at all"
    status = json.loads((lib.folder / "rejected" / "bad (2).wav.status.json").read_text())
    assert status["file"] == "rejected/bad (2).wav"


def test_audio_replaced_in_kazoo_never_replaces_a_file_a_person_saved_after_the_listing(
    lib: Lib, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass listed the file as syncd wrote it; a person saves over it before Kazoo's new audio
    is written: the write replaces only the listed version, so the person's file stays."""
    au.tone(lib.folder / "Promo.wav", 1.0)
    lib.run()
    doc = lib.media()["Promo.wav"]
    bare = {k: v for k, v in doc.items() if k != "_attachments"}
    bare["_rev"] = lib.couch.save(lib.db, bare)
    new_audio = au.tone(tmp_path / "new.wav", 2.0, frequency=770)
    lib.couch.put_attachment(lib.db, bare, new_audio, f"uploaded_file_{kd.gregorian_now()}.wav", "audio/x-wav")
    theirs = au.tone(tmp_path / "theirs.wav", 1.5, frequency=300)
    export = FromKazoo._export

    def person_saves_first(self: FromKazoo, *args: Any) -> bool:
        (lib.folder / "Promo.wav").write_bytes(theirs)
        return export(self, *args)

    monkeypatch.setattr(FromKazoo, "_export", person_saves_first)
    assert lib.run().counts.get("exported") is None
    assert (lib.folder / "Promo.wav").read_bytes() == theirs


def test_a_status_file_never_replaces_a_persons_file_at_its_name(lib: Lib) -> None:
    (lib.folder / "rejected").mkdir()
    notes = b"my notes on why bad.wav was bad"
    (lib.folder / "rejected" / "bad.wav.status.json").write_bytes(notes)
    (lib.folder / "bad.wav").write_bytes(b"not audio at all")
    assert lib.run().counts.get("rejected") == 1
    assert (lib.folder / "rejected" / "bad.wav.status.json").read_bytes() == notes
    status = json.loads((lib.folder / "rejected" / "bad.wav (2).status.json").read_text())
    assert status["file"] == "rejected/bad.wav" and status["status"] == "rejected"
    assert lib.run().counts.get("rejected") is None  # the status beside it is not taken for a file
