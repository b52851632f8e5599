"""Kazoo's CDR documents and the columns Crossbar exports for them (docs/kazoo.md §7).

A CDR is a `pvt_type: "cdr"` doc in the account's MODB of the call's month
(`anonymous_cdrs` for calls with no account), `_id` = `YYYYMM-<call_id>`.
`public_row` computes Crossbar's CSV columns for the configured Kazoo version
(syncd.kazoo.versions: cb_cdrs.erl ?COLUMNS on 4.3, with `disposition`;
kzd_cdrs.hrl on master, with `unix_timestamp_micro`), in that order, the way
cb_cdrs:normalize_cdr/3 and its col_* functions do on 4.3:

- the row's time is `timestamp - duration_seconds` (Gregorian seconds), so a
  call is dated when it started;
- `unix_timestamp` subtracts 62167219200; `rfc_1036` is `Mon, 02 Jan 2006
  15:04:05 GMT`; `iso_8601` the date alone; `iso_8601_combined` the UTC time
  with `Z`; `datetime` is `YYYY-MM-DD HH:MM:SS` (master: `_` for the space)
  shifted by the UTC offset (Crossbar's `utc_offset` request value; syncd uses
  the account's timezone at the call's start);
- numbers are read as kz_term reads them (syncd.kazoo.numbers): "90" is 90,
  90.5 and "90.5" are 91;
- `cost` is the customer cost in Kazoo's units (1/10000 dollar) when the call
  was billed per minute, else 0 (kapps_call_util:call_cost); `rate` is the
  per-minute rate in dollars (kz_currency:units_to_dollars);
- `authorizing_id` is empty when it is the account itself;
- `media_recordings` is joined with "," (Crossbar runs the names together with
  no separator; a sink needs them apart).

Where Crossbar writes an empty field, the row holds None.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.kazoo.numbers import to_integer
from syncd.kazoo.versions import DEFAULT, KAZOO_43, KAZOO_MASTER, kazoo_version

CDR_TYPE = "cdr"
ANONYMOUS_CDRS = "anonymous_cdrs"
UNIX_EPOCH_IN_GREGORIAN = 62_167_219_200
DOLLAR_TO_UNITS = 10_000
# The call starts Python can show (years 1 to 9999, Gregorian seconds). A CDR outside them (no usable
# `timestamp`) is dated 1970-01-01: files sinks keep such CDRs in that day's partition, by name.
USABLE_STARTS = (31_622_400, 315_569_520_000)
_INT64 = 2**63

COLUMNS = KAZOO_43.cdr_columns  # production's (4.3); master's are versions.KAZOO_MASTER.cdr_columns
INTEGER_COLUMNS = frozenset({"duration_seconds", "billing_seconds", "timestamp", "cost", "unix_timestamp"})
NUMBER_COLUMNS = frozenset({"rate", "unix_timestamp_micro"})
ALL_COLUMNS = tuple(dict.fromkeys((*KAZOO_43.cdr_columns, *KAZOO_MASTER.cdr_columns)))

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_cdr(doc: dict[str, Any]) -> bool:
    return doc.get("pvt_type") == CDR_TYPE and isinstance(doc.get("_id"), str)


def call_start(doc: dict[str, Any]) -> int:
    """The row's time, Gregorian seconds: when the call started (timestamp - duration)."""
    start = _int(doc.get("timestamp"), 0) - _int(doc.get("duration_seconds"), 0)
    return start if -_INT64 <= start < _INT64 else 0


