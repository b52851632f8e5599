"""Files of a library into Kazoo: a new file becomes a media doc with its audio, a replaced
file gives its media new audio under the same id, a renamed file renames its media.

Each file is copied to a temporary file first (bounded by the library's
max_size_mb), judged there by ffprobe, then written to CouchDB; the state row
comes last, so a failure anywhere leaves the file to be handled again, never a
media without its row that a second try would duplicate (the id is derived).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.backends.base import Backend, ObjectInfo
from syncd.errors import KazooError
from syncd.flows.media.audio import Audio, AudioRejected, Limits, Rendition, judge, render
from syncd.kazoo import dbnames
from syncd.kazoo.deletes import is_deleted
from syncd.kazoo.media import MEDIA, KazooMedia, MediaAudio, audio_of, hex_md5
from syncd.model.media import LIBRARY_SOURCE, Library, media_for_key, media_id_for
from syncd.state import Item, State
from syncd.state.items import Placement

_GENERATIONS = 20  # ids tried for one file place and bytes when earlier ones are soft-deleted media


class ToKazoo:
    def __init__(self, backend: Backend, media: KazooMedia, state: State) -> None:
        self.backend, self.media, self.state = backend, media, state

    def create(self, lib: Library, info: ObjectInfo, limits: Limits) -> str:
        """The file's media, made (or found from an earlier try) with its audio; returns the media id."""
        with spooled(self.backend, info, limits) as (path, md5):
            sent = self._fits(_for_kazoo(lib, path, judge(path, limits)))
            doc = self._doc_for(lib, info.key, md5)
            current = audio_of(doc)
            sent_md5 = md5 if sent.path == path else _md5_of(sent.path)  # the file itself: hashed while spooled
            if current is None or hex_md5(current.digest) != sent_md5:
                doc, current = self._put(lib, doc, sent)
        self.state.media.track(
            self._placement(lib, doc["_id"], info.key, current, sent), info.etag, md5, info.object_id
        )
        return str(doc["_id"])

    def replace(self, lib: Library, item: Item, info: ObjectInfo, limits: Limits) -> None:
        with spooled(self.backend, info, limits) as (path, md5):
            sent = self._fits(_for_kazoo(lib, path, judge(path, limits)))
            doc = self.media.get(lib.account_id, item.doc_id)
            if doc is None or is_deleted(doc):
                raise KazooError(f"media {item.doc_id} was deleted in Kazoo; its file follows that delete")
            doc, current = self._put(lib, doc, sent)
        placement = self._placement(lib, item.doc_id, info.key, current, sent)
        self.state.media.replaced(item, placement, info.etag, md5, info.object_id)

    def rename(self, item: Item, info: ObjectInfo, fields: dict[str, str]) -> None:
        doc = self.media.get(item.account_id, item.doc_id)
        if doc is not None and not is_deleted(doc):
            self.media.rename(item.account_id, doc, {k: v for k, v in fields.items() if k != "language"})
        placement = Placement(**{**_placement_fields(item), "object_key": info.key})
        self.state.media.replaced(item, placement, info.etag, info.md5 or item.md5, info.object_id)

    # -- helpers ---------------------------------------------------------------
    def _fits(self, sent: Sendable) -> Sendable:
        """Kazoo's media.json caps content_length (5 MB on 4.3): a larger binary Crossbar refuses."""
        size, cap = sent.path.stat().st_size, self.media.max_bytes
        if size > cap:
            what = "its rendition" if sent.rendered else "the file"
            raise AudioRejected(
                f"{what} is {size:,} bytes; Kazoo {self.media.version} takes media up to {cap:,} bytes "
                '(media.json content_length): shorten it, or use normalize = "mp3" (or a lower sample_rate) '
                "on the library so Kazoo gets a smaller rendition"
            )
        return sent

    def _doc_for(self, lib: Library, key: str, md5: str) -> dict[str, Any]:
        wanted = media_for_key(key, lib.language)
        fields = {**wanted.fields, "source_type": LIBRARY_SOURCE}  # source_id: 32 characters, an owning doc
        if wanted.fixed_id:  # a prompt: Crossbar's id <language>/<prompt_id>, revived if it was deleted
            return self.media.create(lib.account_id, wanted.fixed_id, fields, revive=True)
        for generation in range(_GENERATIONS):
            doc = self.media.create(lib.account_id, media_id_for(lib.name, key, md5, generation), fields)
            if not is_deleted(doc) and doc.get("pvt_type") == MEDIA:
                return doc
        raise KazooError(f"every media id syncd derives for {key!r} is taken by a deleted media; rename the file")

    def _put(self, lib: Library, doc: dict[str, Any], sent: Sendable) -> tuple[dict[str, Any], MediaAudio]:
        with sent.path.open("rb") as body:
            size = sent.path.stat().st_size
            return self.media.put_audio(lib.account_id, doc, body, size, sent.content_type, sent.ext)

    @staticmethod
    def _placement(lib: Library, media_id: str, key: str, current: MediaAudio, sent: Sendable) -> Placement:
        return Placement(
            db=dbnames.account_db(lib.account_id),
            doc_id=media_id,
            attachment=current.attachment,
            target=lib.target,
            object_key=key,
            digest=current.digest,
            length=current.length,
            content_type=sent.content_type,
            account_id=lib.account_id,
            pvt_type=MEDIA,
        )


