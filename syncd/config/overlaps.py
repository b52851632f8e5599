"""Flows and fax outboxes that point at the same place, found by where they point, not by name.

Two [backends.X] tables may name one folder (`/srv/fax` and `/srv/fax/`, or a
symlink to it) or one bucket under two names. Compared by name they look
apart; compared by place they are one. Where two users of the config overlap:
- two outboxes: one PDF would become two faxes;
- an upload flow and an outbox: what the flow uploads would be faxed;
- two upload flows: each would take the other's objects for its own (two-way
  compares listings with what it uploaded) and re-upload or trash them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from syncd.config.backends import BackendOptions, LocalOptions, S3Options
from syncd.config.validator import Validator


@dataclass(frozen=True)
class Place:
    who: str  # as the config names it, e.g. "flows[0] 'voicemail-nfs'"
    kind: str  # "flow", "outbox" or "cdr files"
    store: str  # the store the backend is, beyond its name: a bucket at an endpoint, a Drive folder
    path: str  # inside the store ("" = all of it)


def store_of(options: BackendOptions) -> tuple[str, str]:
    """(store, path prefix inside it) of a backend: local folders by their resolved path."""
    if isinstance(options, LocalOptions):
        return "local", os.path.realpath(str(options.path or "")).strip("/")
    if isinstance(options, S3Options):
        endpoint = options.endpoint_url or "https://s3.amazonaws.com"
        host = (urlsplit(endpoint).hostname or "").lower()
        return f"s3:{host}:{urlsplit(endpoint).port or ''}/{options.bucket}", ""
    return f"drive:{options.api_endpoint or ''}:{options.drive_id or ''}:{options.folder_id}", ""


def check_overlaps(v: Validator, places: list[Place]) -> None:
    for i, first in enumerate(places):
        for second in places[i + 1 :]:
            if first.store == second.store and _nested(first.path, second.path):
                v.problem(
                    second.who,
                    f"writes or reads where {first.who} does ({_shown(first)}): "
                    f"{_consequence(first.kind, second.kind)}; give each its own folder or prefix",
                )


def place(who: str, kind: str, options: BackendOptions, prefix: str | None) -> Place:
    store, base = store_of(options)
    inner = (prefix or "").strip("/")
    return Place(who, kind, store, "/".join(p for p in (base, inner) if p))


def _nested(a: str, b: str) -> bool:
    return not a or not b or a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _shown(p: Place) -> str:
    store = "/" + p.path if p.store == "local" else f"{p.store}/{p.path}"
    return store.rstrip("/") or "/"


def _consequence(a: str, b: str) -> str:
    kinds = {a, b}
    if kinds == {"outbox"}:
        return "one PDF would be faxed twice"
    if kinds == {"flow", "outbox"}:
        return "what the flow uploads would be faxed"
    if "outbox" in kinds and "cdr files" in kinds:
        return "CDR files would be faxed"
    if "media library" in kinds:
        return "files of one would become media of the other, and its deletes would delete media"
    if "cdr files" in kinds:
        return "two writers would rewrite each other's files (and two-way sync would take them for its own)"
    return "each would take the other's objects for its own"
