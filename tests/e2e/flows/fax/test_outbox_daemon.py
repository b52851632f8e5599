"""Fax outbox, end to end: PDFs dropped into a local folder, an S3 prefix and a
Drive folder become Kazoo fax jobs in `faxes`; when Kazoo's worker ends a job
the file is filed in sent/ or failed/ with a status JSON; bad files go to
rejected/ with the reason and nothing is sent. Real pouchdb-server, moto and
the Drive test server; the daemon runs as a process."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from syncd.kazoo.couch import CouchClient
from syncd.kazoo.doc_checks import problems
from tests.conftest import run_syncd, write_config
from tests.support import fax_kazoo as fk
from tests.support.daemons import daemon, wait_for
from tests.support.servers import CouchServer
from tests.support.shares import Share, drive_share, local_share, s3_share

pytestmark = [pytest.mark.couchdb, pytest.mark.slow]

SENDER = "+14155550199"
TO = "+14155550100"


def outbox_config(tmp_path: Path, couch_url: str, account_id: str, share: Share, more: str = "") -> Path:
    return write_config(
        tmp_path / "c.toml",
        couch_url,
        accounts=(account_id,),
        extra=(
            f"[backends.office]\n{share.backend_toml}\n[fax]\npoll_interval = 0.3\n\n"
            f'[[fax.outbox]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
            f'from_number = "{SENDER}"\nfrom_name = "Acme Front Desk"\nsettle_seconds = 0.5\nmax_size_mb = 1\n'
            f'{more}\n[two_way]\nreconcile_cron = ""\n'
        ),
    )


def status_of(share: Share, key: str) -> dict[str, Any] | None:
    data = share.read(key + ".json")
    return None if data is None else json.loads(data)


@pytest.fixture
def faxes_db(couch: CouchClient) -> None:
    couch.create_db(fk.FAXES)


Office = tuple[str, Share, Path]


@pytest.fixture
def office(tmp_path: Path, couch_server: CouchServer, faxes_db: None, account: tuple[str, str]) -> Office:
    """An account with a local-folder outbox: (account id, the share, syncd's config)."""
    share = local_share(tmp_path)
    return account[0], share, outbox_config(tmp_path, couch_server.auth_url, account[0], share)


@pytest.mark.parametrize("outcome", ["sent", "failed"])
@pytest.mark.parametrize("kind", ["local", "s3", "drive"])
def test_a_pdf_dropped_in_the_outbox_is_faxed_once_and_filed_in_sent_or_failed(
    kind: str,
    outcome: str,
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    faxes_db: None,
    account: tuple[str, str],
    request: pytest.FixtureRequest,
) -> None:
    account_id, _ = account
    share = {
        "local": lambda: local_share(tmp_path),
        "s3": lambda: s3_share(request.getfixturevalue("s3_server"), request.getfixturevalue("bucket")),
        "drive": lambda: drive_share(request.getfixturevalue("drive_server")),
    }[kind]()
    config = outbox_config(tmp_path, couch_server.auth_url, account_id, share)
    document = fk.pdf(pages=3, seed=kind)
    share.put(f"fax/outbox/{TO} - Acme Legal.pdf", document)
    with daemon(config):
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the fax job in Kazoo")
        (job,) = fk.jobs(couch, account_id)
        assert job["pvt_type"] == "fax" and job["pvt_job_status"] == "pending"
        assert (job["to_number"], job["to_name"], job["from_number"], job["from_name"]) == (
            TO,
            "Acme Legal",
            SENDER,
            "Acme Front Desk",
        )
        assert (job["pvt_account_id"], job["pvt_pages"], job["pvt_size"]) == (account_id, 3, len(document))
        assert (job["retries"], job["attempts"]) == (1, 0)
        attachment = job["_attachments"]["original_file.pdf"]
        assert attachment["content_type"] == "application/pdf"
        assert attachment["digest"] == "md5-" + base64.b64encode(hashlib.md5(document).digest()).decode()
        # failed: read while still in faxes; sent: after Kazoo moved it to the MODB (both happen in Kazoo)
        fk.end_job(couch, couch_server.auth_url, job["_id"], success=outcome == "sent", pages=3, move=outcome == "sent")
        filed = f"fax/{outcome}/{TO} - Acme Legal.pdf"
        wait_for(lambda: status_of(share, filed), 30, f"the file filed in {outcome}/")
    assert share.read(filed) == document
    assert not any(k.startswith("fax/outbox/") and not k.endswith("/") for k in share.keys())
    status = status_of(share, filed)
    assert status is not None
    assert (status["status"], status["job_id"], status["to_number"]) == (outcome, job["_id"], TO)
    assert status["attempts"] == 1 and status["moved_to"] == filed
    expected = ("OK", 3, 3) if outcome == "sent" else ("The call dropped prematurely", 3, 0)
    assert (status["result_text"], status["pages"], status["pages_sent"]) == expected
    assert len(fk.jobs(couch, account_id)) == 1


def test_a_failed_fax_is_filed_in_failed_with_kazoos_reason(
    couch: CouchClient, couch_server: CouchServer, office: Office
) -> None:
    account_id, share, config = office
    share.put(f"fax/outbox/{TO}/offer.pdf", fk.pdf(seed="failed"))  # recipient from the folder's name
    with daemon(config):
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the fax job in Kazoo")
        (job,) = fk.jobs(couch, account_id)
        assert job["to_number"] == TO and "to_name" not in job
        fk.end_job(couch, couch_server.auth_url, job["_id"], success=False)
        wait_for(lambda: status_of(share, f"fax/failed/{TO}/offer.pdf"), 30, "the file filed in failed/")
    status = status_of(share, f"fax/failed/{TO}/offer.pdf")
    assert status is not None and status["status"] == "failed"
    assert status["result_text"] == "The call dropped prematurely" and status["result_code"] == 49
    assert share.keys() == {f"fax/failed/{TO}/offer.pdf", f"fax/failed/{TO}/offer.pdf.json"}
    shown = json.loads(run_syncd(config, "status", "--json").stdout)
    assert shown["fax_outboxes"] == [{"outbox": "office", "status": "failed (filed)", "count": 1}]
    checked = run_syncd(config, "check")
    assert checked.returncode == 0 and "ok    fax outbox office" in checked.stdout, checked.stdout


def test_bad_files_are_rejected_with_the_reason_and_nothing_is_sent(
    couch: CouchClient, couch_server: CouchServer, office: Office
) -> None:
    account_id, share, config = office
    bad = {
        f"{TO} - letter.pdf": (b"PK\x03\x04 a word document, renamed", "not a PDF"),
        f"{TO} - empty.pdf": (b"", "empty"),
        f"{TO} - huge.pdf": (fk.pdf(seed="huge") + b"%" * (1024 * 1024), "more than this outbox accepts"),
        "+1 555 12 - wrong number.pdf": (fk.pdf(seed="bad number"), "not a valid phone number"),
        "contract.pdf": (fk.pdf(seed="nobody"), "no recipient"),
        f"{TO} - broken.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "damaged"),
    }
    for name, (data, _) in bad.items():
        share.put(f"fax/outbox/{name}", data)
    with daemon(config):
        wait_for(lambda: all(status_of(share, f"fax/rejected/{n}") for n in bad), 30, "every bad file rejected")
    for name, (data, reason) in bad.items():
        status = status_of(share, f"fax/rejected/{name}")
        assert status is not None and status["status"] == "rejected", name
        assert reason in status["error"], (name, status["error"])
        assert share.read(f"fax/rejected/{name}") == data, name
    assert not [k for k in share.keys() if k.startswith("fax/outbox/")]
    assert fk.jobs(couch, account_id) == []


def state_sql(config: Path, sql: str, *args: Any) -> None:
    with sqlite3.connect(config.parent / "state.sqlite3") as db:
        db.execute(sql, args)


def test_the_same_file_version_dropped_again_is_one_job(
    couch: CouchClient, couch_server: CouchServer, office: Office
) -> None:
    account_id, share, config = office
    document, key = fk.pdf(seed="twice"), f"fax/outbox/{TO} - twice.pdf"
    share.put(key, document)
    with daemon(config):
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the fax job in Kazoo")
        share.put(key, document)  # dropped again while the job runs: a new file, the same version
        time.sleep(3)  # ten passes and more
        (job,) = fk.jobs(couch, account_id)
        fk.end_job(couch, couch_server.auth_url, job["_id"], success=True)
        wait_for(lambda: status_of(share, f"fax/sent/{TO} - twice.pdf"), 30, "the file filed in sent/")
        share.put(key, document)  # and once more after it was sent: refused, with the reason
        wait_for(lambda: status_of(share, f"fax/rejected/{TO} - twice.pdf"), 30, "the third drop rejected")
    status = status_of(share, f"fax/rejected/{TO} - twice.pdf")
    assert status is not None and f"already handled as fax job {job['_id']} (sent)" in status["error"]
    assert len(fk.jobs(couch, account_id)) == 1


def test_sigkill_right_after_the_job_is_written_then_restart_sends_once(
    couch: CouchClient, couch_server: CouchServer, office: Office
) -> None:
    account_id, share, config = office
    share.put(f"fax/outbox/{TO} - killed.pdf", fk.pdf(seed="killed"))
    with daemon(config) as proc:
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the fax job in Kazoo")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.returncode = 0  # killed on purpose; the context's clean-exit check is for the next run
    # Whatever instant the kill hit, a row left "submitting" is the worst case: the job was
    # written, the state not yet told. Make it so, then restart.
    state_sql(config, "UPDATE fax_jobs SET status = 'submitting'")
    with daemon(config):
        wait_for(lambda: _state_status(config) == "submitted", 30, "the restarted syncd to find the job in Kazoo")
        (job,) = fk.jobs(couch, account_id)
        fk.end_job(couch, couch_server.auth_url, job["_id"], success=True)
        wait_for(lambda: status_of(share, f"fax/sent/{TO} - killed.pdf"), 30, "the file filed in sent/")
    assert len(fk.jobs(couch, account_id)) == 1


def _state_status(config: Path) -> str | None:
    with sqlite3.connect(f"file:{config.parent / 'state.sqlite3'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT status FROM fax_jobs").fetchone()
    return None if row is None else str(row[0])


def test_a_job_interrupted_before_kazoo_got_it_is_sent_after_restart_and_one_kazoo_ended_is_never_resent(
    couch: CouchClient, couch_server: CouchServer, office: Office
) -> None:
    from syncd.backends.local import LocalBackend
    from syncd.model.fax import SUBMITTING, FaxJob, job_id
    from syncd.state import State

    account_id, share, config = office
    key, document = f"fax/outbox/{TO} - interrupted.pdf", fk.pdf(pages=2, seed="interrupted")
    share.put(key, document)
    # What a kill between recording the job and writing it to Kazoo leaves behind.
    fingerprint = "md5:" + hashlib.md5(document).hexdigest()
    etag = LocalBackend(str(config.parent / "share")).stat(key).etag
    state = State(str(config.parent / "state.sqlite3"))
    state.fax.record(
        FaxJob(
            job_id("office", key, fingerprint),
            "office",
            account_id,
            key,
            etag,
            fingerprint,
            len(document),
            TO,
            SUBMITTING,
            {"to_name": "interrupted", "pages": 2},
            time.time(),
        )
    )
    state.close()
    with daemon(config):
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the job sent after the restart")
        (job,) = fk.jobs(couch, account_id)
        assert (job["to_number"], job["pvt_pages"]) == (TO, 2)
        fk.end_job(couch, couch_server.auth_url, job["_id"], success=True)
        wait_for(lambda: status_of(share, f"fax/sent/{TO} - interrupted.pdf"), 30, "the file filed in sent/")
    # Kazoo moved the ended job to the MODB and deleted it from faxes, where a new
    # document with that id could be written again. A syncd that believes the job
    # never got there must find it in the MODB and not send it again.
    share.put(key, document)
    state_sql(config, "UPDATE fax_jobs SET status = 'submitting', filed_at = NULL")
    with daemon(config):
        wait_for(lambda: _state_status(config) == "completed", 30, "the job found ended in the MODB")
    assert len(fk.jobs(couch, account_id)) == 1
    assert couch.get(fk.FAXES, job["_id"]) is None


def test_a_file_replaced_after_its_job_started_is_never_deleted_and_is_faxed_as_a_new_version(
    couch: CouchClient, couch_server: CouchServer, office: Office
) -> None:
    account_id, share, config = office
    key, first, second = f"fax/outbox/{TO} - quote.pdf", fk.pdf(seed="v1"), fk.pdf(pages=2, seed="v2")
    share.put(key, first)
    with daemon(config):
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the first version's job")
        share.put(key, second)  # a person saves a corrected quote over it
        wait_for(lambda: len(fk.jobs(couch, account_id)) == 2, 30, "the second version's job")
        one = next(j for j in fk.jobs(couch, account_id) if j["pvt_pages"] == 1)
        fk.end_job(couch, couch_server.auth_url, one["_id"], success=True)
        wait_for(lambda: status_of(share, f"fax/sent/{TO} - quote.pdf"), 30, "the first job's status filed")
        assert share.read(key) == second  # the new version was not moved, and not deleted
        status = status_of(share, f"fax/sent/{TO} - quote.pdf")
        assert status is not None and status["moved_to"] is None and "replaced" in status["note"]
        two = next(j for j in fk.jobs(couch, account_id) if j.get("pvt_pages") == 2)
        fk.end_job(couch, couch_server.auth_url, two["_id"], success=True, pages=2)
        wait_for(lambda: share.read(f"fax/sent/{TO} - quote.pdf") == second, 30, "the second version filed")
    assert share.read(key) is None and len(fk.jobs(couch, account_id)) == 2


def faxbox_config(tmp_path: Path, couch_server: CouchServer, account_id: str, share: Share, faxbox: str) -> Path:
    """One outbox in a local share whose sender is faxbox."""
    return write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=(
            f"[backends.office]\n{share.backend_toml}\n[fax]\npoll_interval = 0.3\n\n"
            f'[[fax.outbox]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
            f'faxbox_id = "{faxbox}"\nsettle_seconds = 0\n'
        ),
    )


