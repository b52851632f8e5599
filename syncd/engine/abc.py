"""Every protocol the engine works through: what it needs from Kazoo, the backends'
owner and a flow, stated here so the engine imports none of them.

- AttachmentSource: the bytes of an attachment (CouchDB);
- Converter: a rendition made on the way out (a received fax as PDF);
- BackendResolver: the backend behind an item's target;
- KazooSide: a Kazoo document inspected, then soft-deleted at what was inspected.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol, TypeVar

from syncd.backends.base import Backend
from syncd.state import Item


class AttachmentSource(Protocol):
    def open(self, item: Item) -> AbstractContextManager[BinaryIO] | None:
        """Stream the item's attachment bytes, or None when CouchDB no longer has it."""


class Converter(Protocol):
    """Makes what is uploaded from what CouchDB holds, for items that are renditions (the fax flow's TIFF -> PDF)."""

    def applies(self, item: Item) -> bool: ...
    def convert(self, source: BinaryIO, expected_md5: str | None) -> AbstractContextManager[Any]: ...


class BackendResolver(Protocol):
    def backend_for(self, item: Item) -> Backend:
        """The backend behind item.target; raises SyncdError when it cannot be built."""


class DocCheckLike(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def already_deleted(self) -> bool: ...


Check = TypeVar("Check", bound=DocCheckLike)


class KazooSide(Protocol[Check]):
    """Kazoo's side of a delete: inspect the doc, then apply at what was inspected."""

    def inspect(self, item: Item) -> Check: ...
    def apply(self, item: Item, check: Check) -> Check: ...