@dataclass(frozen=True)
class Sendable:
    """The audio that goes to Kazoo: the file itself, or its rendition."""

    path: Path
    content_type: str
    ext: str
    rendered: bool = False  # the library's rendition, not the file itself


def rendition_of(lib: Library) -> Rendition | None:
    if lib.normalize is None and lib.loudness is None:
        return None
    return Rendition(lib.normalize or "wav", lib.sample_rate, lib.loudness)


def _for_kazoo(lib: Library, path: Path, audio: Audio) -> Sendable:
    """The library's rendition of the file when it asks for one (the file stays as it is), else
    the file itself when Kazoo plays its format."""
    rendition = rendition_of(lib)
    if rendition is not None:
        out = render(path, path.with_name(path.name + "." + rendition.format), rendition)
        return Sendable(out, rendition.content_type, rendition.format, rendered=True)
    if audio.kazoo_format is None:
        raise AudioRejected(
            f"{audio.container} is not a format Kazoo plays; convert it to wav, mp3 or ogg and put it "
            'back, or set normalize = "wav" (or "mp3") on the library'
        )
    return Sendable(path, *audio.kazoo_format)


def _md5_of(path: Path) -> str:
    md5 = hashlib.md5()  # noqa: S324 - integrity check
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
    return md5.hexdigest()


def _placement_fields(item: Item) -> dict[str, Any]:
    return {name: getattr(item, name) for name in Placement.__dataclass_fields__}


@contextmanager
def spooled(
    backend: Backend, info: ObjectInfo, limits: Limits, folder: Path | None = None
) -> Iterator[tuple[Path, str]]:
    """The file copied to a temporary file (in folder, or a temporary one), with its MD5."""
    if info.size > limits.max_bytes:
        raise AudioRejected(f"{info.size} bytes is over the library's max_size_mb ({limits.max_bytes} bytes)")
    with tempfile.TemporaryDirectory(prefix="syncd-media-") as tmp:
        path = (folder or Path(tmp)) / f"{hashlib.md5(info.key.encode()).hexdigest()}.audio"  # noqa: S324 - a name
        md5 = hashlib.md5()  # noqa: S324 - integrity check
        with backend.get(info.key) as source, path.open("wb") as out:
            left = limits.max_bytes + 1
            while left > 0 and (chunk := source.read(min(1 << 20, left))):
                md5.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        yield path, md5.hexdigest()