def test_a_faxbox_gives_the_sender_and_a_missing_one_holds_files_without_rejecting_them(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, faxes_db: None, account: tuple[str, str]
) -> None:
    from syncd.kazoo import dbnames
    from tests.support import kazoo_data as kd

    account_id, _ = account
    share = local_share(tmp_path)
    faxbox = kd.new_id()
    config = faxbox_config(tmp_path, couch_server, account_id, share, faxbox)
    share.put(f"fax/outbox/{TO} - boxed.pdf", fk.pdf(seed="faxbox"))
    with daemon(config):
        time.sleep(2)
        assert fk.jobs(couch, account_id) == [] and share.read(f"fax/outbox/{TO} - boxed.pdf") is not None
        couch.save(
            dbnames.account_db(account_id),
            {
                "_id": faxbox,
                "pvt_type": "faxbox",
                "name": "Front desk",
                "caller_id": SENDER,
                "caller_name": "Acme",
                "fax_header": "ACME CORP",
                "fax_identity": SENDER,
                "retries": 3,
            },
        )
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the job once the faxbox exists")
    (job,) = fk.jobs(couch, account_id)
    assert (job["faxbox_id"], job["from_number"], job["from_name"], job["fax_identity_name"], job["retries"]) == (
        faxbox,
        SENDER,
        "Acme",
        "ACME CORP",
        3,
    )
    assert problems("fax", job, "4.3") == problems("fax", job, "master") == []  # Kazoo's faxes.json


