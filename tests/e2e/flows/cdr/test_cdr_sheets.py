"""The Google Sheets sink against the Sheets v4 test server (beside the Drive one): a spreadsheet
per account with a header row, nothing appended twice after a crash, 429s ridden out."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from syncd.kazoo.cdrs import public_row
from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import DriveServer

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
COLUMNS = ["call_id", "caller_id_number", "duration_seconds", "billing_seconds", "cost", "iso_8601_combined"]


def sheets_config(
    tmp_path: Path, couch_server: Any, drive_server: DriveServer, account_id: str, per: str = "account"
) -> Path:
    key_file = drive_server.service_account_file()
    extra = (
        f'[backends.gdrive]\ntype = "google_drive"\ncredentials_file = "{key_file}"\n'
        f'api_endpoint = "{drive_server.url}"\n\n'
        f'[[cdr.sink]]\nname = "sheets"\ntype = "sheets"\nbackend = "gdrive"\nper = "{per}"\n'
        f"columns = {COLUMNS!r}\nbatch_size = 3\n".replace("'", '"')
    )
    return write_config(tmp_path / "c.toml", couch_server.auth_url, extra, accounts=(account_id,))


def books(drive_server: DriveServer, account_id: str) -> dict[str, list[list[Any]]]:
    """Title -> the CDRs sheet's rows, for this account's spreadsheets."""
    found = drive_server.control("sheets")
    return {b["title"]: b["sheets"]["CDRs"] for b in found.values() if account_id in b["title"]}


def test_each_account_gets_a_spreadsheet_with_a_header_and_one_row_per_cdr(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    config = sheets_config(tmp_path, couch_server, drive_server, account_id)
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW, ccv=None)) for _ in range(7)]
    done = run_syncd(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    (rows,) = books(drive_server, account_id).values()
    assert rows[0] == ["id", *COLUMNS]
    by_id = {r[0]: r for r in rows[1:]}
    assert sorted(by_id) == sorted(d["_id"] for d in docs)
    expected = public_row(docs[0])
    assert by_id[docs[0]["_id"]][1:] == [expected[c] for c in COLUMNS]  # RAW: numbers stay numbers


def test_after_a_lost_cursor_the_rows_are_found_again_and_a_changed_cdr_is_updated_in_place(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    config = sheets_config(tmp_path, couch_server, drive_server, account_id)
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(5)]
    assert run_syncd(config, "run", "--once").returncode == 0
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:  # a crash after the appends, before the cursor moved
        db.execute("UPDATE cdr_sinks SET seq = 0 WHERE sink = 'sheets'")
    changed = couch.get(modb_name, docs[2]["_id"]) or {}
    couch.save(modb_name, {**changed, "caller_id_number": "+15555550123"})
    assert run_syncd(config, "run", "--once").returncode == 0
    (rows,) = books(drive_server, account_id).values()
    assert len(rows) == 1 + 5  # the header and each CDR once
    assert {r[0]: r[2] for r in rows[1:]}[docs[2]["_id"]] == "+15555550123"


def test_rate_limits_are_ridden_out_and_a_cell_too_long_is_cut_not_refused(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    config = sheets_config(tmp_path, couch_server, drive_server, account_id, per="month")
    long_name = kd.cdr_doc(account_id, NOW)
    long_name["caller_id_number"] = "9" * 80_000
    last_month = (NOW.replace(day=1) - dt.timedelta(days=1)).replace(hour=12)
    old_modb = modb_name[:-6] + f"{last_month:%Y%m}"
    couch.create_db(old_modb)
    kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, last_month))
    for doc in [long_name, kd.cdr_doc(account_id, NOW)]:
        kd.write_as_kazoo(couch, modb_name, doc)
    drive_server.control("faults", {"status": 429, "count": 2, "path": ":append"})
    done = run_syncd(config, "run", "--once", timeout=180)
    assert done.returncode == 0, done.stderr
    found = books(drive_server, account_id)
    assert sorted(found) == sorted(f"Kazoo CDRs {account_id} {m:%Y-%m}" for m in (last_month, NOW))
    this_month = found[f"Kazoo CDRs {account_id} {NOW:%Y-%m}"]
    cut = next(r for r in this_month[1:] if r[0] == long_name["_id"])
    assert len(cut[2]) == 50_000 and cut[2].endswith("a cell holds 50,000 characters]")
    statuses = [e["status"] for e in drive_server.control("log") if e["path"].endswith(":append")]
    assert 429 in statuses and statuses[-1] == 200
