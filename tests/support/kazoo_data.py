"""Kazoo-shaped test data, built from docs/kazoo.md: account docs, vmbox,
mailbox_message with an mp3, call_recording, inbound fax, media, and storage
docs in system_data. Written through syncd's own CouchClient."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from typing import Any

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient

GREGORIAN = 62167219200


# Every id the tests make starts with this session's token: on a CouchDB the suite
# does not own, what a session wrote is found by it and removed (servers.py).
SESSION = secrets.token_hex(3)


def new_id() -> str:
    return SESSION + secrets.token_hex(13)


def now_month() -> tuple[int, int]:
    today = dt.datetime.now(dt.UTC)
    return today.year, today.month


def gregorian_now() -> int:
    return int(time.time()) + GREGORIAN


def fake_mp3(size: int, seed: str = "") -> bytes:
    """Deterministic bytes that start like an MP3 frame (ID3 header), `size` long."""
    head = b"ID3\x03\x00\x00\x00\x00\x00\x00"
    block = hashlib.sha256(seed.encode()).digest() * 64
    body = (block * (size // len(block) + 1))[: max(0, size - len(head))]
    return (head + body)[:size]


def inline(name: str, data: bytes, content_type: str) -> dict[str, Any]:
    return {name: {"content_type": content_type, "data": base64.b64encode(data).decode()}}


def couch_digest(data: bytes) -> str:
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


def account_doc(account_id: str, name: str = "Test Account") -> dict[str, Any]:
    return {
        "_id": account_id,
        "pvt_type": "account",
        "name": name,
        "realm": f"{account_id[:6]}.sip.test",
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.account_db(account_id, encoded=True),
        "pvt_tree": [],
        "pvt_enabled": True,
        "pvt_created": gregorian_now(),
        "pvt_modified": gregorian_now(),
    }


def vmbox_doc(account_id: str, box_id: str, mailbox: str = "3001") -> dict[str, Any]:
    return {
        "_id": box_id,
        "pvt_type": "vmbox",
        "mailbox": mailbox,
        "name": f"Box {mailbox}",
        "pin": "1234",
        "media_extension": "mp3",
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.account_db(account_id, encoded=True),
    }


def mailbox_message(
    account_id: str, box_id: str, data: bytes, year: int, month: int, att_name: str | None = None
) -> dict[str, Any]:
    doc_id = f"{year:04d}{month:02d}-{new_id()}"
    att_name = att_name or f"{new_id()}.mp3"
    ts = gregorian_now()
    return {
        "_id": doc_id,
        "pvt_type": "mailbox_message",
        "name": f"mailbox 3001 message {year}-{month}-1 9:0:0",
        "description": "voicemail message with media",
        "source_type": "voicemail",
        "source_id": box_id,
        "media_source": "recording",
        "media_filename": att_name,
        "streamable": True,
        "utc_seconds": ts,
        "metadata": {
            "media_id": doc_id,
            "call_id": f"{new_id()}@10.0.0.1",
            "caller_id_name": "Caller",
            "caller_id_number": "+15555550100",
            "folder": "new",
            "from": "1002@test",
            "to": "3001@test",
            "length": 4000,
            "timestamp": ts,
        },
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.modb(account_id, year, month, encoded=True),
        "pvt_created": ts,
        "pvt_modified": ts,
        "_attachments": inline(att_name, data, "audio/mpeg"),
    }


def call_recording(account_id: str, data: bytes, year: int, month: int) -> dict[str, Any]:
    doc_id = f"{year:04d}{month:02d}-{new_id()}"
    name = f"{new_id()}.mp3"
    call_id = new_id()
    return {
        "_id": doc_id,
        "pvt_type": "call_recording",
        "name": name,
        "description": f"recording {name}",
        "content_type": "audio/mpeg",
        "media_type": "mp3",
        "media_source": "recorded",
        "source_type": "kzc_recording",
        "from": "1002@test",
        "to": "+15555550111@test",
        "direction": "outbound",
        "duration": 12,
        "duration_ms": 12000,
        "call_id": call_id,
        "cdr_id": f"{year:04d}{month:02d}-{call_id}",
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.modb(account_id, year, month, encoded=True),
        "pvt_created": gregorian_now(),
        "_attachments": inline(name, data, "audio/mpeg"),
    }


def inbound_fax(account_id: str, data: bytes, year: int, month: int) -> dict[str, Any]:
    fax_id = new_id()
    return {
        "_id": f"{year:04d}{month:02d}-{fax_id}",
        "pvt_type": "fax",
        "folder": "inbox",
        "name": "fax message received at 2026-11-01 09:00:00 UTC",
        "description": "fax document received",
        "source_type": "incoming_fax",
        "to_number": "+15555550123",
        "from_number": "+15555550199",
        "media_type": "tiff",
        "timestamp": gregorian_now(),
        "rx_result": {"success": True, "total_pages": 1},
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.modb(account_id, year, month, encoded=True),
        "_attachments": inline(f"received_file_{fax_id}.tiff", data, "image/tiff"),
    }


def media_doc(account_id: str, data: bytes) -> dict[str, Any]:
    name = f"uploaded_file_{gregorian_now()}.mp3"
    return {
        "_id": new_id(),
        "pvt_type": "media",
        "name": "Hold music",
        "media_source": "upload",
        "streamable": True,
        "content_type": "audio/mpeg",
        "content_length": len(data),
        "description": "hold.mp3",
        "language": "en-us",
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.account_db(account_id, encoded=True),
        "_attachments": inline(name, data, "audio/mpeg"),
    }


def s3_storage_doc(
    account_id: str,
    handler_id: str,
    *,
    bucket: str,
    port: int,
    key: str = "AKIATEST",
    secret: str = "s3-secret",
    modb_types: tuple[str, ...] = ("mailbox_message", "call_recording"),
    account_types: tuple[str, ...] = (),
    settings: dict[str, Any] | None = None,
    stub: bool = False,
) -> dict[str, Any]:
    """An account storage doc (system_data/<account_id>) with one S3 handler on the local server."""
    handler_settings = {
        "bucket": bucket,
        "key": key,
        "secret": secret,
        "host": "127.0.0.1",
        "port": port,
        "scheme": "http",
        "bucket_access_method": "path",
        **(settings or {}),
    }
    att = {"handler": handler_id, **({"stub": True} if stub else {})}
    return {
        "_id": account_id,
        "pvt_type": "storage",
        "pvt_account_id": account_id,
        "attachments": {handler_id: {"handler": "s3", "name": "test s3", "settings": handler_settings}},
        "plan": {
            "modb": {"types": {t: {"attachments": dict(att)} for t in modb_types}},
            "account": {"types": {t: {"attachments": dict(att)} for t in account_types}},
        },
    }


def seed_account(couch: CouchClient, account_id: str, with_modb: bool = True) -> str:
    """Create the accounts/system_data DBs, the account DB and this month's MODB; returns the MODB name."""
    for db in ("accounts", "system_data", dbnames.account_db(account_id)):
        couch.create_db(db)
    couch.save("accounts", account_doc(account_id))
    couch.save(dbnames.account_db(account_id), account_doc(account_id))
    year, month = now_month()
    modb = dbnames.modb(account_id, year, month)
    if with_modb:
        couch.create_db(modb)
    return modb