def public_row(doc: dict[str, Any], utc_offset: int = 0, version: str = DEFAULT) -> dict[str, Any]:
    """Crossbar's CSV columns of one CDR doc, in that Kazoo version's order; utc_offset (s) shifts
    `datetime` only (cb_cdrs:col_pretty_print/3)."""
    release = kazoo_version(version)
    start = call_start(doc)
    ccv = custom_channel_vars(doc)
    values: dict[str, Any] = {
        "id": _text(doc.get("_id")),
        "call_id": _text(doc.get("call_id")),
        "caller_id_number": _text(doc.get("caller_id_number")),
        "caller_id_name": _text(doc.get("caller_id_name")),
        "callee_id_number": _text(doc.get("callee_id_number")),
        "callee_id_name": _text(doc.get("callee_id_name")),
        "duration_seconds": _bounded(to_integer(doc.get("duration_seconds"))),
        "billing_seconds": _bounded(to_integer(doc.get("billing_seconds"))),
        "timestamp": start,
        "hangup_cause": _text(doc.get("hangup_cause")),
        "disposition": _text(doc.get("disposition")),
        "other_leg_call_id": _text(doc.get("other_leg_call_id")),
        "owner_id": _text(ccv.get("owner_id")),
        "to": _text(doc.get("to")),
        "from": _text(doc.get("from")),
        "direction": _text(doc.get("call_direction")),
        "request": _text(doc.get("request")),
        "authorizing_id": _authorizing_id(ccv),
        "cost": _bounded(call_cost(doc)) if ccv.get("account_billing") == "per_minute" else 0,
        "dialed_number": _dialed_number(doc),
        "calling_from": _calling_from(doc),
        **_times(start, utc_offset, release.datetime_separator),
        "call_type": _text(ccv.get("account_billing")),
        "rate": rate_dollars(ccv.get("rate", 0)),
        "rate_name": _text(ccv.get("rate_name")),
        "bridge_id": _text(ccv.get("bridge_id")),
        "recording_url": _text(doc.get("recording_url")),
        "media_recordings": _recordings(ccv.get("media_recordings")),
        "media_server": _text(doc.get("media_server")),
        "call_priority": _text(ccv.get("call_priority")),
        "interaction_id": _text(doc.get("interaction_id")),
    }
    if release is KAZOO_MASTER:
        values["unix_timestamp_micro"] = _unix_micro(doc, start)
    return {name: values[name] for name in release.cdr_columns}


def call_cost(doc: dict[str, Any]) -> int:
    """kapps_call_util:call_cost/1 (calculate_call/1 and /5 on 4.3): units (1/10000 dollar) charged
    for the billed seconds. Every field is read by get_integer_value/3, i.e. kz_term:to_integer/1,
    so "12.5" and 12.5 are 13, "7" is 7; a value Kazoo cannot convert (it raises) counts as absent."""
    ccv = _rating_vars(doc)
    seconds = _rating(doc, "Billing-Seconds") - _rating(ccv, "Billing-Seconds-Offset")
    if seconds <= 0 or seconds <= _rating(ccv, "Rate-NoCharge-Time"):
        return 0
    rate = _rating(ccv, "Rate")
    increment = _rating(ccv, "Rate-Increment", 60) or 60  # calculate_call(R, 0, ...) -> 60
    minimum = _rating(ccv, "Rate-Minimum")
    surcharge = _rating(ccv, "Surcharge")
    if seconds <= minimum:
        cost = math.trunc(surcharge + (minimum / 60) * rate)
    else:
        steps = math.ceil((seconds - minimum) / increment)  # kz_term:ceiling/1 of a float
        cost = math.trunc(surcharge + (minimum / 60) * rate + steps * ((increment / 60) * rate))
    discount = math.trunc((_rating(ccv, "Discount-Percentage") * 0.01) * cost)
    return math.trunc(cost - discount)


def rate_dollars(units: Any) -> float | None:
    """cb_cdrs:col_rate/3, kz_currency:units_to_dollars/1: a number is truncated, text read by
    kz_term:to_integer/1 (rounded), then / 10000. None where Kazoo cannot convert it."""
    if isinstance(units, float) and math.isfinite(units):
        return math.trunc(units) / DOLLAR_TO_UNITS
    found = units if type(units) is int else to_integer(units) if isinstance(units, str) else None
    if found is None or not -_INT64 <= found < _INT64:
        return None
    return found / DOLLAR_TO_UNITS


def _rating_vars(doc: dict[str, Any]) -> dict[str, Any]:
    """get_first_defined([Custom-Channel-Vars, custom_channel_vars], JObj, JObj): the doc itself without."""
    for key in ("Custom-Channel-Vars", "custom_channel_vars"):
        if key in doc:
            found = doc[key]
            return found if isinstance(found, dict) else {}
    return doc


def _rating(where: dict[str, Any], key: str, default: int = 0) -> int:
    """kapps_call_util:get_integer_value/3: the key as written, then normalised (lower case, _)."""
    for name in (key, key.lower().replace("-", "_")):
        if name in where:
            found = to_integer(where[name])
            return default if found is None or not -_INT64 <= found < _INT64 else found
    return default


