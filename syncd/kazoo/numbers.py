"""Kazoo's number conversions (core/kazoo_stdlib/src/kz_term.erl, kz_mochinum.erl), so a value
syncd computes from a tenant's doc is the value Kazoo computes from it.

Rating variables reach a CDR as strings (ecallmgr passes channel variables as text), and
Kazoo reads each with `kz_term:to_integer/1`, which does not truncate: an integer string
is read exactly, a float or a float string is rounded half away from zero (Erlang's
round/1). A float becomes text through kz_mochinum:digits/1: the shortest digits that
read back as the same float, with ".0" on whole numbers and an exponent from 1.0e+6 up
and below 1.0e-6 ("0.012", "7.0", "1.0e+6", "1.0e-7").
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# What Erlang's binary_to_integer/1 and binary_to_float/1 accept (no spaces, no "1e5", no ".5").
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?")


def erlang_round(value: float) -> int:
    """round/1: half away from zero, on the float's exact value (2.5 -> 3, -2.5 -> -3)."""
    return int(Decimal(value).to_integral_value(rounding=ROUND_HALF_UP))


def to_integer(value: Any) -> int | None:
    """kz_term:to_integer/1 ('notstrict'); None where Kazoo's conversion would raise."""
    if type(value) is int:
        return value
    if isinstance(value, float):
        return erlang_round(value) if math.isfinite(value) else None
    if isinstance(value, str):
        if _INTEGER_TEXT.fullmatch(value):
            return int(value)
        if _FLOAT_TEXT.fullmatch(value):
            found = float(value)
            return erlang_round(found) if math.isfinite(found) else None
    return None  # a bool, an object, a list, or text that is no number: Kazoo raises badarg


def float_text(value: float) -> str:
    """kz_term:to_binary/1 of a float (kz_mochinum:digits/1)."""
    if value == 0:
        return "0.0"
    digits_tuple = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digits_tuple.digits)).rstrip("0") or "0"
    exponent = int(digits_tuple.exponent) + len(digits_tuple.digits) - len(digits)
    place = len(digits) + exponent  # value = 0.<digits> x 10^place
    sign = "-" if value < 0 else ""
    return sign + _insert_decimal(place, digits)


def _insert_decimal(place: int, digits: str) -> str:
    if place == 0:
        return "0." + digits
    if place > 0:
        extra = place - len(digits)
        if extra == 0:
            return digits + ".0"
        if extra < 0:
            return digits[:place] + "." + digits[place:]
        if extra < 6:
            return digits + "0" * extra + ".0"
        return _with_exponent(place, digits)
    if place > -6:
        return "0." + "0" * -place + digits
    return _with_exponent(place, digits)


def _with_exponent(place: int, digits: str) -> str:
    return f"{digits[0]}.{digits[1:] or '0'}e{'-' if place < 0 else '+'}{abs(place - 1)}"
