"""A sink's row for one CDR: the columns it asked for, computed as Crossbar computes them."""

from __future__ import annotations

import json
from typing import Any

import orjson

from syncd.flows.cdr.records import CdrSink, Column
from syncd.kazoo.cdrs import custom_channel_vars, public_row


def sink_row(sink: CdrSink, doc: dict[str, Any], utc_offset: int) -> dict[str, Any]:
    """Column name -> value (None where Crossbar writes an empty field)."""
    public = public_row(doc, utc_offset)
    plain, ccvs, whole = _plan(sink.columns)
    row = {name: public[source] for name, source in plain}
    if ccvs:
        ccv = custom_channel_vars(doc)
        row.update((name, _scalar(ccv.get(var))) for name, var in ccvs)
    if whole:
        cdr = public_doc(doc)
        row.update((name, cdr) for name in whole)
    return {c.name: row[c.name] for c in sink.columns} if ccvs or whole else row


def public_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The CDR as Crossbar shows it: without the private top-level keys (`_rev`, `pvt_*`)."""
    return {k: v for k, v in doc.items() if k == "_id" or not k.startswith(("_", "pvt_"))}


_Plan = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], tuple[str, ...]]
_PLANS: dict[int, tuple[tuple[Column, ...], _Plan]] = {}  # by the identity of a sink's columns
PLANS_KEPT = 64  # the helper process gets each batch's sink anew (unpickled): the cache is bounded


def _plan(columns: tuple[Column, ...]) -> _Plan:
    """A sink's columns sorted once: (name, Crossbar column), (name, custom channel var), names of
    the whole CDR. Kept by identity: hashing the columns for every row would cost more than sorting."""
    known = _PLANS.get(id(columns))
    if known is not None and known[0] is columns:
        return known[1]
    plain = tuple((c.name, c.source) for c in columns if c.source != "cdr" and not c.source.startswith("ccv:"))
    ccvs = tuple((c.name, c.source[4:]) for c in columns if c.source.startswith("ccv:"))
    plan = plain, ccvs, tuple(c.name for c in columns if c.source == "cdr")
    if len(_PLANS) >= PLANS_KEPT:
        _PLANS.clear()
    _PLANS[id(columns)] = (columns, plan)
    return plan


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
