"""The suite on a CouchDB it does not own (SYNCD_TEST_COUCHDB=<URL>): at the end of a
session exactly what that session wrote is removed, and nothing of anyone else's."""

from __future__ import annotations

import secrets

import pytest

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, ExistingCouchServer


def _seed(couch: CouchClient, account_id: str) -> list[str]:
    """An account with a MODB, a storage doc and a fax job: (account db, modb)."""
    modb = kd.seed_account(couch, account_id)
    couch.save("system_data", kd.s3_storage_doc(account_id, account_id, bucket="b", port=1))
    couch.create_db("faxes")
    couch.save("faxes", {"_id": secrets.token_hex(16), "pvt_type": "fax", "pvt_account_id": account_id})
    return [dbnames.account_db(account_id), modb]


def _present(couch: CouchClient, account_id: str, dbs: list[str]) -> list[bool]:
    docs = [
        couch.get("accounts", account_id),
        couch.get("system_data", account_id),
        [d for d in couch.all_docs("faxes") if d.get("pvt_account_id") == account_id] or None,
    ]
    return [couch.db_exists(db) for db in dbs] + [doc is not None for doc in docs]


def test_a_session_removes_what_it_wrote_and_nothing_else(couch_server: CouchServer, couch: CouchClient) -> None:
    session = secrets.token_hex(3)
    ours, theirs = session + secrets.token_hex(13), secrets.token_hex(16)
    while theirs.startswith(session):
        theirs = secrets.token_hex(16)
    our_dbs, their_dbs = _seed(couch, ours), _seed(couch, theirs)
    try:
        other_session = ExistingCouchServer(couch_server.auth_url, session)
        assert sorted(n.replace("/", "") for n in other_session.owned_databases()) == sorted(
            n.replace("/", "") for n in our_dbs
        )
        other_session.stop()
        assert _present(couch, ours, our_dbs) == [False] * 5
        assert _present(couch, theirs, their_dbs) == [True] * 5
    finally:
        cleaner = ExistingCouchServer(couch_server.auth_url, session)  # the stand-in for someone else's data goes too
        cleaner.remove(their_dbs, lambda doc: theirs in (doc["_id"], doc.get("pvt_account_id")))


def test_a_url_that_is_not_a_couchdb_is_refused_by_name() -> None:
    with pytest.raises(RuntimeError, match="SYNCD_TEST_COUCHDB='ftp://example' is neither"):
        ExistingCouchServer("ftp://example", kd.SESSION)