def _unix_micro(doc: dict[str, Any], start: int) -> float | None:
    """master's col_unix_timestamp_micro/3 (no timezone): channel_created_time (µs) as seconds."""
    micro = to_integer(doc.get("channel_created_time"))
    if micro is None:
        micro = (start - UNIX_EPOCH_IN_GREGORIAN) * 1_000_000
    if not -_INT64 <= micro < _INT64:
        return None
    whole, rest = divmod(abs(micro), 1_000_000)
    return math.copysign(whole + rest / 1_000_000, micro) if micro else 0.0


def utc_offset(timezone: str | None, gregorian: int) -> int:
    """Seconds to add to UTC for an account's timezone (an IANA name) at that moment; 0 if unknown."""
    if not timezone:
        return 0
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    offset = _datetime(gregorian).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _times(start: int, utc_offset: int, separator: str = " ") -> dict[str, Any]:
    """The time columns; None where the CDR has no usable time (Python has no year 0)."""
    try:
        date, weekday_day_month_year = _day(start // 86400)
        local_date = _day((start + utc_offset) // 86400)[0] if utc_offset else date
    except (OverflowError, ValueError):
        return dict.fromkeys(("datetime", "unix_timestamp", "rfc_1036", "iso_8601", "iso_8601_combined"))
    clock, local_clock = _clock(start % 86400), _clock((start + utc_offset) % 86400)
    return {
        "datetime": f"{local_date}{separator}{local_clock}",
        "unix_timestamp": start - UNIX_EPOCH_IN_GREGORIAN,
        "rfc_1036": f"{weekday_day_month_year} {clock} GMT",
        "iso_8601": date,
        "iso_8601_combined": f"{date}T{clock}Z",
    }


@functools.lru_cache(maxsize=1024)  # CDRs come day by day: each day's texts are made once
def _day(gregorian_day: int) -> tuple[str, str]:
    """`YYYY-MM-DD` and `Mon, 02 Jan 2006` for a Gregorian day number. Raises OverflowError/ValueError."""
    moment = _datetime(gregorian_day * 86400)
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    return date, f"{_WEEKDAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year}"


def _clock(second_of_day: int) -> str:
    hours, rest = divmod(second_of_day, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def started_at(doc: dict[str, Any]) -> datetime:
    """When the call started, in UTC; 1970-01-01 for a CDR without a time Python can show."""
    try:
        return _datetime(call_start(doc))
    except (OverflowError, ValueError):
        return _datetime(UNIX_EPOCH_IN_GREGORIAN)


def _datetime(gregorian: int) -> datetime:
    return _UNIX_EPOCH + timedelta(seconds=gregorian - UNIX_EPOCH_IN_GREGORIAN)


def _authorizing_id(ccv: dict[str, Any]) -> str | None:
    account, authorizing = ccv.get("account_id", ""), ccv.get("authorizing_id", "")
    return None if account == authorizing else _text(authorizing)


def _dialed_number(doc: dict[str, Any]) -> str | None:
    direction = doc.get("call_direction")
    source = doc.get("request") if direction == "inbound" else doc.get("to") if direction == "outbound" else None
    return None if direction not in ("inbound", "outbound") else str(source or "").split("@")[0] or None


def _calling_from(doc: dict[str, Any]) -> str | None:
    direction = doc.get("call_direction")
    if direction == "inbound":
        return _text(doc.get("caller_id_number"))
    if direction == "outbound":
        return str(doc.get("from_uri") or "").split("@")[0] or None
    return None


def _recordings(value: Any) -> str | None:
    """A list in Kazoo; one text here (comma-separated) so every sink can hold it."""
    if value in (None, "", []):
        return None
    return ",".join(str(v) for v in (value if isinstance(value, list) else [value]))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _bounded(value: int | None) -> int | None:
    """A number no 64-bit column can hold is no number a call has: None."""
    return value if value is not None and -_INT64 <= value < _INT64 else None


def _int(value: Any, default: int) -> int:
    """kz_json:get_integer_value/3 with a default (to_integer, which fails safe: "12" is 12, 12.7 and "12.7" are 13)."""
    found = value if type(value) is int else to_integer(value)  # the usual case first
    return default if found is None or not -_INT64 <= found < _INT64 else found


def custom_channel_vars(doc: dict[str, Any]) -> dict[str, Any]:
    ccv = doc.get("custom_channel_vars")
    return ccv if isinstance(ccv, dict) else {}
