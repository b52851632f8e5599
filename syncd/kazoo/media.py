"""Media docs in an account's database (docs/kazoo.md §8), written as Crossbar writes them.

Crossbar's `PUT /v2/accounts/{A}/media` saves the metadata (name, media_source
"upload", streamable, language, description = the file name), then
`POST …/media/{M}/raw` removes whatever binary the doc had and saves the new
one as `uploaded_file_<gregorian seconds>.<ext>`, setting content_type and
content_length. syncd does the same two steps in CouchDB, so a replaced file
keeps its media id and whatever references the media keeps working.

Deleting is Crossbar's soft delete (syncd.kazoo.deletes; a prompt is deleted
for good, as cb_media deletes prompts), refused while any doc still names the
media, in its account or another (syncd.kazoo.referrers: the referrer index).
"""

from __future__ import annotations

import base64
import logging
import unicodedata
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn

from syncd.errors import KazooError
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.deletes import gregorian_now, is_deleted, soft_deleted
from syncd.kazoo.doc_checks import check_write
from syncd.kazoo.referrers import label, strings
from syncd.kazoo.versions import DEFAULT, kazoo_version

log = logging.getLogger("syncd.kazoo")

MEDIA = "media"
DEFAULT_LANGUAGE = "en-us"
SYNCD_FILE_ID = "syncd_file_id"  # through Crossbar: the id syncd derived for the file (Crossbar picks its own)
TEXT_MAX = 128  # media.json: name and description are 1..128 characters
UNNAMED = "unnamed"
HOLD_MUSIC_KINDS = ("account", "user", "device", "group")  # docs whose music_on_hold syncd sets


@dataclass(frozen=True)
class MediaAudio:
    """The binary a media doc holds: its attachment name and CouchDB digest."""

    attachment: str
    digest: str | None
    length: int


def media_doc(account_id: str, media_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new media doc as Crossbar's PUT leaves it, before any binary is attached."""
    now = gregorian_now()
    doc = {
        "_id": media_id,
        "media_source": "upload",
        "streamable": True,
        "language": DEFAULT_LANGUAGE,
        **media_fields(fields),
        "pvt_type": MEDIA,
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.account_db(account_id, encoded=True),
        "pvt_created": now,
        "pvt_modified": now,
        "pvt_vsn": "1",
    }
    return doc


def media_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Public fields as media.json allows them: name and description without control characters,
    cut to 128 characters (the file keeps its own name); absent values left out."""
    out = {k: v for k, v in fields.items() if v is not None}
    for key in ("name", "description"):
        if key in out:
            out[key] = kazoo_text(str(out[key])) or (UNNAMED if key == "name" else None)
    return {k: v for k, v in out.items() if v is not None}


def kazoo_text(text: str) -> str:
    """Text Kazoo shows in lists and the UI: control and format characters and line breaks become
    spaces, runs of spaces one, cut to TEXT_MAX characters (code points, as the schema counts)."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") else c for c in text)
    return " ".join(kept.split())[:TEXT_MAX].strip()


def needs_repair(doc: dict[str, Any]) -> bool:
    """Made by syncd (source_type syncd_*) with a source_id that is not 32 characters."""
    source_id = doc.get("source_id")
    made_by_syncd = str(doc.get("source_type") or "").startswith("syncd_")
    return made_by_syncd and "source_id" in doc and not (isinstance(source_id, str) and len(source_id) == 32)


def hold_music(doc: dict[str, Any], media_id: str | None) -> dict[str, Any]:
    """The doc's music_on_hold with media_id set (None: removed); a value that is not an object
    (a tenant's mistake) becomes one."""
    found = doc.get("music_on_hold")
    moh = {k: v for k, v in found.items() if k != "media_id"} if isinstance(found, dict) else {}
    return {**moh, "media_id": media_id} if media_id is not None else moh


def is_prompt(doc: dict[str, Any]) -> bool:
    """kzd_media:is_prompt/1: a media with a prompt_id, which Crossbar deletes for good."""
    return doc.get("prompt_id") is not None


def hex_md5(digest: str | None) -> str | None:
    """CouchDB's attachment digest ("md5-<base64>") as lower-case hex, or None for another kind."""
    if not digest or not digest.startswith("md5-"):
        return None
    try:
        return base64.b64decode(digest[4:], validate=True).hex()
    except ValueError:
        return None


