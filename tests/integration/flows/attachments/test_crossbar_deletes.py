"""Deleting through Crossbar: API-key auth, the message DELETE, and the revision check before it.

The Crossbar side is a small test server on 127.0.0.1 that does what cb_vmboxes does for a
DELETE (the soft delete of docs/kazoo.md §4.5) against the real pouchdb-server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from syncd.kazoo.couch import CouchClient
from syncd.kazoo.crossbar import Crossbar
from syncd.kazoo.deletes import KazooDeleter, soft_deleted
from syncd.state import State
from tests.support import kazoo_data as kd
from tests.support.crossbar_faxes import JsonHandler

pytestmark = [pytest.mark.couchdb]
API_KEY = "k" * 64


@pytest.fixture
def crossbar(couch: CouchClient) -> Iterator[tuple[str, list[str]]]:
    calls: list[str] = []

    class Handler(JsonHandler):
        def do_PUT(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append(f"PUT {self.path}")
            if self.path == "/v2/api_auth" and body["data"]["api_key"] == API_KEY:
                return self._answer(201, {"auth_token": "token-1", "data": {}})
            return self._answer(401, {"error": "401", "message": "invalid credentials"})

        def do_DELETE(self) -> None:  # noqa: N802
            calls.append(f"DELETE {self.path} token={self.headers.get('X-Auth-Token')}")
            if self.headers.get("X-Auth-Token") != "token-1":
                return self._answer(401, {"error": "401"})
            parts = self.path.split("/")  # /v2/accounts/A/vmboxes/B/messages/M
            account_id, message_id = parts[3], parts[7]
            year, month = int(message_id[:4]), int(message_id[4:6])
            modb = f"account/{account_id[:2]}/{account_id[2:4]}/{account_id[4:]}-{year:04d}{month:02d}"
            couch.save(modb, soft_deleted(couch.get(modb, message_id) or {}))
            return self._answer(200, {"data": {"succeeded": [message_id]}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()


def recorded(couch: CouchClient, modb: str, doc: dict[str, Any]) -> Any:
    from syncd.kazoo.routing import inline_attachments
    from syncd.state import NewItem

    (att,) = inline_attachments(doc)
    state = State(":memory:")
    state.work.record(
        [
            NewItem(
                modb,
                doc["_id"],
                att.name,
                "t",
                "k",
                att.digest,
                att.length,
                att.content_type,
                doc["pvt_account_id"],
                "mailbox_message",
            )
        ]
    )
    (item,) = state.work.items_of_doc(modb, doc["_id"])
    return item


def test_delete_goes_through_crossbar_with_the_api_key(
    couch: CouchClient, account: tuple[str, str], crossbar: tuple[str, list[str]]
) -> None:
    account_id, modb = account
    url, calls = crossbar
    box = kd.new_id()
    doc = kd.mailbox_message(account_id, box, kd.fake_mp3(2000, "cb"), *kd.now_month())
    couch.save(modb, doc)
    doc = couch.get(modb, doc["_id"]) or {}
    deleter = KazooDeleter(couch, Crossbar(url, API_KEY))
    item = recorded(couch, modb, doc)
    result = deleter.apply(item, deleter.inspect(item))
    assert result.ok and "Crossbar" in result.reason
    assert calls == [
        "PUT /v2/api_auth",
        f"DELETE /v2/accounts/{account_id}/vmboxes/{box}/messages/{doc['_id']} token=token-1",
    ]
    after = couch.get(modb, doc["_id"]) or {}
    assert after["pvt_deleted"] is True and after["metadata"]["folder"] == "deleted"


def test_crossbar_is_not_called_when_the_doc_changed_after_planning(
    couch: CouchClient, account: tuple[str, str], crossbar: tuple[str, list[str]]
) -> None:
    account_id, modb = account
    url, calls = crossbar
    doc = kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(2000, "cb2"), *kd.now_month())
    couch.save(modb, doc)
    deleter = KazooDeleter(couch, Crossbar(url, API_KEY))
    item = recorded(couch, modb, couch.get(modb, doc["_id"]) or {})
    check = deleter.inspect(item)
    fresh = couch.get(modb, doc["_id"]) or {}
    fresh["metadata"]["folder"] = "saved"
    couch.save(modb, fresh)
    assert not deleter.apply(item, check).ok
    assert calls == []
    assert not (couch.get(modb, doc["_id"]) or {}).get("pvt_deleted")


def test_a_refused_api_key_is_a_clear_error(
    couch: CouchClient, account: tuple[str, str], crossbar: tuple[str, list[str]]
) -> None:
    from syncd.errors import KazooError

    with pytest.raises(KazooError, match="API key was refused"):
        Crossbar(crossbar[0], "wrong").delete_voicemail(account[0], "box", "msg")
