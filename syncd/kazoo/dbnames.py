"""Kazoo database names (docs/kazoo.md §3).

An account id is 32 lowercase hex characters, split AA/BB/REST(28). CouchDB
keeps the raw name with slashes (account/AA/BB/REST-YYYYMM); Kazoo stores the
encoded form (account%2FAA%2FBB%2FREST-YYYYMM) in pvt_account_db and URLs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

GREGORIAN_UNIX_OFFSET = 62167219200  # seconds from year 0 to 1970 (kz_types.hrl)
ACCOUNTS = "accounts"  # Kazoo's list of accounts: a copy of each account doc (kzd_accounts:save/1)

_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_DB = re.compile(
    r"^account(?:/|%2[fF])([0-9a-f]{2})(?:/|%2[fF])([0-9a-f]{2})(?:/|%2[fF])([0-9a-f]{28})"
    r"(?:-(\d{4})(\d{2})?)?$"
)


def is_account_id(value: str) -> bool:
    return bool(_ACCOUNT_ID.match(value))


def account_db(account_id: str, encoded: bool = False) -> str:
    """account/AA/BB/REST (or its %2F-encoded form)."""
    sep = "%2F" if encoded else "/"
    return sep.join(("account", account_id[:2], account_id[2:4], account_id[4:]))


def modb(account_id: str, year: int, month: int, encoded: bool = False) -> str:
    """The account's monthly database, account/AA/BB/REST-YYYYMM."""
    return f"{account_db(account_id, encoded)}-{year:04d}{month:02d}"


def encode(db_name: str) -> str:
    return db_name.replace("/", "%2F")


def decode(db_name: str) -> str:
    return re.sub("%2[fF]", "/", db_name)


@dataclass(frozen=True)
class DbInfo:
    account_id: str
    classification: str  # "account", "modb" or "yodb"
    year: int | None = None
    month: int | None = None


@functools.lru_cache(maxsize=4096)  # every document of a changes page asks for its database's
def parse(db_name: str) -> DbInfo | None:
    """Classify an account database name (raw or encoded); None for system DBs."""
    m = _DB.match(db_name)
    if not m:
        return None
    account_id = "".join(m.group(1, 2, 3))
    year, month = m.group(4), m.group(5)
    if year is None:
        return DbInfo(account_id, "account")
    if month is None:
        return DbInfo(account_id, "yodb", int(year))
    return DbInfo(account_id, "modb", int(year), int(month))


def months_back(year: int, month: int, count: int) -> list[tuple[int, int]]:
    """(year, month) for this month and the `count` months before it, oldest first."""
    out = []
    for back in range(count, -1, -1):
        index = year * 12 + (month - 1) - back
        out.append((index // 12, index % 12 + 1))
    return out
