"""Kazoo's media into a library: what Monster UI or Crossbar made appears as a file, audio
replaced in Kazoo replaces the file, and a media deleted in Kazoo sends its file to the
library's .syncd-trash/ (kept, never removed).

Read from the account database's changes feed with a cursor per library
(`media:<library>`); the cursor moves past a page only when every doc on it was
handled, so a doc that failed is read again next pass. Greetings and other
media owned by a user or a box are left out unless the library asks for them.
"""

from __future__ import annotations

import logging
from contextlib import closing
from typing import Any

from syncd.backends.base import Backend, ObjectInfo
from syncd.backends.names import RACES
from syncd.errors import NotFound, PreconditionFailed, StateError, UnsafeInput, describe
from syncd.flows.media.filing import to_trash
from syncd.flows.media.moh import MOH_SOURCE
from syncd.kazoo import dbnames
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.media import MEDIA, KazooMedia, MediaAudio, audio_of, hex_md5
from syncd.model.media import LIBRARY_SOURCE, Library, key_for_media
from syncd.state import Item, State
from syncd.state.items import Placement

log = logging.getLogger("syncd.media")

PAGE = 200  # changes of the account database per read
_EXTENSIONS = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/x-wav": "wav", "audio/wav": "wav", "audio/ogg": "ogg"}


