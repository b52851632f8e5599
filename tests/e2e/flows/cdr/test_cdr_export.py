"""CDR export end to end: Kazoo-shaped CDRs written while `syncd run` runs arrive in PostgreSQL
(a real server from Debian's packages) and in the embedded SQLite sink, as Crossbar's columns."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncd.kazoo.cdrs import COLUMNS, public_row, utc_offset
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.dbnames import modb
from tests.conftest import run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.daemons import daemon, wait_for
from tests.support.sql_servers import MariaDbServer, PostgresServer, cdr_config, pg_delete, pg_rows, sqlite_rows

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)


def calls(account_id: str) -> list[dict[str, Any]]:
    """Inbound with custom channel vars (billed per minute), outbound without, and a plain one."""
    billed = {"owner_id": kd.new_id(), "authorizing_id": kd.new_id(), "account_billing": "per_minute", "rate": 300}
    return [
        kd.cdr_doc(account_id, NOW, ccv=billed),
        kd.cdr_doc(account_id, NOW + dt.timedelta(seconds=30), direction="outbound", ccv=None),
        kd.cdr_doc(account_id, NOW + dt.timedelta(seconds=60), ccv={"owner_id": kd.new_id()}),
    ]


def set_timezone(couch: CouchClient, account_id: str, zone: str) -> None:
    doc = couch.get("accounts", account_id) or {}
    couch.save("accounts", {**doc, "timezone": zone})


def test_cdrs_reach_every_sink_as_crossbar_columns_and_a_changed_cdr_updates_its_row(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    set_timezone(couch, account_id, "Europe/Paris")
    other = kd.new_id()
    other_modb = kd.seed_account(couch, other)  # an account syncd does not follow
    table = "cdrs_" + secrets.token_hex(4)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, cdr_config(postgres_server, table), accounts=(account_id,)
    )
    with daemon(config):
        docs = [kd.write_as_kazoo(couch, modb_name, d) for d in calls(account_id)]
        kd.write_as_kazoo(couch, other_modb, kd.cdr_doc(other, NOW))
        wait_for(lambda: len(pg_rows(postgres_server, table)) == 3, 30, "3 CDRs in PostgreSQL")
        wait_for(lambda: len(sqlite_rows(tmp_path, "kazoo_cdrs")) == 3, 30, "3 CDRs in the SQLite sink")
        for rows in (pg_rows(postgres_server, table), sqlite_rows(tmp_path, "kazoo_cdrs")):
            by_id = {r["id"]: r for r in rows}
            for doc in docs:
                offset = utc_offset("Europe/Paris", public_row(doc)["timestamp"])
                expected = public_row(doc, offset)
                assert {c: by_id[doc["_id"]][c] for c in COLUMNS} == expected, doc["_id"]
                assert by_id[doc["_id"]]["cdr"]["call_id"] == doc["call_id"]  # the whole CDR as JSON
                assert "_rev" not in by_id[doc["_id"]]["cdr"] and "pvt_type" not in by_id[doc["_id"]]["cdr"]
            assert other not in {r["cdr"].get("custom_channel_vars", {}).get("account_id") for r in rows}
        owners = {r["id"]: r["ccv_owner_id"] for r in pg_rows(postgres_server, table)}
        assert owners[docs[0]["_id"]] == docs[0]["custom_channel_vars"]["owner_id"]  # a custom channel var column
        assert owners[docs[1]["_id"]] is None  # the call without custom channel vars

        rated = couch.get(modb_name, docs[1]["_id"]) or {}
        rated["custom_channel_vars"] = {"account_id": account_id, "account_billing": "per_minute", "rate": 600}
        couch.save(modb_name, rated)  # rating added a cost after the call

        def cost() -> Any:
            return {r["id"]: r["cost"] for r in pg_rows(postgres_server, table)}[docs[1]["_id"]]

        wait_for(lambda: cost() == 1200, 30, "the changed CDR's row updated")  # 90 s: two 60 s steps at 600
        assert len(pg_rows(postgres_server, table)) == 3
    status = run_syncd(config, "status")
    assert "cdr sink billing: 4 exported, 0 waiting" in status.stdout, status.stdout


def test_mariadb_takes_the_same_rows_and_updates_a_changed_cdr(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], mariadb_server: MariaDbServer
) -> None:
    account_id, modb_name = account
    sink = (
        f'[cdr]\npoll_interval = 0.2\n\n[[cdr.sink]]\nname = "maria"\nurl = "{mariadb_server.url}"\n'
        f'password_file = "{mariadb_server.password_file}"\ntable = "cdrs_{secrets.token_hex(4)}"\n'
    )
    table = sink.split('table = "')[1].split('"')[0]
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink, accounts=(account_id,))
    with daemon(config):
        docs = [kd.write_as_kazoo(couch, modb_name, d) for d in calls(account_id)]
        wait_for(lambda: len(mariadb_server.rows(table)) == 3, 30, "3 CDRs in MariaDB")
        by_id = {r["id"]: r for r in mariadb_server.rows(table)}
        for doc in docs:
            assert {c: by_id[doc["_id"]][c] for c in COLUMNS} == public_row(doc), doc["_id"]
            assert json.loads(by_id[doc["_id"]]["cdr"])["call_id"] == doc["call_id"]
        changed = couch.get(modb_name, docs[2]["_id"]) or {}
        couch.save(modb_name, {**changed, "hangup_cause": "ORIGINATOR_CANCEL"})
        wait_for(
            lambda: (
                {r["id"]: r["hangup_cause"] for r in mariadb_server.rows(table)}[docs[2]["_id"]] == "ORIGINATOR_CANCEL"
            ),
            30,
            "the changed CDR's row updated",
        )
    assert len(mariadb_server.rows(table)) == 3


def test_a_sink_down_only_delays_itself_and_catches_up_in_order_exactly_once(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    server = PostgresServer()  # its own server: this test takes it away
    try:
        config = write_config(tmp_path / "c.toml", couch_server.auth_url, cdr_config(server, "cdrs"), (account_id,))
        with daemon(config):
            first = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(5)]
            wait_for(lambda: len(pg_rows(server, "cdrs")) == 5, 30, "5 CDRs in PostgreSQL")
            server.pause()
            later = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(20)]
            wait_for(lambda: len(sqlite_rows(tmp_path, "kazoo_cdrs")) == 25, 30, "the other sink carries on")
            shown = wait_for_status(config, "cdr-sink:billing")
            assert "CDR sink 'billing'" in shown and "wait in the state database" in shown
            assert server.password not in shown
            server.start()
            wait_for(lambda: len(pg_rows(server, "cdrs")) == 25, 60, "the sink caught up")
        ids = [r["id"] for r in pg_rows(server, "cdrs")]
        assert sorted(ids) == sorted(d["_id"] for d in first + later)  # every CDR, exactly once
    finally:
        server.stop()


def test_mariadb_and_a_files_share_down_for_a_while_catch_up_exactly_once(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    """The same outage for the other kinds of sink: a MariaDB that stops, and the folder a files sink
    writes into gone (an unmounted share); the embedded sink carries on meanwhile."""
    account_id, modb_name = account
    server, share = MariaDbServer(), tmp_path / "share"  # its own server: this test takes it away
    share.mkdir()
    try:
        sinks = (
            f'[backends.share]\ntype = "local"\npath = "{share}"\n\n'
            f'[[cdr.sink]]\nname = "maria"\nurl = "{server.url}"\npassword_file = "{server.password_file}"\n'
            'table = "cdrs"\n\n[[cdr.sink]]\nname = "days"\ntype = "files"\nbackend = "share"\nfolder = "cdrs"\n'
            'flush_interval = 1\n\n[[cdr.sink]]\nname = "local"\n'
        )
        config = write_config(
            tmp_path / "c.toml", couch_server.auth_url, "[cdr]\npoll_interval = 0.2\n\n" + sinks, (account_id,)
        )
        with daemon(config):
            first = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(5)]
            wait_for(lambda: len(server.rows("cdrs")) == 5 and len(day_ids(share)) == 5, 30, "5 CDRs in both")
            server.pause()
            shutil.rmtree(share)
            later = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(20)]
            wait_for(lambda: len(sqlite_rows(tmp_path, "kazoo_cdrs")) == 25, 30, "the embedded sink carries on")
            wait_for_status(config, "cdr-sink:maria")
            wait_for_status(config, "cdr-sink:days")
            server.start()
            share.mkdir()
            wait_for(lambda: len(server.rows("cdrs")) == 25 and len(day_ids(share)) == 25, 90, "both caught up")
        wanted = sorted(d["_id"] for d in first + later)
        assert sorted(r["id"] for r in server.rows("cdrs")) == wanted  # every CDR, exactly once
        assert sorted(day_ids(share)) == wanted
    finally:
        server.stop()


def day_ids(share: Path) -> list[str]:
    return [
        row["id"] for path in share.glob("cdrs/**/cdrs.csv") for row in csv.DictReader(io.StringIO(path.read_text()))
    ]


def wait_for_status(config: Path, scope: str) -> str:
    found: list[str] = []

    def shown() -> bool:
        out = run_syncd(config, "status").stdout
        found[:] = [out]
        return scope in out

    wait_for(shown, 30, f"{scope} in syncd status")
    return found[0]


def test_cdr_export_replays_a_window_without_duplicating_and_dry_run_writes_nothing(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    table = "cdrs_" + secrets.token_hex(4)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, cdr_config(postgres_server, table), accounts=(account_id,)
    )
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(12)]
    assert run_syncd(config, "run", "--once").returncode == 0
    assert len(pg_rows(postgres_server, table)) == 12
    pg_delete(postgres_server, table, docs[0]["_id"])  # a row lost at the provider
    day = NOW.date()
    window = ["cdr", "export", "--from", str(day - dt.timedelta(days=1)), "--to", str(day), "--sink", "billing"]
    dry = run_syncd(config, *window, "--dry-run")
    assert dry.returncode == 0 and "sink billing: would write 12 row(s)" in dry.stdout, dry.stdout + dry.stderr
    assert len(pg_rows(postgres_server, table)) == 11
    for _ in range(2):
        done = run_syncd(config, *window)
        assert done.returncode == 0 and "sink billing: wrote 12 row(s)" in done.stdout, done.stdout + done.stderr
    assert sorted(r["id"] for r in pg_rows(postgres_server, table)) == sorted(d["_id"] for d in docs)
    before = run_syncd(config, *window[:6], "--to", str(day - dt.timedelta(days=2)))
    assert before.returncode == 1 and "is before --from" in before.stderr
    unknown = run_syncd(config, *window[:-1], "nosuch")
    assert unknown.returncode == 1 and "no CDR sink named 'nosuch'" in unknown.stderr


def test_a_month_boundary_window_reads_both_modbs(
    tmp_path: Path, couch: CouchClient, couch_server: Any, postgres_server: PostgresServer
) -> None:
    account_id = kd.new_id()
    kd.seed_account(couch, account_id)
    last_month = (NOW.replace(day=1) - dt.timedelta(days=1)).replace(hour=23, minute=50)
    old_modb = modb(account_id, last_month.year, last_month.month)
    couch.create_db(old_modb)
    kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, last_month))
    table = "cdrs_" + secrets.token_hex(4)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, cdr_config(postgres_server, table), accounts=(account_id,)
    )
    done = run_syncd(config, "cdr", "export", "--from", str(last_month.date()), "--to", str(NOW.date()))
    assert done.returncode == 0 and "sink billing: wrote 1 row(s)" in done.stdout, done.stdout + done.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path}/cdrs.sqlite3")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM kazoo_cdrs")).scalar() == 1
    engine.dispose()


def test_anonymous_cdrs_are_exported_only_when_asked(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, _ = account
    if not couch.db_exists("anonymous_cdrs"):
        couch.create_db("anonymous_cdrs")  # Kazoo's own database: created if missing, never dropped
    doc = kd.write_as_kazoo(couch, "anonymous_cdrs", kd.cdr_doc(account_id, NOW, ccv=None))
    sink = '[[cdr.sink]]\nname = "local"\n'
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink, (account_id,))
    run_syncd(config, "run", "--once")
    assert doc["_id"] not in {r["id"] for r in sqlite_rows(tmp_path, "kazoo_cdrs")}
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, "[cdr]\nanonymous = true\n\n" + sink, (account_id,)
    )
    run_syncd(config, "run", "--once")
    assert doc["_id"] in {r["id"] for r in sqlite_rows(tmp_path, "kazoo_cdrs")}


def test_a_column_added_to_the_config_is_added_to_the_table_and_one_removed_stays(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    table = "cdrs_" + secrets.token_hex(4)

    def sink(columns: list[str]) -> str:
        return (
            f'[[cdr.sink]]\nname = "billing"\nurl = "{postgres_server.url}"\n'
            f'password_file = "{postgres_server.password_file}"\ntable = "{table}"\n'
            f"columns = {json.dumps(columns)}\n"
        )

    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink(["call_id", "hangup_cause"]), (account_id,))
    old = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW))
    assert run_syncd(config, "run", "--once").returncode == 0
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, sink(["call_id", "billing_seconds"]), (account_id,)
    )
    new = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW, billing=42))
    assert run_syncd(config, "run", "--once").returncode == 0
    rows = {r["id"]: r for r in pg_rows(postgres_server, table)}
    assert rows[old["_id"]]["billing_seconds"] is None and rows[new["_id"]]["billing_seconds"] == 42
    assert rows[old["_id"]]["hangup_cause"] == "NORMAL_CLEARING"  # the column the config dropped keeps its data


def test_a_table_made_for_master_gets_4_3s_disposition_column_and_cdr_export_fills_old_rows(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    table = "cdrs_" + secrets.token_hex(4)
    sink = cdr_config(postgres_server, table)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink, (account_id,))
    config.write_text(config.read_text().replace("[kazoo]\n", '[kazoo]\nversion = "master"\n', 1))
    old = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW))
    assert run_syncd(config, "run", "--once").returncode == 0
    (row,) = pg_rows(postgres_server, table)
    assert "disposition" not in row and row["unix_timestamp_micro"] is not None and "_" in row["datetime"]
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink, (account_id,))  # 4.3, the default
    new = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW + dt.timedelta(seconds=5)))
    assert run_syncd(config, "run", "--once").returncode == 0
    rows = {r["id"]: r for r in pg_rows(postgres_server, table)}
    assert rows[new["_id"]]["disposition"] == "SUCCESS" and rows[old["_id"]]["disposition"] is None
    assert rows[old["_id"]]["unix_timestamp_micro"] is not None  # master's column stays: syncd never drops data
    day = NOW.date()
    done = run_syncd(config, "cdr", "export", "--from", str(day - dt.timedelta(days=1)), "--to", str(day))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["id"]: r for r in pg_rows(postgres_server, table)}
    assert rows[old["_id"]]["disposition"] == "SUCCESS" and " " in rows[old["_id"]]["datetime"]
    assert {c: rows[old["_id"]][c] for c in COLUMNS} == public_row(old), "every 4.3 column as Crossbar 4.3's"
