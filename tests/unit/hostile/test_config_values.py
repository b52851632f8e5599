"""Settings that could disarm safety or hang syncd: each is refused with the key's
path and what is allowed (exit 2), before anything runs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from syncd import cli

EXIT_CONFIG = 2
BASE = '[couchdb]\nurl = "http://127.0.0.1:5984"\n\n[state]\npath = "{state}"\n\n'

# (TOML added to a valid config, the problem expected in the message)
CASES: dict[str, tuple[str, str]] = {
    "max_delete_share nan": (
        "[two_way]\nmax_delete_share = nan\n",
        "two_way.max_delete_share: must be a number from 0 to 1",
    ),
    "max_delete_share inf": ("[two_way]\nmax_delete_share = inf\n", "two_way.max_delete_share: must be a number"),
    "max_delete_share 2": (
        "[two_way]\nmax_delete_share = 2.0\n",
        "two_way.max_delete_share: must be a number from 0 to 1",
    ),
    "max_deletes negative": ("[two_way]\nmax_deletes = -1\n", "two_way.max_deletes: must be a whole number from 0"),
    "max_deletes huge": ("[two_way]\nmax_deletes = 100000000000\n", "two_way.max_deletes"),
    "max_deletes float": ("[two_way]\nmax_deletes = 2.5\n", "two_way.max_deletes: must be a whole number"),
    "grace_period nan": ("[two_way]\ngrace_period = nan\n", "two_way.grace_period: must be a number from 0"),
    "grace_period -inf": ("[two_way]\ngrace_period = -inf\n", "two_way.grace_period"),
    "grace_period a year": ("[two_way]\ngrace_period = 31536000\n", "two_way.grace_period: must be a number from 0 to"),
    "scan_interval 0": ("[two_way]\nscan_interval = 0\n", "two_way.scan_interval"),
    "guard_window nan": ("[two_way]\nguard_window = nan\n", "two_way.guard_window"),
    "share_from 0": ("[two_way]\nshare_from = 0\n", "two_way.share_from"),
    "history_months absurd": (
        "[kazoo]\nhistory_months = 100000000\n",
        "kazoo.history_months: must be a whole number from 0 to 240",
    ),
    "poll_interval inf": ("[kazoo]\npoll_interval = inf\n", "kazoo.poll_interval: must be a number from 0.05 to 3600"),
    "poll_interval nan": ("[kazoo]\npoll_interval = nan\n", "kazoo.poll_interval"),
    "poll_interval text": ('[kazoo]\npoll_interval = "1"\n', "kazoo.poll_interval"),
    "discovery_interval 0": ("[kazoo]\ndiscovery_interval = 0\n", "kazoo.discovery_interval"),
    "workers 0": ("[upload]\nworkers = 0\n", "upload.workers: must be a whole number from 1 to 64"),
    "workers 100000": ("[upload]\nworkers = 100000\n", "upload.workers"),
    "workers true": ("[upload]\nworkers = true\n", "upload.workers"),
    "retry_base nan": ("[upload]\nretry_base = nan\n", "upload.retry_base"),
    "retry_max inf": ("[upload]\nretry_max = inf\n", "upload.retry_max"),
    "couch timeout inf": ("", "couchdb.timeout"),  # set below, inside [couchdb]
    "allow_endpoints junk": ('[kazoo]\nallow_endpoints = ["a b"]\n', "kazoo.allow_endpoints: must be an array"),
    "allow_endpoints a string": ('[kazoo]\nallow_endpoints = "10.0.0.0/8"\n', "kazoo.allow_endpoints"),
    "crossbar_url no scheme": (
        '[two_way]\ncrossbar_url = "kazoo:8000"\ncrossbar_api_key = "k"\n',
        "two_way.crossbar_url: must be a URL like http://host:port",
    ),
    "crossbar_url bad port": (
        '[two_way]\ncrossbar_url = "http://kazoo:99999"\ncrossbar_api_key = "k"\n',
        "two_way.crossbar_url: must be a URL",
    ),
    "s3 endpoint ftp": (
        '[backends.s]\ntype = "s3"\nbucket = "bucket-x"\nendpoint_url = "ftp://x"\n'
        'access_key_id = "a"\nsecret_access_key = "b"\n',
        "backends.s.endpoint_url: must be a URL",
    ),
    "s3 no keys and no ambient": (
        '[backends.s]\ntype = "s3"\nbucket = "bucket-x"\n',
        "backends.s.access_key_id: give access_key_id and secret_access_key",
    ),
    "s3 keys and ambient": (
        '[backends.s]\ntype = "s3"\nbucket = "bucket-x"\naccess_key_id = "a"\n'
        'secret_access_key = "b"\nambient_credentials = true\n',
        "not both",
    ),
    "fax max_pages 0": (
        '[backends.l]\ntype = "local"\npath = "/srv"\n[[fax.outbox]]\naccount = "'
        + "a" * 32
        + '"\nbackend = "l"\nfolder = "fax/outbox"\nfrom_number = "+14155550199"\nmax_pages = 0\n',
        "fax.outbox[0].max_pages: must be a whole number from 1 to 1000",
    ),
    "fax settle nan": (
        '[backends.l]\ntype = "local"\npath = "/srv"\n[[fax.outbox]]\naccount = "'
        + "a" * 32
        + '"\nbackend = "l"\nfolder = "fax/outbox"\nfrom_number = "+14155550199"\n'
        "settle_seconds = nan\n",
        "settle_seconds: must be a number",
    ),
    "fax max_size inf": (
        '[backends.l]\ntype = "local"\npath = "/srv"\n[[fax.outbox]]\naccount = "'
        + "a" * 32
        + '"\nbackend = "l"\nfolder = "fax/outbox"\nfrom_number = "+14155550199"\n'
        "max_size_mb = inf\n",
        "max_size_mb: must be a number",
    ),
}


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(BASE.format(state=tmp_path / "state.sqlite3") + extra)
    return path


def _refused(config: Path, capsys: pytest.CaptureFixture[str], command: str = "check") -> str:
    capsys.readouterr()
    assert cli.main(["-c", str(config), command]) == EXIT_CONFIG
    return capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_setting_that_could_disarm_safety_is_refused_with_its_path(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, expected = CASES[case]
    config = _config(tmp_path, extra)
    if case == "couch timeout inf":
        config.write_text(config.read_text().replace('5984"\n', '5984"\ntimeout = inf\n', 1))
    err = _refused(config, capsys, "run")
    assert expected in err, err
    assert not (tmp_path / "state.sqlite3").exists()  # nothing ran


def test_a_relative_state_path_is_refused_and_shown_resolved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[couchdb]\nurl = "http://127.0.0.1:5984"\n[state]\npath = "state.sqlite3"\n')
    err = _refused(config, capsys)
    assert "state.path: must be an absolute path; 'state.sqlite3' would depend on the directory" in err
    assert os.path.abspath("state.sqlite3") in err


def test_a_couch_url_with_credentials_is_never_echoed_when_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[couchdb]\nurl = "ftp://admin:hunter22@couch"\n[state]\npath = "{tmp_path}/s.db"\n')
    err = _refused(config, capsys)
    assert "couchdb.url: must be a URL like http://host:port" in err and "hunter22" not in err


def _password_file_config(tmp_path: Path, secret_path: Path) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[couchdb]\nurl = "http://127.0.0.1:5984"\nusername = "admin"\n'
        f'password_file = "{secret_path}"\n[state]\npath = "{tmp_path}/s.db"\n'
    )
    return config


def test_a_password_file_that_is_a_fifo_is_refused_without_hanging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "password"
    os.mkfifo(fifo)
    done = threading.Event()
    threading.Timer(10, lambda: done.is_set() or open(fifo, "wb").close()).start()  # unblocks a hung reader
    started = time.monotonic()
    err = _refused(_password_file_config(tmp_path, fifo), capsys)
    done.set()
    assert time.monotonic() - started < 5
    assert "couchdb.password_file: cannot read" in err and "not a regular file" in err, err


def test_a_password_file_that_is_a_folder_or_huge_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(_password_file_config(tmp_path, tmp_path), capsys)
    assert "couchdb.password_file: cannot read" in err and "not a regular file" in err, err
    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * 100_000)
    err = _refused(_password_file_config(tmp_path, huge), capsys)
    assert "100,000 bytes; this file may be at most 65,536" in err, err


def test_a_config_file_that_is_a_fifo_is_refused_without_hanging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    done = threading.Event()
    threading.Timer(10, lambda: done.is_set() or open(fifo, "wb").close()).start()
    err = _refused(fifo, capsys)
    done.set()
    assert "cannot read file: not a regular file" in err, err


def test_two_backends_on_one_folder_cannot_feed_two_outboxes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (tmp_path / "alias").symlink_to(share, target_is_directory=True)
    account = "a" * 32
    boxes = "".join(
        f'[[fax.outbox]]\naccount = "{account}"\nbackend = "{name}"\nfolder = "fax/outbox"\n'
        f'from_number = "+14155550199"\n'
        for name in ("one", "two")
    )
    config = _config(
        tmp_path,
        f'[backends.one]\ntype = "local"\npath = "{share}"\n'
        f'[backends.two]\ntype = "local"\npath = "{tmp_path}/alias/"\n' + boxes,
    )
    err = _refused(config, capsys)
    assert "fax.outbox 'two:fax/outbox': writes or reads where fax.outbox 'one:fax/outbox' does" in err, err
    assert "one PDF would be faxed twice" in err


def test_two_flows_into_one_bucket_under_two_names_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = (
        'type = "s3"\nbucket = "shared-bucket"\nendpoint_url = "http://S3.example:9000"\naccess_key_id = "a"\n'
        'secret_access_key = "b"\n'
    )
    config = _config(
        tmp_path,
        f"[backends.a]\n{s3}[backends.b]\n{s3.replace('S3.example', 's3.example')}"
        '[[flows]]\nkind = "voicemail"\nbackend = "a"\nprefix = "vm"\n'
        '[[flows]]\nkind = "recordings"\nbackend = "b"\nprefix = "vm/rec"\n',
    )
    err = _refused(config, capsys)
    assert "flows[1] 'recordings-b': writes or reads where flows[0] 'voicemail-a' does" in err, err
    assert "each would take the other's objects for its own" in err


def test_a_flow_into_the_root_of_an_outbox_backend_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        f'[backends.l]\ntype = "local"\npath = "{tmp_path}"\n'
        '[[flows]]\nkind = "faxes"\nbackend = "l"\n'
        f'[[fax.outbox]]\naccount = "{"a" * 32}"\nbackend = "l"\nfolder = "fax/outbox"\n'
        'from_number = "+14155550199"\n',
    )
    err = _refused(config, capsys)
    assert "what the flow uploads would be faxed" in err, err


def test_sqs_never_borrows_the_hosts_identity_unasked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, '[two_way.sqs]\nqueue_url = "http://127.0.0.1:9/q"\n')
    err = _refused(config, capsys)
    assert "two_way.sqs.access_key_id: give access_key_id and secret_access_key" in err, err
    config = _config(
        tmp_path,
        '[two_way.sqs]\nqueue_url = "http://127.0.0.1:9/q"\nambient_credentials = true\nendpoint_url = "not a url"\n',
    )
    err = _refused(config, capsys)
    assert "two_way.sqs.endpoint_url: must be a URL" in err and "access_key_id" not in err, err
