"""A sink's row for one CDR: the columns it asked for, computed as Crossbar computes them."""

from __future__ import annotations

import json
from typing import Any

from syncd.flows.cdr.records import CdrSink
from syncd.kazoo.cdrs import custom_channel_vars, public_row


def sink_row(sink: CdrSink, doc: dict[str, Any], utc_offset: int) -> dict[str, Any]:
    """Column name -> value (None where Crossbar writes an empty field)."""
    public = public_row(doc, utc_offset)
    ccv = custom_channel_vars(doc)
    row: dict[str, Any] = {}
    for column in sink.columns:
        if column.source == "cdr":
            row[column.name] = public_doc(doc)
        elif column.source.startswith("ccv:"):
            row[column.name] = _scalar(ccv.get(column.source[4:]))
        else:
            row[column.name] = public[column.source]
    return row


def public_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The CDR as Crossbar shows it: without the private top-level keys (`_rev`, `pvt_*`)."""
    return {k: v for k, v in doc.items() if k == "_id" or not k.startswith(("_", "pvt_"))}


def _scalar(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)
