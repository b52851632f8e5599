"""End to end with a running daemon: one tenant's broken storage doc, a damaged
PDF and a FIFO in an outbox. Another account's voicemails and faxes still
arrive while they sit there, every thread stays up, and `syncd status` names
each problem."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.naming import object_name
from tests.conftest import run_syncd, s3_client, write_config
from tests.support import fax_kazoo as fk
from tests.support import kazoo_data as kd
from tests.support.daemons import daemon, wait_for
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3, pytest.mark.slow]
TO = "+14155550100"


def _objects(s3_server: S3Server, bucket: str) -> set[str]:
    return {o["Key"] for o in s3_client(s3_server.url).list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_a_tenants_bad_doc_and_a_damaged_pdf_harm_no_one_else(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, s3_server: S3Server, bucket: str
) -> None:
    couch.create_db(fk.FAXES)
    good, good_modb = (good_id := kd.new_id()), kd.seed_account(couch, good_id)
    bad, bad_modb = (bad_id := kd.new_id()), kd.seed_account(couch, bad_id)
    couch.save("system_data", kd.s3_storage_doc(good, kd.new_id(), bucket=bucket, port=s3_server.port))
    broken = kd.s3_storage_doc(bad, kd.new_id(), bucket=bucket, port=s3_server.port, settings={"region": "us east 1"})
    couch.save("system_data", broken)
    couch.save(bad_modb, kd.mailbox_message(bad, kd.new_id(), b"tenant audio", *kd.now_month()))
    root = tmp_path / "share"
    outbox = root / "fax" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / f"{TO} - damaged.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 5 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    os.mkfifo(outbox / f"{TO} - pipe.pdf")
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(good, bad),
        extra=(
            f'[backends.office]\ntype = "local"\npath = "{root}"\nwatch = "inotify"\n\n[fax]\npoll_interval = 0.3\n\n'
            f'[[fax.outbox]]\nname = "office"\naccount = "{good}"\nbackend = "office"\nfolder = "fax/outbox"\n'
            f'from_number = "+14155550199"\nsettle_seconds = 0.3\n\n[two_way]\nreconcile_cron = ""\n'
        ),
    )
    with daemon(config):
        rejected = root / "fax" / "rejected"
        wait_for(
            lambda: (rejected / f"{TO} - damaged.pdf.json").exists() and (rejected / f"{TO} - pipe.pdf.json").exists(),
            30,
            "both bad entries rejected",
        )
        # the same daemon goes on: new voicemails and a new fax for the good account arrive
        voicemails = [
            kd.mailbox_message(good, kd.new_id(), kd.fake_mp3(1500, str(i)), *kd.now_month()) for i in range(3)
        ]
        for doc in voicemails:
            couch.save(good_modb, doc)
        (outbox / f"{TO} - contract.pdf").write_bytes(fk.pdf(pages=2, seed=good))
        keys = {object_name("s3", {}, good_modb, doc, next(iter(doc["_attachments"]))) for doc in voicemails}
        wait_for(lambda: keys <= _objects(s3_server, bucket), 30, "the good account's voicemails in S3")
        wait_for(lambda: [j["to_number"] for j in fk.jobs(couch, good)] == [TO], 30, "the good fax job")
        status = run_syncd(config, "status", "--json")
    problems = json.loads(status.stdout)["problems"]
    assert "settings.region: 'us east 1' is not an AWS region" in problems[f"account:{bad}"], problems
    damaged = json.loads((rejected / f"{TO} - damaged.pdf.json").read_bytes())
    assert "the PDF is damaged" in damaged["error"]
    assert "this is a FIFO, not a file" in json.loads((rejected / f"{TO} - pipe.pdf.json").read_bytes())["error"]
    assert not any(k.startswith(dbnames.account_db(bad, encoded=True)) for k in _objects(s3_server, bucket))
    assert (outbox / f"{TO} - pipe.pdf").exists()  # a FIFO is never moved or read
