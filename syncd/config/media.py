"""Configuration of media libraries: the [media] table and its [[media.library]] entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncd.config.validator import Validator
from syncd.model.media import Library

_RATES = (8000, 16000, 32000, 48000)
_LIBRARY_KEYS = {
    "name",
    "account",
    "backend",
    "folder",
    "max_size_mb",
    "max_seconds",
    "settle_seconds",
    "language",
    "export_kazoo_media",
    "owner_media",
    "shuffle",
    "normalize",
    "sample_rate",
    "loudness",
}


@dataclass(frozen=True)
class MediaConfig:
    poll_interval: float = 30.0
    write_via: str = "couchdb"  # media docs and hold music written into CouchDB, or through Crossbar
    libraries: tuple[Library, ...] = field(default_factory=tuple)


def media_config(v: Validator, t: dict[str, Any], backends: set[str]) -> MediaConfig:
    v.unknown(t, "media", {"poll_interval", "write_via", "library"})
    raw = t.get("library", [])
    if not isinstance(raw, list):
        v.problem("media.library", "must be an array of tables ([[media.library]])")
        raw = []
    libraries = [lib for i, b in enumerate(raw) if (lib := _library(v, b, f"media.library[{i}]", backends))]
    names = [lib.name for lib in libraries]
    for name in sorted({n for n in names if names.count(n) > 1}):
        v.problem("media.library", f"two libraries are named {name!r}; each needs its own name")
    return MediaConfig(
        v.number(t, "media.poll_interval", 30.0, minimum=0.1, maximum=86400),
        v.choice(t, "media.write_via", ("couchdb", "crossbar"), "couchdb") or "couchdb",
        tuple(libraries),
    )


def _library(v: Validator, b: Any, path: str, backends: set[str]) -> Library | None:
    if not isinstance(b, dict):
        v.problem(path, "must be a table")
        return None
    v.unknown(b, path, _LIBRARY_KEYS)
    where = v.place(b, path, backends)
    language = v.string(b, f"{path}.language") or "en-us"
    if not _is_language(language):
        v.problem(f"{path}.language", f'must be a language tag like "en-us" or "fr-ca" (got {language!r})')
    if where is None:
        return None
    account, backend, folder = where
    return Library(
        name=v.string(b, f"{path}.name") or f"{backend}:{folder}",
        account_id=account,
        backend=backend,
        folder=folder,
        max_bytes=int(v.number(b, f"{path}.max_size_mb", 50, minimum=0.001, maximum=1024) * 1024 * 1024),
        max_seconds=v.number(b, f"{path}.max_seconds", 3600, minimum=1, maximum=86400),
        settle=v.number(b, f"{path}.settle_seconds", 5.0, minimum=0, maximum=3600),
        language=language.lower(),
        export_kazoo_media=v.boolean(b, f"{path}.export_kazoo_media", True),
        owner_media=v.boolean(b, f"{path}.owner_media", False),
        shuffle=v.boolean(b, f"{path}.shuffle", False),
        normalize=v.choice(b, f"{path}.normalize", ("wav", "mp3"), None),
        sample_rate=_sample_rate(v, b, f"{path}.sample_rate"),
        loudness=v.number(b, f"{path}.loudness", 0, minimum=-70, maximum=-5) if "loudness" in b else None,
    )


def _sample_rate(v: Validator, b: dict[str, Any], path: str) -> int:
    rate = int(v.number(b, path, 16000, minimum=8000, maximum=48000, integer=True))
    if rate not in _RATES:
        v.problem(path, f"must be one of {', '.join(map(str, _RATES))} (rates FreeSWITCH plays without resampling)")
        return 16000
    return rate


def _is_language(value: str) -> bool:
    parts = value.split("-")
    return 1 <= len(parts) <= 3 and all(p.isascii() and p.isalnum() and 1 <= len(p) <= 8 for p in parts)
