"""Music on hold by folder: files in music-on-hold/ become one playlist media set as the
account's hold music; music-on-hold/users/<username>/ sets a user's; emptying a folder
puts the previous values back."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from tests.support import audio as au
from tests.support import kazoo_data as kd
from tests.support.media_lib import GRACE, Lib


def moh(doc: dict[str, Any] | None) -> Any:
    assert doc is not None
    return (doc.get("music_on_hold") or {}).get("media_id")


def test_three_files_become_one_playlist_as_long_as_the_three_set_as_the_accounts_hold_music(
    lib: Lib, tmp_path: Path
) -> None:
    folder = lib.folder / "music-on-hold"
    folder.mkdir()
    for name, seconds in (("1-intro.wav", 1.0), ("2-jazz.mp3", 2.0), ("3-outro.ogg", 1.5)):
        au.tone(folder / name, seconds)
    report = lib.run()
    assert report.counts.get("hold-music") == 1, report
    media_id = moh(lib.couch.get(lib.db, lib.account_id))
    assert media_id
    playlist = lib.couch.get(lib.db, media_id)
    assert playlist is not None and playlist["source_type"] == "syncd_music_on_hold"
    assert abs(au.duration(lib.audio_in_couch(playlist, tmp_path)) - 4.5) < 0.2
    assert not [p for p in lib.folder.iterdir() if p.is_file() and p.suffix == ".mp3"]  # never exported as a file
    assert lib.run().counts.get("hold-music") is None  # unchanged folder: nothing rebuilt

    au.tone(folder / "4-more.wav", 1.0)
    assert lib.run().counts.get("hold-music") == 1
    assert moh(lib.couch.get(lib.db, lib.account_id)) == media_id  # the same media, longer
    rebuilt = lib.couch.get(lib.db, media_id)
    assert rebuilt is not None and abs(au.duration(lib.audio_in_couch(rebuilt, tmp_path)) - 5.5) < 0.2


def test_a_users_folder_sets_the_users_hold_music_and_emptying_folders_restores_the_previous_values(
    lib: Lib,
) -> None:
    alice = {"_id": kd.new_id(), "pvt_type": "user", "username": "alice", "music_on_hold": {"media_id": "old-alice"}}
    lib.couch.save(lib.db, alice)
    (lib.folder / "music-on-hold" / "users" / "alice").mkdir(parents=True)
    au.tone(lib.folder / "music-on-hold" / "users" / "alice" / "calm.wav", 1.0)
    au.tone(lib.folder / "music-on-hold" / "lobby.wav", 1.0)
    lib.run()
    alice_moh = moh(lib.couch.get(lib.db, alice["_id"]))
    account_moh = moh(lib.couch.get(lib.db, lib.account_id))
    assert alice_moh not in (None, "old-alice") and account_moh and account_moh != alice_moh

    shutil.rmtree(lib.folder / "music-on-hold")
    report = lib.run_past_grace()
    assert report.counts.get("hold-music-restored") == 2, report
    assert moh(lib.couch.get(lib.db, alice["_id"])) == "old-alice"
    account = lib.couch.get(lib.db, lib.account_id)
    assert account is not None and moh(account) is None  # it had none before
    for media_id in (alice_moh, account_moh):
        gone = lib.couch.get(lib.db, media_id)
        assert gone is not None and gone["pvt_deleted"] is True  # soft: Kazoo's own way
    assert any(a.action == "hold-music-restored" for a in lib.audit())


def test_a_value_set_by_someone_else_meanwhile_is_kept_when_the_folder_empties(lib: Lib) -> None:
    (lib.folder / "music-on-hold").mkdir()
    au.tone(lib.folder / "music-on-hold" / "a.wav", 1.0)
    lib.run()
    account = lib.couch.get(lib.db, lib.account_id)
    assert account is not None
    lib.couch.save(lib.db, {**account, "music_on_hold": {"media_id": "chosen-in-monster"}})
    (lib.folder / "music-on-hold" / "a.wav").unlink()
    lib.run_past_grace()
    assert moh(lib.couch.get(lib.db, lib.account_id)) == "chosen-in-monster"


def test_a_folder_for_a_user_that_does_not_exist_is_its_own_problem_and_the_account_still_gets_its_music(
    lib: Lib,
) -> None:
    (lib.folder / "music-on-hold" / "users" / "nobody").mkdir(parents=True)
    au.tone(lib.folder / "music-on-hold" / "users" / "nobody" / "x.wav", 1.0)
    au.tone(lib.folder / "music-on-hold" / "main.wav", 1.0)
    report = lib.run()
    assert report.counts.get("hold-music") == 1
    assert any("no user with username 'nobody'" in e for e in report.errors), report
    assert moh(lib.couch.get(lib.db, lib.account_id))


def test_a_bad_file_in_a_hold_music_folder_is_rejected_and_the_others_still_play(lib: Lib) -> None:
    (lib.folder / "music-on-hold").mkdir()
    au.tone(lib.folder / "music-on-hold" / "good.wav", 1.0)
    (lib.folder / "music-on-hold" / "readme.mp3").write_text("not audio\n" * 20)
    report = lib.run()
    assert report.counts.get("hold-music") == 1 and report.counts.get("rejected") == 1, report
    assert (lib.folder / "rejected" / "music-on-hold" / "readme.mp3.status.json").exists()


def test_device_and_group_folders_set_that_devices_and_that_groups_hold_music(lib: Lib) -> None:
    device = {"_id": kd.new_id(), "pvt_type": "device", "name": "lobby phone"}
    group = {"_id": kd.new_id(), "pvt_type": "group", "name": "sales", "music_on_hold": {"media_id": "sales-old"}}
    for doc in (device, group):
        lib.couch.save(lib.db, doc)
    for folder in ("devices/lobby phone", "groups/sales"):
        (lib.folder / "music-on-hold" / folder).mkdir(parents=True)
        au.tone(lib.folder / "music-on-hold" / folder / "tune.wav", 1.0)
    assert lib.run().counts.get("hold-music") == 2
    device_moh, group_moh = moh(lib.couch.get(lib.db, device["_id"])), moh(lib.couch.get(lib.db, group["_id"]))
    assert device_moh and group_moh not in (None, "sales-old") and device_moh != group_moh
    assert moh(lib.couch.get(lib.db, lib.account_id)) is None  # the account's own is not touched
    shutil.rmtree(lib.folder / "music-on-hold" / "groups")
    lib.run_past_grace()
    assert moh(lib.couch.get(lib.db, group["_id"])) == "sales-old"
    assert moh(lib.couch.get(lib.db, device["_id"])) == device_moh


def test_hold_music_stays_while_a_mass_delete_is_held_and_an_empty_folder_waits_the_grace_period(lib: Lib) -> None:
    for i in range(5):
        au.tone(lib.folder / f"prompt{i}.wav", 0.3)
    (lib.folder / "music-on-hold").mkdir()
    au.tone(lib.folder / "music-on-hold" / "tune.wav", 1.0)
    lib.run()
    playing = moh(lib.couch.get(lib.db, lib.account_id))
    assert playing
    for path in list(lib.folder.rglob("*.wav")):  # everything goes at once: a wrong mount, a bad sync
        path.unlink()
    lib.run()
    assert moh(lib.couch.get(lib.db, lib.account_id)) == playing  # first sighting: nothing changes yet
    report = lib.run_past_grace()
    assert lib.account_id in report.held, report  # the guard holds the five deletes...
    assert moh(lib.couch.get(lib.db, lib.account_id)) == playing  # ...and the hold music with them
    assert not (lib.couch.get(lib.db, playing) or {}).get("pvt_deleted")
    assert not any(a.action == "hold-music-restored" for a in lib.audit())
    done = lib.run(allow_deletes=True)  # syncd reconcile --account A --allow-deletes: the operator's word
    assert done.counts.get("hold-music-restored") == 1, done
    assert moh(lib.couch.get(lib.db, lib.account_id)) is None


def _playlist_of_four(lib: Lib, tmp_path: Path) -> tuple[Path, str]:
    folder = lib.folder / "music-on-hold"
    folder.mkdir()
    for i in range(4):
        au.tone(folder / f"{i}-track.wav", 1.0, frequency=300 + 100 * i)
    assert lib.run().counts.get("hold-music") == 1
    media_id = moh(lib.couch.get(lib.db, lib.account_id))
    return folder, media_id


def _seconds(lib: Lib, media_id: str, tmp_path: Path) -> float:
    return au.duration(lib.audio_in_couch(lib.couch.get(lib.db, media_id) or {}, tmp_path))


def test_a_file_gone_from_a_playlist_waits_the_grace_period_and_is_audited_as_a_delete(
    lib: Lib, tmp_path: Path
) -> None:
    folder, media_id = _playlist_of_four(lib, tmp_path)
    (folder / "2-track.wav").unlink()
    first = lib.run()
    assert first.counts.get("hold-music") is None and first.look_again_in  # first sighting: callers hear all four
    assert abs(_seconds(lib, media_id, tmp_path) - 4.0) < 0.2
    au.tone(folder / "2-track.wav", 1.0, frequency=500)  # back before the grace period ends: nothing happened
    time.sleep(GRACE + 0.1)
    assert lib.run().counts.get("hold-music") == 1  # the file's new version is played; nothing was removed
    assert not any(a.action == "hold-music-file-removed" for a in lib.audit())
    (folder / "2-track.wav").unlink()
    report = lib.run_past_grace()
    assert report.counts.get("hold-music") == 1, report
    assert moh(lib.couch.get(lib.db, lib.account_id)) == media_id  # the same media, three tracks now
    assert abs(_seconds(lib, media_id, tmp_path) - 3.0) < 0.2
    (line,) = [a for a in lib.audit() if a.action == "hold-music-file-removed"]
    assert (line.object_key, line.doc_id, line.side) == ("music-on-hold/2-track.wav", media_id, "kazoo")


def test_most_of_a_playlist_gone_at_once_is_held_by_the_guard_until_the_operator_allows_it(
    lib: Lib, tmp_path: Path
) -> None:
    folder, media_id = _playlist_of_four(lib, tmp_path)
    for i in (0, 1, 2):  # three of four: over the guard's share (50%)
        (folder / f"{i}-track.wav").unlink()
    report = lib.run_past_grace()
    assert lib.account_id in report.held and "3 of 4" in report.held[lib.account_id], report
    assert abs(_seconds(lib, media_id, tmp_path) - 4.0) < 0.2  # callers still hear all four
    assert not any(a.action == "hold-music-file-removed" for a in lib.audit())
    assert any(a.action == "held" for a in lib.audit())
    done = lib.run(allow_deletes=True)
    assert done.counts.get("hold-music") == 1, done
    assert abs(_seconds(lib, media_id, tmp_path) - 1.0) < 0.2
    assert len([a for a in lib.audit() if a.action == "hold-music-file-removed"]) == 3
