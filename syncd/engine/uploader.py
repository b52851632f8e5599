"""Upload one recorded item: resolve its backend, stream, verify, record."""

from __future__ import annotations

import base64
import binascii
import logging
import random
import time
from dataclasses import dataclass
from typing import BinaryIO, cast

from syncd.backends.base import Backend, HashingReader, ObjectInfo
from syncd.engine.abc import AttachmentSource, BackendResolver, Converter
from syncd.errors import IntegrityError, NotFound, StateError, SyncdError, describe
from syncd.state import Item
from syncd.state.work import WorkItems

log = logging.getLogger("syncd.upload")


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 30.0
    maximum: float = 3600.0

    def next_attempt(self, attempts: int) -> float:
        """Exponential backoff with +-20% jitter, persisted so it survives restarts."""
        delay = min(self.maximum, self.base * 2.0 ** max(0, attempts - 1))
        return time.time() + delay * random.uniform(0.8, 1.2)  # noqa: S311


class Outcome:
    SYNCED, FAILED, GONE = "synced", "failed", "gone"


def md5_from_digest(digest: str | None) -> str | None:
    """CouchDB's "md5-<base64>" attachment digest as lower-case hex, else None."""
    if not digest or not digest.startswith("md5-"):
        return None
    try:
        return base64.b64decode(digest[4:], validate=True).hex()
    except (binascii.Error, ValueError):
        return None


class Uploader:
    def __init__(
        self,
        work: WorkItems,
        source: AttachmentSource,
        backends: BackendResolver,
        retry: RetryPolicy,
        converter: Converter | None = None,
    ) -> None:
        self.work, self.source, self.backends, self.retry = work, source, backends, retry
        self.converter = converter

    def process(self, item: Item) -> str:
        """Upload and verify one item; record the result. Raises only StateError."""
        where = _where(item)
        try:
            outcome = self._upload(item)
        except StateError:
            raise  # nothing can be recorded: the runner stops (damaged) or waits (disk full)
        except Exception as exc:
            text = describe(exc)
            retry_at = self.retry.next_attempt(item.attempts)
            self.work.mark_failed(item.id, text, retry_at)
            log.warning(
                "upload failed, attempt %d, next try in %ds: %s %s",
                item.attempts,
                max(0, int(retry_at - time.time())),
                text,
                where,
            )
            if not isinstance(exc, SyncdError):
                log.debug("traceback for %s", where, exc_info=exc)
            return Outcome.FAILED
        return outcome

    def _upload(self, item: Item) -> str:
        backend = self.backends.backend_for(item)
        expected = md5_from_digest(item.digest)
        converting = self.converter is not None and self.converter.applies(item)
        # attempts counts earlier claims: one that may have written the object before a crash is looked
        # up first (kill -9 writes nothing twice)
        if not converting and (item.may_exist or item.attempts > 0) and self._already_there(backend, item, expected):
            return Outcome.SYNCED
        opened = self.source.open(item)
        if opened is None:
            # Deleted from Kazoo before we got to it: nothing exists to upload. A new
            # version of the attachment comes back through the feed as new work.
            self.work.forget(item.id, "attachment no longer in CouchDB before upload")
            log.warning("attachment left CouchDB before it was uploaded; dropped %s", _where(item))
            return Outcome.GONE
        with opened as stream:
            if converting:
                return self._put_converted(backend, item, stream, expected)
            return self._put_plain(backend, item, stream, expected)

    def _put_plain(self, backend: Backend, item: Item, stream: BinaryIO, expected: str | None) -> str:
        # No digest in CouchDB (rare; some writers omit it): the bytes read are hashed here and must
        # match what the backend stored, else the upload is reported as unverified.
        # HashingReader is file-like as far as put() goes: read(n) is all a backend calls
        if expected is not None and callable(getattr(stream, "stored_md5", None)):
            return self._put_encoded(backend, item, stream, expected)
        reader = cast(BinaryIO, HashingReader(stream)) if expected is None else stream
        info = backend.put(
            item.object_key,
            reader,
            length=item.length,
            content_type=item.content_type,
            md5=expected,
            properties=_labels(item),
            resume=self.work.resume_slot(item),
        )
        if expected is None and isinstance(reader, HashingReader):
            if info.md5 is None:
                log.warning(
                    "uploaded without verification: CouchDB gave no digest and %s no MD5 %s",
                    backend.describe(),
                    _where(item),
                )
            expected = reader.hexdigest() if info.md5 is not None else None
        return self._verified(backend, item, info, expected)

    def _put_encoded(self, backend: Backend, item: Item, stream: BinaryIO, expected: str) -> str:
        """An attachment CouchDB stores compressed: its digest covers the gzip bytes, so those are
        checked as the last decoded byte is read (before the backend makes the object visible) and
        the backend verifies the decoded bytes, the ones Kazoo serves, against their own MD5."""
        reader = EncodedCheck(stream, item.length, expected, item.object_key)
        info = backend.put(
            item.object_key,
            cast(BinaryIO, reader),
            length=item.length,
            content_type=item.content_type,
            properties=_labels(item),
        )
        reader.verify()
        return self._verified(backend, item, info, reader.hexdigest())

    def _put_converted(self, backend: Backend, item: Item, stream: BinaryIO, expected: str | None) -> str:
        if self.converter is None:  # only items that need a rendition come here
            raise IntegrityError(f"{item.doc_id}: a rendition was asked for, but no converter is set")
        with self.converter.convert(stream, expected) as made:
            if item.attempts > 0 and self._already_there(backend, item, made.md5):  # deterministic rendition
                return Outcome.SYNCED
            # no resumable session: a session belongs to bytes read from CouchDB, not to a rendition
            info = backend.put(
                item.object_key,
                made.body,
                length=made.length,
                content_type=item.content_type,
                md5=made.md5,
                properties=_labels(item),
            )
        return self._verified(backend, item, info, made.md5)

    def _verified(self, backend: Backend, item: Item, info: ObjectInfo, expected: str | None) -> str:
        if expected is not None and info.md5 != expected:
            raise IntegrityError(
                f"{backend.describe()} reports MD5 {info.md5} for {item.object_key!r}, "
                f"the bytes read from CouchDB have {expected}"
            )
        self.work.mark_synced(item.id, info.etag, info.md5, info.object_id)
        log.info("uploaded %d bytes %s", item.length, _where(item))
        return Outcome.SYNCED

    def _already_there(self, backend: Backend, item: Item, expected: str | None) -> bool:
        try:
            info = backend.stat(item.object_key)
        except NotFound:
            return False
        if expected is None or info.md5 != expected:
            return False
        self.work.mark_synced(item.id, info.etag, info.md5, info.object_id)
        log.info("already stored with the same MD5, recorded %s", _where(item))
        return True


