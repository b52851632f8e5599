from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.config.crossbar import OLD_KEYS as OLD_CROSSBAR_KEYS
from syncd.config.validator import Validator
from syncd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_example_config_loads() -> None:
    cfg = config.load(str(ROOT / "config.example.toml"))
    assert cfg.couchdb.url == "http://127.0.0.1:5984"
    assert [f.kind for f in cfg.flows] == ["voicemail", "recordings"]
    assert cfg.backends["archive"].type == "local"


def uncommented(text: str) -> str:
    """The example with every commented-out setting and table put back (its `# key = value`
    and `# [table]` lines, and the arrays they open), so validating it visits every table."""
    out, depth = [], 0
    for line in text.splitlines():
        if depth > 0 and line.startswith("#"):
            line = line[1:].lstrip(" ")
            depth += line.split("#", 1)[0].count("[") - line.split("#", 1)[0].count("]")
        elif re.match(r"^# (\[|[a-z_]+ = )", line):
            line = line[2:]
            if not line.startswith("["):
                value = line.split("=", 1)[1].split("#", 1)[0]
                depth = value.count("[") - value.count("]")
        out.append(line)
    return "\n".join(out)


def value_at(raw: dict[str, Any], path: str) -> Any:
    """raw's value at a validator's path ("fax.outbox[0].retries"), or None."""
    current: Any = raw
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            current = current[index] if isinstance(current, list) and len(current) > index else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
    return current


def test_the_example_config_documents_every_key_the_validator_takes_and_shows_each_default() -> None:
    """Derived from the validator, not a list kept by hand: every key any table takes (the
    commented-out tables too) is named in config.example.toml, and every setting the example gives
    has the default the validator applies, so a changed default fails here until the example
    says it too. Old names kept only for compatibility are left out of the example."""
    text = (ROOT / "config.example.toml").read_text()
    everything, seen = tomllib.loads(uncommented(text)), Validator()
    with pytest.raises(ConfigError):  # its alternatives together are not a valid config; only the keys matter
        config.parse(everything, validator=seen)
    assert {"fax.outbox[0]", "cdr.sink[2]", "media.library[0]", "two_way.sqs", "backends.drive"} <= set(seen.allowed)
    undocumented = [
        f"{path}.{key}"
        for path, keys in seen.allowed.items()
        for key in keys - set(OLD_CROSSBAR_KEYS)
        if not re.search(rf"(?<![\w.]){re.escape(key)}\b", text)  # set, or named where its alternative is
    ]
    assert undocumented == [], undocumented
    active, applied = tomllib.loads(text), Validator()
    config.parse(active, validator=applied)
    shown = {path: value_at(active, path) for path in applied.defaults}
    wrong = {p: (shown[p], d) for p, d in applied.defaults.items() if shown[p] is not None and shown[p] != d}
    assert wrong == {}, f"the example shows another value than the default (shown, default): {wrong}"
    assert len([p for p in shown if shown[p] is not None]) >= 30


def test_minimal_config_follows_storage_plans_for_all_accounts() -> None:
    cfg = config.parse({"couchdb": {"url": "http://h:5984"}, "state": {"path": "/tmp/s.db"}})
    assert cfg.kazoo.follow_storage_plans and cfg.kazoo.accounts == () and cfg.flows == ()


def test_every_problem_reported_at_once_with_its_path() -> None:
    raw = {
        "couchdb": {"url": "ftp://x", "colour": 1},
        "kazoo": {"poll_interval": -1, "accounts": ["nope"]},
        "backends": {"b": {"type": "ftp"}, "l": {"type": "local", "path": "rel"}},
        "flows": [{"kind": "voicemail", "backend": "missing"}, {"kind": "sms", "backend": "l"}],
        "extra": {},
    }
    with pytest.raises(ConfigError) as err:
        config.parse(raw, source="x.toml")
    text = str(err.value)
    for expected in (
        "couchdb.url: must be a URL like http://host:port",
        "couchdb.colour: unknown key",
        "state: missing table",
        "kazoo.poll_interval: must be a number from 0.05 to 3600",
        "kazoo.accounts: must be an array of 32",
        "backends.b.type: must be one of: local, s3",
        "backends.l.path: must be an absolute path",
        "flows[0].backend: names no [backends.missing] table",
        "flows[1].kind: must be one of",
        "extra: unknown key",
    ):
        assert expected in text, expected
    assert text.startswith("invalid configuration in x.toml")


