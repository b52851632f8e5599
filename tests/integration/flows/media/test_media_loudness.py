"""normalize and loudness: Kazoo gets mono audio at the library's sample rate, brought to the
target loudness (EBU R128, measured back with ffmpeg's ebur128 filter); the file in the
folder stays as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import audio as au
from tests.support.media_lib import Lib

TARGET = -23.0


def stream_facts(path: Path) -> dict[str, str]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        check=True,
        capture_output=True,
    )
    facts = json.loads(done.stdout)
    return {**facts["streams"][0], "format_name": facts["format"]["format_name"]}


@pytest.mark.library('normalize = "wav"', "sample_rate = 8000", f"loudness = {TARGET}")
def test_a_quiet_and_a_loud_file_both_reach_the_target_loudness_within_one_lu(lib: Lib, tmp_path: Path) -> None:
    quiet = au.tone(lib.folder / "quiet.mp3", 6.0, frequency=330, volume_db=-45)
    au.tone(lib.folder / "loud.flac", 6.0, frequency=880, volume_db=14)  # not a Kazoo format: converted
    assert abs(au.loudness(lib.folder / "quiet.mp3") - TARGET) > 10  # far off before
    assert abs(au.loudness(lib.folder / "loud.flac") - TARGET) > 10
    report = lib.run()
    assert report.counts.get("created") == 2, report
    for name in ("quiet.mp3", "loud.flac"):
        doc = lib.media()[name]
        assert doc["content_type"] == "audio/x-wav"
        sent = lib.audio_in_couch(doc, tmp_path)
        facts = stream_facts(sent)
        assert (facts["format_name"], facts["channels"], facts["sample_rate"]) == ("wav", 1, "8000"), facts
        assert abs(au.loudness(sent) - TARGET) <= 1.0, name
        assert abs(au.duration(sent) - 6.0) < 0.1
    assert (lib.folder / "quiet.mp3").read_bytes() == quiet  # the original stays in the folder
    assert lib.run().counts == {}  # the rendition differs from the file: still nothing to redo


@pytest.mark.library("loudness = -18")
def test_hold_music_is_brought_to_the_target_loudness(lib: Lib, tmp_path: Path) -> None:
    (lib.folder / "music-on-hold").mkdir()
    au.tone(lib.folder / "music-on-hold" / "a.wav", 4.0, volume_db=-40)
    au.tone(lib.folder / "music-on-hold" / "b.wav", 4.0, volume_db=-35)
    lib.run()
    account = lib.couch.get(lib.db, lib.account_id)
    assert account is not None
    playlist = lib.couch.get(lib.db, account["music_on_hold"]["media_id"])
    assert playlist is not None
    assert abs(au.loudness(lib.audio_in_couch(playlist, tmp_path)) + 18.0) <= 1.0


@pytest.mark.library('normalize = "mp3"', "sample_rate = 16000", f"loudness = {TARGET}")
def test_a_stereo_file_reaches_the_target_on_the_mono_rendition_kazoo_gets(lib: Lib, tmp_path: Path) -> None:
    au.stereo(lib.folder / "stereo.wav", 6.0, volume_db=-30)
    au.tone(lib.folder / "mono.wav", 6.0, frequency=440, volume_db=-30)
    lib.run()
    for name in ("stereo.wav", "mono.wav"):  # the stereo one measured 3 LU louder than its downmix
        sent = lib.audio_in_couch(lib.media()[name], tmp_path)
        assert stream_facts(sent)["channels"] == 1
        assert abs(au.loudness(sent) - TARGET) <= 1.0, (name, au.loudness(sent))