def _labels(item: Item) -> dict[str, str]:
    """Where the bytes came from, kept on the object where the backend can (identity survives moves)."""
    return {"kazoo_db": item.db, "kazoo_doc": item.doc_id, "kazoo_attachment": item.attachment}


def _where(item: Item) -> str:
    return (
        f"account={item.account_id} db={item.db} doc={item.doc_id} attachment={item.attachment!r} "
        f"target={item.target} key={item.object_key!r}"
    )


class EncodedCheck:
    """The decoded bytes of an attachment CouchDB keeps compressed, hashed as read; the read that
    completes `length` (or finds the body short) compares the encoded bytes' MD5 with CouchDB's
    digest and raises IntegrityError when they differ, so nothing wrong becomes visible."""

    def __init__(self, stream: BinaryIO, length: int, digest_md5: str, key: str) -> None:
        self._stream, self._reader = stream, HashingReader(stream)
        self.length, self.digest_md5, self.key = length, digest_md5, key

    def read(self, size: int | None = -1) -> bytes:
        left = self.length - self._reader.count
        wanted = left if size is None or size < 0 else min(size, left)
        data = self._reader.read(wanted) if wanted > 0 else b""
        if (wanted > 0 and len(data) < wanted) or self._reader.count == self.length:
            self.verify()
        return data

    def verify(self) -> None:
        stored = self._stream.stored_md5()  # type: ignore[attr-defined]
        # a server that gzips only on the way (not CouchDB's own compression) digests the decoded bytes
        if self._reader.count != self.length or self.digest_md5 not in (stored, self._reader.hexdigest()):
            raise IntegrityError(
                f"{self.key!r}: read {self._reader.count} of {self.length} bytes; CouchDB's compressed copy has "
                f"MD5 {stored}, its digest says {self.digest_md5}; nothing was stored"
            )

    def hexdigest(self) -> str:
        return self._reader.hexdigest()
