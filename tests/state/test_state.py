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
    assert state._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    (item,) = state.items_at("k/vm.mp3")
    assert (item.doc_id, item.status, item.etag, item.missing_since) == ("202611-m1", "synced", "e1", None)
    indexes = {r[0] for r in state._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
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
