"""The CDR flow against hostile CDR docs, a sink that refuses a row, a sink that is not there,
and kill -9 in the middle of an export followed by a replayed window: one bad CDR or sink fails
alone, and every CDR lands exactly once in every kind of sink."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow.parquet as pq
import requests

from syncd.kazoo.couch import CouchClient
from tests.conftest import ROOT, run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.daemons import daemon, wait_for
from tests.support.servers import DriveServer, free_port
from tests.support.sql_servers import MariaDbServer, PostgresServer, cdr_config, pg_rows, sqlite_rows

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)


def test_a_row_the_database_refuses_is_skipped_by_name_and_the_others_go_out(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    table = "cdrs_" + secrets.token_hex(4)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, cdr_config(postgres_server, table), (account_id,))
    bad = kd.cdr_doc(account_id, NOW)
    bad["caller_id_name"] = "Mallory\x00"  # PostgreSQL text cannot hold NUL: the row is refused
    good = [kd.cdr_doc(account_id, NOW) for _ in range(9)]
    for doc in [*good[:4], bad, *good[4:]]:
        kd.write_as_kazoo(couch, modb_name, doc)
    done = run_syncd(config, "run", "--once")
    assert done.returncode == 1  # a standing problem: the refused CDR
    assert f"problem (cdr:billing/{modb_name}/{bad['_id']}): refused by the sink" in done.stderr, done.stderr
    assert "cannot contain NUL" in done.stderr
    assert sorted(r["id"] for r in pg_rows(postgres_server, table)) == sorted(d["_id"] for d in good)
    assert len(sqlite_rows(tmp_path, "kazoo_cdrs")) == 10  # SQLite holds the NUL: that sink takes all ten
    status = run_syncd(config, "status")
    assert f"problem (cdr:billing/{modb_name}/{bad['_id']}): refused by the sink, skipped" in status.stdout


def test_hostile_cdr_values_are_exported_as_empty_fields_never_stopping_the_sink(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, '[[cdr.sink]]\nname = "local"\n', (account_id,))
    odd = [kd.cdr_doc(account_id, NOW) for _ in range(6)]
    odd[0].update(timestamp="soon", duration_seconds="nan", billing_seconds=[1])
    odd[1]["custom_channel_vars"] = "not a table"
    odd[2]["custom_channel_vars"] = {"rate": {"nested": True}, "account_billing": "per_minute", "media_recordings": 7}
    odd[3].update(call_direction=None, request=None, to=12, from_uri={"x": 1})
    odd[4]["caller_id_name"] = "é" * 100_000
    odd[5]["timestamp"] = 10**30
    for doc in odd:
        kd.write_as_kazoo(couch, modb_name, doc)
    assert run_syncd(config, "run", "--once").returncode == 0
    rows = {r["id"]: r for r in sqlite_rows(tmp_path, "kazoo_cdrs")}
    assert set(rows) == {d["_id"] for d in odd}
    assert rows[odd[0]["_id"]]["duration_seconds"] is None and rows[odd[5]["_id"]]["rfc_1036"] is None
    assert rows[odd[2]["_id"]]["cost"] == 0 and rows[odd[2]["_id"]]["media_recordings"] == "7"


def test_check_names_a_sink_that_is_not_there_and_its_password_never(
    tmp_path: Path, couch_server: Any, account: tuple[str, str]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2-" + secrets.token_hex(4))
    sink = (
        f'[[cdr.sink]]\nname = "gone"\nurl = "postgresql+psycopg://syncd@127.0.0.1:{free_port()}/billing"\n'
        f'password_file = "{secret}"\n'
    )
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink, (account[0],))
    done = run_syncd(config, "check")
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "cdr sink gone" in x)
    assert "cannot reach CDR sink 'gone'" in line and secret.read_text() not in done.stdout + done.stderr


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.DEVNULL
    )


def every_sink(tmp_path: Path, pg: PostgresServer, maria: MariaDbServer, drive: DriveServer, table: str) -> str:
    """PostgreSQL and the embedded SQLite (cdr_config), MariaDB, CSV and Parquet days in a local
    folder, and Google Sheets: every kind of sink syncd has."""
    (tmp_path / "reports").mkdir()
    return (
        cdr_config(pg, table)
        + f'\n[[cdr.sink]]\nname = "maria"\nurl = "{maria.url}"\npassword_file = "{maria.password_file}"\n'
        f'table = "{table}"\n\n[backends.reports]\ntype = "local"\npath = "{tmp_path / "reports"}"\n\n'
        '[[cdr.sink]]\nname = "csv"\ntype = "files"\nbackend = "reports"\nfolder = "csv"\nflush_interval = 1\n\n'
        '[[cdr.sink]]\nname = "parquet"\ntype = "files"\nbackend = "reports"\nfolder = "parquet"\n'
        'format = "parquet"\nflush_interval = 1\n\n'
        f'[backends.gdrive]\ntype = "google_drive"\ncredentials_file = "{drive.service_account_file()}"\n'
        f'api_endpoint = "{drive.url}"\n\n'
        '[[cdr.sink]]\nname = "sheets"\ntype = "sheets"\nbackend = "gdrive"\ncolumns = ["call_id"]\n'
    )


def ids_per_sink(
    tmp_path: Path, pg: PostgresServer, maria: MariaDbServer, drive: DriveServer, table: str, account_id: str
) -> dict[str, list[str]]:
    """Every sink's CDR ids, duplicates kept."""
    reports = tmp_path / "reports"
    csv_ids = [
        row["id"] for path in reports.glob("csv/**/cdrs.csv") for row in csv.DictReader(io.StringIO(path.read_text()))
    ]
    parquet_ids = [
        cdr_id for path in reports.glob("parquet/**/cdrs.parquet") for cdr_id in pq.read_table(path)["id"].to_pylist()
    ]
    sheets = drive.control("sheets")
    sheet_ids = [r[0] for b in sheets.values() if account_id in b["title"] for r in b["sheets"]["CDRs"][1:]]
    return {
        "billing": [r["id"] for r in pg_rows(pg, table)],
        "local": [r["id"] for r in sqlite_rows(tmp_path, "kazoo_cdrs")],
        "maria": [r["id"] for r in maria.rows(table)],
        "csv": csv_ids,
        "parquet": parquet_ids,
        "sheets": sheet_ids,
    }


