"""Fax documents: is this file a PDF we can fax, who is it for, and received
TIFFs as PDFs. The one module that imports pypdf and img2pdf.

- A PDF is judged by parsing it (pypdf), never by its name: it must open,
  not be encrypted (Kazoo's converter cannot read it) and have pages.
- A recipient comes from where the file sits: its folder or the start of its
  name, normalised to E.164 (model.fax.normalise_number).
- TIFF -> PDF with img2pdf: the fax's CCITT pages are embedded as they are,
  not re-compressed, so nothing is lost in the conversion.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import BinaryIO

from syncd.model.fax import FaxFileError, normalise_number

# pypdf reports recoverable oddities of a PDF as warnings on its own loggers.
logging.getLogger("pypdf").setLevel(logging.ERROR)
# pypdf and img2pdf (with pikepdf) cost ~45 MB of memory once imported: they are imported when a
# fax is first checked or converted, so a daemon with no outbox and TIFF uploads never pays for them.

# A file name's number part: what comes before the first " - " or "_" ("+1 415 555 0100 - Acme.pdf").
_NAME_SPLIT = re.compile(r" - |_")
_NUMBER_TEXT = re.compile(r"^\s*\+?[0-9( ][0-9 ().\-]*[0-9]\s*$")

RECIPIENT_HELP = (
    "put the file in a folder named by the fax number (outbox/+14155550100/contract.pdf) or "
    'start its name with the number ("+14155550100 - contract.pdf")'
)


@dataclass(frozen=True)
class Recipient:
    number: str  # E.164
    name: str | None = None


def count_pdf_pages(stream: BinaryIO) -> int:
    """The number of pages of the PDF in stream; FaxFileError when it is not a PDF that can be faxed."""
    head = stream.read(1024)
    stream.seek(0)
    if b"%PDF-" not in head:
        raise FaxFileError(
            "not a PDF file: it does not start with a PDF header (%PDF-); "
            "save or print the document as PDF and drop it again"
        )
    import pypdf

    try:
        reader = pypdf.PdfReader(stream, strict=False)
        if reader.is_encrypted:
            raise FaxFileError("the PDF is password-protected; save a copy without a password and drop it again")
        pages = len(reader.pages)
    except FaxFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged input: each is a rejection
        raise FaxFileError(
            f"the PDF is damaged and cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
            "save it again as PDF and drop it again"
        ) from None
    if pages < 1:
        raise FaxFileError("the PDF has no pages")
    return pages


def recipient_for(relative_key: str, region: str) -> Recipient:
    """Who a file in the outbox is for, from where it sits (outbox-relative key).

    1. a first folder named by the number: "+14155550100/contract.pdf";
    2. else a file name that starts with the number: "+14155550100 - Acme Legal.pdf"
       (the text after " - " becomes the recipient's name).
    """
    parts = relative_key.split("/")
    if len(parts) > 1:
        return Recipient(_number_or_explain(parts[0], region, "folder name"))
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    number, _, rest = (part.strip() for part in _split_once(stem))
    if not _NUMBER_TEXT.match(number):
        raise FaxFileError(
            f"no recipient: the file name {parts[-1]!r} does not start with a fax number; " + RECIPIENT_HELP
        )
    return Recipient(_number_or_explain(number, region, "file name"), rest or None)


def _split_once(stem: str) -> tuple[str, str, str]:
    match = _NAME_SPLIT.search(stem)
    return (stem, "", "") if match is None else (stem[: match.start()], match.group(), stem[match.end() :])


def _number_or_explain(raw: str, region: str, where: str) -> str:
    try:
        return normalise_number(raw, region)
    except FaxFileError as exc:
        raise FaxFileError(f"no usable recipient in the {where}: {exc}; {RECIPIENT_HELP}") from None


def tiff_to_pdf(tiff: BinaryIO, out: BinaryIO) -> None:
    """Write the (multi-page) TIFF in tiff as one PDF into out; FaxFileError when it is no TIFF."""
    import img2pdf

    try:
        img2pdf.convert(tiff.read(), outputstream=out, rotation=img2pdf.Rotation.ifvalid, nodate=True)
    except (img2pdf.ImageOpenError, img2pdf.PdfTooLargeError, ValueError, OSError) as exc:
        raise FaxFileError(f"cannot convert the TIFF to PDF ({type(exc).__name__}: {exc})") from None
