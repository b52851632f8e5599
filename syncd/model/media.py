"""What a media library is, as the config gives it, and the names syncd derives for it.

A library is one folder of one backend, mirrored both ways with one account's
media. Its items are rows of the state DB's items table whose target is
`media:<library name>`; their keys are relative to the library's folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from syncd.errors import UnsafeInput

# As syncd.state.items.LIBRARY_TARGET_PREFIX: the attachments flow's queries leave these targets out.
TARGET_PREFIX = "media:"

REJECTED = "rejected/"  # files that are not audio Kazoo can play, each with a status file beside it
TRASH = ".syncd-trash/"
STATUS_SUFFIX = ".status.json"
LIBRARY_SOURCE = "syncd_media_library"  # source_type of media syncd makes from a library's files
MOH = "music-on-hold/"
PROMPTS = "prompts/"
# Folders that are not media of their own (music on hold is joined into playlists) and the
# names syncd keeps for itself.
RESERVED = (REJECTED, TRASH, MOH, ".syncd-marker")


@dataclass(frozen=True)
class Library:
    name: str
    account_id: str
    backend: str
    folder: str
    max_bytes: int = 50 * 1024 * 1024
    max_seconds: float = 3600.0
    settle: float = 5.0  # seconds a file must stay unchanged before it is taken (it may still be copied in)
    language: str = "en-us"
    export_kazoo_media: bool = True  # media made in Kazoo (Monster UI, Crossbar) appear as files
    owner_media: bool = False  # ... voicemail greetings and other media owned by a user or box too
    shuffle: bool = False  # music-on-hold playlists in a shuffled order instead of name order
    normalize: str | None = None  # "wav" | "mp3": Kazoo gets mono audio at sample_rate, not the file itself
    sample_rate: int = 16000
    loudness: float | None = None  # LUFS (EBU R128) the audio sent to Kazoo is brought to

    @property
    def target(self) -> str:
        return TARGET_PREFIX + self.name


def media_id_for(library: str, key: str, md5: str, generation: int = 0) -> str:
    """The id a file's media gets: derived from where the file was first seen and its bytes, so a
    syncd that died between writing the doc and recording it finds the same doc again."""
    seed = f"syncd-media\0{library}\0{key}\0{md5}\0{generation}".encode()
    return hashlib.md5(seed).hexdigest()  # noqa: S324 - an id, not a security measure


def is_media_file(key: str) -> bool:
    """A key the library mirrors as media (not a reserved folder, status file or hidden name)."""
    parts = key.split("/")
    return (
        not key.startswith(RESERVED) and not any(p.startswith(".") for p in parts) and not key.endswith(STATUS_SUFFIX)
    )


@dataclass(frozen=True)
class FileMedia:
    """What a file's place in the library makes of its media."""

    fields: dict[str, str]  # name, description (the file name), language, prompt_id
    fixed_id: str | None = None  # a prompt's media id is <language>/<prompt_id>, as Crossbar makes it


def media_for_key(key: str, language: str) -> FileMedia:
    """prompts/<language>/<prompt_id>.<ext> is a prompt override; any other file is media named after it."""
    base = key.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    parts = key.split("/")
    if key.startswith(PROMPTS) and len(parts) == 3:
        lang = parts[1].lower()
        fields = {"name": stem, "description": base, "language": lang, "prompt_id": stem}
        return FileMedia(fields, f"{lang}/{stem}")
    return FileMedia({"name": stem, "description": base, "language": language})


def key_for_media(doc: dict[str, object], ext: str, taken: set[str]) -> str:
    """Where a media made in Kazoo goes in the library: prompts by language and prompt id, others
    by name (made safe for every backend); a name already taken gets the media id beside it."""
    prompt, language = doc.get("prompt_id"), doc.get("language")
    if isinstance(prompt, str) and isinstance(language, str) and _safe(prompt) and _safe(language):
        return f"{PROMPTS}{_safe(language)}/{_safe(prompt)}.{ext}"
    stem = _safe(str(doc.get("name") or "")) or _safe(str(doc.get("_id")))
    key = f"{stem}.{ext}"
    if key not in taken:
        return key
    tag = _safe(str(doc.get("_id")))[:8]
    for n in range(1, 1000):  # the media id beside the name, then a count: never a name that is taken
        key = f"{stem} ({tag}).{ext}" if n == 1 else f"{stem} ({tag}-{n}).{ext}"
        if key not in taken:
            return key
    raise UnsafeInput(f"no free name for media {tag!r} ({stem!r}) in the library: 1,000 names are taken")


def _safe(name: str) -> str:
    kept = "".join(c if c.isprintable() and c not in '/\\:*?"<>|' else "_" for c in name)
    return kept.strip().lstrip(".")[:120]
