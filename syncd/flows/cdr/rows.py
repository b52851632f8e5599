"""A sink's row for one CDR: the columns it asked for, computed as Crossbar computes them."""

from __future__ import annotations

import json
from typing import Any

import orjson

from syncd.kazoo.cdrs import custom_channel_vars, public_row
from syncd.model.cdr import CdrSink, Column


def sink_row(sink: CdrSink, doc: dict[str, Any], utc_offset: int) -> dict[str, Any]:
    """Column name -> value (None where Crossbar writes an empty field)."""
    return dict(zip([c.name for c in sink.columns], sink_values(sink, doc, utc_offset), strict=True))


def sink_values(sink: CdrSink, doc: dict[str, Any], utc_offset: int) -> list[Any]:
    """The row's values in the sink's column order (sink_row without the names, for COPY)."""
    public = public_row(doc, utc_offset, sink.kazoo_version)
    plan, ccvs, whole = _plan(sink.columns)
    ccv = custom_channel_vars(doc) if ccvs else {}
    cdr = public_doc(doc) if whole else None
    return [
        public[source] if kind == _PLAIN else _scalar(ccv.get(source)) if kind == _CCV else cdr for kind, source in plan
    ]


def public_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The CDR as Crossbar shows it: without the private top-level keys (`_rev`, `pvt_*`)."""
    return {k: v for k, v in doc.items() if k == "_id" or not k.startswith(("_", "pvt_"))}


_PLAIN, _CCV, _WHOLE = 0, 1, 2  # where a column's value comes from: Crossbar's row, a custom channel var, the CDR
_Plan = tuple[tuple[tuple[int, str], ...], bool, bool]
_PLANS: dict[int, tuple[tuple[Column, ...], _Plan]] = {}  # by the identity of a sink's columns
PLANS_KEPT = 64  # the helper process gets each batch's sink anew (unpickled): the cache is bounded


def _plan(columns: tuple[Column, ...]) -> _Plan:
    """A sink's columns read once: (kind, source) in column order, whether any is a custom channel
    var, whether any is the whole CDR. Kept by identity: hashing the columns for every row would
    cost more than reading them."""
    known = _PLANS.get(id(columns))
    if known is not None and known[0] is columns:
        return known[1]
    plan = tuple(_kind(c.source) for c in columns)
    found = plan, any(k == _CCV for k, _ in plan), any(k == _WHOLE for k, _ in plan)
    if len(_PLANS) >= PLANS_KEPT:
        _PLANS.clear()
    _PLANS[id(columns)] = (columns, found)
    return found


def _kind(source: str) -> tuple[int, str]:
    if source == "cdr":
        return _WHOLE, source
    return (_CCV, source[4:]) if source.startswith("ccv:") else (_PLAIN, source)


def _scalar(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def json_text(value: Any) -> str:
    """JSON for a sink's column, through orjson (several times faster for a whole CDR)."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits: the standard encoder
        return json.dumps(value)
