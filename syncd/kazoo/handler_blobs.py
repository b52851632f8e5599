"""Read where Kazoo already put an attachment (pvt_attachments, docs/kazoo.md §2.3).

After an external upload Kazoo records
    pvt_attachments.<name>.handler.<kz_att_module> = {...}
and for most handlers that holds base64(term_to_binary(Term)), an Erlang
External Term Format blob. We decode it only to learn the object's location.
S3 blobs also carry the access key and secret: those are dropped here and
never leave this module.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import erlang  # erlang-py: a maintained ETF codec; hand-rolling one buys nothing


@dataclass(frozen=True)
class ExternalCopy:
    """An attachment Kazoo stored outside CouchDB."""

    handler: str  # the Kazoo module, e.g. "kz_att_s3"
    container: str | None  # bucket (S3, Google Storage), container (Azure), else None
    location: str  # object key, Drive file id, URL ...


class BlobError(ValueError):
    pass


def external_copy(entry: dict[str, Any]) -> ExternalCopy | None:
    """Decode one pvt_attachments entry; None when it does not point outside CouchDB."""
    handler = entry.get("handler")
    if not isinstance(handler, dict) or len(handler) != 1:
        return None
    ((module, props),) = handler.items()
    if not isinstance(props, dict):
        raise BlobError(f"{module}: handler props are not an object")
    decoder = _DECODERS.get(module)
    if decoder is None:
        return None  # kz_att_link and unknown modules: the bytes are still in CouchDB
    return decoder(module, props)


def _s3(module: str, props: dict[str, Any]) -> ExternalCopy:
    term = _term(props, "S3")
    if isinstance(term, tuple) and len(term) == 2 and isinstance(term[0], dict):
        settings = {_text(k): v for k, v in term[0].items()}
        return ExternalCopy(module, _opt_text(settings.get("bucket")), _text(term[1]))
    if isinstance(term, tuple) and len(term) >= 4:  # older {Key, Secret, Bucket, Path}
        return ExternalCopy(module, _text(term[2]), _text(term[3]))
    raise BlobError(f"{module}: unrecognised S3 blob shape")


Decoder = Callable[[str, dict[str, Any]], ExternalCopy]


def _pair_second(key: str) -> Decoder:
    def decode(module: str, props: dict[str, Any]) -> ExternalCopy:
        term = _term(props, key)
        if not isinstance(term, tuple) or len(term) != 2:
            raise BlobError(f"{module}: expected a 2-tuple")
        location = term[1]
        if isinstance(location, tuple):  # onedrive {DriveId, ItemId}, gstorage {name, Name}
            location = location[-1]
        container = None
        if isinstance(term[0], dict):
            settings = {_text(k): v for k, v in term[0].items()}
            container = _opt_text(settings.get("bucket") or settings.get("container"))
        return ExternalCopy(module, container, _text(location))

    return decode


def _url(module: str, props: dict[str, Any]) -> ExternalCopy:
    url = props.get("url")
    if not isinstance(url, str) or not url:
        raise BlobError(f"{module}: no url")
    return ExternalCopy(module, None, url)


_DECODERS: dict[str, Decoder] = {
    "kz_att_s3": _s3,
    "kz_att_google_drive": _pair_second("gdrive"),
    "kz_att_dropbox": _pair_second("dropbox"),
    "kz_att_onedrive": _pair_second("onedrive"),
    "kz_att_azure": _pair_second("azure"),
    "kz_att_google_storage": _pair_second("gstorage"),
    "kz_att_http": _url,
    "kz_att_ftp": _url,
}


# A pointer term is a few hundred bytes. Anything far larger is not Kazoo's, and a compressed
# term would otherwise be inflated in full before it is looked at (a zip bomb in a tenant's doc).
MAX_BLOB_CHARS = 64 * 1024
MAX_INFLATED = 256 * 1024
_VERSION, _COMPRESSED = 131, 80


def _term(props: dict[str, Any], key: str) -> Any:
    blob = props.get(key)
    if not isinstance(blob, str) or not blob:
        raise BlobError(f"no {key!r} blob")
    if len(blob) > MAX_BLOB_CHARS:
        raise BlobError(
            f"{key!r} blob is {len(blob):,} characters, more than a Kazoo pointer ({MAX_BLOB_CHARS:,} allowed)"
        )
    try:
        return erlang.binary_to_term(_inflated(base64.b64decode(blob, validate=True), key))
    except BlobError:
        raise
    except (
        binascii.Error,
        erlang.ParseException,
        erlang.InputException,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        struct.error,
        zlib.error,
        UnicodeError,
        OverflowError,
    ) as exc:
        raise BlobError(f"{key!r} blob is not a valid Erlang term: {type(exc).__name__}") from None
    except RecursionError:
        raise BlobError(f"{key!r} blob nests deeper than a Kazoo pointer can") from None


def _inflated(data: bytes, key: str) -> bytes:
    """A compressed term inflated here, at most MAX_INFLATED bytes (erlang-py would inflate any size)."""
    if len(data) < 6 or data[0] != _VERSION or data[1] != _COMPRESSED:
        return data
    (declared,) = struct.unpack(">I", data[2:6])
    if declared > MAX_INFLATED:
        raise BlobError(
            f"{key!r} blob inflates to {declared:,} bytes, more than a Kazoo pointer ({MAX_INFLATED:,} allowed)"
        )
    inflater = zlib.decompressobj()
    plain = inflater.decompress(data[6:], MAX_INFLATED + 1)
    if len(plain) != declared:
        raise BlobError(f"{key!r} blob's compressed term is damaged (size does not match)")
    return bytes([_VERSION]) + plain


def _text(value: Any) -> str:
    if isinstance(value, (erlang.OtpErlangBinary, erlang.OtpErlangAtom)):
        value = value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise BlobError(f"expected text in blob, found {type(value).__name__}")


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)