def test_kill_9_and_a_replayed_window_leave_every_cdr_exactly_once_in_every_sink(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: Any,
    account: tuple[str, str],
    postgres_server: PostgresServer,
    mariadb_server: MariaDbServer,
    drive_server: DriveServer,
) -> None:
    account_id, modb_name = account
    docs = [kd.cdr_doc(account_id, NOW) for _ in range(3000)]
    answer = requests.post(
        f"{couch_server.auth_url}/{quote(modb_name, safe='')}/_bulk_docs", json={"docs": docs}, timeout=120
    )
    assert answer.status_code == 201, answer.text
    table = "cdrs_" + secrets.token_hex(4)
    sinks = every_sink(tmp_path, postgres_server, mariadb_server, drive_server, table)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sinks, (account_id,))
    rng, seen = random.Random(), []
    for _ in range(3):
        before = len(pg_rows(postgres_server, table))
        proc = _start(config)
        try:
            # a run that finds the export done (an earlier run got everything out before its kill) has none to resume
            wait_for(
                lambda before=before: before == len(docs) or len(pg_rows(postgres_server, table)) > before,
                60,
                "the export to resume",
            )
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        seen.append(len(pg_rows(postgres_server, table)))
    assert 0 < seen[0] < len(docs), seen  # the first kill landed mid-export (later ones may find it done)
    wanted = sorted(d["_id"] for d in docs)

    def every_sink_holds_every_cdr() -> bool:
        found = ids_per_sink(tmp_path, postgres_server, mariadb_server, drive_server, table, account_id)
        return all(len(ids) >= len(docs) for ids in found.values())

    with daemon(config):
        wait_for(every_sink_holds_every_cdr, 180, "every CDR in every sink")
    for sink, ids in ids_per_sink(tmp_path, postgres_server, mariadb_server, drive_server, table, account_id).items():
        assert sorted(ids) == wanted, sink  # exactly once: none lost, none twice
    day = NOW.date()
    for _ in range(2):  # the same window exported again, twice
        done = run_syncd(config, "cdr", "export", "--from", str(day), "--to", str(day), timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    for sink, ids in ids_per_sink(tmp_path, postgres_server, mariadb_server, drive_server, table, account_id).items():
        assert sorted(ids) == wanted, sink


FORMULAS = ['=HYPERLINK("http://evil.example/","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]
NUMBERS = ["+14155550100", "-5"]  # text a spreadsheet reads as a number: kept as it is


def test_a_caller_name_that_is_a_formula_is_inert_in_csv_and_kept_as_given_everywhere_else(
    tmp_path: Path, couch: CouchClient, couch_server: Any, drive_server: DriveServer, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    reports = tmp_path / "reports"
    reports.mkdir()
    columns = 'columns = ["call_id", "caller_id_name", "duration_seconds"]\njson_column = ""\n'
    files = f'type = "files"\nbackend = "reports"\nflush_interval = 1\nclose_after = 2592000\n{columns}'
    extra = (
        f'[backends.reports]\ntype = "local"\npath = "{reports}"\n\n'
        f'[[cdr.sink]]\nname = "csv"\nfolder = "csv"\n{files}\n'
        f'[[cdr.sink]]\nname = "raw"\nfolder = "raw"\ncsv_formulas = "raw"\n{files}\n'
        f'[[cdr.sink]]\nname = "parquet"\nfolder = "parquet"\nformat = "parquet"\n{files}\n'
        f'[[cdr.sink]]\nname = "local"\n{columns}\n'
        f'[backends.gdrive]\ntype = "google_drive"\ncredentials_file = "{drive_server.service_account_file()}"\n'
        f'api_endpoint = "{drive_server.url}"\n\n'
        f'[[cdr.sink]]\nname = "sheets"\ntype = "sheets"\nbackend = "gdrive"\n{columns}'
    )
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id,))
    names = {}
    for name in [*FORMULAS, *NUMBERS, "Alice Example"]:
        doc = kd.cdr_doc(account_id, now)
        doc["caller_id_name"] = name  # anyone placing a call sets it
        names[doc["call_id"]] = name
        kd.write_as_kazoo(couch, modb_name, doc)
    done = run_syncd(config, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr

    def csv_cells(folder: str) -> dict[str, str]:
        (path,) = reports.glob(f"{folder}/**/cdrs.csv")
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode(), newline="")))
        return {r[1]: r[2] for r in rows[1:]}

    inert = csv_cells("csv")
    for call_id, name in names.items():  # OWASP: a leading ' so no spreadsheet runs it
        assert inert[call_id] == ("'" + name if name in FORMULAS else name), name
    assert csv_cells("raw") == names  # csv_formulas = "raw": the operator asked for the values as they are
    (parquet,) = reports.glob("parquet/**/cdrs.parquet")
    table = pq.read_table(parquet).to_pydict()
    assert dict(zip(table["call_id"], table["caller_id_name"], strict=True)) == names
    assert {r["call_id"]: r["caller_id_name"] for r in sqlite_rows(tmp_path, "kazoo_cdrs")} == names
    (book,) = [b for b in drive_server.control("sheets").values() if account_id in b["title"]]
    assert {r[1]: r[2] for r in book["sheets"]["CDRs"][1:]} == names  # RAW: stored as text, never run


