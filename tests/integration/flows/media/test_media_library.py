"""A media library on a local folder against CouchDB: files become media docs with their audio,
Kazoo's media become files, replaced and renamed files keep their media, and deletes go
through the whole safety kit (grace, guard, marker, referrers) with every refusal audited."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncd.model import media as records
from syncd.model.media import Library
from syncd.state.items import LIBRARY_TARGET_PREFIX
from tests.support import audio as au
from tests.support import kazoo_data as kd
from tests.support.media_lib import GRACE, Lib


@dataclass(frozen=True)
class Asked:
    """What `syncd reconcile --account A [--allow-deletes]` passes the daemon."""

    account: str
    allow_deletes: bool
    dry_run: bool = False


def test_library_targets_are_those_the_attachments_flow_leaves_alone() -> None:
    assert records.TARGET_PREFIX == LIBRARY_TARGET_PREFIX
    assert Library("x", "a" * 32, "files", "media").target == "media:x"


def test_a_wav_and_an_mp3_dropped_in_become_media_with_their_audio(lib: Lib, tmp_path: Path) -> None:
    au.tone(lib.folder / "Welcome.wav", 2.0)
    (lib.folder / "hold").mkdir()
    au.tone(lib.folder / "hold" / "Jazz Loop.mp3", 3.0)
    report = lib.run()
    assert report.counts.get("created") == 2, report
    media = lib.media()
    assert set(media) == {"Welcome.wav", "Jazz Loop.mp3"}
    wav, mp3 = media["Welcome.wav"], media["Jazz Loop.mp3"]
    assert (wav["name"], wav["content_type"], wav["media_source"]) == ("Welcome", "audio/x-wav", "upload")
    assert (mp3["name"], mp3["content_type"], mp3["streamable"]) == ("Jazz Loop", "audio/mpeg", True)
    assert wav["content_length"] == (lib.folder / "Welcome.wav").stat().st_size
    assert wav["language"] == "en-us" and wav["pvt_account_id"] == lib.account_id
    assert next(iter(mp3["_attachments"])).startswith("uploaded_file_")
    assert abs(au.duration(lib.audio_in_couch(wav, tmp_path)) - 2.0) < 0.1
    assert abs(au.duration(lib.audio_in_couch(mp3, tmp_path)) - 3.0) < 0.15
    assert lib.run().counts.get("created") is None  # a second pass duplicates nothing
    assert len(lib.media()) == 2


def just_now(path: Path) -> None:
    """The file's modification time a minute ahead: however long the machine took to write it,
    it counts as still only from the pass that first lists it (by this process's own clock), so
    a test sees the grace period start at that pass."""
    ahead = time.time() + 60
    os.utime(path, (ahead, ahead))


def test_a_replaced_file_keeps_its_media_id_and_a_renamed_file_keeps_its_media(lib: Lib, tmp_path: Path) -> None:
    au.tone(lib.folder / "greeting.wav", 2.0)
    lib.run()
    first = lib.media()["greeting.wav"]
    time.sleep(0.01)
    au.tone(lib.folder / "greeting.wav", 4.0, frequency=660)
    just_now(lib.folder / "greeting.wav")
    assert lib.run().counts.get("replaced") is None  # the old audio goes with it: it waits the grace period
    assert lib.run_past_grace().counts.get("replaced") == 1
    assert any(a.action == "media-replaced" and a.doc_id == first["_id"] for a in lib.audit())
    replaced = lib.media()["greeting.wav"]
    assert replaced["_id"] == first["_id"]
    assert abs(au.duration(lib.audio_in_couch(replaced, tmp_path)) - 4.0) < 0.1
    assert len(replaced["_attachments"]) == 1  # the old binary went, as Crossbar's POST does
    (lib.folder / "moved").mkdir()
    (lib.folder / "greeting.wav").rename(lib.folder / "moved" / "Main Greeting.wav")
    assert lib.run().counts.get("renamed") == 1
    renamed = lib.media()
    assert list(renamed) == ["Main Greeting.wav"]
    assert renamed["Main Greeting.wav"]["_id"] == first["_id"]
    assert renamed["Main Greeting.wav"]["name"] == "Main Greeting"
    time.sleep(GRACE + 0.1)
    lib.run()
    assert lib.media()["Main Greeting.wav"]["_id"] == first["_id"]  # nothing deleted by the move


def test_media_made_in_kazoo_appear_as_files_and_greetings_only_when_asked(lib: Lib, tmp_path: Path) -> None:
    data = au.tone(tmp_path / "kazoo.mp3", 1.0)
    made = kd.media_doc(lib.account_id, data)
    made["name"] = "Made in Monster"
    kd.write_as_kazoo(lib.couch, lib.db, made)
    greeting = kd.media_doc(lib.account_id, data)
    greeting.update(name="vm greeting", owner_id=kd.new_id(), media_source="recording")
    kd.write_as_kazoo(lib.couch, lib.db, greeting)
    report = lib.run()
    assert report.counts.get("exported") == 1, report
    assert (lib.folder / "Made in Monster.mp3").read_bytes() == data
    assert not (lib.folder / "vm greeting.mp3").exists()
    assert lib.run().counts.get("created") is None  # the exported file is that media, not a new one
    live = [d["_id"] for d in lib.couch.all_docs(lib.db) if d.get("pvt_type") == "media" and not d.get("pvt_deleted")]
    assert sorted(live) == sorted([made["_id"], greeting["_id"]])


def test_a_media_deleted_in_kazoo_sends_its_file_to_the_trash(lib: Lib) -> None:
    au.tone(lib.folder / "old.wav", 1.0)
    lib.run()
    doc = lib.media()["old.wav"]
    lib.couch.save(lib.db, {**doc, "pvt_deleted": True})
    assert lib.run().counts.get("trashed") == 1
    assert not (lib.folder / "old.wav").exists()
    assert [p.name for p in (lib.folder / ".syncd-trash").rglob("*.wav")] == ["old.wav"]
    assert any(a.action == "trash-object" and a.doc_id == doc["_id"] for a in lib.audit())


def test_a_text_file_named_mp3_is_rejected_with_a_status_file_and_no_media(lib: Lib) -> None:
    (lib.folder / "notes.mp3").write_text("this is not audio\n" * 50)
    (lib.folder / "empty.wav").write_bytes(b"")
    au.tone(lib.folder / "lossless.flac", 1.0)
    report = lib.run()
    assert report.counts.get("rejected") == 3, report
    assert lib.media() == {}
    status = json.loads((lib.folder / "rejected" / "notes.mp3.status.json").read_text())
    assert status["status"] == "rejected" and "no audio" in status["reason"] or "decode" in status["reason"]
    assert (lib.folder / "rejected" / "notes.mp3").exists() and not (lib.folder / "notes.mp3").exists()
    assert "empty" in json.loads((lib.folder / "rejected" / "empty.wav.status.json").read_text())["reason"]
    flac = json.loads((lib.folder / "rejected" / "lossless.flac.status.json").read_text())["reason"]
    assert "flac" in flac and "wav, mp3 or ogg" in flac
    assert lib.run().counts.get("rejected") is None  # judged once; rejected/ is not the library's media


def test_deleting_an_unreferenced_file_soft_deletes_its_media_after_the_grace_period(lib: Lib) -> None:
    for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
        au.tone(lib.folder / name, 1.0)
    lib.run()
    doc = lib.media()["a.wav"]
    (lib.folder / "a.wav").unlink()
    assert lib.run().counts.get("missing") == 1
    assert "a.wav" in lib.media()  # first sighting: nothing deleted yet
    time.sleep(GRACE + 0.1)
    assert lib.run().counts.get("delete-in-kazoo") == 1
    stored = lib.couch.get(lib.db, doc["_id"])
    assert stored is not None and stored["pvt_deleted"] is True  # soft: the doc and its audio stay
    assert stored["_attachments"]
    assert any(a.action == "soft-delete" and a.doc_id == doc["_id"] for a in lib.audit())


def test_deleting_the_accounts_hold_music_is_refused_and_audited_naming_the_account(lib: Lib) -> None:
    for name in ("hold.wav", "x.wav", "y.wav"):
        au.tone(lib.folder / name, 1.0)
    lib.run()
    hold = lib.media()["hold.wav"]
    account = lib.couch.get(lib.db, lib.account_id)
    assert account is not None
    lib.couch.save(lib.db, {**account, "music_on_hold": {"media_id": hold["_id"]}})
    user = {
        "_id": kd.new_id(),
        "pvt_type": "user",
        "username": "alice",
        "music_on_hold": {"media_id": f"/{lib.account_id}/{hold['_id']}"},
    }
    lib.couch.save(lib.db, user)
    (lib.folder / "hold.wav").unlink()
    report = lib.run_past_grace()
    assert report.counts.get("refused") == 1, report
    assert "hold.wav" in lib.media()
    refusals = [a for a in lib.audit() if a.doc_id == hold["_id"] and "still used" in a.reason]
    assert refusals, lib.audit()
    assert "account" in refusals[0].reason and "music_on_hold.media_id" in refusals[0].reason
    assert "alice" in refusals[0].reason
    assert (lib.folder / "hold.wav").exists()  # put back: the folder shows what Kazoo still plays
    told = json.loads((lib.folder / "hold.wav.status.json").read_text())
    assert told["status"] == "kept" and "still used" in told["reason"]
    time.sleep(GRACE + 0.1)
    lib.run()
    assert lib.run().counts.get("refused") is None  # refused once, not every grace period
    assert len([a for a in lib.audit() if a.doc_id == hold["_id"] and "still used" in a.reason]) == 1


def test_deleting_every_file_trips_the_guard_and_nothing_is_deleted(lib: Lib) -> None:
    names = [f"m{i}.wav" for i in range(5)]
    for name in names:
        au.tone(lib.folder / name, 0.5)
    lib.run()
    for name in names:
        (lib.folder / name).unlink()
    report = lib.run_past_grace()
    assert report.counts.get("held") == 5, report
    assert set(lib.media()) == set(names)
    assert lib.daemon.state.holds.all().get(lib.account_id)
    assert any(a.action == "held" for a in lib.audit())
    assert "syncd reconcile --account" in report.held[lib.account_id]
    told = lib.daemon.reconcile(Asked(lib.account_id, allow_deletes=False), threading.Event(), None, print)
    assert told.held and set(lib.media()) == set(names)  # without --allow-deletes: still held
    done = lib.daemon.reconcile(Asked(lib.account_id, allow_deletes=True), threading.Event(), None, print)
    assert done.counts["media delete-in-kazoo"] == 5 and lib.media() == {}, done.counts


def test_a_library_folder_that_lists_nothing_deletes_nothing(lib: Lib) -> None:
    au.tone(lib.folder / "one.wav", 0.5)
    lib.run()
    for path in sorted(lib.folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    lib.run_past_grace()
    assert "one.wav" in lib.media()
    assert any("listed nothing" in a.reason for a in lib.audit())


def test_a_prompt_file_becomes_the_accounts_prompt_override(lib: Lib) -> None:
    (lib.folder / "prompts" / "fr-ca").mkdir(parents=True)
    au.tone(lib.folder / "prompts" / "fr-ca" / "vm-enter_pass.mp3", 1.0)
    lib.run()
    doc = lib.couch.get(lib.db, "fr-ca/vm-enter_pass")
    assert doc is not None, lib.media()
    assert (doc["prompt_id"], doc["language"], doc["name"]) == ("vm-enter_pass", "fr-ca", "vm-enter_pass")
    assert doc["_attachments"]


def test_audio_replaced_in_kazoo_replaces_the_file_and_a_taken_name_gets_the_media_id(lib: Lib, tmp_path: Path) -> None:
    au.tone(lib.folder / "Promo.wav", 1.0)
    lib.run()
    doc = lib.media()["Promo.wav"]
    new_audio = au.tone(tmp_path / "new.wav", 2.0, frequency=770)
    bare = {k: v for k, v in doc.items() if k != "_attachments"}  # as Crossbar's POST: old binary out, new in
    bare["_rev"] = lib.couch.save(lib.db, bare)
    lib.couch.put_attachment(lib.db, bare, new_audio, f"uploaded_file_{kd.gregorian_now()}.wav", "audio/x-wav")
    assert lib.run().counts.get("exported") == 1
    assert (lib.folder / "Promo.wav").read_bytes() == new_audio
    twin = kd.media_doc(lib.account_id, au.tone(tmp_path / "twin.mp3", 0.5))
    twin["name"] = "Promo"
    kd.write_as_kazoo(lib.couch, lib.db, twin)
    lib.couch.save(lib.db, {**(lib.couch.get(lib.db, doc["_id"]) or {}), "name": "Promo"})
    (lib.folder / "Promo.mp3").write_bytes(b"")  # a file already has the name Kazoo's media would get
    lib.run()
    assert (lib.folder / f"Promo ({twin['_id'][:8]}).mp3").exists()


@pytest.mark.library("max_seconds = 2")
def test_audio_longer_than_max_seconds_is_rejected_and_a_kazoo_prompt_becomes_a_prompt_file(
    lib: Lib, tmp_path: Path
) -> None:
    au.tone(lib.folder / "speech.mp3", 3.0)
    au.tone(lib.folder / "short.mp3", 1.0)
    assert lib.run().counts.get("rejected") == 1
    reason = json.loads((lib.folder / "rejected" / "speech.mp3.status.json").read_text())["reason"]
    assert "lasts 3 s, over the library's max_seconds (2 s)" in reason
    assert set(lib.media()) == {"short.mp3"}
    prompt = kd.media_doc(lib.account_id, au.tone(tmp_path / "p.wav", 0.5))
    prompt.update(_id="de-de/vm-goodbye", name="vm-goodbye", prompt_id="vm-goodbye", language="de-de")
    kd.write_as_kazoo(lib.couch, lib.db, prompt)
    assert lib.run().counts.get("exported") == 1
    assert (lib.folder / "prompts" / "de-de" / "vm-goodbye.mp3").exists()


def test_the_attachments_flows_scans_and_confirmations_leave_a_librarys_items_alone(lib: Lib) -> None:
    for name in ("x.wav", "y.wav", "z.wav"):
        au.tone(lib.folder / name, 0.5)
    lib.run()
    (lib.folder / "x.wav").unlink()
    lib.run()  # x.wav: a first sighting, for the library's own engine
    time.sleep(GRACE + 0.1)
    report = lib.daemon.attachments.two_way_pass(scan=True)
    assert not report.refused and not report.counts, report
    assert not [s for s in lib.daemon.state.problems.all() if "media:" in s]
    assert "x.wav" in lib.media()  # only the library's pass deletes its media
    assert lib.run().counts.get("delete-in-kazoo") == 1


def test_most_of_a_library_overwritten_at_once_is_held_by_the_guard_until_the_operator_allows_it(
    lib: Lib, tmp_path: Path
) -> None:
    """A tool that overwrote every file (silence, a wrong sync) would take every media's audio
    away: replacements are weighed by the mass-delete guard as deletes are."""
    for i in range(4):
        au.tone(lib.folder / f"f{i}.wav", 1.0)
    lib.run()
    before = {name: doc["_rev"] for name, doc in lib.media().items()}
    for i in range(3):
        au.tone(lib.folder / f"f{i}.wav", 2.0, frequency=880)
    for i in range(3):  # overwritten at one moment, as a tool would: they settle together
        just_now(lib.folder / f"f{i}.wav")
    report = lib.run_past_grace()
    assert lib.account_id in report.held and "3 of 4" in report.held[lib.account_id], report
    assert {name: doc["_rev"] for name, doc in lib.media().items()} == before  # nothing replaced
    assert not any(a.action == "media-replaced" for a in lib.audit())
    done = lib.run(allow_deletes=True)  # syncd reconcile --account A --allow-deletes
    assert done.counts.get("replaced") == 3, done
    assert abs(au.duration(lib.audio_in_couch(lib.media()["f0.wav"], tmp_path)) - 2.0) < 0.1
