"""Documents written the way Kazoo writes them: the doc first, then each attachment in
a standalone PUT (kz_datamgr:put_attachment), for voicemails, recordings and received
faxes; and new monthly databases found through /_db_updates on real CouchDB, or the
current-month check where the server has no /_db_updates (pouchdb-server)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from syncd.kazoo.couch import CouchClient
from syncd.kazoo.naming import object_name
from tests.conftest import run_syncd, s3_client, write_config
from tests.support import fax_kazoo as fk
from tests.support import kazoo_data as kd
from tests.support.daemons import daemon, wait_for
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]


def _data(doc: dict[str, Any]) -> bytes:
    (att,) = doc["_attachments"].values()
    return base64.b64decode(att["data"])


def _key(modb: str, doc: dict[str, Any]) -> str:
    (name,) = doc["_attachments"]
    return object_name("s3", {}, modb, doc, name)


def test_voicemail_recording_and_fax_written_as_kazoo_does_arrive_at_kazoos_keys(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    couch.save(
        "system_data",
        kd.s3_storage_doc(
            account_id,
            kd.new_id(),
            bucket=bucket,
            port=s3_server.port,
            modb_types=("mailbox_message", "call_recording", "fax"),
        ),
    )
    year, month = kd.now_month()
    docs = [
        kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(4000, "vm"), year, month),
        kd.call_recording(account_id, kd.fake_mp3(9000, "rec"), year, month),
        kd.inbound_fax(account_id, fk.tiff(pages=1), year, month),
    ]
    expected = {_key(modb, doc): _data(doc) for doc in docs}
    for doc in docs:
        stored = kd.write_as_kazoo(couch, modb, doc)
        assert stored["pvt_type"] and stored["_attachments"]  # CouchDB kept the doc's fields
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    client = s3_client(s3_server.url)
    for key, data in expected.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key


def test_an_attachment_couchdb_keeps_compressed_is_uploaded_as_kazoo_serves_it_and_stays_synced(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    """CouchDB gzips text/* (attachments.compressible_types) and its digest is of the gzip bytes;
    the object holds the bytes Kazoo serves, verified, and a second pass finds nothing to do."""
    account_id, modb = account
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    body = b"<html><body>" + b"a transcript of the message, " * 3000 + b"</body></html>"
    doc = kd.mailbox_message(account_id, kd.new_id(), body, *kd.now_month(), att_name="transcript.html")
    doc["_attachments"] = kd.inline("transcript.html", body, "text/html")
    stored = kd.write_as_kazoo(couch, modb, doc)
    if couch_server.kind == "couchdb":  # the real server compressed it: its digest is not the bytes' MD5
        assert stored["_attachments"]["transcript.html"]["digest"] != kd.couch_digest(body)
    config = write_config(tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,))
    first = run_syncd(config, "run", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    key = _key(modb, doc)
    assert s3_client(s3_server.url).get_object(Bucket=bucket, Key=key)["Body"].read() == body
    again = run_syncd(config, "run", "--once")
    assert again.returncode == 0 and "upload failed" not in again.stderr, again.stderr
    status = json.loads(run_syncd(config, "status", "--json").stdout)
    assert sum(f["failed"] for f in status["flows"]) == 0 and sum(f["synced"] for f in status["flows"]) == 1


def _new_month_arrives(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    discovery_interval: float,
) -> float:
    """A followed account without this month's MODB; the daemon runs; Kazoo creates the MODB (a
    new month) and writes a voicemail into it. Returns the seconds it took to arrive."""
    account_id = kd.new_id()
    modb = kd.seed_account(couch, account_id, with_modb=False)
    couch.save("system_data", kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port))
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, accounts=(account_id,), extra='[two_way]\nreconcile_cron = ""\n'
    )
    config.write_text(config.read_text().replace("[kazoo]\n", f"[kazoo]\ndiscovery_interval = {discovery_interval}\n"))
    with daemon(config):
        time.sleep(2)  # up, with the account DB followed and /_db_updates (if any) long-polling
        couch.create_db(modb)
        voicemail = kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(3000, "new month"), *kd.now_month())
        key = _key(modb, voicemail)
        started = time.monotonic()
        kd.write_as_kazoo(couch, modb, voicemail)
        client = s3_client(s3_server.url)
        took = wait_for(
            lambda: client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"),
            60,
            "the voicemail in the new month's database",
        )
        assert took <= time.monotonic() - started
    return took


@pytest.mark.only_on("couchdb", reason="pouchdb-server does not answer /_db_updates")
def test_a_new_months_database_is_found_through_db_updates(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, s3_server: S3Server, bucket: str
) -> None:
    # discovery every 5 minutes: only /_db_updates can find the new database within the test
    took = _new_month_arrives(tmp_path, couch, couch_server, s3_server, bucket, discovery_interval=300)
    assert took < 10, took


@pytest.mark.only_on("pouchdb", reason="real CouchDB answers /_db_updates, so the fallback is not used there")
def test_without_db_updates_the_current_month_check_finds_a_new_database(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    took = _new_month_arrives(tmp_path, couch, couch_server, s3_server, bucket, discovery_interval=1)
    assert took < 20, took
    assert "CouchDB does not answer /_db_updates" in capsys.readouterr().err
