"""syncd's own dependencies failing: a second daemon on one state database, a
damaged state database, a full disk. Each is one clear line and an exit code,
never a traceback per pass; a full disk waits and the work resumes, nothing lost."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from syncd import cli, config
from syncd.daemon import Daemon
from syncd.kazoo.couch import CouchClient
from tests.conftest import ROOT, run_syncd, write_config
from tests.support import kazoo_data as kd
from tests.support.daemons import wait_for
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb]
EXIT_STATE = 4


def _start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(config), "run"], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_a_second_run_on_an_existing_state_db_refuses_and_names_the_holder(
    tmp_path: Path, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account[0],))
    assert run_syncd(config, "run", "--once").returncode == 0  # the state database exists
    first = _start(config)
    try:
        wait_for(
            lambda: (tmp_path / "state.sqlite3.lock").read_bytes().startswith(b'{"pid": ' + str(first.pid).encode()),
            30,
            "the first daemon's lock",
        )
        second = run_syncd(config, "run", "--once")
        status = run_syncd(config, "status")
    finally:
        code, err = _stop(first)
    assert second.returncode == EXIT_STATE, second.stderr
    assert f"is in use by another syncd (pid {first.pid} on " in second.stderr, second.stderr
    assert "only one syncd may run on a state database" in second.stderr
    assert "Traceback" not in second.stderr
    assert status.returncode == 0, status.stderr  # read-only commands work beside the daemon
    assert code == 0, err


def test_two_runs_started_together_on_a_new_state_db_one_refuses(
    tmp_path: Path, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account[0],))
    procs = [_start(config), _start(config)]
    wait_for(lambda: any(p.poll() is not None for p in procs), 30, "one of the two to give up")
    (loser,) = [p for p in procs if p.poll() is not None]
    (winner,) = [p for p in procs if p is not loser]
    _, loser_err = loser.communicate(timeout=10)
    code, err = _stop(winner)
    assert loser.returncode == EXIT_STATE, loser_err
    assert "is in use by another syncd" in loser_err and "Traceback" not in loser_err, loser_err
    assert code == 0, err
    assert run_syncd(config, "status").returncode == 0  # migrated once, and whole


def test_a_damaged_state_db_is_exit_4_with_what_to_do(
    tmp_path: Path, couch_server: CouchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", couch_server.auth_url)
    (tmp_path / "state.sqlite3").write_bytes(b"this is not SQLite at all " * 200)
    for command in (["run", "--once"], ["status"], ["audit"]):
        capsys.readouterr()
        assert cli.main(["-c", str(config), *command]) == EXIT_STATE
        err = capsys.readouterr().err
        assert "is damaged (file is not a database); stop syncd, move the file aside" in err, err
        assert "Traceback" not in err


def test_a_full_disk_is_said_once_and_the_work_resumes_when_it_clears(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    account_id, modb = account
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    path = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    daemon = Daemon(config.load(str(path)), exclusive=True)
    stop = threading.Event()
    runner = threading.Thread(target=daemon.run_forever, args=(stop,))
    caplog.set_level(logging.INFO)
    runner.start()
    try:
        wait_for(lambda: "syncd running" in caplog.text, 30, "the daemon")
        pages = daemon.state.db.execute("PRAGMA page_count").fetchone()[0]
        daemon.state.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
        for i in range(20):
            couch.save(modb, kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(20_000, str(i)), *kd.now_month()))
        wait_for(lambda: "cannot be written (database or disk is full)" in caplog.text, 30, "the full disk")
        time.sleep(3)  # several passes meet the full disk meanwhile
        said = [r for r in caplog.records if "database or disk is full" in r.getMessage()]
        assert len(said) == 1, [r.getMessage() for r in said]
        assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.WARNING)
        daemon.state.db.execute("PRAGMA max_page_count = 1073741823")  # space freed
        wait_for(lambda: daemon.state.work.count("synced") == 20, 60, "the 20 voicemails after the disk cleared")
        wait_for(lambda: "state database writable again; work resumes" in caplog.text, 30, "the all-clear")
    finally:
        stop.set()
        runner.join(60)
        daemon.close()
    assert not runner.is_alive()
