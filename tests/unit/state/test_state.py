"""The state DB: migrations keep what an older syncd recorded, and refuse a newer schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncd.errors import StateError
from syncd.state import MIGRATIONS, SCHEMA_VERSION, State


def test_a_schema_1_database_is_migrated_and_keeps_its_items(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
    db.execute(
        "INSERT INTO items (db, doc_id, attachment, target, account_id, pvt_type, object_key, digest, "
        "length, content_type, status, etag, created_at, updated_at) VALUES ('account%2Fab%2Fcd%2Fef-202611', "
        "'202611-m1', 'vm.mp3', 't', 'abcdef', 'mailbox_message', 'k/vm.mp3', 'md5-x', 3, 'audio/mpeg', "
        "'synced', 'e1', 1, 1)"
    )
    db.commit()
    db.close()

    state = State(str(path))
    assert state.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    (item,) = state.listings.items_at("k/vm.mp3")
    assert (item.doc_id, item.status, item.etag, item.missing_since) == ("202611-m1", "synced", "e1", None)
    indexes = {r[0] for r in state.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"items_key", "items_target_key", "items_missing"} <= indexes
    state.close()


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    State(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer than this syncd understands"):
        State(str(path))
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_state_is_one_database_with_one_repository_per_concern() -> None:
    state = State(":memory:")
    try:
        repositories = {name: part for name, part in vars(state).items() if name not in ("path", "db")}
        assert set(repositories) == {
            "work",
            "feeds",
            "listings",
            "holds",
            "audit",
            "problems",
            "fax",
            "cdrs",
            "media",
            "playlists",
            "referrers",
        }
        assert all(part.db is state.db for part in repositories.values())  # one connection, one lock
        own = {n for n, v in vars(State).items() if callable(v) and not n.startswith("_")}
        assert own == {"close"}, "queries belong to a repository, not to State"
    finally:
        state.close()


def test_a_transaction_that_fails_leaves_nothing_behind() -> None:
    state = State(":memory:")
    try:

        def half_a_change() -> None:
            with state.db.tx() as db:
                db.execute("INSERT INTO problems (scope, message, since) VALUES ('x', 'y', 0)")
                raise RuntimeError("the second half of the change failed")

        with pytest.raises(RuntimeError):
            half_a_change()
        assert state.problems.all() == {}
        assert state.problems.set("x", "y") and state.problems.all() == {"x": "y"}
    finally:
        state.close()


def test_a_read_runs_beside_an_open_write_transaction_and_sees_what_was_committed(tmp_path: Path) -> None:
    """Database.read: a sink's next batch is read while a feed's page is being queued."""
    state = State(str(tmp_path / "state.db"))
    try:
        state.problems.set("before", "committed")
        with state.db.tx() as db:  # the writer holds the lock (and SQLite's write lock) meanwhile
            db.execute("INSERT INTO problems (scope, message, since) VALUES ('during', 'not yet', 0)")
            read = state.db.read("SELECT scope FROM problems ORDER BY scope")
        assert read == [("before",)]
        assert state.db.read("SELECT scope FROM problems ORDER BY scope") == [("before",), ("during",)]
    finally:
        state.close()


def test_a_read_that_fails_is_a_state_error_naming_the_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state = State(str(path))
    try:
        with pytest.raises(StateError, match=f"state database {path}"):
            state.db.read("SELECT nothing FROM no_such_table")
        assert state.db.read("SELECT COUNT(*) FROM problems") == [(0,)]  # the next read is fine
    finally:
        state.close()


def test_a_reader_opened_while_the_holder_upgrades_the_schema_waits_for_it(tmp_path: Path) -> None:
    """`syncd status` run while the service starts (and upgrades its state DB) waits for the
    upgrade instead of failing with 'try again': CI saw it print nothing on a busy machine."""
    import threading

    from syncd.state.db import Database
    from syncd.state.lock import StateLock

    path = str(tmp_path / "state.sqlite3")
    older = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:-1]:  # as the previous release left it
        older.executescript(migration)
    older.execute(f"PRAGMA user_version={SCHEMA_VERSION - 1}")
    holder = StateLock(path)
    holder.acquire()  # the service, starting: it holds the database and will upgrade it
    opened: list[Database] = []
    failed: list[BaseException] = []

    def status() -> None:
        try:
            opened.append(Database(path))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failed.append(exc)

    reader = threading.Thread(target=status)
    reader.start()
    reader.join(0.5)
    assert not failed, failed  # it did not give up at once
    older.executescript(MIGRATIONS[-1])  # the service's upgrade
    older.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    reader.join(60)
    holder.release()
    older.close()
    assert not failed and len(opened) == 1, failed
    opened[0].close()


def test_a_syncd_starting_while_a_read_only_command_upgrades_the_database_waits_for_it(tmp_path: Path) -> None:
    """`syncd status` that finds a new database creates it under the lock for a moment; the service
    starting then waits for that moment instead of taking status for a second syncd and exiting."""
    import threading

    from syncd.errors import StateLocked
    from syncd.state.lock import StateLock

    path = str(tmp_path / "state.sqlite3")
    command = StateLock(path)
    assert command.try_briefly()  # status, migrating a database nobody holds
    service = StateLock(path)
    failed: list[BaseException] = []

    def start() -> None:
        try:
            service.acquire()
        except StateLocked as exc:
            failed.append(exc)

    starting = threading.Thread(target=start)
    starting.start()
    starting.join(0.5)
    assert not failed, failed  # it did not give up on a brief holder
    command.release()
    starting.join(30)
    assert not failed and not starting.is_alive()
    try:
        with pytest.raises(StateLocked, match="is in use by another syncd"):
            StateLock(path).acquire()  # a second service is still refused at once, naming the first
    finally:
        service.release()
