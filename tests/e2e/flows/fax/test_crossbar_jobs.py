"""Fax jobs created through Crossbar (submit_via = "crossbar"): multipart JSON + PDF
through the faxbox, Kazoo's own job id followed to the end, Kazoo's refusal
filed as a rejection, and a job whose answer was lost in a crash found again
by syncd_job_id instead of being sent twice. A Crossbar stand-in over the real
pouchdb-server (tests/support/crossbar_faxes.py); the daemon runs as a process."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from syncd.backends.local import LocalBackend
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.doc_checks import problems
from syncd.model.fax import SUBMITTING, FaxJob, job_id
from syncd.state import State
from tests.conftest import write_config
from tests.e2e.flows.fax.test_outbox_daemon import SENDER, TO, local_share, status_of
from tests.support import fax_kazoo as fk
from tests.support import kazoo_data as kd
from tests.support.crossbar_faxes import API_KEY, CrossbarFaxes, crossbar_faxes
from tests.support.daemons import daemon, wait_for
from tests.support.servers import CouchServer

pytestmark = [pytest.mark.couchdb, pytest.mark.slow]


def setup(tmp_path: Path, couch: CouchClient, couch_url: str, account_id: str, crossbar_url: str):  # noqa: ANN201
    couch.create_db(fk.FAXES)
    faxbox = kd.new_id()
    couch.save(
        dbnames.account_db(account_id),
        {
            "_id": faxbox,
            "pvt_type": "faxbox",
            "caller_id": SENDER,
            "caller_name": "Acme",
            "fax_header": "ACME",
            "retries": 2,
        },
    )
    share = local_share(tmp_path)
    config = write_config(
        tmp_path / "c.toml",
        couch_url,
        accounts=(account_id,),
        extra=(
            f"[backends.office]\n{share.backend_toml}\n"
            f'[fax]\npoll_interval = 0.3\nsubmit_via = "crossbar"\n\n'
            f'[[fax.outbox]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
            f'faxbox_id = "{faxbox}"\nsettle_seconds = 0\n\n'
            f'[two_way]\nreconcile_cron = ""\n\n[kazoo.crossbar]\nurl = "{crossbar_url}"\napi_key = "{API_KEY}"\n'
        ),
    )
    return share, config, faxbox


def puts(api: CrossbarFaxes) -> list[str]:
    return [c for c in api.calls if c.startswith("PUT") and c.endswith("/faxes")]


def test_a_pdf_is_sent_through_the_faxbox_and_followed_by_kazoos_id(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, _ = account
    with crossbar_faxes(couch) as (url, api):
        share, config, faxbox = setup(tmp_path, couch, couch_server.auth_url, account_id, url)
        document = fk.pdf(pages=2, seed="crossbar")
        share.put(f"fax/outbox/{TO} - Acme Legal.pdf", document)
        with daemon(config):
            wait_for(lambda: fk.jobs(couch, account_id), 30, "the job created through Crossbar")
            (job,) = fk.jobs(couch, account_id)
            fk.end_job(couch, couch_server.auth_url, job["_id"], success=True, pages=2)
            wait_for(lambda: status_of(share, f"fax/sent/{TO} - Acme Legal.pdf"), 30, "the file filed in sent/")
    assert puts(api) == [f"PUT v2/accounts/{account_id}/faxboxes/{faxbox}/faxes"]
    assert (job["to_number"], job["from_number"], job["from_name"], job["faxbox_id"]) == (TO, SENDER, "Acme", faxbox)
    assert job["syncd_job_id"] != job["_id"]  # Kazoo chose its own id; syncd's travels with the job
    assert job["_attachments"]["original_file.pdf"]["length"] == len(document)
    assert problems("fax", job, "4.3") == problems("fax", job, "master") == []  # Kazoo's faxes.json
    status = status_of(share, f"fax/sent/{TO} - Acme Legal.pdf")
    assert status is not None and status["job_id"] == job["syncd_job_id"] and job["_id"] in status["kazoo_doc"]


def test_a_fax_kazoo_refuses_is_rejected_with_kazoos_reason(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, _ = account
    with crossbar_faxes(couch) as (url, api):
        share, config, _ = setup(tmp_path, couch, couch_server.auth_url, account_id, url)
        api.refuse.add("+14155550123")
        share.put("fax/outbox/+14155550123 - blocked.pdf", fk.pdf(seed="refused"))
        with daemon(config):
            wait_for(lambda: status_of(share, "fax/rejected/+14155550123 - blocked.pdf"), 30, "the rejection")
    status = status_of(share, "fax/rejected/+14155550123 - blocked.pdf")
    assert status is not None and "Kazoo refused it: HTTP 400 validation error" in status["error"]
    assert fk.jobs(couch, account_id) == [] and len(puts(api)) == 1


@pytest.mark.parametrize("reached_kazoo", [True, False])
def test_a_job_whose_answer_was_lost_in_a_crash_is_found_by_syncd_job_id_not_sent_twice(
    reached_kazoo: bool, tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, _ = account
    with crossbar_faxes(couch) as (url, api):
        share, config, faxbox = setup(tmp_path, couch, couch_server.auth_url, account_id, url)
        key, document = f"fax/outbox/{TO} - lost.pdf", fk.pdf(seed=f"lost {reached_kazoo}")
        share.put(key, document)
        fingerprint = "md5:" + hashlib.md5(document).hexdigest()
        ours = job_id("office", key, fingerprint)
        etag = LocalBackend(str(tmp_path / "share")).stat(key).etag
        state = State(str(config.parent / "state.sqlite3"))  # what a kill during the PUT leaves behind
        state.fax.record(
            FaxJob(
                ours,
                "office",
                account_id,
                key,
                etag,
                fingerprint,
                len(document),
                TO,
                SUBMITTING,
                {"to_name": "lost", "pages": 1},
                time.time(),
            )
        )
        state.close()
        if reached_kazoo:  # Kazoo created the job; the answer never came back
            body = (
                b'--b\r\nContent-Type: application/json\r\n\r\n{"data": {"to_number": "'
                + TO.encode()
                + b'", "syncd_job_id": "'
                + ours.encode()
                + b'"}}\r\n--b\r\nContent-Type: application/pdf\r\n\r\n'
                + document
                + b"\r\n--b--\r\n"
            )
            assert api.create(account_id, faxbox, "multipart/mixed; boundary=b", body)[0] == 202
        with daemon(config):
            wait_for(lambda: fk.jobs(couch, account_id), 30, "the job in Kazoo")
            (job,) = fk.jobs(couch, account_id)
            fk.end_job(couch, couch_server.auth_url, job["_id"], success=True)
            wait_for(lambda: status_of(share, f"fax/sent/{TO} - lost.pdf"), 30, "the file filed in sent/")
    assert len(fk.jobs(couch, account_id)) == 1 and job["syncd_job_id"] == ours
    assert len(puts(api)) == (0 if reached_kazoo else 1)