def test_a_job_kazoos_schema_would_refuse_is_rejected_naming_the_rule_and_never_written(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, faxes_db: None, account: tuple[str, str]
) -> None:
    from syncd.kazoo import dbnames
    from tests.support import kazoo_data as kd

    account_id, _ = account
    share = local_share(tmp_path)
    faxbox = kd.new_id()
    box = {"_id": faxbox, "pvt_type": "faxbox", "caller_id": SENDER, "retries": 9}  # faxes.json: 0..4
    couch.save(dbnames.account_db(account_id), box)
    config = faxbox_config(tmp_path, couch_server, account_id, share, faxbox)
    share.put(f"fax/outbox/{TO} - too many.pdf", fk.pdf(seed="schema"))
    with daemon(config):
        wait_for(lambda: status_of(share, f"fax/rejected/{TO} - too many.pdf"), 30, "the rejection")
    status = status_of(share, f"fax/rejected/{TO} - too many.pdf")
    assert status is not None and "would fail Kazoo 4.3's schema at retries: maximum 4 (found 9)" in status["error"]
    assert fk.jobs(couch, account_id) == []


def test_file_events_wake_the_outbox_and_a_burst_of_them_is_still_one_job(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, faxes_db: None, account: tuple[str, str]
) -> None:
    account_id, _ = account
    share = local_share(tmp_path)
    share.backend_toml = share.backend_toml.replace('watch = "off"', 'watch = "inotify"')
    config = outbox_config(tmp_path, couch_server.auth_url, account_id, share).read_text()
    config_path = tmp_path / "c.toml"
    config_path.write_text(
        config.replace("poll_interval = 0.3\n\n[[fax.outbox]]", "poll_interval = 120\n\n[[fax.outbox]]")
    )
    document = fk.pdf(seed="events")
    with daemon(config_path):
        time.sleep(2)  # the first pass at start is over; from now on only events come before 120 s
        for _ in range(5):  # a copier that writes the file, then writes it again: many events, one version
            share.put(f"fax/outbox/{TO} - events.pdf", document)
            time.sleep(0.1)
        took = wait_for(lambda: fk.jobs(couch, account_id), 15, "the job, woken by file events")
        time.sleep(1.5)
    assert took < 15 and len(fk.jobs(couch, account_id)) == 1


def test_run_once_faxes_a_pdf_still_for_longer_than_settle_seconds_and_waits_for_a_fresh_one(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, faxes_db: None, account: tuple[str, str]
) -> None:
    account_id, _ = account
    share = local_share(tmp_path)
    config = outbox_config(tmp_path, couch_server.auth_url, account_id, share)
    config.write_text(config.read_text().replace("settle_seconds = 0.5", "settle_seconds = 300"))
    share.put(f"fax/outbox/{TO} - old.pdf", fk.pdf(seed="old"))
    hours_ago = time.time() - 2 * 3600
    os.utime(tmp_path / "share" / f"fax/outbox/{TO} - old.pdf", (hours_ago, hours_ago))  # still for two hours
    share.put(f"fax/outbox/{TO} - fresh.pdf", fk.pdf(seed="fresh"))
    done = run_syncd(config, "run", "--once")  # a scheduled run: no earlier sighting in this process
    assert done.returncode == 0, done.stdout + done.stderr
    (job,) = fk.jobs(couch, account_id)
    assert share.read(f"fax/outbox/{TO} - fresh.pdf") is not None  # not taken: it may still be copied in