def couch_digest(md5_hex: str) -> str:
    return "md5-" + base64.b64encode(bytes.fromhex(md5_hex)).decode()


def audio_of(doc: dict[str, Any]) -> MediaAudio | None:
    """The doc's binary (its first audio attachment, as Crossbar's GET picks it), or None."""
    for name, meta in sorted((doc.get("_attachments") or {}).items()):
        if isinstance(meta, dict):
            return MediaAudio(name, meta.get("digest"), int(meta.get("length") or 0))
    return None


class KazooMedia:
    """Media docs written in CouchDB as Crossbar writes them, each checked first against Kazoo's
    schema for the configured release (syncd.kazoo.doc_checks)."""

    def __init__(self, couch: CouchClient, version: str = DEFAULT) -> None:
        self.couch, self.version = couch, version

    @property
    def max_bytes(self) -> int:
        """The largest binary the release's media.json allows (content_length maximum)."""
        return kazoo_version(self.version).media_max_bytes

    def get(self, account_id: str, media_id: str) -> dict[str, Any] | None:
        return self.couch.get(dbnames.account_db(account_id), media_id)

    def create(self, account_id: str, media_id: str, fields: dict[str, Any], revive: bool = False) -> dict[str, Any]:
        """The doc at media_id, written now or found from an earlier try (same id, same file).
        revive: a soft-deleted doc there is brought back with these fields (a prompt's fixed id)."""
        db = dbnames.account_db(account_id)
        new = media_doc(account_id, media_id, fields)
        self._check(account_id, new)
        if self.couch.create(db, new) is None:
            raise KazooError(f"account {account_id} has no database {db!r}: is the account id right?")
        doc = self.couch.get(db, media_id)
        if doc is None:
            raise_missing(account_id, media_id)
        if revive and is_deleted(doc):
            doc = {**new, "_rev": doc["_rev"]}
            doc["_rev"] = self.couch.save(db, doc)
        return doc

    def put_audio(
        self, account_id: str, doc: dict[str, Any], body: BinaryIO, length: int, content_type: str, ext: str
    ) -> tuple[dict[str, Any], MediaAudio]:
        """Replace the doc's binary as Crossbar's POST does: old attachments go, the new one is
        named uploaded_file_<gregorian>.<ext>; content_type and content_length follow it."""
        db = dbnames.account_db(account_id)
        fields = {k: v for k, v in doc.items() if k != "_attachments"}
        fields.update(content_type=content_type, content_length=length, media_source="upload")
        fields["pvt_modified"] = gregorian_now()
        self._check(account_id, fields, doc)
        fields["_rev"] = self.couch.save(db, fields)  # the binary's metadata first; drops the old binary
        name = f"uploaded_file_{gregorian_now()}.{ext}"
        self.couch.put_attachment(db, fields, body, name, content_type)
        stored = self.couch.get(db, doc["_id"]) or {}
        if stored.get("pvt_type") != MEDIA:  # a server that drops a doc's fields on an attachment PUT
            stored = {**fields, "_rev": stored["_rev"], "_attachments": stored.get("_attachments", {})}
            stored["_rev"] = self.couch.save(db, stored)
        audio = audio_of(stored)
        if audio is None:
            raise_missing(account_id, doc["_id"], f"attachment {name!r}")
        return stored, audio

    def rename(self, account_id: str, doc: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Set name and description (a file renamed or moved in the library); keeps the binary."""
        wanted = media_fields(fields)
        if all(doc.get(k) == v for k, v in wanted.items()):
            return doc
        updated = {**doc, **wanted, "pvt_modified": gregorian_now()}
        self._check(account_id, updated, doc)
        updated["_rev"] = self.couch.save(dbnames.account_db(account_id), updated)
        return updated

    def repair(self, account_id: str, doc: dict[str, Any]) -> bool:
        """A media an earlier syncd made with a source_id media.json refuses (the library's name,
        not 32 characters): the field goes, so Crossbar and Monster UI can save the doc again.
        True when the doc was rewritten."""
        if not needs_repair(doc):
            return False
        fixed = {k: v for k, v in doc.items() if k != "source_id"}
        fixed["pvt_modified"] = gregorian_now()
        self._check(account_id, fixed, doc)
        return self.couch.update(dbnames.account_db(account_id), fixed) is not None

    def set_hold_music(self, account_id: str, doc: dict[str, Any], media_id: str | None) -> None:
        """Set (or, with None, remove) music_on_hold.media_id on an account, user, device or group doc
        as a Crossbar save does (pvt_modified bumped; an account's copy in `accounts` follows, as
        kzd_accounts:save/1 keeps it), at the revision read: a doc changed meanwhile is a KazooError
        (tried again next pass)."""
        kind = str(doc.get("pvt_type"))
        if kind not in HOLD_MUSIC_KINDS:
            raise KazooError(f"doc {doc.get('_id')} is a {kind!r}: no hold music there")
        updated = {**doc, "music_on_hold": hold_music(doc, media_id), "pvt_modified": gregorian_now()}
        check_write(kind, updated, self.version, before=doc, where=f"of account {account_id}")
        rev = self.couch.update(dbnames.account_db(account_id), updated)
        if rev is None:
            raise KazooError(f"doc {doc['_id']} changed while its music_on_hold was set; tried again next pass")
        if kind == "account":
            self._copy_to_accounts({**updated, "_rev": rev})

    def _copy_to_accounts(self, account: dict[str, Any]) -> None:
        """kzd_accounts:save_accounts_doc/1: the account doc, as saved, over its copy in `accounts`."""
        copy = {k: v for k, v in account.items() if k not in ("_rev", "_attachments")}
        for _ in range(3):  # the copy is Kazoo's cache of the account doc: the account DB's wins
            current = self.couch.get(dbnames.ACCOUNTS, account["_id"])
            if current is not None:
                copy["_rev"] = current["_rev"]
            if self.couch.update(dbnames.ACCOUNTS, copy) is not None:
                return
        raise KazooError(f"account {account['_id']}: its copy in the accounts database kept changing; tried next pass")

    def soft_delete(self, account_id: str, media_id: str) -> None:
        doc = self.get(account_id, media_id)
        if doc is not None and not is_deleted(doc):
            deleted = soft_deleted(doc)
            self._check(account_id, deleted, doc)
            self.couch.update(dbnames.account_db(account_id), deleted)

    def hard_delete(self, account_id: str, media_id: str, rev: str) -> bool:
        """A prompt goes as Crossbar deletes one (cb_media:delete_type/1: hard); False if it changed."""
        return self.couch.delete(dbnames.account_db(account_id), media_id, rev)

    def open_audio(self, account_id: str, media_id: str, attachment: str) -> BinaryIO | None:
        return self.couch.open_attachment(dbnames.account_db(account_id), media_id, attachment)

    def changes(self, account_id: str, since: Any, limit: int) -> tuple[list[dict[str, Any]], Any, bool]:
        """One page of the account database's changes: (media docs, deleted ones too; last_seq;
        whether the page was full, so more may follow)."""
        results, last_seq = self.couch.changes(dbnames.account_db(account_id), since, limit)
        docs = []
        for change in results:
            doc = change.get("doc") or {"_id": change.get("id"), "_deleted": True}
            if change.get("deleted") or doc.get("pvt_type") == MEDIA:
                docs.append(doc)
        return docs, last_seq, len(results) >= limit

    def scan_referrers(self, account_id: str, media_id: str) -> list[str]:
        """Every live doc of the account that names the media, read doc by doc: for a media id the
        referrer index does not keep (syncd.kazoo.referrers.indexable)."""
        found = []
        for doc in self.couch.all_docs(dbnames.account_db(account_id)):
            if doc.get("pvt_type") == MEDIA or is_deleted(doc):
                continue
            paths = [path for path, value in strings(doc, longest=None) if _names(value, media_id)]
            if paths:
                found.append(f"{label(doc)} at {', '.join(paths)}")
        return found

    def _check(self, account_id: str, doc: dict[str, Any], before: dict[str, Any] | None = None) -> None:
        check_write(MEDIA, doc, self.version, before=before, where=f"of account {account_id}")


def _names(value: str, media_id: str) -> bool:
    """A bare id, or a path ending in it (/<account>/<media>, as kz_media_util:media_path makes)."""
    return value == media_id or value.rstrip("/").endswith(f"/{media_id}")


def raise_missing(account_id: str, media_id: str, what: str = "the doc") -> NoReturn:
    raise KazooError(f"media {media_id} of account {account_id}: {what} was written but cannot be read back")