class FromKazoo:
    def __init__(self, library: Library, backend: Backend, media: KazooMedia, state: State) -> None:
        self.lib, self.backend, self.media, self.state = library, backend, media, state
        self.feed = f"media:{library.name}"

    def run(self, listing: dict[str, ObjectInfo], report: Any) -> None:
        since = self.state.feeds.cursor(self.feed) or 0
        while True:
            docs, last_seq, full = self.media.changes(self.lib.account_id, since, PAGE)
            items: dict[str, list[Item]] = {}
            for item in self.state.media.of(self.lib.target):
                items.setdefault(item.doc_id, []).append(item)
            tracked = {item.object_key for found in items.values() for item in found}
            failed = [d for d in docs if not self._contained(d, items.get(d["_id"], []), listing, tracked, report)]
            if failed:
                return  # read again next pass; the docs already handled are found handled
            self.state.feeds.move(self.feed, last_seq)
            since = last_seq
            if not full:
                return

    def restore(self, item: Item, why: str) -> None:
        """Put Kazoo's audio of item's media back at its file's place."""
        doc = self.media.get(self.lib.account_id, item.doc_id)
        audio = None if doc is None or is_deleted(doc) else audio_of(doc)
        if doc is not None and audio is not None and self._export(doc, audio, item.object_key, {}, item, None):
            log.info("library=%s media=%s file %r: %s", self.lib.name, item.doc_id, item.object_key, why)

    def _contained(
        self, doc: dict[str, Any], items: list[Item], listing: dict[str, ObjectInfo], tracked: set[str], report: Any
    ) -> bool:
        try:
            self._doc(doc, items, listing, tracked, report)
        except StateError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bulkhead per media doc
            report.errors.append(f"media {doc.get('_id')}: {describe(exc)}")
            log.warning("library=%s media=%s not handled this pass: %s", self.lib.name, doc.get("_id"), describe(exc))
            return False
        return True

    def _doc(
        self, doc: dict[str, Any], items: list[Item], listing: dict[str, ObjectInfo], tracked: set[str], report: Any
    ) -> None:
        if is_deleted(doc):
            for item in items:
                self._deleted_in_kazoo(item, listing)
                report.add("trashed")
            return
        audio = audio_of(doc)
        if audio is None:
            return  # no audio yet (Crossbar's PUT comes before the binary): seen again when it has one
        if items:
            item = items[0]
            info = listing.get(item.object_key)
            if audio.digest != item.digest and (info is None or info.etag == item.etag):
                # replaced in Kazoo, file untouched: that version of the file only (or none) is replaced
                if self._export(doc, audio, item.object_key, listing, item, info.etag if info else None):
                    report.add("exported")
            return
        if not self._wanted(doc):
            return
        same = self._file_with(audio, listing, tracked)
        if same is not None:  # exported, or made from this file, by a syncd that stopped before recording it
            self.state.media.track(
                self._placement(doc, audio, same.key), same.etag, hex_md5(audio.digest), same.object_id
            )
            tracked.add(same.key)
            return
        for _ in range(RACES):  # a name taken since the listing (before or while writing) is skipped
            key = key_for_media(doc, _extension(doc, audio), set(listing))
            if self._export(doc, audio, key, listing, None, None):
                tracked.add(key)
                report.add("exported")
                return
            try:
                listing[key] = self.backend.stat(key)
            except NotFound:
                return  # nothing there: the audio went from Kazoo meanwhile, and its change comes next
        raise UnsafeInput(f"media {doc['_id']}: other writers took {RACES} names in the library while it was exported")

    def _wanted(self, doc: dict[str, Any]) -> bool:
        if doc.get("source_type") in (MOH_SOURCE, LIBRARY_SOURCE):
            return False  # syncd made it from files (a playlist, or a file it has not recorded yet)
        owned = any(doc.get(k) for k in ("owner_id", "source_id", "source_type"))
        return self.lib.export_kazoo_media and (self.lib.owner_media or not owned)

    def _file_with(self, audio: MediaAudio, listing: dict[str, ObjectInfo], tracked: set[str]) -> ObjectInfo | None:
        """An untracked file of the library holding exactly the media's audio."""
        md5 = hex_md5(audio.digest)
        for info in listing.values():
            if info.key not in tracked and info.size == audio.length and not info.special:
                if (info.md5 or self.backend.stat(info.key).md5) == md5:
                    return info
        return None

    def _export(
        self,
        doc: dict[str, Any],
        audio: MediaAudio,
        key: str,
        listing: dict[str, ObjectInfo],
        item: Item | None,
        over: str | None,
    ) -> bool:
        """Write the media's audio at key: over the file version `over` only, else where nothing
        is. False when another file is there (a person's, or a changed one): it stays as it is."""
        stream = self.media.open_audio(self.lib.account_id, doc["_id"], audio.attachment)
        if stream is None:
            return False  # the binary went meanwhile: the next change says what became of it
        content_type = str(doc.get("content_type") or "application/octet-stream")
        try:
            with closing(stream):
                info = self.backend.put(
                    key,
                    stream,
                    length=audio.length,
                    content_type=content_type,
                    md5=hex_md5(audio.digest),
                    if_absent=over is None,
                    if_etag=over,
                )
        except PreconditionFailed:  # KeyTaken too
            log.warning(
                "library=%s media=%s another file is at %r now; it is left as it is", self.lib.name, doc["_id"], key
            )
            return False
        placement = self._placement(doc, audio, key)
        if item is None:
            self.state.media.track(placement, info.etag, info.md5, info.object_id)
        else:
            self.state.media.replaced(item, placement, info.etag, info.md5, info.object_id)
        listing[key] = info
        log.info("library=%s media=%s exported to %r", self.lib.name, doc["_id"], key)
        return True

    def _deleted_in_kazoo(self, item: Item, listing: dict[str, ObjectInfo]) -> None:
        info = listing.get(item.object_key)
        if info is None:
            self.state.work.forget(item.id, "media deleted in Kazoo; its file was already gone")
        elif info.etag != item.etag:
            self.state.work.forget(item.id, "media deleted in Kazoo; its file changed since, so it stays (new media)")
        else:
            where = to_trash(self.backend, info)
            listing.pop(item.object_key, None)
            self.state.audit.record_delete(
                item, "backend", "trash-object", f"media deleted in Kazoo; its file was moved to {where!r}"
            )
            log.warning("library=%s media=%s deleted in Kazoo; file moved to %r", self.lib.name, item.doc_id, where)

    def _placement(self, doc: dict[str, Any], audio: MediaAudio, key: str) -> Placement:
        return Placement(
            db=dbnames.account_db(self.lib.account_id),
            doc_id=str(doc["_id"]),
            attachment=audio.attachment,
            target=self.lib.target,
            object_key=key,
            digest=audio.digest,
            length=audio.length,
            content_type=str(doc.get("content_type") or ""),
            account_id=self.lib.account_id,
            pvt_type=MEDIA,
        )


def _extension(doc: dict[str, Any], audio: MediaAudio) -> str:
    suffix = audio.attachment.rsplit(".", 1)[-1].lower() if "." in audio.attachment else ""
    if suffix in ("mp3", "wav", "ogg"):
        return suffix
    return _EXTENSIONS.get(str(doc.get("content_type") or ""), "audio")
