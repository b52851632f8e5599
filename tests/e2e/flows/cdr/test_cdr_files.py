"""CDR files sinks: CSV and Parquet per account and day, in Hive-style partitions, in a local
folder and in S3 (moto); read back with DuckDB, they give the rows PostgreSQL holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from pathlib import Path
from typing import Any

import duckdb

from syncd.flows.cdr.files import inert
from syncd.kazoo.cdrs import COLUMNS, public_row
from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, s3_client, write_config
from tests.support import kazoo_data as kd
from tests.support.daemons import daemon, wait_for
from tests.support.servers import S3Server
from tests.support.sql_servers import PostgresServer, cdr_config, pg_rows

TODAY = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
YESTERDAY = TODAY - dt.timedelta(days=1)


def files_sinks(folder: Path, flush: float = 60, close_after: float = 30 * 86_400) -> str:
    """A CSV and a Parquet sink in a local folder; days close only when a test asks (close_after),
    so what a test sees never depends on the hour it runs."""
    folder.mkdir(parents=True, exist_ok=True)  # the share is mounted (a missing root is refused)
    timing = f"flush_interval = {flush}\nclose_after = {close_after}\n"
    return (
        f'[backends.reports]\ntype = "local"\npath = "{folder}"\n\n'
        f'[[cdr.sink]]\nname = "csv"\ntype = "files"\nbackend = "reports"\nfolder = "cdrs/csv"\n{timing}\n'
        f'[[cdr.sink]]\nname = "parquet"\ntype = "files"\nbackend = "reports"\nfolder = "cdrs/parquet"\n'
        f'format = "parquet"\n{timing}'
    )


def day_path(root: Path, fmt: str, account_id: str, day: dt.datetime) -> Path:
    return (
        root / f"cdrs/{fmt}/account_id={account_id}/year={day.year}/month={day.month:02d}/day={day.day:02d}/cdrs.{fmt}"
    )


def write_calls(couch: CouchClient, account_id: str, modb_name: str, count: int) -> list[dict[str, Any]]:
    """count calls today and count yesterday (yesterday's may belong to last month's MODB)."""
    old_modb = modb_name[:-6] + f"{YESTERDAY:%Y%m}"
    if not couch.db_exists(old_modb):
        couch.create_db(old_modb)
    docs = []
    for i in range(count):
        docs.append(kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, TODAY, ccv={"owner_id": str(i)})))
        docs.append(kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, YESTERDAY)))
    return docs


def test_csv_and_parquet_days_hold_crossbars_columns_and_match_postgresql(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    table = "cdrs_" + secrets.token_hex(4)
    reports = tmp_path / "reports"
    extra = cdr_config(postgres_server, table) + "\n" + files_sinks(reports)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, accounts=(account_id,))
    docs = write_calls(couch, account_id, modb_name, 3)
    done = run_syncd(config, "run", "--once")
    assert done.returncode == 0, done.stderr

    today_csv = day_path(reports, "csv", account_id, TODAY)
    with today_csv.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [*COLUMNS, "cdr"]  # Crossbar's header, then the CDR as JSON
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    for doc in docs[0::2]:
        expected = public_row(doc)
        # as Crossbar's columns, each cell inert: "+1650...@host" gets its leading ', "+1650..." does not
        assert {c: by_id[doc["_id"]][c] for c in COLUMNS} == {c: inert(v) for c, v in expected.items()}
        assert by_id[doc["_id"]]["from"].startswith("'+") and by_id[doc["_id"]]["calling_from"].startswith("+")
    assert day_path(reports, "csv", account_id, YESTERDAY).is_file()

    lake = duckdb.read_parquet(f"{reports}/cdrs/parquet/**/*.parquet", hive_partitioning=True)
    from_files = {r[lake.columns.index("id")]: dict(zip(lake.columns, r, strict=True)) for r in lake.fetchall()}
    from_pg = {r["id"]: r for r in pg_rows(postgres_server, table)}
    assert set(from_files) == set(from_pg) == {d["_id"] for d in docs}
    for cdr_id, row in from_pg.items():
        assert {c: from_files[cdr_id][c] for c in COLUMNS} == {c: row[c] for c in COLUMNS}, cdr_id
        assert str(from_files[cdr_id]["account_id"]) == account_id  # the Hive partition column

    before = today_csv.read_bytes()
    assert run_syncd(config, "run", "--once").returncode == 0
    assert today_csv.read_bytes() == before  # nothing new: the same bytes, no row twice


def test_a_changed_cdr_rewrites_its_day_and_the_open_day_follows_within_flush_interval(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    reports = tmp_path / "reports"
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        "[cdr]\npoll_interval = 0.2\n\n" + files_sinks(reports, 1),
        (account_id,),
    )
    path = day_path(reports, "csv", account_id, TODAY)

    def ids() -> list[str]:
        if not path.is_file():
            return []
        return [r[0] for r in list(csv.reader(io.StringIO(path.read_text())))[1:]]

    with daemon(config):
        first = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, TODAY))
        wait_for(lambda: ids() == [first["_id"]], 20, "today's CSV with the first call")
        second = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, TODAY + dt.timedelta(seconds=1)))
        wait_for(lambda: ids() == [first["_id"], second["_id"]], 20, "the second call added to the day")
        changed = couch.get(modb_name, first["_id"]) or {}
        couch.save(modb_name, {**changed, "hangup_cause": "USER_BUSY"})
        wait_for(lambda: "USER_BUSY" in path.read_text(), 20, "the changed CDR rewritten in its day")
    assert ids() == [first["_id"], second["_id"]]  # still once each


def test_a_closed_days_object_is_final_and_later_cdrs_go_into_parts_beside_it(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    reports, day = tmp_path / "reports", TODAY - dt.timedelta(days=2)
    old_modb = modb_name[:-6] + f"{day:%Y%m}"
    if not couch.db_exists(old_modb):
        couch.create_db(old_modb)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, files_sinks(reports, 1, 0), (account_id,))
    docs = [kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, day)) for _ in range(3)]
    assert run_syncd(config, "run", "--once").returncode == 0
    main = day_path(reports, "csv", account_id, day)
    sealed = main.read_bytes()
    assert sorted(csv_ids(main)) == sorted(d["_id"] for d in docs)

    late = kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, day))  # Kazoo wrote it late
    changed = couch.get(old_modb, docs[0]["_id"]) or {}
    couch.save(old_modb, {**changed, "hangup_cause": "USER_BUSY"})  # a late rating
    assert run_syncd(config, "run", "--once").returncode == 0
    assert run_syncd(config, "run", "--once").returncode == 0  # nothing new: nothing written
    (part,) = [p for p in main.parent.iterdir() if p.name != main.name]
    assert main.read_bytes() == sealed  # final: never written again
    assert part.name.startswith("late-") and sorted(csv_ids(part)) == sorted([late["_id"], docs[0]["_id"]])
    assert "USER_BUSY" in part.read_text()
    parquet = sorted(day_path(reports, "parquet", account_id, day).parent.iterdir())
    assert [p.name for p in parquet] == ["cdrs.parquet", part.name.replace(".csv", ".parquet")]

    window = ["cdr", "export", "--from", str(day.date()), "--to", str(day.date()), "--sink", "csv"]
    assert run_syncd(config, *window).returncode == 0  # a repair: every object of the day from the queue
    assert sorted(csv_ids(main) + csv_ids(part)) == sorted(d["_id"] for d in [*docs, late])  # each once
    assert "USER_BUSY" in part.read_text() and "USER_BUSY" not in main.read_text()


def test_a_day_last_written_while_open_stays_as_written_once_it_closes(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    """The day closes between two writes: the object as last written is the final one (someone may
    have copied it since), and a CDR that arrives after the close goes into a part beside it."""
    account_id, modb_name = account
    reports = tmp_path / "reports"
    docs = [d for d in write_calls(couch, account_id, modb_name, 2) if kd_started(d).date() == YESTERDAY.date()]
    open_config = write_config(tmp_path / "c.toml", couch_server.auth_url, files_sinks(reports, 1), (account_id,))
    assert run_syncd(open_config, "run", "--once").returncode == 0  # yesterday is still open (30 days)
    main = day_path(reports, "csv", account_id, YESTERDAY)
    written = main.read_bytes()
    assert sorted(csv_ids(main)) == sorted(d["_id"] for d in docs)

    closed_config = write_config(tmp_path / "c.toml", couch_server.auth_url, files_sinks(reports, 1, 0), (account_id,))
    old_modb = modb_name[:-6] + f"{YESTERDAY:%Y%m}"
    late = kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, YESTERDAY))  # after the day closed
    assert run_syncd(closed_config, "run", "--once").returncode == 0
    assert main.read_bytes() == written
    (part,) = [p for p in main.parent.iterdir() if p.name != main.name]
    assert csv_ids(part) == [late["_id"]]


def kd_started(doc: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromtimestamp(doc["timestamp"] - doc["duration_seconds"] - kd.GREGORIAN, dt.UTC)


def csv_ids(path: Path) -> list[str]:
    return [r[0] for r in list(csv.reader(io.StringIO(path.read_text())))[1:]]


def test_parquet_days_go_to_s3_verified_by_md5(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: Any,
    account: tuple[str, str],
    s3_server: S3Server,
    bucket: str,
) -> None:
    account_id, modb_name = account
    backend = (
        f'[backends.lake]\ntype = "s3"\nbucket = "{bucket}"\nendpoint_url = "{s3_server.url}"\n'
        'access_key_id = "AKIATEST"\nsecret_access_key = "test-secret"\n\n'
        '[[cdr.sink]]\nname = "lake"\ntype = "files"\nbackend = "lake"\nfolder = "kazoo/cdrs"\nformat = "parquet"\n'
    )
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, backend, accounts=(account_id,))
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, TODAY)) for _ in range(4)]
    assert run_syncd(config, "run", "--once").returncode == 0
    key = (
        f"kazoo/cdrs/account_id={account_id}/year={TODAY.year}/month={TODAY.month:02d}/day={TODAY.day:02d}/cdrs.parquet"
    )
    client = s3_client(s3_server.url)
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    local = tmp_path / "day.parquet"
    local.write_bytes(body)
    day = duckdb.read_parquet(str(local))
    assert sorted(r[day.columns.index("id")] for r in day.fetchall()) == sorted(d["_id"] for d in docs)
    status = run_syncd(config, "status")
    assert "cdr sink lake: 4 exported, 0 waiting" in status.stdout, status.stdout


def test_cdr_export_writes_a_lost_day_file_again(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    reports = tmp_path / "reports"
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, files_sinks(reports), (account_id,))
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, TODAY)) for _ in range(3)]
    assert run_syncd(config, "run", "--once").returncode == 0
    path = day_path(reports, "csv", account_id, TODAY)
    first = path.read_bytes()
    path.unlink()  # a file lost at the provider
    done = run_syncd(config, "cdr", "export", "--from", str(TODAY.date()), "--to", str(TODAY.date()), "--sink", "csv")
    assert done.returncode == 0 and "sink csv: wrote 3 row(s)" in done.stdout, done.stdout + done.stderr
    assert path.read_bytes() == first and len(docs) == 3  # the same day, the same bytes