def write_as_kazoo(couch: CouchClient, db: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Write doc the way Kazoo does: the document without its attachments, then each attachment
    in a standalone PUT (kz_datamgr:put_attachment). The caller's doc keeps its inline
    attachments (the expected bytes) and takes the new _rev; returns the doc as stored.

    pouchdb-server (not CouchDB) drops a document's other fields on such a PUT; there, and only
    there, the fields are written back afterwards, so the test sees what CouchDB keeps."""
    attachments = doc.get("_attachments", {})
    body = {key: value for key, value in doc.items() if key != "_attachments"}
    body["_rev"] = couch.save(db, body)
    for name, att in attachments.items():
        couch.put_attachment(db, body, base64.b64decode(att["data"]), name, att["content_type"])
    stored = couch.get(db, body["_id"]) or {}
    if attachments and stored.get("pvt_type") != doc.get("pvt_type"):  # pouchdb-server's quirk
        stored = {**body, "_rev": stored["_rev"], "_attachments": stored.get("_attachments", {})}
        stored["_rev"] = couch.save(db, stored)
    doc["_rev"] = stored["_rev"]
    return stored


def cdr_doc(
    account_id: str,
    started: dt.datetime,
    *,
    direction: str = "inbound",
    duration: int = 95,
    billing: int = 90,
    ccv: dict[str, Any] | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """A CDR as Kazoo's cdr app writes it (applications/cdr/priv/couchdb/fixtures/cdr.json, with the
    fields of the cdrs schema): `timestamp` is when the call ended, Gregorian seconds; _id is
    YYYYMM-<call_id> in the MODB of that month. ccv=None gives a CDR without custom_channel_vars."""
    call_id = call_id or f"{secrets.token_hex(8)}@10.0.0.1"
    ended = int(started.timestamp()) + GREGORIAN + duration
    doc: dict[str, Any] = {
        "_id": f"{started:%Y%m}-{call_id}",
        "call_id": call_id,
        "call_direction": direction,
        "request": "+14155550100@" + f"{account_id[:6]}.sip.test",
        "to": "+14155550100@" + f"{account_id[:6]}.sip.test",
        "from": "+16505550111@10.0.0.9",
        "from_uri": "+16505550111@10.0.0.9",
        "to_uri": "+14155550100@" + f"{account_id[:6]}.sip.test",
        "caller_id_number": "+16505550111",
        "caller_id_name": "Alice Example",
        "callee_id_number": "+14155550100",
        "callee_id_name": "Front Desk",
        "timestamp": ended,
        "duration_seconds": duration,
        "billing_seconds": billing,
        "ringing_seconds": duration - billing,
        "hangup_cause": "NORMAL_CLEARING",
        "hangup_code": "sip:200",
        "disposition": "SUCCESS",
        "media_server": "fs1.kazoo.test",
        "node": "ecallmgr@kazoo.test",
        "app_name": "ecallmgr",
        "app_version": "4.3.0",
        "interaction_id": f"{ended}-{secrets.token_hex(4)}",
        "pvt_vsn": 2,
        "pvt_type": "cdr",
        "pvt_account_id": account_id,
        "pvt_account_db": dbnames.modb(account_id, started.year, started.month, encoded=True),
        "pvt_created": ended,
        "pvt_modified": ended,
    }
    if ccv is not None:
        doc["custom_channel_vars"] = {"account_id": account_id, **ccv}
    return doc
