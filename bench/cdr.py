"""CDR export benchmark: N CDRs in real CouchDB -> PostgreSQL, against the pipeline's two ceilings.

    .venv/bin/python bench/cdr.py [--count 1000000] [--couchdb real|pouchdb|URL] [--latency 200]
                                  [--mode daemon|once|both] [--repeat N] [--profile out.txt|out.svg]

Seeds one account's MODB with N Kazoo-shaped CDRs (bulk writes) and starts a PostgreSQL
from Debian's packages (tests/support/sql_servers.py). Then, in the same run:
- ceiling 1, reading: `curl` of the MODB's `_changes?include_docs=true` (the same feed syncd reads);
- ceiling 2, writing: `psql \\copy` of the same N rows (Crossbar's columns and the CDR as jsonb,
  computed before the clock starts) from a CSV file into a table of syncd's shape;
- syncd with one PostgreSQL sink, CouchDB -> state DB queue -> rows -> upserts, end to end, each
  from an empty state database: `syncd run` (the daemon, timed from its start until PostgreSQL
  holds every row) and `syncd run --once` (timed until it exits); wall time and peak RSS, and
  every row is counted in PostgreSQL;
- latency: `syncd run` as a daemon while --latency CDRs are written one by one (20 a second);
  the time from each write to its row being visible in PostgreSQL, p50 / p95 / max.
Rates are rows per second; the ratio is syncd's rate over the lower ceiling.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import couch_for_bench, cpu_parts_s, hwm_parts_kb, run_measured, tree_cpu_s  # noqa: E402
from syncd.flows.cdr.rows import public_doc  # noqa: E402
from syncd.kazoo.cdrs import COLUMNS, public_row  # noqa: E402
from syncd.kazoo.couch import CouchClient  # noqa: E402
from tests.conftest import write_config  # noqa: E402
from tests.support import kazoo_data as kd  # noqa: E402
from tests.support.sql_servers import PostgresServer, postgres_bin  # noqa: E402

BATCH = 5000
T = TypeVar("T")


def require_tools() -> None:
    """curl is the reading ceiling's tool and PostgreSQL the sink: say how to get them, never a traceback."""
    if shutil.which("curl") is None:
        raise SystemExit("this benchmark times curl as the reading ceiling: apt-get install curl")
    try:
        postgres_bin("initdb")
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def seed(couch_url: str, modb: str, account_id: str, count: int) -> str:
    """N CDRs in the MODB by _bulk_docs; returns the id of the last one (written, and read, last)."""
    session = requests.Session()
    docs: list[dict] = []
    start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ccv = {"owner_id": kd.new_id(), "account_billing": "per_minute", "rate": 120}
    for first in range(0, count, BATCH):
        docs = [
            kd.cdr_doc(account_id, start + dt.timedelta(seconds=i), ccv=ccv, call_id=f"bench-{i}")
            for i in range(first, min(count, first + BATCH))
        ]
        answer = session.post(f"{couch_url}/{quote(modb, safe='')}/_bulk_docs", json={"docs": docs}, timeout=600)
        answer.raise_for_status()
        print(f"  seeded {min(count, first + BATCH):,} / {count:,}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return str(docs[-1]["_id"])


def curl_ceiling(couch_url: str, modb: str) -> float:
    url = f"{couch_url}/{quote(modb, safe='')}/_changes?include_docs=true"
    elapsed, _, done = run_measured(["curl", "-sf", "-o", "/dev/null", url])
    if done.returncode != 0:
        raise SystemExit(f"curl failed: {done.stderr}")
    return elapsed


def copy_ceiling(couch: CouchClient, modb: str, server: PostgresServer, work: Path) -> float:
    """psql \\copy of the same rows into a table shaped as syncd makes it; the CSV is built first."""
    path = work / "rows.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        for doc in couch.all_docs(modb, page_size=5000):
            if doc.get("pvt_type") == "cdr":
                row = public_row(doc)
                writer.writerow([*("" if row[c] is None else row[c] for c in COLUMNS), json.dumps(public_doc(doc))])
    columns = ", ".join(f'"{c}" TEXT' for c in COLUMNS) + ", cdr JSONB"
    server.query(f"CREATE TABLE copy_ceiling ({columns}, PRIMARY KEY (id))")
    env = {**os.environ, "PGPASSWORD": server.password}
    command = [
        postgres_bin("psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        "syncd",
        "-d",
        "billing",
        "-c",
        f"\\copy copy_ceiling FROM '{path}' CSV",
    ]
    elapsed, _, done = run_measured(command, env=env)
    if done.returncode != 0:
        raise SystemExit(f"psql \\copy failed: {done.stderr}")
    return elapsed


def sink_config(server: PostgresServer, table: str) -> str:
    return (
        f'[cdr]\npoll_interval = 0.1\n\n[[cdr.sink]]\nname = "billing"\nurl = "{server.url}"\n'
        f'password_file = "{server.password_file}"\ntable = "{table}"\n'
    )


def once_run(config: Path, server: PostgresServer, table: str, count: int) -> tuple[float, int]:
    """`syncd run --once` from an empty state database: seconds and peak RSS (KB)."""
    seconds, rss_kb, done = run_measured([sys.executable, "-m", "syncd", "-c", str(config), "run", "--once"], cwd=ROOT)
    _all_there(server, table, count, done.returncode, done.stderr)
    return seconds, rss_kb


def daemon_run(
    config: Path, server: PostgresServer, table: str, count: int, last_id: str, profile: str | None
) -> tuple[float, int]:
    """`syncd run` from an empty state database until every row is in PostgreSQL: seconds and its
    peak RSS (KB). With profile, py-spy is attached to the daemon for the whole catch-up.
    Every row is there once the last CDR's row is (syncd writes in the feed's order, a batch per
    transaction) and the count says so: the count is made only then, since a COUNT(*) of a
    million-row table twice a second costs PostgreSQL more CPU than syncd's own writes."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=err)
        spy = _attach(proc.pid, profile) if profile else None
        own, helper, exported = 0, 0, 0
        try:
            while exported < count and proc.poll() is None and time.monotonic() - start < 7200:
                time.sleep(0.5)
                own, helper = (max(a, b) for a, b in zip((own, helper), hwm_parts_kb(proc.pid), strict=True))
                exported = count_rows(server, table) if _holds(server, table, last_id) else 0
            seconds = time.monotonic() - start
            own, helper = (max(a, b) for a, b in zip((own, helper), hwm_parts_kb(proc.pid), strict=True))
            cpu = cpu_parts_s(proc.pid)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(120)
            proc.terminate()
            proc.wait(60)
        err.seek(0)
        _all_there(server, table, count, proc.returncode if exported < count else 0, err.read())
    print(
        f"  daemon peak RSS {own / 1024:.0f} MB, its helper process {helper / 1024:.0f} MB; "
        f"CPU daemon {cpu[0]:.1f} s, helper {cpu[1]:.1f} s",
        file=sys.stderr,
    )
    return seconds, own + helper


def _attach(pid: int, profile: str) -> subprocess.Popen[bytes]:
    """py-spy attached to a running syncd; a .txt gets collapsed stacks, anything else a flame graph."""
    fmt = "raw" if profile.endswith(".txt") else "flamegraph"
    return subprocess.Popen([_py_spy(), "record", "--idle", "-o", profile, "-f", fmt, "--pid", str(pid)])


def _all_there(server: PostgresServer, table: str, count: int, returncode: int | None, stderr: str) -> None:
    exported = count_rows(server, table)
    if returncode != 0 or exported != count:
        print(stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"syncd exported {exported:,} of {count:,} rows (exit {returncode})")


def count_rows(server: PostgresServer, table: str) -> int:
    if not _has(server, table):
        return 0  # syncd never made it (its stderr is shown): a count, not a traceback
    return int(server.query(f"SELECT COUNT(*) FROM {table}")[0][0])  # noqa: S608 - the bench's own table


def latency(
    couch: CouchClient, modb: str, account_id: str, server: PostgresServer, config: Path, n: int
) -> list[float]:
    """Seconds from each CDR written (while the daemon runs) to its row in PostgreSQL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.DEVNULL
    )
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        deadline = None
        while deadline is None or (len(seen) < n and time.monotonic() < deadline):
            if done.is_set() and deadline is None:
                deadline = time.monotonic() + 30  # the last rows may take a moment
            rows = server.query("SELECT id FROM latency") if _has(server, "latency") else []
            now = time.monotonic()
            for (cdr_id,) in rows:
                seen.setdefault(cdr_id, now)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    try:
        time.sleep(3)  # the daemon is up and has read the backlog's feed
        watcher.start()
        start = dt.datetime.now(dt.UTC)
        for i in range(n):
            doc = kd.cdr_doc(account_id, start, call_id=f"late-{i}")
            couch.save(modb, doc)
            written[doc["_id"]] = time.monotonic()
            time.sleep(0.05)
        done.set()
        watcher.join()
    finally:
        done.set()
        proc.terminate()
        proc.wait(60)
    return sorted(seen[k] - written[k] for k in written if k in seen)


def _py_spy() -> str:
    """py-spy beside this Python (the venv) or on PATH; a clear ask when it is neither."""
    found = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        raise SystemExit("--profile records with py-spy: .venv/bin/pip install py-spy")
    return found


def _holds(server: PostgresServer, table: str, cdr_id: str) -> bool:
    """The CDR's row is there (a lookup by the table's key)."""
    found = server.query(f"SELECT 1 FROM {table} WHERE id = '{cdr_id}'") if _has(server, table) else []  # noqa: S608
    return bool(found)


def _has(server: PostgresServer, table: str) -> bool:
    return bool(server.query(f"SELECT to_regclass('{table}') IS NOT NULL")[0][0] == "t")


class ServersCpu:
    """The CPU seconds CouchDB and PostgreSQL spend in each timed step: on a small machine the
    servers share the cores with syncd, and this shows who used them."""

    def __init__(self, couch_server: Any, pg: PostgresServer) -> None:
        couch_proc = getattr(couch_server, "proc", None)
        self.pids = {"CouchDB": couch_proc.pid if couch_proc else None, "PostgreSQL": pg.proc.pid}
        self.spent: dict[str, dict[str, float]] = {}

    def during(self, step: str, work: Callable[..., T], *args: Any) -> T:
        before = {name: tree_cpu_s(pid) for name, pid in self.pids.items()}
        done = work(*args)
        self.spent[step] = {name: tree_cpu_s(pid) - before[name] for name, pid in self.pids.items()}
        return done

    def report(self) -> None:
        print("  CPU seconds of the servers in each step (same run):")
        for step, spent in self.spent.items():
            parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items())
            print(f"    {step:22} {parts}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--couchdb", default="real", help="pouchdb | real (shared/couchdb) | URL of your CouchDB")
    parser.add_argument("--latency", type=int, default=200, help="CDRs written one by one for the latency figure")
    parser.add_argument("--mode", choices=("daemon", "once", "both"), default="both", help="which syncd runs to time")
    parser.add_argument("--repeat", type=int, default=1, help="time each syncd run this many times (same data)")
    parser.add_argument("--profile", metavar="SVG", help="record syncd's run under py-spy into this flame graph")
    args = parser.parse_args()
    require_tools()
    if args.profile:
        _py_spy()
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-cdr-"))
    couch_server = couch_for_bench(args.couchdb, work)
    pg = PostgresServer()
    try:
        couch = CouchClient(couch_server.auth_url, None, None, 120)
        account_id = kd.new_id()
        modb = kd.seed_account(couch, account_id)
        print(f"seeding {args.count:,} CDRs into {couch_server.version} ...", file=sys.stderr)
        started = time.monotonic()
        last_id = seed(couch_server.auth_url, modb, account_id, args.count)
        print(f"  seeded in {time.monotonic() - started:.0f} s", file=sys.stderr)

        servers = ServersCpu(couch_server, pg)
        read_s = servers.during("ceiling curl _changes", curl_ceiling, couch_server.auth_url, modb)
        copy_s = servers.during("ceiling psql \\copy", copy_ceiling, couch, modb, pg, work)
        figures: dict[str, tuple[float, int]] = {}
        for attempt in range(1, args.repeat + 1):
            for mode in ("daemon", "once"):
                if args.mode not in (mode, "both"):
                    continue
                table = f"bench_{mode}_{attempt}"
                (work / table).mkdir()
                sink = sink_config(pg, table)
                config = write_config(work / table / "c.toml", couch_server.auth_url, sink, (account_id,))
                name = f"syncd run{' --once' if mode == 'once' else ' (daemon)'}" + (
                    f" #{attempt}" if args.repeat > 1 else ""
                )
                if mode == "daemon":
                    run = servers.during(name, daemon_run, config, pg, table, args.count, last_id, args.profile)
                else:
                    run = servers.during(name, once_run, config, pg, table, args.count)
                figures[name] = run

        # the same sink name, so the same cursor: the daemon exports only what is written from now on
        late_config = write_config(
            config.parent / "l.toml", couch_server.auth_url, sink_config(pg, "latency"), (account_id,)
        )
        delays = latency(couch, modb, account_id, pg, late_config, args.latency) if args.latency else []

        rates = {"curl _changes": args.count / read_s, "psql \\copy": args.count / copy_s}
        lower = min(rates.values())
        print(f"\n{args.count:,} CDRs, {couch_server.version} -> PostgreSQL (same run)")
        for name, rate in rates.items():
            print(f"  ceiling {name:14} {rate:10,.0f} rows/s")
        for name, (seconds, rss_kb) in figures.items():
            rate = args.count / seconds
            print(
                f"  {name:22} {rate:10,.0f} rows/s  ({seconds:.1f} s, peak RSS {rss_kb / 1024:.0f} MB), "
                f"ratio to the lower ceiling {rate / lower:.2f}"
            )
        servers.report()
        if delays:
            p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
            print(
                f"  latency, CDR written -> row visible ({len(delays)} of {args.latency}): p50 "
                f"{statistics.median(delays):.2f} s, p95 {p95:.2f} s, max {delays[-1]:.2f} s"
            )
        return 0
    finally:
        pg.stop()
        couch_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
