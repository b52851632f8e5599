"""Audio judged by decoding it, never by its name: ffprobe (Debian's ffmpeg package) reads
the file and says what it holds.

A file is taken when it has an audio stream, no picture stream beyond cover art,
a duration within the library's limits, and a container Kazoo serves
(docs/kazoo.md §8: wav, mp3, ogg). Anything else is a rejection whose reason
a person can act on. A text file renamed `.mp3` has no audio stream: rejected.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.errors import SyncdError

PROBE_TIMEOUT = 60.0  # seconds; a file ffprobe cannot judge in this time is rejected
# ffprobe's format name -> (content type as Kazoo's media schema lists it, attachment extension)
KAZOO_FORMATS = {"wav": ("audio/x-wav", "wav"), "mp3": ("audio/mpeg", "mp3"), "ogg": ("audio/ogg", "ogg")}


class AudioRejected(SyncdError):
    """The file is not audio Kazoo can play; the message says why and what to do."""


class ToolMissing(SyncdError):
    """ffprobe or ffmpeg is not installed."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_seconds: float


@dataclass(frozen=True)
class Audio:
    container: str  # ffprobe's first format name: "wav", "mp3", "ogg", "flac" ...
    duration: float
    channels: int
    sample_rate: int

    @property
    def kazoo_format(self) -> tuple[str, str] | None:
        """(content type, extension) when Kazoo serves this container as it is."""
        return KAZOO_FORMATS.get(self.container)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not installed; media libraries need it: apt-get install ffmpeg")
    return found


def judge(path: Path, limits: Limits) -> Audio:
    """What audio the file holds; raises AudioRejected with the reason."""
    size = path.stat().st_size
    if size == 0:
        raise AudioRejected("the file is empty")
    if size > limits.max_bytes:
        raise AudioRejected(f"{size} bytes is over the library's max_size_mb ({limits.max_bytes} bytes)")
    facts = _probe(path)
    audio = _audio(facts)
    if audio.duration <= 0:
        raise AudioRejected("the audio has no length (0 seconds)")
    if audio.duration > limits.max_seconds:
        raise AudioRejected(
            f"the audio lasts {audio.duration:.0f} s, over the library's max_seconds ({limits.max_seconds:g} s)"
        )
    return audio