def test_malformed_toml_names_the_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[couchdb\nurl = 1\n")
    with pytest.raises(ConfigError, match=r"(?s)bad\.toml.*not valid TOML.*line 1"):
        config.load(str(path))


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found: pass --config PATH or set SYNCD_CONFIG"):
        config.load(str(tmp_path / "none.toml"))


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_CONFIG", "/env.toml")
    assert config.config_path("/cli.toml") == "/cli.toml"
    assert config.config_path(None) == "/env.toml"
    monkeypatch.delenv("SYNCD_CONFIG")
    assert config.config_path(None) == "/etc/syncd/config.toml"


def test_password_file_relative_to_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "couchdb").write_text("s3cr3t-pass\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    cfg = config.parse(
        {"couchdb": {"url": "http://h", "username": "u", "password_file": "couchdb"}, "state": {"path": "/tmp/s"}}
    )
    assert cfg.couchdb.password == "s3cr3t-pass"
    assert "s3cr3t-pass" not in repr(cfg)
    assert cfg.secrets() == ["s3cr3t-pass"]


def test_unreadable_password_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="couchdb.password_file: cannot read"):
        config.parse({"couchdb": {"url": "http://h", "password_file": str(tmp_path / "no")}, "state": {"path": "/s"}})


def test_two_way_defaults_delete_voicemail_only() -> None:
    cfg = config.parse({"couchdb": {"url": "http://h:5984"}, "state": {"path": "/tmp/s.db"}})
    assert cfg.two_way.pvt_types(lambda p: p.delete_in_kazoo) == {"mailbox_message"}
    assert all(p.on_kazoo_delete == "keep" for p in cfg.two_way.kinds.values())
    assert cfg.two_way.grace_period == 60 and cfg.two_way.max_deletes == 20


def test_two_way_problems_are_all_reported() -> None:
    raw = {
        "couchdb": {"url": "http://h:5984"},
        "state": {"path": "/tmp/s.db"},
        "two_way": {
            "max_delete_share": 2,
            "reconcile_cron": "61 * * * *",
            "crossbar_url": "http://cb",
            "recordings": {"on_kazoo_delete": "shred"},
            "grace": 5,
        },
    }
    with pytest.raises(ConfigError) as err:
        config.parse(raw)
    text = str(err.value)
    for fragment in (
        "two_way.max_delete_share",
        "two_way.reconcile_cron",
        "two_way.crossbar_url",
        "two_way.recordings.on_kazoo_delete: must be one of: keep, trash, delete",
        "two_way.grace:",
    ):
        assert fragment in text, fragment


def test_drive_credentials_from_credentials_directory_are_kept_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIabc\\n"}'
    (tmp_path / "drive.json").write_text(key)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    cfg = config.parse(
        {
            "couchdb": {"url": "http://h"},
            "state": {"path": "/s"},
            "kazoo": {"google_drive": {"credentials_file": "drive.json", "subject": "vm@example.com"}},
            "backends": {"d": {"type": "google_drive", "credentials_file": "drive.json", "folder_id": "1AbC"}},
        }
    )
    assert cfg.kazoo.google_drive["credentials"] == key and cfg.kazoo.google_drive["subject"] == "vm@example.com"
    assert cfg.backends["d"].options.folder_id == "1AbC"  # type: ignore[union-attr]
    assert "-----BEGIN PRIVATE KEY-----\nMIIabc\n" in cfg.secrets() and key in cfg.secrets()
    assert "MIIabc" not in repr(cfg)


