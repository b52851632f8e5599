"""Object names exactly as Kazoo builds them (kz_att_util:format_url, docs/kazoo.md §2.2).

A name is the handler's field list (or settings.field_list) rendered against
the doc and four args, joined by settings.field_separator (default "/"), then
prefixed by `file`, else `path`, else folder_base_path/folder_path.
"""

from __future__ import annotations

from typing import Any

_ID_ATTACHMENT = {"group": [{"arg": "id"}, {"const": "_"}, {"arg": "attachment"}]}

# kz_att_s3:aws_default_fields/0, the drive-like handlers, kz_att_util:default_format_url_fields/0
DEFAULT_FIELDS: dict[str, list[Any]] = {
    "s3": [{"arg": "db"}, _ID_ATTACHMENT],
    "google_drive": [_ID_ATTACHMENT],
    "onedrive": [_ID_ATTACHMENT],
    "dropbox": [_ID_ATTACHMENT],
    "azure": [_ID_ATTACHMENT],
    "google_storage": [_ID_ATTACHMENT],
    "http": [{"arg": "account_id"}, {"field": "owner_id"}, {"arg": "id"}, {"arg": "attachment"}],
    "ftp": [{"arg": "account_id"}, {"field": "owner_id"}, {"arg": "id"}, {"arg": "attachment"}],
}

# OTP http_uri:encode/1, which kz_util:uri_encode/1 calls: these bytes become %XX
# (upper-case hex); every other byte, UTF-8 included, is kept as it is. All of
# them are ASCII, so mapping characters is the same as mapping UTF-8 bytes.
_RESERVED = ";:@&=+,/?#[]<>\"{}|\\'^% "
_ENCODE = str.maketrans({c: f"%{ord(c):02X}" for c in _RESERVED})


def uri_encode(value: str) -> str:
    return value.translate(_ENCODE)


def object_name(handler: str, settings: dict[str, Any], db_name: str, doc: dict[str, Any], attachment: str) -> str:
    """The name Kazoo's handler would give this attachment.

    db_name may be raw or encoded; Kazoo URL-decodes it before use.
    """
    if settings.get("file"):  # format_url(#{file := Path}, ...) -> Path: the whole name, as stored
        return str(settings["file"])
    fields = settings.get("field_list") or DEFAULT_FIELDS.get(handler, DEFAULT_FIELDS["http"])
    separator = settings.get("field_separator", "/")
    args = {
        "attachment": attachment,
        "id": doc["_id"],
        "account_id": doc.get("pvt_account_id") or "unknown_account",
        "db": db_name.replace("%2F", "/").replace("%2f", "/"),
    }
    base = separator.join(_render(fields, doc, args))
    prefix = path_from_settings(settings)
    return base if prefix is None else f"{prefix.rstrip('/')}/{base}"


def path_from_settings(settings: dict[str, Any]) -> str | None:
    for key in ("file", "path"):
        if settings.get(key):
            return str(settings[key])
    return _combined_path(settings.get("folder_base_path"), settings.get("folder_path"))


def _combined_path(base: str | None, other: str | None) -> str | None:
    # filename:join/2 semantics: an absolute second part replaces the first.
    if not base or not other:
        return base or other or None
    if other.startswith("/"):
        return other
    return f"{base.rstrip('/')}/{other}"


def _render(fields: list[Any], doc: dict[str, Any], args: dict[str, str]) -> list[str]:
    parts = []
    for field in fields:
        value = _render_one(field, doc, args)
        if value is not None:
            parts.append(value)
    return parts


def _render_one(field: Any, doc: dict[str, Any], args: dict[str, str]) -> str | None:
    if isinstance(field, str):
        return field
    if "group" in field:
        return "".join(_render(field["group"], doc, args))
    if "arg" in field:
        value = args.get(field["arg"])
        return None if value is None else uri_encode(value)
    if "field" in field:
        value = _public_field(doc, field["field"])
        return None if value is None else uri_encode(value)
    if "const" in field:
        return str(field["const"])
    return None


def _public_field(doc: dict[str, Any], name: str) -> str | None:
    # Only public top-level fields (kz_doc:public_fields); non-empty strings and numbers.
    if name.startswith(("_", "pvt_")):
        return None
    value = doc.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value else None
