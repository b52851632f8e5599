"""Renditions made at upload time: a received fax's TIFF uploaded as a PDF.

The TIFF is read from CouchDB and checked against the attachment's digest
before it is converted (a damaged read is never turned into a plausible PDF);
the PDF is written to a temporary file and its own MD5 is what the backend
must confirm. Conversion is deterministic (no dates inside), so the same TIFF
always gives the same PDF bytes.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from syncd.errors import IntegrityError, SyncdError
from syncd.flows.fax.files import tiff_to_pdf
from syncd.model.fax import FaxFileError
from syncd.state import Item

_SPOOL = 8 * 1024 * 1024  # renditions up to this size stay in memory


@dataclass(frozen=True)
class Rendition:
    body: BinaryIO
    length: int
    md5: str


class TiffToPdf:
    def __init__(self, applies: Callable[[str, str], bool]) -> None:
        self._applies = applies

    def applies(self, item: Item) -> bool:
        return self._applies(item.attachment, item.content_type)

    @contextmanager
    def convert(self, source: BinaryIO, expected_md5: str | None) -> Iterator[Rendition]:
        with tempfile.SpooledTemporaryFile(_SPOOL) as tiff, tempfile.SpooledTemporaryFile(_SPOOL) as pdf:
            digest = hashlib.md5()  # noqa: S324 - integrity check
            for chunk in iter(lambda: source.read(1024 * 1024), b""):
                digest.update(chunk)
                tiff.write(chunk)
            if expected_md5 is not None and digest.hexdigest() != expected_md5:
                raise IntegrityError(
                    f"the TIFF read from CouchDB has MD5 {digest.hexdigest()}, its digest says "
                    f"{expected_md5}; not converted"
                )
            tiff.seek(0)
            try:
                tiff_to_pdf(tiff, pdf)  # type: ignore[arg-type]
            except FaxFileError as exc:
                raise SyncdError(f"received fax: {exc}") from None
            length = pdf.tell()
            pdf.seek(0)
            made = hashlib.md5()  # noqa: S324
            for chunk in iter(lambda: pdf.read(1024 * 1024), b""):
                made.update(chunk)
            pdf.seek(0)
            yield Rendition(pdf, length, made.hexdigest())  # type: ignore[arg-type]
