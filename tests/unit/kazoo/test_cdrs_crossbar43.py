"""CDR rows as Crossbar 4.3 computes them, for every input form a rating field arrives in.

Expected values are worked by hand from the Erlang sources of the 4.3 branch:
- kapps_call_util:calculate_call/1 and /5 (core/kazoo_call/src/kapps_call_util.erl): every
  field through get_integer_value/3 = kz_term:to_integer/1; increment 0 means 60;
  cost = trunc(Sur + (RM / 60) * R + kz_term:ceiling((Secs - RM) / RI) * ((RI / 60) * R)),
  or trunc(Sur + (RM / 60) * R) when Secs =< RM; discount = trunc(Pct * 0.01 * Cost).
- kz_term:to_integer/1 (core/kazoo_stdlib/src/kz_term.erl): an integer string is exact, a float
  and a float string are round/1 (half away from zero).
- cb_cdrs:col_rate/3 and kz_currency:units_to_dollars/1: trunc(Units) / 10000 for a number,
  to_integer for text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from syncd.flows.cdr.files import render
from syncd.flows.cdr.rows import sink_row
from syncd.kazoo.cdrs import call_cost, public_row
from syncd.kazoo.numbers import float_text, to_integer
from syncd.kazoo.versions import KAZOO_43, KAZOO_MASTER
from syncd.model.cdr import CdrSink, Column, FileLayout
from tests.support import kazoo_data as kd

ACCOUNT = "7f89565344e3e6302df60168420e9265"
START = dt.datetime(2026, 3, 8, 9, 59, 30, tzinfo=dt.UTC)

# applications/crossbar/src/modules/cb_cdrs.erl ?COLUMNS, branch 4.3 (commit 223893d0ba02), in order
CROSSBAR_43_HEADER = [
    "id", "call_id", "caller_id_number", "caller_id_name", "callee_id_number", "callee_id_name",
    "duration_seconds", "billing_seconds", "timestamp", "hangup_cause", "disposition", "other_leg_call_id",
    "owner_id", "to", "from", "direction", "request", "authorizing_id", "cost", "dialed_number",
    "calling_from", "datetime", "unix_timestamp", "rfc_1036", "iso_8601", "iso_8601_combined", "call_type",
    "rate", "rate_name", "bridge_id", "recording_url", "media_recordings", "media_server", "call_priority",
    "interaction_id",
]  # fmt: skip
# core/kazoo_documents/src/kzd_cdrs.hrl ?COLUMNS, branch master (commit dcf86cbc6d06)
CROSSBAR_MASTER_HEADER = [
    "id", "call_id", "caller_id_number", "caller_id_name", "callee_id_number", "callee_id_name",
    "duration_seconds", "billing_seconds", "timestamp", "hangup_cause", "other_leg_call_id", "owner_id",
    "to", "from", "direction", "request", "authorizing_id", "cost", "dialed_number", "calling_from",
    "datetime", "unix_timestamp", "unix_timestamp_micro", "rfc_1036", "iso_8601", "iso_8601_combined",
    "call_type", "rate", "rate_name", "bridge_id", "recording_url", "media_recordings", "media_server",
    "call_priority", "interaction_id",
]  # fmt: skip


def per_minute(billing: Any = 90, **rating: Any) -> dict[str, Any]:
    doc = kd.cdr_doc(ACCOUNT, START, duration=95, billing=90, ccv={"account_billing": "per_minute", **rating})
    doc["billing_seconds"] = billing
    return doc


def test_the_header_is_crossbars_for_the_configured_version() -> None:
    doc = per_minute()
    assert list(public_row(doc)) == CROSSBAR_43_HEADER == list(KAZOO_43.cdr_columns)
    assert list(public_row(doc, version="master")) == CROSSBAR_MASTER_HEADER == list(KAZOO_MASTER.cdr_columns)


@pytest.mark.parametrize(
    ("rating", "billing", "expected"),
    [
        # integers: trunc(50 + (30/60)*120 + ceiling(60/6) * ((6/60)*120)) = trunc(50 + 60 + 10*12.0) = 230
        ({"rate": 120, "rate_increment": 6, "rate_minimum": 30, "surcharge": 50}, 90, 230),
        # the same as strings (ecallmgr's form): "120" is exactly 120
        ({"rate": "120", "rate_increment": "6", "rate_minimum": "30", "surcharge": "50"}, "90", 230),
        # floats round half away from zero: R 121, RI 6, RM 31, Sur 50, Secs 90:
        # 31/60*121 = 62.516..., ceiling(59/6) = 10, 6/60*121 = 12.1 -> 50 + 62.516 + 121.0 = 233.516 -> 233
        ({"rate": 120.5, "rate_increment": 6.4, "rate_minimum": 30.5, "surcharge": 49.5}, 90.0, 233),
        # float strings read the same way
        ({"rate": "120.5", "rate_increment": "6.4", "rate_minimum": "30.5", "surcharge": "49.5"}, "90.0", 233),
        # billed 90.5 s is 91 s: RM 0, RI 60: ceiling(91/60) = 2 steps of (60/60)*600 = 1200
        ({"rate": 600}, 90.5, 1200),
        # Secs =< RM: trunc(Sur + (RM / 60) * R) = trunc(0 + 2.0 * 75) = 150
        ({"rate": "75", "rate_minimum": "120"}, "100", 150),
        # increment "0" is 60: one step of 600
        ({"rate": "600", "rate_increment": "0"}, 60, 600),
        # a fractional percentage: "12.5" is 13 %: trunc(13 * 0.01 * 600) = 78 -> 522
        ({"rate": 600, "discount_percentage": "12.5"}, 60, 522),
        # 12.4 (a float) is 12 %: trunc(0.12 * 600) = 72 -> 528
        ({"rate": 600, "discount_percentage": 12.4}, 60, 528),
        # no-charge time "30.5" is 31: billed 31 s costs nothing, 32 s is charged
        ({"rate": 600, "rate_nocharge_time": "30.5"}, 31, 0),
        ({"rate": 600, "rate_nocharge_time": "30.5"}, 32, 600),
        # the offset is subtracted first: 70 - "10.5" (11) = 59 s, one step
        ({"rate": 600, "billing_seconds_offset": "10.5"}, 70, 600),
        # text Kazoo cannot read as a number (to_integer raises) counts as absent here
        ({"rate": "1e3"}, 60, 0),
    ],
)
def test_cost_equals_kapps_call_util_for_every_input_form(rating: dict[str, Any], billing: Any, expected: int) -> None:
    doc = per_minute(billing, **rating)
    assert call_cost(doc) == expected
    assert public_row(doc)["cost"] == expected


@pytest.mark.parametrize(
    ("rate", "dollars", "text"),
    [(120, 0.012, "0.012"), ("120", 0.012, "0.012"), (120.9, 0.012, "0.012"), ("120.9", 0.0121, "0.0121"),
     (0, 0.0, "0.0"), (70000, 7.0, "7.0"), (10**10, 1_000_000.0, "1.0e+6")],
)  # fmt: skip
def test_the_rate_column_is_units_to_dollars_printed_as_erlang_prints_a_float(
    rate: Any, dollars: float, text: str
) -> None:
    row = public_row(per_minute(rate=rate))
    assert row["rate"] == dollars and float_text(row["rate"]) == text


def test_integer_columns_round_as_kz_term_does() -> None:
    doc = per_minute(billing="89.5")
    doc["duration_seconds"] = 94.5
    row = public_row(doc)
    assert (row["billing_seconds"], row["duration_seconds"]) == (90, 95)  # round/1, not truncation
    assert [to_integer(v) for v in ("-2.5", "+7", " 7", "7.", ".5", True)] == [-3, 7, None, None, None, None]


def test_datetime_and_the_version_only_columns() -> None:
    doc = per_minute()
    doc["channel_created_time"] = int(START.timestamp()) * 1_000_000 + 250_000
    row43, master = public_row(doc), public_row(doc, version="master")
    assert row43["datetime"] == "2026-03-08 09:59:30" and row43["disposition"] == "SUCCESS"
    assert master["datetime"] == "2026-03-08_09:59:30" and "disposition" not in master
    assert master["unix_timestamp_micro"] == int(START.timestamp()) + 0.25
    assert "unix_timestamp_micro" not in row43


def test_float_text_is_kz_mochinum_digits() -> None:
    # kz_mochinum's own digits_test_ (core/kazoo_stdlib/src/kz_mochinum.erl, 4.3)
    cases = {0.0: "0.0", 1.0: "1.0", -1.0: "-1.0", 0.1: "0.1", 0.01: "0.01", 0.001: "0.001", 1000000.0: "1.0e+6"}
    cases |= {0.5: "0.5", 4503599627370496.0: "4503599627370496.0", 5e-324: "5.0e-324"}
    cases |= {2.2250738585072014e-308: "2.2250738585072014e-308", 1.7976931348623157e308: "1.7976931348623157e+308"}
    assert {value: float_text(value) for value in cases} == cases


def test_a_csv_files_sink_prints_numbers_as_crossbar_does() -> None:
    sink = CdrSink(
        name="f",
        type="files",
        url="",
        display="",
        table="",
        columns=(Column("id", "id"), Column("rate", "rate"), Column("cost", "cost")),
        files=FileLayout(backend="b", folder="cdrs"),
    )
    docs = [per_minute(rate="120"), per_minute(rate=10**10)]
    lines = render(sink, [sink_row(sink, d, 0) for d in docs], "csv").decode().splitlines()
    assert lines[0] == "id,rate,cost"
    assert lines[1].split(",")[1:] == ["0.012", "240"]  # 90 s billed: ceiling(90 / 60) = 2 minutes at 120
    assert lines[2].split(",")[1] == "1.0e+6"  # kz_mochinum's exponent form, not Python's 1000000.0