def test_drive_problems_name_their_keys(tmp_path: Path) -> None:
    raw = {
        "couchdb": {"url": "http://h"},
        "state": {"path": "/s"},
        "kazoo": {"google_drive": {"credentials_file": str(tmp_path / "none.json"), "scope": "x"}},
        "backends": {"d": {"type": "google_drive", "folder": "1AbC"}},
    }
    with pytest.raises(ConfigError) as err:
        config.parse(raw)
    for expected in (
        "kazoo.google_drive.credentials_file: cannot read",
        "kazoo.google_drive.scope: unknown key",
        "backends.d.folder: unknown key",
        "backends.d.credentials_file: missing",
    ):
        assert expected in str(err.value), expected


def _with_fax(fax: dict) -> dict:
    return {
        "couchdb": {"url": "http://h:5984"},
        "state": {"path": "/tmp/s.db"},
        "backends": {"office": {"type": "local", "path": "/srv/office"}},
        "fax": fax,
    }


def test_a_fax_outbox_gets_its_folders_beside_it_and_a_normalised_sender() -> None:
    box = {"account": "a" * 32, "backend": "office", "folder": "fax/outbox", "from_number": "(415) 555-0199"}
    cfg = config.parse(_with_fax({"outbox": [box], "received_format": "both"}))
    (outbox,) = cfg.fax.outboxes
    assert (outbox.sent, outbox.failed, outbox.rejected) == ("fax/sent", "fax/failed", "fax/rejected")
    assert outbox.sender.from_number == "+14155550199" and outbox.max_bytes == 20 * 1024 * 1024
    assert cfg.fax.received_format == "both" and outbox.name == "office:fax/outbox"


def test_fax_outbox_problems_are_all_reported_with_their_paths() -> None:
    boxes = [
        {"account": "nope", "backend": "elsewhere", "folder": "../up", "from_number": "12"},
        {"account": "a" * 32, "backend": "office", "folder": "fax"},
        {
            "account": "a" * 32,
            "backend": "office",
            "folder": "fax/outbox",
            "faxbox_id": "f" * 32,
            "default_region": "usa",
            "colour": "red",
        },
    ]
    with pytest.raises(ConfigError) as err:
        config.parse(_with_fax({"outbox": boxes, "received_format": "png"}))
    text = str(err.value)
    for expected in (
        "fax.outbox[0].account: missing or not a 32-character",
        "fax.outbox[0].backend: names no [backends.elsewhere]",
        "fax.outbox[0].folder: must be a folder path",
        "fax.outbox[0].from_number: '12' is not a valid phone number",
        "fax.outbox[1]: needs from_number, or faxbox_id",
        "fax.outbox[2].default_region: must be a two-letter",
        "fax.outbox[2].colour: unknown key",
        "'fax/outbox' overlaps 'fax'",
        "fax.received_format: must be one of: tiff, pdf, both",
    ):
        assert expected in text, expected


def test_faxes_through_crossbar_need_its_connection() -> None:
    with pytest.raises(ConfigError) as err:
        config.parse(_with_fax({"submit_via": "crossbar"}))
    assert 'fax.submit_via: "crossbar" needs [kazoo.crossbar] url' in str(err.value)
    cfg = config.parse(
        {
            **_with_fax({"submit_via": "crossbar"}),
            "two_way": {"crossbar_url": "https://kazoo:8443", "crossbar_api_key": "k"},
        }
    )
    assert cfg.fax.submit_via == "crossbar"


def test_an_upload_flow_may_not_write_into_a_fax_outbox() -> None:
    raw = _with_fax(
        {"outbox": [{"account": "a" * 32, "backend": "office", "folder": "fax/outbox", "from_number": "+14155550199"}]}
    )
    raw["flows"] = [{"kind": "faxes", "backend": "office", "prefix": "fax"}]
    with pytest.raises(ConfigError) as err:
        config.parse(raw)
    assert "fax.outbox 'office:fax/outbox': writes or reads where flows[0] 'faxes-office' does" in str(err.value)
    assert "what the flow uploads would be faxed" in str(err.value)
