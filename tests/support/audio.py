"""Audio for tests, made by ffmpeg (Debian's ffmpeg package, which .ci/run installs): tones of a
known length and level, and the facts ffprobe and ffmpeg's ebur128 filter measure back."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path


def tone(path: Path, seconds: float, frequency: int = 440, volume_db: float = -20.0) -> bytes:
    """A sine tone written to path (its suffix picks the format: .wav, .mp3, .ogg, .flac); returns its bytes."""
    codec = {".ogg": ["-c:a", "libvorbis"], ".mp3": ["-c:a", "libmp3lame"]}.get(path.suffix, [])
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"sine=frequency={frequency}:duration={seconds}:sample_rate=16000",
            "-af", f"volume={volume_db}dB", "-ac", "1", *codec, str(path),
        ],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def stereo(path: Path, seconds: float, volume_db: float = -20.0) -> bytes:
    """Two different tones, one per channel (as music is: the channels are not one signal twice)."""
    sines = [f"sine=frequency={f}:duration={seconds}:sample_rate=16000" for f in (440, 660)]
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", sines[0], "-f", "lavfi", "-i", sines[1],
            "-filter_complex", f"[0:a][1:a]amerge=inputs=2,volume={volume_db}dB", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def duration(path: Path) -> float:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", str(path)],
        check=True,
        capture_output=True,
    )
    return float(json.loads(done.stdout)["format"]["duration"])


def loudness(path: Path) -> float:
    """Integrated loudness in LUFS, as ffmpeg's ebur128 filter measures it."""
    done = subprocess.run(
        ["ffmpeg", "-v", "info", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        check=True,
        capture_output=True,
    )
    found = re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr.decode())
    return float(found[-1])
