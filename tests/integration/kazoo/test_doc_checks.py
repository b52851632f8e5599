"""Kazoo's schemas as the contract for syncd's writes: a doc that would fail is refused, named,
and nothing is written; a doc a tenant left wrong where syncd does not touch it is not refused."""

from __future__ import annotations

import io
from typing import Any

import pytest

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.deletes import soft_deleted
from syncd.kazoo.doc_checks import DocRefused, check_write, kinds, problems
from syncd.kazoo.media import KazooMedia, kazoo_text, media_doc
from tests.support import kazoo_data as kd

ACCOUNT = "7f89565344e3e6302df60168420e9265"


def test_every_kind_syncd_writes_has_a_schema_for_both_releases() -> None:
    wanted = {"media", "account", "user", "device", "group", "fax", "mailbox_message", "call_recording"}
    assert set(kinds("4.3")) == set(kinds("master")) == wanted


def test_a_media_doc_made_invalid_on_purpose_is_refused_naming_the_field_and_the_rule() -> None:
    doc = media_doc(ACCOUNT, kd.new_id(), {"name": "ok", "description": "ok.wav"})
    check_write("media", doc)  # as syncd makes it: passes
    for field, value, rule in [
        ("source_id", "lib", "minLength 32"),
        ("content_length", 5_242_881, "maximum 5242880"),
        ("content_type", "audio/flac", "enum"),
        ("name", "x" * 129, "maxLength 128"),
        ("streamable", "yes", "type"),
    ]:
        with pytest.raises(DocRefused) as refused:
            check_write("media", {**doc, field: value}, where=f"of account {ACCOUNT}")
        text = str(refused.value)
        assert f"media {doc['_id']} of account {ACCOUNT} would fail Kazoo 4.3's schema at {field}: {rule}" in text
        assert text.endswith("syncd did not write it")
    check_write("media", {**doc, "content_length": 5_242_881}, version="master")  # master allows 11 MB


def test_a_change_is_refused_only_for_what_it_breaks() -> None:
    user = {"_id": kd.new_id(), "pvt_type": "user", "username": "has space", "first_name": "A"}  # two faults
    assert [p for p, _ in problems("user", user)] == ["(document)", "username"]
    check_write("user", {**user, "music_on_hold": {"media_id": kd.new_id()}}, before=user)  # adds none
    with pytest.raises(DocRefused, match="at music_on_hold.media_id: maxLength 128"):
        check_write("user", {**user, "music_on_hold": {"media_id": "/" + "x" * 200}}, before=user)
    with pytest.raises(DocRefused, match="at last_name"):
        check_write("user", {**user, "last_name": ""}, before=user)


def test_private_fields_are_not_validated_and_a_message_is_its_metadata() -> None:
    message = {
        "_id": "202611-" + kd.new_id(),
        "pvt_type": "mailbox_message",
        "pvt_anything": {"x": 1},
        "metadata": {"media_id": "202611-" + kd.new_id(), "folder": "new", "caller_id_name": "A"},
    }
    check_write("mailbox_message", soft_deleted(message), before=message)
    assert soft_deleted(message)["metadata"]["folder"] == "deleted"
    with pytest.raises(DocRefused, match="at folder: enum"):
        check_write("mailbox_message", {**message, "metadata": {**message["metadata"], "folder": "trash"}})
    recording = {"_id": "202611-" + kd.new_id(), "pvt_type": "call_recording", "name": "r", "duration": 3}
    check_write("call_recording", soft_deleted(recording), before=recording)
    with pytest.raises(DocRefused, match="additionalProperties"):
        check_write("call_recording", {**recording, "extra": 1})


def test_kazoo_text_drops_control_characters_and_keeps_128() -> None:
    assert kazoo_text("a\x00b\nc\u2028d\u200be  f") == "a b c d e f"
    assert len(kazoo_text("é" * 500)) == 128


def test_a_refused_write_writes_nothing(couch: CouchClient, account: tuple[str, str]) -> None:
    account_id, _ = account
    media = KazooMedia(couch)
    media_id = kd.new_id()
    with pytest.raises(DocRefused, match="source_id"):
        media.create(account_id, media_id, {"name": "n", "source_id": "short"})
    assert couch.get(dbnames.account_db(account_id), media_id) is None
    doc = media.create(account_id, media_id, {"name": "n"})
    big = media.max_bytes + 1
    with pytest.raises(DocRefused, match="content_length: maximum 5242880"):
        media.put_audio(account_id, doc, io.BytesIO(b"\0" * big), big, "audio/mpeg", "mp3")
    stored: dict[str, Any] = couch.get(dbnames.account_db(account_id), media_id) or {}
    assert stored["_rev"] == doc["_rev"] and "_attachments" not in stored
