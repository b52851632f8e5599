"""Crossbar's CDR columns, computed as kzd_cdrs / cb_cdrs compute them (docs/kazoo.md §7)."""

from __future__ import annotations

import datetime as dt

from syncd.kazoo.cdrs import COLUMNS, call_cost, public_row, utc_offset
from tests.support import kazoo_data as kd

ACCOUNT = "7f89565344e3e6302df60168420e9265"
START = dt.datetime(2026, 3, 8, 9, 59, 30, tzinfo=dt.UTC)  # a Sunday


def test_a_billed_inbound_call_gives_every_column_as_crossbar_does() -> None:
    ccv = {
        "authorizing_id": "81d406796c370b29a3cdc3713720ed61",
        "owner_id": "c119a4487f26920476ad6dec74471768",
        "account_billing": "per_minute",
        "rate": 120,  # units (1/10000 dollar) per minute
        "rate_increment": 6,
        "rate_minimum": 30,
        "surcharge": 50,
        "rate_name": "US-CA",
        "bridge_id": "br-1",
        "media_recordings": ["rec-a.mp3", "rec-b.mp3"],
        "call_priority": "high",
    }
    doc = kd.cdr_doc(ACCOUNT, START, duration=95, billing=90, ccv=ccv, call_id="call-1")
    row = public_row(doc)
    assert list(row) == list(COLUMNS)
    assert row["id"] == "202603-call-1" and row["call_id"] == "call-1"
    assert row["timestamp"] == int(START.timestamp()) + 62167219200  # timestamp - duration: the call's start
    assert row["unix_timestamp"] == int(START.timestamp())
    assert row["rfc_1036"] == "Sun, 08 Mar 2026 09:59:30 GMT"
    assert row["iso_8601"] == "2026-03-08"
    assert row["iso_8601_combined"] == "2026-03-08T09:59:30Z"
    assert row["datetime"] == "2026-03-08 09:59:30"
    assert (row["duration_seconds"], row["billing_seconds"], row["direction"]) == (95, 90, "inbound")
    assert row["dialed_number"] == "+14155550100"  # inbound: the request before @
    assert row["calling_from"] == "+16505550111"  # inbound: the caller id number
    assert row["authorizing_id"] == "81d406796c370b29a3cdc3713720ed61"
    assert row["owner_id"] == "c119a4487f26920476ad6dec74471768"
    # 30 s minimum at 120/min = 60, then ceil(60/6) = 10 steps of 6 s at 120/min = 120, + 50 surcharge
    assert row["cost"] == 230 and call_cost(doc) == 230
    assert row["rate"] == 0.012 and row["rate_name"] == "US-CA" and row["call_type"] == "per_minute"
    assert row["media_recordings"] == "rec-a.mp3,rec-b.mp3"
    assert (row["bridge_id"], row["call_priority"]) == ("br-1", "high")
    assert row["recording_url"] is None  # Crossbar writes an empty field


def test_an_outbound_call_without_custom_channel_vars() -> None:
    doc = kd.cdr_doc(ACCOUNT, START, direction="outbound", ccv=None)
    row = public_row(doc)
    assert row["dialed_number"] == "+14155550100"  # outbound: `to` before @
    assert row["calling_from"] == "+16505550111"  # outbound: from_uri before @
    assert (row["owner_id"], row["authorizing_id"], row["cost"], row["rate"]) == (None, None, 0, 0.0)


def test_authorizing_id_is_empty_when_the_account_itself_authorized() -> None:
    doc = kd.cdr_doc(ACCOUNT, START, ccv={"authorizing_id": ACCOUNT})
    assert public_row(doc)["authorizing_id"] is None


def test_calls_are_free_within_the_no_charge_time_and_discounts_apply() -> None:
    ccv = {"account_billing": "per_minute", "rate": 600, "rate_nocharge_time": 100}
    assert public_row(kd.cdr_doc(ACCOUNT, START, billing=90, ccv=ccv))["cost"] == 0
    ccv = {"account_billing": "per_minute", "rate": 600, "discount_percentage": 10}
    assert public_row(kd.cdr_doc(ACCOUNT, START, billing=60, ccv=ccv))["cost"] == 540  # 600 - 10 %
    flat = {"account_billing": "flat_rate", "rate": 600}
    assert public_row(kd.cdr_doc(ACCOUNT, START, billing=60, ccv=flat))["cost"] == 0  # only per-minute is costed


def test_the_datetime_column_is_in_the_accounts_timezone_the_others_in_utc() -> None:
    start = dt.datetime(2026, 3, 8, 6, 59, 30, tzinfo=dt.UTC)  # New York moves to EDT at 07:00 UTC
    doc = kd.cdr_doc(ACCOUNT, start)
    gregorian = int(start.timestamp()) + 62167219200
    offset = utc_offset("America/New_York", gregorian)
    assert offset == -5 * 3600  # 01:59:30 EST, a minute before the clocks change
    row = public_row(doc, offset)
    assert row["datetime"] == "2026-03-08 01:59:30"
    assert row["iso_8601_combined"] == "2026-03-08T06:59:30Z"
    assert utc_offset("America/New_York", gregorian + 60) == -4 * 3600
    assert utc_offset("Not/AZone", gregorian) == 0 and utc_offset(None, gregorian) == 0


def test_hostile_values_give_empty_fields_never_an_error() -> None:
    doc = kd.cdr_doc(ACCOUNT, START)
    doc.update(timestamp="soon", duration_seconds=float("nan"), billing_seconds=True, caller_id_number=42)
    doc["custom_channel_vars"] = ["not", "a", "table"]
    row = public_row(doc)
    assert (row["timestamp"], row["duration_seconds"], row["billing_seconds"]) == (0, None, None)
    assert row["rfc_1036"] is None and row["unix_timestamp"] is None  # no time Python can show
    assert row["caller_id_number"] == "42" and row["owner_id"] is None
    doc.update(call_direction="sideways")
    assert public_row(doc)["dialed_number"] is None