def test_a_table_of_another_shape_is_one_problem_for_the_sink_and_no_cdr_is_skipped(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    import sqlalchemy as sa

    account_id, modb_name = account
    table = "cdrs_" + secrets.token_hex(4)
    engine = sa.create_engine(postgres_server.url.replace("syncd@", f"syncd:{postgres_server.password}@"))
    with engine.begin() as conn:  # made by someone else: "timestamp" is a date-time, syncd's is Gregorian seconds
        conn.execute(sa.text(f'CREATE TABLE "{table}" (id varchar(255) PRIMARY KEY, "timestamp" timestamptz)'))
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, cdr_config(postgres_server, table), (account_id,))
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(5)]
    done = run_syncd(config, "run", "--once")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the table {table!r} does not take the sink's rows: fix its columns" in done.stderr, done.stderr
    assert "refused by the sink, skipped" not in done.stderr  # not five row refusals: one problem, nothing skipped
    assert pg_rows(postgres_server, table) == []
    with engine.begin() as conn:  # the operator fixes the table
        conn.execute(sa.text(f'ALTER TABLE "{table}" ALTER COLUMN "timestamp" TYPE bigint USING NULL'))
    engine.dispose()
    again = run_syncd(config, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(r["id"] for r in pg_rows(postgres_server, table)) == sorted(d["_id"] for d in docs)


def test_a_cdr_without_a_usable_time_is_written_in_the_1970_partition_and_counted_once(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    reports = tmp_path / "reports"
    reports.mkdir()
    extra = (
        f'[backends.reports]\ntype = "local"\npath = "{reports}"\n\n'
        '[[cdr.sink]]\nname = "csv"\ntype = "files"\nbackend = "reports"\nfolder = "csv"\nflush_interval = 1\n'
        "close_after = 2592000\n"
    )
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id,))
    timeless = kd.cdr_doc(account_id, NOW)
    timeless["timestamp"] = "soon"  # a tenant's CDR may carry anything
    far = kd.cdr_doc(account_id, NOW)
    far["timestamp"] = 10**15  # past year 9999
    normal = kd.cdr_doc(account_id, NOW)
    for doc in (timeless, far, normal):
        kd.write_as_kazoo(couch, modb_name, doc)
    done = run_syncd(config, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    written: dict[str, list[str]] = {}
    for path in reports.glob("csv/**/cdrs.csv"):
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        written[path.parent.relative_to(reports / "csv" / f"account_id={account_id}").as_posix()] = [
            r["id"] for r in rows
        ]
    assert sorted(written.pop("year=1970/month=01/day=01")) == sorted([timeless["_id"], far["_id"]])
    assert list(written.values()) == [[normal["_id"]]]  # today's
    status = json.loads(run_syncd(config, "status", "--json").stdout)
    (sink,) = [s for s in status["cdr_sinks"] if s["sink"] == "csv"]
    assert sink["exported"] == 3  # counted exactly as written
