"""Storage documents are tenant input: checked at the edge against Kazoo's own schemas.

Account and reseller admins write system_data/<account> through Crossbar, and
anything with CouchDB access can write it directly, so a storage document is
checked before any of it is used: against Kazoo's storage schemas (kept as
data in schemas/storage.json, docs/kazoo.md §1.4), within size and depth
limits, and, after a plan's `params` are merged over a handler's settings,
against that handler's settings schema again (params may override any key).
A document that fails is that account's problem (PlanError naming the path
and what is allowed), never a crash.
"""

from __future__ import annotations

import json
from typing import Any

from syncd.errors import PlanError
from syncd.kazoo.json_schema import Failure, dotted, first_failure

MAX_DOC_BYTES = 256 * 1024  # a storage doc with a handful of handlers is a few KB
MAX_DEPTH = 32  # the schema nests 8 levels; field groups a few more
_SHOWN = 80

_FIELD_HELP = (
    'each entry must be one of {"arg": "account_id"|"db"|"id"|"attachment"}, '
    '{"const": "text"}, {"field": "name"} or {"group": [entries]}'
)


_SCHEMA = "storage"


def check_storage_doc(doc_id: str, doc: Any) -> None:
    """Raise PlanError when doc is not a storage document Kazoo would accept."""
    if not isinstance(doc, dict):
        raise PlanError(doc_id, "(document)", f"must be a JSON object, found {type(doc).__name__}")
    _check_bounds(doc_id, "(document)", doc)
    _first_error(doc_id, "", None, doc)


def check_handler_settings(doc_id: str, where: str, handler: str, settings: dict[str, Any]) -> None:
    """The settings a route ends with (handler settings merged with plan params), checked for the handler."""
    definition = {
        "s3": "settings.s3",
        "google_drive": "settings.google_drive",
        "google_storage": "settings.google_storage",
        "azure": "settings.azure",
        "onedrive": "settings.oauth",
        "dropbox": "settings.oauth",
        "http": "settings.http",
    }.get(handler)
    _first_error(doc_id, where + ".", f"#/$defs/{definition or 'common_settings'}", settings)


def _check_bounds(doc_id: str, where: str, doc: dict[str, Any]) -> None:
    try:
        size = len(json.dumps(doc, default=str))
    except (RecursionError, ValueError):
        raise PlanError(doc_id, where, f"nests deeper than {MAX_DEPTH} levels; a storage document never does") from None
    if size > MAX_DOC_BYTES:
        raise PlanError(doc_id, where, f"is {size:,} bytes; a storage document may be at most {MAX_DOC_BYTES:,} bytes")
    if _depth(doc) > MAX_DEPTH:
        raise PlanError(doc_id, where, f"nests deeper than {MAX_DEPTH} levels; a storage document never does")


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a hostile document must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def _first_error(doc_id: str, prefix: str, ref: str | None, instance: Any) -> None:
    error = first_failure(_SCHEMA, ref, instance)
    if error is None:
        return
    path = prefix + dotted(error.path)
    raise PlanError(doc_id, path.rstrip(".") or "(document)", _explain(error))


def _explain(error: Failure) -> str:
    shown = json.dumps(error.instance, default=str)
    shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "..."
    if {"field_list", "group"} & set(error.path) and error.validator != "enum":
        return f"{shown} is not a field entry: {_FIELD_HELP}"
    if error.validator == "required":
        return f"{error.message}; Kazoo's storage schema requires it here"
    if error.validator == "additionalProperties":
        return f"{error.message}; Kazoo's storage schema allows no other keys here"
    if error.validator == "propertyNames":
        return f"{shown} is not an allowed key here (handler ids are 32 lower-case hex characters)"
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return f"{message} (found {shown})" if shown not in message else message
