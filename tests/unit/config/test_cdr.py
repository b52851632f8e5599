"""[cdr] and [[cdr.sink]]: what an operator may ask, and a clear refusal for everything else."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.errors import ConfigError
from syncd.kazoo.cdrs import COLUMNS

BASE: dict[str, Any] = {"couchdb": {"url": "http://127.0.0.1:5984"}, "state": {"path": "/var/lib/syncd/s.db"}}


def sinks(*tables: dict[str, Any]) -> config.Config:
    return config.parse({**BASE, "cdr": {"sink": list(tables)}})


def test_a_bare_sink_is_sqlite_beside_the_state_db_with_every_crossbar_column_and_the_json() -> None:
    (sink,) = sinks({"name": "local"}).cdr.sinks
    assert sink.url == "sqlite:////var/lib/syncd/cdrs.sqlite3" and sink.table == "kazoo_cdrs"
    assert [c.source for c in sink.columns] == [*COLUMNS, "cdr"]
    assert sink.key_column == "id"


def test_columns_are_chosen_renamed_and_widened_with_custom_channel_vars() -> None:
    (sink,) = sinks(
        {
            "name": "billing",
            "columns": ["call_id", "billing_seconds", "cost"],
            "rename": {"id": "cdr_id", "billing_seconds": "billsec"},
            "custom_channel_vars": ["owner_id", "X-Billing-Code"],
            "json_column": "",
        }
    ).cdr.sinks
    assert [(c.source, c.name) for c in sink.columns] == [
        ("id", "cdr_id"),  # always there: the upsert key
        ("call_id", "call_id"),
        ("billing_seconds", "billsec"),
        ("cost", "cost"),
        ("ccv:owner_id", "ccv_owner_id"),
        ("ccv:X-Billing-Code", "ccv_X_Billing_Code"),
    ]
    assert sink.key_column == "cdr_id"


def test_a_password_file_goes_into_the_url_never_into_what_is_shown(tmp_path: Path) -> None:
    secret = tmp_path / "pg"
    secret.write_text("s3cr/et@\n")
    cfg = sinks(
        {"name": "pg", "url": "postgresql+psycopg://syncd@db.example:5432/billing", "password_file": str(secret)}
    )
    (sink,) = cfg.cdr.sinks
    assert sink.url == "postgresql+psycopg://syncd:s3cr%2Fet%40@db.example:5432/billing"
    assert "s3cr" not in sink.display and "s3cr" not in repr(sink) and "s3cr/et@" in cfg.secrets()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "x", "url": "postgresql://u:pw@h/db"}, "holds a password: give it as password_file"),
        ({"name": "x", "url": "oracle://h/db"}, "must start with one of sqlite://"),
        ({"name": "x", "table": "cdrs; DROP TABLE users"}, "is not a plain SQL name"),
        ({"name": "x", "columns": ["id", "salary"]}, "unknown column(s) 'salary'"),
        ({"name": "x", "columns": "id"}, "must be an array of Crossbar CDR column names"),
        ({"name": "x", "rename": {"nosuch": "y"}}, "'nosuch' is not a column of this sink"),
        ({"name": "x", "rename": {"cost": "a b"}}, "must be a plain SQL name"),
        ({"name": "x", "rename": {"cost": "rate"}}, "two columns would both be called rate"),
        ({"name": "x", "custom_channel_vars": ["ok", "../etc"]}, "custom channel var names"),
        ({"name": "x", "json_column": "1x"}, 'or "" for no JSON column'),
        ({"name": "x", "batch_size": 0}, "cdr.sink[0].batch_size"),
        ({"name": "x", "accounts": ["not-an-account"]}, "32-character lowercase hex"),
        ({"name": "x", "type": "excel"}, "cdr.sink[0].type"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({}, "cdr.sink[0].name"),
    ],
)
def test_every_bad_sink_setting_is_refused_by_name(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        sinks(table)
    assert message in str(err.value), str(err.value)


def test_two_sinks_with_one_name_would_share_a_cursor_and_are_refused() -> None:
    with pytest.raises(ConfigError, match="two sinks are named 'a'"):
        sinks({"name": "a"}, {"name": "a", "table": "other"})


def test_cdr_must_be_tables() -> None:
    with pytest.raises(ConfigError, match=r"cdr.sink: must be an array of tables"):
        config.parse({**BASE, "cdr": {"sink": "pg"}})
    with pytest.raises(ConfigError, match=r"cdr.poll_interval"):
        config.parse({**BASE, "cdr": {"poll_interval": float("nan")}})


@pytest.mark.parametrize("days", [0, 0.5, -3, float("nan"), float("inf"), "7", True, 10**9])
def test_keep_days_outside_1_to_36500_days_is_refused_by_name(days: object) -> None:
    """keep_days decides when a CDR's doc leaves the state database: a value that would thin at
    once (0, nan) or make no sense is refused, never taken."""
    with pytest.raises(ConfigError, match=r"cdr.keep_days"):
        config.parse({**BASE, "cdr": {"keep_days": days}})
    assert config.parse({**BASE, "cdr": {"keep_days": 30}}).cdr.keep_days == 30


def test_the_example_config_documents_every_sink_key_and_its_sink_parses(tmp_path: Path) -> None:
    from syncd.config.cdr import _SINK_KEYS

    text = (Path(__file__).resolve().parents[3] / "config.example.toml").read_text()
    blocks = text[text.index("# [[cdr.sink]]") :]
    for key in _SINK_KEYS - {"password"}:  # password (inline) is named in the comment above the block
        assert f"# {key} = " in blocks, key
    assert "use password_file (or password)" in text
    (tmp_path / "pg-password").write_text("pw")
    sinks = []
    for block in blocks.split("# [[cdr.sink]]")[1:]:
        lines = [line.removeprefix("# ") for line in block.split("\n\n")[0].splitlines() if line.startswith("# ")]
        sinks.append(tomllib.loads("\n".join(lines)))
    sinks[0]["password_file"] = str(tmp_path / "pg-password")
    backends = {
        "archive": {"type": "local", "path": "/srv/archive"},
        "drive": {"type": "google_drive", "credentials": '{"type": "service_account"}'},
    }
    sql, files, sheets = config.parse({**BASE, "backends": backends, "cdr": {"sink": sinks}}).cdr.sinks
    assert sql.name == "billing" and sql.key_column == "id" and "pw" not in sql.display
    assert files.files is not None and files.files.format == "parquet"
    assert sheets.sheets is not None and sheets.sheets.per == "month"


LOCAL = {"reports": {"type": "local", "path": "/srv/reports"}}


def test_a_files_sink_names_a_backend_a_folder_and_a_format() -> None:
    cfg = config.parse(
        {
            **BASE,
            "backends": LOCAL,
            "cdr": {"sink": [{"name": "lake", "type": "files", "backend": "reports", "format": "parquet"}]},
        }
    )
    (sink,) = cfg.cdr.sinks
    assert sink.files is not None and (sink.files.backend, sink.files.folder, sink.files.format) == (
        "reports",
        "cdrs",
        "parquet",
    )
    assert sink.files.flush_interval == 60


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"type": "files"}, "cdr.sink[0].backend: missing"),
        ({"type": "files", "backend": "nosuch"}, "names no [backends.nosuch] table"),
        ({"type": "files", "backend": "reports", "folder": "../etc"}, "must be a folder path inside the backend"),
        ({"type": "files", "backend": "reports", "format": "xlsx"}, "cdr.sink[0].format"),
        ({"type": "files", "backend": "reports", "flush_interval": 0}, "cdr.sink[0].flush_interval"),
        ({"type": "files", "backend": "reports", "close_after": -1}, "cdr.sink[0].close_after"),
        ({"type": "files", "backend": "reports", "close_after": "soon"}, "cdr.sink[0].close_after"),
        ({"type": "files", "backend": "reports", "close_after": float("nan")}, "cdr.sink[0].close_after"),
        ({"type": "files", "backend": "reports", "close_after": 10**30}, "cdr.sink[0].close_after"),
        ({"type": "sheets", "backend": "reports", "close_after": 60}, "does not apply to a Google Sheets sink"),
        ({"type": "files", "backend": "reports", "url": "sqlite:///x"}, "belongs to a SQL sink"),
        ({"backend": "reports"}, 'belongs to a files sink (type = "files")'),
    ],
)
def test_every_bad_files_sink_setting_is_refused_by_name(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "backends": LOCAL, "cdr": {"sink": [{"name": "x", **table}]}})
    assert message in str(err.value), str(err.value)


def test_two_writers_in_one_folder_are_refused() -> None:
    sink = {"type": "files", "backend": "reports", "folder": "shared"}
    with pytest.raises(ConfigError, match="rewrite each other's files"):
        config.parse({**BASE, "backends": LOCAL, "cdr": {"sink": [{"name": "a", **sink}, {"name": "b", **sink}]}})
    outbox = {"account": "0" * 32, "backend": "reports", "folder": "shared/outbox", "from_number": "+14155550100"}
    with pytest.raises(ConfigError, match="CDR files would be faxed"):
        config.parse({**BASE, "backends": LOCAL, "fax": {"outbox": [outbox]}, "cdr": {"sink": [{"name": "a", **sink}]}})


def test_a_sheets_sink_writes_with_a_google_drive_backends_credentials() -> None:
    drive = {"drive": {"type": "google_drive", "credentials": '{"type": "service_account"}'}}
    cfg = config.parse(
        {**BASE, "backends": {**LOCAL, **drive}, "cdr": {"sink": [{"name": "s", "type": "sheets", "backend": "drive"}]}}
    )
    (sink,) = cfg.cdr.sinks
    assert sink.sheets is not None and (sink.sheets.backend, sink.sheets.per) == ("drive", "account")
    assert [c.source for c in sink.columns][-1] != "cdr"  # no JSON column unless asked
    for bad, message in [
        ({"backend": "reports"}, "must name a [backends.X] of type google_drive"),
        ({"backend": "drive", "per": "week"}, "cdr.sink[0].per"),
        ({"backend": "drive", "folder": "x"}, 'does not apply to a Google Sheets sink (type = "sheets")'),
    ]:
        with pytest.raises(ConfigError) as err:
            config.parse(
                {**BASE, "backends": {**LOCAL, **drive}, "cdr": {"sink": [{"name": "s", "type": "sheets", **bad}]}}
            )
        assert message in str(err.value), str(err.value)


def test_kazoo_version_picks_the_crossbar_columns_and_refuses_another_release() -> None:
    from syncd.kazoo.versions import KAZOO_MASTER

    sink = {"name": "s"}
    master = config.parse({**BASE, "kazoo": {"version": "master"}, "cdr": {"sink": [sink]}})
    assert master.kazoo.version == "master" and master.cdr.sinks[0].kazoo_version == "master"
    assert [c.source for c in master.cdr.sinks[0].columns] == [*KAZOO_MASTER.cdr_columns, "cdr"]
    assert sinks(sink).kazoo.version == "4.3" and sinks(sink).cdr.sinks[0].kazoo_version == "4.3"
    with pytest.raises(ConfigError) as bad:
        config.parse({**BASE, "kazoo": {"version": "4.4"}, "cdr": {"sink": [sink]}})
    assert "kazoo.version: must be one of: 4.3, master (got '4.4')" in str(bad.value)
    with pytest.raises(ConfigError) as wrong_column:
        sinks({**sink, "columns": ["unix_timestamp_micro"]})
    assert "'unix_timestamp_micro' for Kazoo 4.3 ([kazoo] version)" in str(wrong_column.value)
