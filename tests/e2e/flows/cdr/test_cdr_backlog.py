"""A backlog of CDRs into PostgreSQL: its batches are made by the helper process as COPY's text
format. The rows must be the ones Crossbar's rules give, whatever the CDRs hold (tabs, newlines,
backslashes, COPY's own markers), exactly once, also when the helper is killed mid-backlog."""

from __future__ import annotations

import copy
import datetime as dt
import os
import secrets
import signal
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import requests

from syncd.flows.cdr import rows
from syncd.flows.cdr.pg_copy import CopyBatch, copy_of_queued, copy_text
from syncd.flows.cdr.pump import HELPED
from syncd.flows.cdr.reader import found_cdr
from syncd.flows.cdr.rows import public_doc, sink_row
from syncd.flows.cdr.sql import SqlSink
from syncd.kazoo.cdrs import COLUMNS, public_row, utc_offset
from syncd.kazoo.couch import CouchClient
from syncd.model.cdr import CdrSink, Column
from tests.conftest import run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.daemons import daemon
from tests.support.sql_servers import PostgresServer, cdr_config, pg_rows

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
COLUMNS_ALL = (*(Column(name, name) for name in COLUMNS), Column("ccv:owner_id", "ccv_owner_id"), Column("cdr", "cdr"))
AWKWARD = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\.",  # COPY's end-of-data marker, alone on a line
    "\\N",  # COPY's NULL, as a text
    "",
    "ünïcödé ☎ 電話",
    'quote "x", comma',
]


def backlog(account_id: str, count: int, prefix: str = "backlog") -> list[dict[str, Any]]:
    docs = []
    for i in range(count):
        name = AWKWARD[i % len(AWKWARD)]
        ccv = {"owner_id": f"owner\t{i}\\x", "account_billing": "per_minute", "rate": 120} if i % 2 else None
        doc = kd.cdr_doc(account_id, NOW + dt.timedelta(seconds=i), ccv=ccv, call_id=f"{prefix}-{i}")
        doc["caller_id_name"] = name
        doc["callee_id_name"] = f"{name}|{i}"
        doc["media_recordings"] = [f"rec\\{i}\n.mp3"]
        docs.append(doc)
    return docs


def bulk_write(url: str, db: str, docs: list[dict[str, Any]]) -> None:
    answer = requests.post(f"{url}/{quote(db, safe='')}/_bulk_docs", json={"docs": docs}, timeout=120)
    answer.raise_for_status()


def helped_config(server: PostgresServer, table: str) -> str:
    """cdr_config with batches large enough for the helper (the shared config's are 7 CDRs)."""
    return cdr_config(server, table).replace("batch_size = 7", f"batch_size = {HELPED * 2}", 1)


def test_a_backlog_made_by_the_helper_gives_the_rows_crossbar_rules_give(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    doc = couch.get("accounts", account_id) or {}
    couch.save("accounts", {**doc, "timezone": "America/New_York"})
    docs = backlog(account_id, HELPED * 3)
    bulk_write(couch_server.auth_url, modb_name, docs)
    table = "cdrs_" + secrets.token_hex(4)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, helped_config(postgres_server, table), (account_id,)
    )
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "CDR sink 'billing' helper process starts" in result.stderr  # the batches went through it
    assert "one by one" not in result.stderr  # and PostgreSQL took each batch's COPY whole
    rows = {r["id"]: r for r in pg_rows(postgres_server, table)}
    assert sorted(rows) == sorted(d["_id"] for d in docs)
    for cdr in docs:
        offset = utc_offset("America/New_York", public_row(cdr)["timestamp"])
        assert {c: rows[cdr["_id"]][c] for c in COLUMNS} == public_row(cdr, offset), cdr["_id"]
        stored = couch.get(modb_name, cdr["_id"]) or {}
        assert rows[cdr["_id"]]["cdr"] == public_doc(stored)
        owner = cdr.get("custom_channel_vars", {}).get("owner_id")
        assert rows[cdr["_id"]]["ccv_owner_id"] == owner


def test_bad_cdrs_in_a_helper_batch_are_refused_by_name_and_the_rest_of_both_accounts_arrive(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    """A tenant's awkward CDRs in the middle of a backlog batch (NUL in a text, which PostgreSQL
    cannot store; a duration beyond 64 bits; a name that is an object): the one the sink refuses is
    skipped by name, and every other CDR of that account and of a good account beside it is
    exported in the same pass."""
    account_id, modb_name = account
    good_id = kd.new_id()
    good_modb = kd.seed_account(couch, good_id)
    docs = backlog(account_id, HELPED * 2)
    docs[5]["caller_id_name"] = "Mallory\x00"
    docs[50]["duration_seconds"] = 2**70
    docs[150]["callee_id_name"] = {"nested": ["x" * 10_000]}
    bad = {docs[5]["_id"]}  # the others are stored: the huge number in the JSON, the object as its text
    good = backlog(good_id, HELPED * 2, "good")  # call ids are unique across accounts, as in Kazoo
    bulk_write(couch_server.auth_url, modb_name, docs)
    bulk_write(couch_server.auth_url, good_modb, good)
    table = "cdrs_" + secrets.token_hex(4)
    sinks = helped_config(postgres_server, table)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sinks, (account_id, good_id))
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 1, result.stderr  # a standing problem: the refused CDRs
    for cdr_id in bad:
        assert f"problem (cdr:billing/{modb_name}/{cdr_id}): refused by the sink" in result.stderr, result.stderr
    ids = sorted(r["id"] for r in pg_rows(postgres_server, table))
    assert ids == sorted({d["_id"] for d in docs + good} - bad)