def _probe(path: Path) -> dict[str, Any]:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed tool, the file as one argument
            [tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AudioRejected(f"ffprobe could not read the file within {PROBE_TIMEOUT:g} s") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise AudioRejected(f"not audio ffprobe can decode ({why[-1] if why else 'no reason given'})")
    try:
        facts = json.loads(done.stdout)
    except ValueError:
        raise AudioRejected("ffprobe gave no readable answer for this file") from None
    return facts if isinstance(facts, dict) else {}


def _audio(facts: dict[str, Any]) -> Audio:
    streams = [s for s in facts.get("streams") or [] if isinstance(s, dict)]
    sound = [s for s in streams if s.get("codec_type") == "audio"]
    pictures = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    container = str((facts.get("format") or {}).get("format_name") or "?").split(",")[0]
    if not sound:
        raise AudioRejected(f"no audio in it (ffprobe reads it as {container!r})")
    if pictures:
        raise AudioRejected("it holds video; a media library takes audio only")
    first = sound[0]
    return Audio(
        container=container,
        duration=_number((facts.get("format") or {}).get("duration")) or _number(first.get("duration")),
        channels=int(_number(first.get("channels"))),
        sample_rate=int(_number(first.get("sample_rate"))),
    )


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number and number not in (float("inf"), float("-inf")) else 0.0


JOIN_TIMEOUT = 600.0  # seconds ffmpeg may take to join a playlist


def join(paths: list[Path], out: Path, sample_rate: int) -> None:
    """Join audio files end to end, in the order given, into one mono mp3 at sample_rate."""
    inputs = [arg for path in paths for arg in ("-i", str(path))]
    chains = "".join(f"[{i}:a]aresample={sample_rate},aformat=channel_layouts=mono[a{i}];" for i in range(len(paths)))
    joined = "".join(f"[a{i}]" for i in range(len(paths))) + f"concat=n={len(paths)}:v=0:a=1[out]"
    command = [tool("ffmpeg"), "-v", "error", "-y", *inputs, "-filter_complex", chains + joined, "-map", "[out]"]
    _ffmpeg([*command, "-c:a", "libmp3lame", "-q:a", "4", str(out)], JOIN_TIMEOUT)


def _ffmpeg(command: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise AudioRejected(f"ffmpeg did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise AudioRejected(f"ffmpeg could not convert the audio ({why[-1] if why else 'no reason given'})")


@dataclass(frozen=True)
class Rendition:
    """What a library sends Kazoo instead of the file itself: mono audio at one sample rate,
    as wav or mp3, optionally brought to an integrated loudness (EBU R128, LUFS)."""

    format: str  # "wav" | "mp3"
    sample_rate: int
    loudness: float | None = None

    @property
    def content_type(self) -> str:
        return KAZOO_FORMATS[self.format][0]


RENDER_TIMEOUT = 600.0
TRUE_PEAK = -1.5  # dBTP: room for the codec on the way to the phone
LOUDNESS_RANGE = 11.0  # LU, ffmpeg's default


def render(source: Path, out: Path, rendition: Rendition) -> Path:
    """The rendition of source written to out. Loudness is measured on what Kazoo gets (the mono
    downmix at the rendition's rate: a stereo file measures up to 3 LU louder than its downmix),
    then applied as one linear gain (ffmpeg's loudnorm, two passes), so the music's own dynamics stay."""
    shape = f"aformat=channel_layouts=mono,aresample={rendition.sample_rate}"
    filters = ["-af", shape]
    if rendition.loudness is not None:
        m = _measure(source, rendition.loudness, shape)
        filters = [
            "-af",
            f"{shape},loudnorm=I={rendition.loudness}:TP={TRUE_PEAK}:LRA={LOUDNESS_RANGE}:"
            f"measured_I={m['input_i']}:measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}:"
            f"measured_thresh={m['input_thresh']}:offset={m['target_offset']}:linear=true",
        ]
    codec = ["-c:a", "pcm_s16le"] if rendition.format == "wav" else ["-c:a", "libmp3lame", "-q:a", "4"]
    command = [tool("ffmpeg"), "-v", "error", "-y", "-i", str(source), *filters, "-ac", "1"]
    _ffmpeg([*command, "-ar", str(rendition.sample_rate), *codec, "-f", rendition.format, str(out)], RENDER_TIMEOUT)
    return out


def _measure(source: Path, target: float, shape: str) -> dict[str, str]:
    """loudnorm's first pass: the loudness figures of source shaped as Kazoo gets it, as ffmpeg prints them."""
    command = [tool("ffmpeg"), "-v", "info", "-nostats", "-i", str(source), "-af"]
    command += [f"{shape},loudnorm=I={target}:TP={TRUE_PEAK}:LRA={LOUDNESS_RANGE}:print_format=json"]
    command += ["-f", "null", "-"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=RENDER_TIMEOUT, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise AudioRejected(f"ffmpeg could not measure the loudness within {RENDER_TIMEOUT:g} s") from None
    text = done.stderr.decode(errors="replace")
    start, end = text.rfind("{"), text.rfind("}")
    try:
        figures = json.loads(text[start : end + 1]) if 0 <= start < end else {}
    except ValueError:
        figures = {}
    wanted = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")
    if done.returncode != 0 or not all(_finite(figures.get(k)) for k in wanted):
        raise AudioRejected("ffmpeg could not measure the audio's loudness (silent, or too short to measure)")
    return {k: str(figures[k]) for k in wanted}


def _finite(value: Any) -> bool:
    try:
        return abs(float(value)) < 1e6
    except (TypeError, ValueError):
        return False
