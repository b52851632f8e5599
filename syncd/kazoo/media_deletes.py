"""Kazoo's side of a media library delete: as Crossbar's DELETE does it, never while the media
is named anywhere (syncd.kazoo.referrers)."""

from __future__ import annotations

from syncd.kazoo.deletes import DocCheck, KazooDeleter, is_deleted, soft_deleted
from syncd.kazoo.doc_checks import DocRefused, check_write
from syncd.kazoo.media import MEDIA, KazooMedia, is_prompt
from syncd.kazoo.media_crossbar import CrossbarMedia
from syncd.kazoo.referrers import ReferrerIndex, describe
from syncd.state import Item


class MediaDeleter:
    """Kazoo's side of a media library delete, as Crossbar's DELETE does it (through Crossbar when
    the library writes there): a soft delete, a prompt for good; refused while referenced or
    changed since it was inspected."""

    def __init__(self, media: KazooMedia, index: ReferrerIndex | None = None) -> None:
        self.media, self.docs, self.index = media, KazooDeleter(media.couch, version=media.version), index

    def referrers(self, account_id: str, media_id: str) -> list[str]:
        """Every doc that names the media, in any followed account (the referrer index), for a person."""
        found = self.index.referrers(account_id, media_id) if self.index is not None else None
        return describe(found) if found is not None else self.media.scan_referrers(account_id, media_id)

    def inspect(self, item: Item) -> DocCheck:
        check = self.docs.inspect(item)
        if not check.ok:
            return check
        users = self.referrers(item.account_id, item.doc_id)
        if users:
            return DocCheck(False, f"media {item.doc_id} is still used by {'; '.join(users)}")
        return check

    def apply(self, item: Item, check: DocCheck) -> DocCheck:
        users = self.referrers(item.account_id, item.doc_id)  # again: a reference set meanwhile wins
        if users:
            return DocCheck(False, f"media {item.doc_id} is still used by {'; '.join(users)}")
        doc = self.media.get(item.account_id, item.doc_id)
        if doc is None or is_deleted(doc):
            return DocCheck(False, "already deleted in Kazoo", already_deleted=True)
        if doc["_rev"] != check.rev:
            return DocCheck(False, f"doc changed since the delete was planned (rev {check.rev} -> {doc['_rev']})")
        if isinstance(self.media, CrossbarMedia):
            self.media.soft_delete(item.account_id, item.doc_id)  # Crossbar itself hard-deletes a prompt
            return DocCheck(True, "deleted through Crossbar", rev=check.rev)
        if not is_prompt(doc):
            try:  # the soft delete must pass media.json where the doc did
                check_write(MEDIA, soft_deleted(doc), self.media.version, before=doc)
            except DocRefused as exc:
                return DocCheck(False, str(exc))
        if is_prompt(doc):
            if not self.media.hard_delete(item.account_id, item.doc_id, doc["_rev"]):
                return DocCheck(False, "doc changed while it was being deleted (CouchDB conflict)")
            return DocCheck(True, "prompt deleted for good, as Crossbar deletes prompts", rev=check.rev)
        return self.docs.apply(item, check)