def test_the_helpers_text_is_the_one_syncd_makes_itself_also_for_cdrs_queued_by_an_earlier_version() -> None:
    account_id = kd.new_id()
    columns = COLUMNS_ALL
    sink = CdrSink(name="s", type="sql", url="postgresql://", display="postgresql://", table="t", columns=columns)
    docs = [{**d, "_rev": "1-abc", "pvt_type": "cdr", "pvt_created": 1} for d in backlog(account_id, 40)]
    expected = copy_text(sink, [sink_row(sink, d, -18000) for d in docs])
    as_queued = [(orjson.dumps(found_cdr("db", account_id, d).doc), -18000) for d in docs]
    assert copy_of_queued(sink, as_queued) == expected
    compressed = [(zlib.compress(orjson.dumps(d)), -18000) for d in docs]  # earlier still: zlib
    assert copy_of_queued(sink, compressed) == expected
    assert all(line.count("\t") == len(columns) - 1 for line in expected.text.splitlines())  # no value split a row
    assert expected.keys == tuple(d["_id"] for d in docs)


def test_a_batch_whose_row_appeared_since_it_was_looked_for_is_upserted_not_refused(
    postgres_server: PostgresServer,
) -> None:
    """A batch none of whose rows is in the table goes straight in by COPY. If one got there
    between the look and the COPY (another writer), the COPY's unique violation is undone and the
    same batch is upserted in the same transaction: every row once, the newer values kept."""
    table = "cdrs_" + secrets.token_hex(4)
    url = postgres_server.url.replace("syncd@", f"syncd:{postgres_server.password}@")
    sink = CdrSink(name="s", type="sql", url=url, display="pg", table=table, columns=COLUMNS_ALL)
    writer = SqlSink(sink)
    try:
        docs = backlog(kd.new_id(), 5)
        rows = [sink_row(sink, d, 0) for d in docs]
        writer.upsert([{**rows[0], "cost": 1}])  # the other writer's row, a single INSERT
        batch = copy_text(sink, rows)
        writer.copy(CopyBatch(batch.text, batch.keys[1:]))  # as if looked for before that row came
        found = {r["id"]: r for r in pg_rows(postgres_server, table)}
        assert sorted(found) == sorted(d["_id"] for d in docs)
        assert found[docs[0]["_id"]]["cost"] == rows[0]["cost"]  # the batch's value won
        writer.copy(batch)  # all there now: the upsert path, still once each
        assert len(pg_rows(postgres_server, table)) == len(docs)
    finally:
        writer.close()


def test_the_helper_keeps_no_more_per_batch_than_the_batch() -> None:
    """Each batch brings its sink anew (unpickled): what is cached for a sink stays bounded."""
    account_id = kd.new_id()
    sink = CdrSink(name="s", type="sql", url="postgresql://", display="postgresql://", table="t", columns=COLUMNS_ALL)
    cdrs = [(orjson.dumps(d), 0) for d in backlog(account_id, 3)]
    for _ in range(rows.PLANS_KEPT * 3):
        copy_of_queued(copy.deepcopy(sink), cdrs)  # a new sink, as unpickled in the helper
    assert len(rows._PLANS) <= rows.PLANS_KEPT


def test_a_helper_killed_mid_backlog_loses_and_duplicates_nothing(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str], postgres_server: PostgresServer
) -> None:
    account_id, modb_name = account
    count = HELPED * 40
    docs = backlog(account_id, count)
    for first in range(0, count, 1000):
        bulk_write(couch_server.auth_url, modb_name, docs[first : first + 1000])
    table = "cdrs_" + secrets.token_hex(4)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, helped_config(postgres_server, table), (account_id,)
    )
    killed = 0
    with daemon(config) as proc:
        deadline = time.monotonic() + 120
        while len(rows := pg_rows(postgres_server, table)) < count and time.monotonic() < deadline:
            helper = _helper_of(proc.pid)
            if helper is not None and killed < 2 and len(rows) >= count * killed // 3:
                os.kill(helper, signal.SIGKILL)  # at the start, then a third of the way through
                killed += 1
            time.sleep(0.05)
    assert killed >= 1, "the helper was never seen: the backlog did not go through it"
    ids = [r["id"] for r in pg_rows(postgres_server, table)]
    assert sorted(ids) == sorted(d["_id"] for d in docs)  # every CDR, each once (the id is the key)
    status = run_syncd(config, "status")
    assert f"cdr sink billing: {count} exported, 0 waiting" in status.stdout, status.stdout


def _helper_of(pid: int) -> int | None:
    """The daemon's helper process: a child started by multiprocessing's spawn."""
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                return int(child)
    return None
