"""Reading a fax job's state from CouchDB as Kazoo's fax worker leaves it (real pouchdb-server)."""

from __future__ import annotations

import time

import pytest

from syncd.flows.fax.kazoo import FAXES_DB, KazooFaxQueue
from syncd.kazoo.couch import CouchClient
from tests.support import kazoo_data as kd

pytestmark = [pytest.mark.couchdb]


def test_a_job_queued_for_a_retry_is_still_running_whatever_its_last_attempt_said(
    couch: CouchClient, account: tuple[str, str]
) -> None:
    account_id, _ = account
    couch.create_db(FAXES_DB)
    job = kd.new_id()
    couch.save(
        FAXES_DB,
        {
            "_id": job,
            "pvt_type": "fax",
            "pvt_job_status": "pending",
            "pvt_account_id": account_id,
            "attempts": 1,
            "retries": 3,
            "tx_result": {"success": False, "result_text": "busy"},
        },
    )
    result = KazooFaxQueue(couch).result(job, account_id, time.time())
    assert result is not None and not result.ended and result.status == "pending"
