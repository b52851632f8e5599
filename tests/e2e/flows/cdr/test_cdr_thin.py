"""The CDR queue is thinned once every sink has exported a CDR and keep_days have passed: the
state database stops growing by a CDR's doc per call, a replay still duplicates nothing, a sink
added later is told where to get the older CDRs, and a files sink's open days stay whole."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.sql_servers import sqlite_rows

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
COUNT = 12


def _state(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / "state.sqlite3")


def _age_queue(folder: Path, days: float) -> None:
    """As if every CDR had been queued `days` ago (keep_days is at least a day)."""
    with _state(folder) as db:
        db.execute("UPDATE cdrs SET recorded_at = recorded_at - ?", (days * 86_400,))


def _queue(folder: Path) -> tuple[int, int]:
    """(rows in the queue, bytes of docs they hold)."""
    with _state(folder) as db:
        rows, size = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(doc)), 0) FROM cdrs").fetchone()
    return int(rows), int(size)


def _exported(folder: Path, sink: str) -> int:
    with _state(folder) as db:
        return int(db.execute("SELECT exported FROM cdr_sinks WHERE sink = ?", (sink,)).fetchone()[0])


def _ids(folder: Path, table: str) -> list[str]:
    return sorted(r["id"] for r in sqlite_rows(folder, table))


def test_thinned_cdrs_are_never_exported_twice_and_a_new_sink_is_told_to_export_them(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    account_id, modb_name = account
    docs = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(COUNT)]
    sink = '[cdr]\nkeep_days = 2\n\n[[cdr.sink]]\nname = "local"\n'
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sink, (account_id,))
    assert run_syncd(config, "run", "--once").returncode == 0
    assert _ids(tmp_path, "kazoo_cdrs") == sorted(d["_id"] for d in docs)
    rows, whole = _queue(tmp_path)
    assert rows == COUNT and whole > 0

    _age_queue(tmp_path, 1)  # younger than keep_days: kept whole
    assert run_syncd(config, "run", "--once").returncode == 0
    assert _queue(tmp_path) == (COUNT, whole)
    _age_queue(tmp_path, 2)
    assert run_syncd(config, "run", "--once").returncode == 0
    assert _queue(tmp_path) == (COUNT, 0)  # every row kept, no doc

    with _state(tmp_path) as db:  # every feed read again from the start: a replay of the whole MODB
        db.execute("DELETE FROM cursors WHERE feed != 'cdr-thinned'")
    late = kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW))
    assert run_syncd(config, "run", "--once").returncode == 0
    assert _ids(tmp_path, "kazoo_cdrs") == sorted(d["_id"] for d in [*docs, late])
    assert _exported(tmp_path, "local") == COUNT + 1  # the replay queued nothing again: nothing went twice
    rows, size = _queue(tmp_path)
    assert rows == COUNT + 1 and 0 < size < whole / (COUNT - 1)  # the thinned stay thin, the late one whole

    with_new = sink + '\n[[cdr.sink]]\nname = "added"\ntable = "added_cdrs"\n'
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, with_new, (account_id,))
    first = run_syncd(config, "run", "--once")
    assert first.returncode == 0
    assert "CDR sink 'added' starts after the CDRs the state database no longer holds whole" in first.stderr
    assert "syncd cdr export --sink added" in first.stderr
    assert _ids(tmp_path, "added_cdrs") == [late["_id"]]
    day = NOW.date()
    window = ["cdr", "export", "--from", str(day - dt.timedelta(days=1)), "--to", str(day), "--sink", "added"]
    assert run_syncd(config, *window).returncode == 0
    assert _ids(tmp_path, "added_cdrs") == sorted(d["_id"] for d in [*docs, late])


def test_with_a_files_sink_only_closed_days_are_thinned_and_their_objects_stay_final(
    tmp_path: Path, couch: CouchClient, couch_server: Any, account: tuple[str, str]
) -> None:
    """A files sink writes an open day whole from the queue: its CDRs stay whole however old their
    queue rows are. A closed day's CDRs are thinned; a late CDR for that day then goes into a part
    beside its object, and `cdr export` writes the object again, the same, from Kazoo's docs."""
    account_id, modb_name = account
    old_day = NOW - dt.timedelta(days=3)
    old_modb = modb_name[:-6] + f"{old_day:%Y%m}"
    if not couch.db_exists(old_modb):
        couch.create_db(old_modb)
    closed = [kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, old_day)) for _ in range(3)]
    today = [kd.write_as_kazoo(couch, modb_name, kd.cdr_doc(account_id, NOW)) for _ in range(2)]
    (tmp_path / "files").mkdir()
    sinks = (
        f'[backends.share]\ntype = "local"\npath = "{tmp_path / "files"}"\n\n[cdr]\nkeep_days = 1\n\n'
        '[[cdr.sink]]\nname = "local"\n\n[[cdr.sink]]\nname = "days"\ntype = "files"\nbackend = "share"\n'
        'folder = "cdrs"\nflush_interval = 1\nclose_after = 0\n'
    )
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, sinks, (account_id,))
    assert run_syncd(config, "run", "--once").returncode == 0
    day_dir = (
        tmp_path / f"files/cdrs/account_id={account_id}/year={old_day.year}/month={old_day.month:02d}"
        f"/day={old_day.day:02d}"
    )
    sealed = (day_dir / "cdrs.csv").read_bytes()

    _age_queue(tmp_path, 30)
    assert run_syncd(config, "run", "--once").returncode == 0
    with _state(tmp_path) as db:
        whole = {r[0] for r in db.execute("SELECT doc_id FROM cdrs WHERE doc != x''")}
    assert whole == {d["_id"] for d in today}  # the open day's CDRs, however old their rows

    late = kd.write_as_kazoo(couch, old_modb, kd.cdr_doc(account_id, old_day))
    assert run_syncd(config, "run", "--once").returncode == 0
    assert (day_dir / "cdrs.csv").read_bytes() == sealed  # final
    (part,) = [p for p in day_dir.iterdir() if p.name != "cdrs.csv"]
    assert late["_id"] in part.read_text() and not any(d["_id"] in part.read_text() for d in closed)

    window = ["cdr", "export", "--from", str(old_day.date()), "--to", str(old_day.date()), "--sink", "days"]
    assert run_syncd(config, *window).returncode == 0
    assert (day_dir / "cdrs.csv").read_bytes() == sealed  # written again from Kazoo's docs: the same bytes
    assert late["_id"] in part.read_text()
