"""Music on hold by folder: the audio files of a library's music-on-hold/ folder become the
account's hold music; music-on-hold/users/<username>/, devices/<name>/ and groups/<name>/
set it for one user, device or group (docs/kazoo.md §8: music_on_hold.media_id on those
docs; the endpoint's value wins over the account's).

Kazoo plays one media, so a folder's files are joined (ffmpeg) into one playlist media,
in name order (or shuffled when the library says so). The playlist keeps its media id
when the folder changes, so what references it keeps working. syncd records the doc's
previous value and puts it back when the folder empties, unless someone has set
another value meanwhile (theirs is kept). A file gone from the folder is a delete: the
playlist changes (or the hold music goes back) only once it has been gone for the grace
period, within the mass-delete guard, with an audit line per file. The playlist media is marked
`source_type: syncd_music_on_hold` so the library never exports it as a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd.backends.base import Backend, ObjectInfo
from syncd.errors import KazooError, StateError, describe
from syncd.flows.media.audio import Rendition, join, render
from syncd.kazoo import dbnames
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.media import KazooMedia
from syncd.model.media import MOH, Library, media_id_for
from syncd.state import State
from syncd.state.media import Playlist

log = logging.getLogger("syncd.media")

MOH_SOURCE = "syncd_music_on_hold"
_KINDS = {"users": ("user", "username"), "devices": ("device", "name"), "groups": ("group", "name")}


def scope_of(key: str) -> str | None:
    """ "account" for music-on-hold/<file>, "users/alice" for music-on-hold/users/alice/<file>; else None."""
    parts = key[len(MOH) :].split("/") if key.startswith(MOH) else []
    if len(parts) == 1 and parts[0]:
        return "account"
    if len(parts) == 3 and parts[0] in _KINDS and parts[1] and parts[2]:
        return f"{parts[0]}/{parts[1]}"
    return None


class HoldMusic:
    def __init__(
        self,
        lib: Library,
        backend: Backend,
        media: KazooMedia,
        state: State,
        judge_file: Callable[[ObjectInfo, Path, Any], Path | None],
        guard: Callable[[int, int, Any, bool], str | None],
        grace: float = 0.0,
    ) -> None:
        """judge_file(info, folder, report): the file copied into folder and judged, or None (rejected, told).
        guard(removals, playlist files, report, allow): None, or why the mass-delete guard holds them.
        grace: how long a playlist's file stays gone before the hold music follows (two-way's grace)."""
        self.lib, self.backend, self.media, self.state = lib, backend, media, state
        self.judge_file, self.guard, self.grace = judge_file, guard, grace
        self.db = dbnames.account_db(lib.account_id)

    def run(
        self, listing: dict[str, ObjectInfo], settled: Callable[[ObjectInfo], bool], report: Any, allow: bool = False
    ) -> None:
        """allow: `syncd reconcile --allow-deletes`: a removal the delete guard holds goes through."""
        folders: dict[str, list[ObjectInfo]] = {}
        for info in listing.values():
            scope = scope_of(info.key)
            if scope is not None and not info.key.rsplit("/", 1)[-1].startswith("."):
                folders.setdefault(scope, []).append(info)
        known = self.state.playlists.of(self.lib.name)
        for scope in sorted(set(folders) | set(known)):
            try:
                self._folder(scope, sorted(folders.get(scope, []), key=lambda i: i.key), known.get(scope), settled,
                             report, allow)  # fmt: skip
            except StateError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bulkhead per folder: the others carry on
                report.errors.append(f"{MOH}{scope}: {describe(exc)}")
                log.warning("library=%s hold music %r not set this pass: %s", self.lib.name, scope, describe(exc))

    def _folder(
        self,
        scope: str,
        files: list[ObjectInfo],
        known: Playlist | None,
        settled: Callable[[ObjectInfo], bool],
        report: Any,
        allow: bool,
    ) -> None:
        if files and not all(settled(info) for info in files):
            return  # a file is still being copied in: looked at again
        gone = _gone(known, files)
        if known is not None and gone:
            if not self._removal_allowed(known, gone, report, allow):
                return
            if files:
                self._playlist(scope, files, known, report, gone)
            else:
                self._restore(known, gone, report)
        elif files:
            if known is not None and known.empty_since is not None:
                self.state.playlists.seen_empty(self.lib.name, scope, None)  # its files are back: nothing to undo
            self._playlist(scope, files, known, report, [])

    def _playlist(
        self, scope: str, files: list[ObjectInfo], known: Playlist | None, report: Any, gone: list[str]
    ) -> None:
        order = self._order(files)
        fingerprint = hashlib.sha256(json.dumps([(i.key, i.etag) for i in order]).encode()).hexdigest()
        if known is not None and known.fingerprint == fingerprint:
            return
        target = self._target(scope)
        with tempfile.TemporaryDirectory(prefix="syncd-moh-") as tmp:
            judged = [(info.key, path) for info in order if (path := self.judge_file(info, Path(tmp), report))]
            if not judged:
                return  # every file was rejected (each told why): the hold music stays as it is
            out = Path(tmp) / "playlist.mp3"
            join([path for _, path in judged], out, self.lib.sample_rate)
            if self.lib.loudness is not None:
                out = render(out, Path(tmp) / "level.mp3", Rendition("mp3", self.lib.sample_rate, self.lib.loudness))
            doc = self._media_doc(scope, known, len(judged), target["_id"])
            with out.open("rb") as body:
                self.media.put_audio(self.lib.account_id, doc, body, out.stat().st_size, "audio/mpeg", "mp3")
        previous = known.previous if known else json.dumps(_moh_of(target))
        self._set(target, doc["_id"])
        made_of = tuple(sorted(key for key, _ in judged))
        self.state.playlists.save(
            self.lib.name, Playlist(scope, doc["_id"], fingerprint, target["_id"], previous, None, made_of)
        )
        self._audit_removed(doc["_id"], gone, f"{MOH}{scope}: the playlist was made again without it")
        report.add("hold-music")
        log.info("library=%s hold music of %s is media %s (%d files)", self.lib.name, scope, doc["_id"], len(judged))

    def _order(self, files: list[ObjectInfo]) -> list[ObjectInfo]:
        if not self.lib.shuffle:
            return files
        shuffled = list(files)
        random.Random(",".join(i.key for i in files)).shuffle(shuffled)  # noqa: S311 - an order, not a secret
        return shuffled

    def _media_doc(self, scope: str, known: Playlist | None, count: int, owner: str) -> dict[str, Any]:
        """owner: the doc whose hold music it is; its id is the media's source_id, as cf_menu and
        cf_voicemail name the doc a media was generated for."""
        fields = {
            "name": f"Music on hold ({scope})",
            "description": f"{count} file(s) of {MOH}{'' if scope == 'account' else scope + '/'}",
            "source_type": MOH_SOURCE,
        }
        if len(owner) == 32:  # media.json: exactly 32 characters; a doc id of another length is left out
            fields["source_id"] = owner
        ids = [known.media_id] if known else [media_id_for(self.lib.name, MOH + scope, "", g) for g in range(20)]
        for media_id in ids:
            doc = self.media.create(self.lib.account_id, media_id, fields, revive=known is not None)
            if not is_deleted(doc):
                return self.media.rename(self.lib.account_id, doc, fields)
        raise KazooError(f"every media id syncd derives for the hold music of {scope} is a deleted media")

    def _target(self, scope: str) -> dict[str, Any]:
        if scope == "account":
            doc = self.media.couch.get(self.db, self.lib.account_id)
            if doc is None:
                raise KazooError(f"account {self.lib.account_id} has no account doc in its database")
            return doc
        kind, name = scope.split("/", 1)
        pvt_type, field = _KINDS[kind]
        for doc in self.media.couch.all_docs(self.db):
            if doc.get("pvt_type") == pvt_type and doc.get(field) == name and not is_deleted(doc):
                return doc
        raise KazooError(
            f"no {pvt_type} with {field} {name!r} in account {self.lib.account_id}; "
            f"name the folder {MOH}{kind}/<{field}> after one"
        )

    def _set(self, doc: dict[str, Any], media_id: str | None) -> None:
        if _moh_of(doc) != media_id:
            self.media.set_hold_music(self.lib.account_id, doc, media_id)

    def _removal_allowed(self, known: Playlist, gone: list[str], report: Any, allow: bool) -> bool:
        """Files gone from a playlist's folder take something from a tenant (what callers hear), so
        they are a delete: acted on once gone for the grace period, never while the account's
        deletes are held, and weighed by the mass-delete guard as deletes are."""
        now = time.time()
        if known.empty_since is None:
            self.state.playlists.seen_empty(self.lib.name, known.scope, now)
            report.look_again_in = min(report.look_again_in or self.grace, self.grace)
            return False
        wait = self.grace - (now - known.empty_since)
        if wait > 0:
            report.look_again_in = min(report.look_again_in or wait, wait)
            return False
        held = None if allow else self.state.holds.all().get(self.lib.account_id)
        playing = sum(len(p.files or ()) for p in self.state.playlists.of(self.lib.name).values())
        held = held or self.guard(len(gone), playing, report, allow)  # the playlists' files count in its share
        if held:
            report.held.setdefault(self.lib.account_id, held)
            log.warning("library=%s hold music of %s stays while the account's deletes are held: %s",
                        self.lib.name, known.scope, held)  # fmt: skip
            return False
        return True

    def _restore(self, known: Playlist, gone: list[str], report: Any) -> None:
        """The folder is empty: the doc gets its previous hold music back, the playlist media goes."""
        doc = self.media.couch.get(self.db, known.doc_id or "") if known.doc_id else None
        if doc is not None and not is_deleted(doc) and _moh_of(doc) == known.media_id:
            self._set(doc, json.loads(known.previous or "null"))
        self.media.soft_delete(self.lib.account_id, known.media_id)
        self.state.playlists.drop(self.lib.name, known.scope)
        self._audit_removed(known.media_id, gone, f"{MOH}{known.scope} is empty")
        self.state.audit.event(
            "hold-music-restored",
            f"{MOH}{known.scope} is empty: {known.doc_id} has its previous hold music back "
            f"({known.previous}); playlist media {known.media_id} soft-deleted",
            account_id=self.lib.account_id,
            target=self.lib.target,
        )
        report.add("hold-music-restored")

    def _audit_removed(self, media_id: str, gone: list[str], why: str) -> None:
        for key in gone:
            self.state.audit.removal(
                self.lib.account_id, self.lib.target, media_id, key, "hold-music-file-removed",
                f"{why}; the file had been gone for the grace period",
            )  # fmt: skip


def _gone(known: Playlist | None, files: list[ObjectInfo]) -> list[str]:
    """The playlist's files no longer in its folder. A playlist made before syncd recorded its
    files counts as one file, gone when the folder is empty."""
    if known is None:
        return []
    if known.files is None:
        return [] if files else [f"{MOH}{known.scope}"]
    present = {info.key for info in files}
    return [key for key in known.files if key not in present]


def _moh_of(doc: dict[str, Any]) -> Any:
    moh = doc.get("music_on_hold")
    return moh.get("media_id") if isinstance(moh, dict) else None
