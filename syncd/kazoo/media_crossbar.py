"""Media written through Crossbar instead of CouchDB ([media] write_via = "crossbar")."""

from __future__ import annotations

from typing import Any, BinaryIO

from syncd.errors import KazooError
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.crossbar import Crossbar
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.doc_checks import check_write
from syncd.kazoo.media import (
    DEFAULT_LANGUAGE,
    MEDIA,
    SYNCD_FILE_ID,
    KazooMedia,
    MediaAudio,
    audio_of,
    hold_music,
    media_fields,
    needs_repair,
    raise_missing,
)
from syncd.kazoo.versions import DEFAULT, kazoo_version


class CrossbarMedia(KazooMedia):
    """Media written through Crossbar (PUT the metadata, POST the binary, DELETE, PATCH the hold
    music), so Kazoo's own validation and hooks run; read from CouchDB as before. Each doc is
    checked against the schema before it is sent, so a refusal is named here, not a 400 there.

    Crossbar picks a new media's id, so the id syncd derives travels in the doc as
    `syncd_file_id`, and a syncd that died between the PUT and recording it finds that doc
    again instead of making a second one."""

    def __init__(self, couch: CouchClient, crossbar: Crossbar, version: str = DEFAULT) -> None:
        super().__init__(couch, version)
        self.crossbar = crossbar

    def create(self, account_id: str, media_id: str, fields: dict[str, Any], revive: bool = False) -> dict[str, Any]:
        found = self.couch.get(dbnames.account_db(account_id), media_id) or self._tagged(account_id, media_id)
        if found is not None and not (revive and is_deleted(found)):
            return found
        if found is not None:
            raise KazooError(f"media {media_id} was deleted in Kazoo; Crossbar cannot bring it back: remove it there")
        data = {"media_source": "upload", "streamable": True, "language": DEFAULT_LANGUAGE, **media_fields(fields)}
        self._check(account_id, data)
        made = self.crossbar.create_media(account_id, {**data, SYNCD_FILE_ID: media_id})
        doc = self.get(account_id, made)
        if doc is None:
            raise_missing(account_id, made)
        return doc

    def put_audio(
        self, account_id: str, doc: dict[str, Any], body: BinaryIO, length: int, content_type: str, ext: str
    ) -> tuple[dict[str, Any], MediaAudio]:
        self._check(account_id, {**doc, "content_type": content_type, "content_length": length}, doc)
        audio_path = kazoo_version(self.version).media_audio_path
        self.crossbar.upload_media(account_id, doc["_id"], body.read(length + 1)[:length], content_type, audio_path)
        stored = self.get(account_id, doc["_id"]) or {}
        audio = audio_of(stored)
        if audio is None:
            raise_missing(account_id, doc["_id"], "the binary Crossbar took")
        return stored, audio

    def rename(self, account_id: str, doc: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        wanted = media_fields(fields)
        if all(doc.get(k) == v for k, v in wanted.items()):
            return doc
        public = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}
        self._check(account_id, {**public, **wanted}, public)
        self.crossbar.update_media(account_id, doc["_id"], {**public, **wanted})
        return self.get(account_id, doc["_id"]) or doc

    def set_hold_music(self, account_id: str, doc: dict[str, Any], media_id: str | None) -> None:
        kind = str(doc.get("pvt_type"))
        collection = {"account": "", "user": "users", "device": "devices", "group": "groups"}.get(kind)
        if collection is None:
            raise KazooError(f"doc {doc['_id']} is a {kind!r}: no hold music there")
        check_write(kind, {**doc, "music_on_hold": hold_music(doc, media_id)}, self.version, before=doc)
        target = account_id if collection == "" else doc["_id"]
        self.crossbar.patch(account_id, collection, target, {"music_on_hold": {"media_id": media_id}})

    def soft_delete(self, account_id: str, media_id: str) -> None:
        self.crossbar.delete_media(account_id, media_id)

    def repair(self, account_id: str, doc: dict[str, Any]) -> bool:
        if not needs_repair(doc):
            return False
        public = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_")) and k != "source_id"}
        self._check(account_id, public)
        self.crossbar.update_media(account_id, doc["_id"], public)  # Crossbar's POST replaces the public fields
        return True

    def _tagged(self, account_id: str, tag: str) -> dict[str, Any] | None:
        for doc in self.couch.all_docs(dbnames.account_db(account_id)):
            if doc.get("pvt_type") == MEDIA and doc.get(SYNCD_FILE_ID) == tag:
                return doc
        return None
