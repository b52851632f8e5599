"""Tenants' documents as an attacker writes them: storage docs in system_data and
MODB documents. Each bad input is that account's (or that document's) problem,
named in status with its path; the good account beside it uploads in the same run."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import requests

from syncd import cli
from syncd.kazoo import dbnames
from tests.conftest import write_config
from tests.support import kazoo_data as kd
from tests.support.scene import EXIT_FAILED, EXIT_OK, Scene

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]

Mutation = Callable[[dict[str, Any]], None]


def _settings(**values: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        (entry,) = doc["attachments"].values()
        entry["settings"].update(values)

    return mutate


def _drop(*keys: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        (entry,) = doc["attachments"].values()
        for key in keys:
            entry["settings"].pop(key)

    return mutate


def _plan_attachment(**values: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["plan"]["modb"]["types"]["mailbox_message"]["attachments"].update(values)

    return mutate


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"x": value}
    return value


def _handler_entry(value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        (handler,) = doc["attachments"]
        doc["attachments"][handler] = value

    return mutate


def _rename_handler(doc: dict[str, Any]) -> None:
    (handler,) = doc["attachments"]
    doc["attachments"]["NOT-A-HANDLER-ID"] = doc["attachments"].pop(handler)


# (mutation of a valid storage doc, what the problem must say)
STORAGE_CASES: dict[str, tuple[Mutation, str]] = {
    "field_list of numbers": (_settings(field_list=[42]), "settings.field_list[0]: 42 is not a field entry"),
    "field_list not an array": (_settings(field_list="db"), 'settings.field_list: "db" is not a field entry'),
    "field_list unknown arg": (_settings(field_list=[{"arg": "evil"}]), "field_list[0].arg: 'evil' is not one of"),
    "field_list entry with two keys": (_settings(field_list=[{"arg": "db", "const": "x"}]), "field_list[0]"),
    "field_list group of junk": (_settings(field_list=[{"group": [7]}]), "field_list[0].group[0]"),
    "field_separator a number": (_settings(field_separator=5), "settings.field_separator: 5 is not of type"),
    "folder_base_path a number": (_settings(folder_base_path=7), "settings.folder_base_path: 7 is not of type"),
    "region with spaces": (_settings(region="us east 1"), "settings.region: 'us east 1' is not an AWS region"),
    "region a number": (_settings(region=5), "settings.region: 5 is not of type 'string'"),
    "host with a space": (_settings(host="bad host"), "settings.host: 'bad host' is not a host name"),
    "host with a path": (_settings(host="evil.example/x"), "settings.host: 'evil.example/x' is not a host"),
    "host with userinfo": (_settings(host="user@evil.example"), "settings.host"),
    "bucket an object": (_settings(bucket={"x": 1}), "settings.bucket: {'x': 1} is not of type 'string'"),
    "bucket with spaces": (_settings(bucket="my bucket"), "settings.bucket: 'my bucket' does not match"),
    "bucket too long": (_settings(bucket="b" * 64), "settings.bucket"),
    "port text": (_settings(port="abc"), "settings.port: 'abc' is not of type 'integer'"),
    "port out of range": (_settings(port=70000), "settings.port: '70000' is not a port"),
    "port negative": (_settings(port=-1), "settings.port: '-1' is not a port"),
    "scheme gopher": (_settings(scheme="gopher"), "settings.scheme: 'gopher' is not one of"),
    "bucket_access_method odd": (_settings(bucket_access_method="weird"), "settings.bucket_access_method"),
    "bucket_after_host text": (_settings(bucket_after_host="true"), "settings.bucket_after_host"),
    "no key and secret": (_drop("key", "secret"), "'key' is a required property"),
    "empty secret": (_settings(secret=""), "settings.secret: '' should be non-empty"),
    "secret too long": (_settings(secret="s" * 129), "settings.secret"),
    "settings a string": (_set("attachments", {"a" * 32: {"handler": "s3", "settings": "x"}}), "settings"),
    "handler entry a string": (_handler_entry("s3"), "is not of type 'object'"),
    "handler type unknown": (_handler_entry({"handler": "dropbocks", "settings": {}}), "'dropbocks' is not one of"),
    "handler id not 32 hex": (_rename_handler, "'NOT-A-HANDLER-ID' does not match"),
    "attachments a list": (_set("attachments", [1, 2]), "attachments: [1, 2] is not of type 'object'"),
    "plan a list": (_set("plan", ["modb"]), "plan: ['modb'] is not of type 'object'"),
    "plan classification unknown": (_set("plan.foo", {}), "'foo' was unexpected"),
    "plan modb a string": (_set("plan.modb", "s3"), "plan.modb: 's3' is not of type 'object'"),
    "plan modb extra key": (_set("plan.modb.bogus", 1), "plan.modb: Additional properties are not allowed"),
    "plan type a list": (_set("plan.modb.types.mailbox_message", []), "types.mailbox_message: [] is not of type"),
    "plan handler a number": (_plan_attachment(handler=5), "attachments.handler: 5 is not of type 'string'"),
    "plan handler missing": (_plan_attachment(handler="b" * 32), "names handler 'bbbbbbbb"),
    "plan params a list": (_plan_attachment(params=[1]), "attachments.params: [1] is not of type 'object'"),
    "plan stub text": (_plan_attachment(stub="yes"), "attachments.stub: 'yes' is not of type 'boolean'"),
    "params override bucket badly": (_plan_attachment(params={"bucket": 5}), "(with the plan's params).bucket"),
    "params inject bad field_list": (
        _plan_attachment(params={"field_list": [{"arg": 1}]}),
        "(with the plan's params).field_list[0]",
    ),
    "params inject bad host": (_plan_attachment(params={"host": "a b"}), "settings.host: 'a b' is not a host"),
    "document nested 100 deep": (_set("extra", _deep(100)), "nests deeper than 32 levels"),
    "document of 300 KB": (_set("extra", "x" * 300_000), "a storage document may be at most"),
}


def _bad_storage(scene: Scene, mutate: Mutation) -> Callable[[str, str], None]:
    def make(account_id: str, modb: str) -> None:
        doc = scene.storage_doc(account_id)
        mutate(doc)
        scene.couch.save("system_data", doc)
        scene.couch.save(modb, kd.mailbox_message(account_id, kd.new_id(), b"bad account's audio", *kd.now_month()))

    return make


@pytest.mark.parametrize("case", sorted(STORAGE_CASES))
def test_a_bad_storage_doc_pauses_only_its_account(scene: Scene, case: str) -> None:
    mutate, expected = STORAGE_CASES[case]
    outcome = scene.run(_bad_storage(scene, mutate))
    assert outcome.good_arrived, outcome.log
    assert outcome.code == EXIT_FAILED, outcome.log
    problem = outcome.problem(f"account:{outcome.bad_account}")
    assert problem.startswith(f"storage plan system_data/{outcome.bad_account}: "), problem
    assert expected in problem, problem
    assert "Traceback" not in outcome.log


def test_a_bad_plan_template_is_the_accounts_problem(scene: Scene) -> None:
    def make(account_id: str, modb: str) -> None:
        template = scene.storage_doc("f" * 32)
        template["_id"] = template_id = kd.new_id()
        template["attachments"] = "broken"
        scene.couch.save("system_data", template)
        doc = scene.storage_doc(account_id)
        doc["pvt_plan_id"] = template_id
        scene.couch.save("system_data", doc)
        scene.couch.save(modb, kd.mailbox_message(account_id, kd.new_id(), b"audio", *kd.now_month()))

    outcome = scene.run(make)
    assert outcome.good_arrived and outcome.code == EXIT_FAILED
    assert "attachments: 'broken' is not of type 'object'" in outcome.problem(f"account:{outcome.bad_account}")


def _blob(term_bytes: bytes) -> dict[str, Any]:
    return {
        "handler": {"kz_att_s3": {"S3": base64.b64encode(term_bytes).decode()}},
        "length": 10,
        "content_type": "audio/mpeg",
    }


def _zip_bomb() -> bytes:
    inflated = 20 * 1024 * 1024
    packed = zlib.compress(b"\x6b" + struct.pack(">H", 0) + b"\x00" * (inflated - 3), 9)  # ~50 KB deflated
    return bytes([131, 80]) + struct.pack(">I", inflated) + packed


def _deep_term(levels: int) -> bytes:
    """[[[...[x]...]]] in the External Term Format: LIST_EXT of one, down to the atom x, then NILs."""
    return b"\x83" + b"l\x00\x00\x00\x01" * levels + b"d\x00\x01x" + b"j" * levels


def _doc_field(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.update(fields)


def _attachment_meta(**meta: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        (entry,) = doc["_attachments"].values()
        entry.update(meta)

    return mutate


# MODB documents written by an attacker (CouchDB keeps _attachments' own fields, so the hostile
# shapes are in pvt_attachments, the fields Kazoo reads and writes itself, and the doc's own fields)
DOC_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "pvt_attachments a list": (_doc_field(pvt_attachments=[1]), "pvt_attachments: must be an object of attachments"),
    "pvt_attachments a string": (_doc_field(pvt_attachments="x"), "pvt_attachments: must be an object"),
    "pvt_attachments entry a number": (_doc_field(pvt_attachments={"a.mp3": 5}), "pvt_attachments.a.mp3: must be"),
    "pvt_attachments length text": (
        _doc_field(pvt_attachments={"a.mp3": {**_blob(b"x"), "length": "abc"}}),
        "pvt_attachments.a.mp3.length: must be a whole number",
    ),
    "pvt_attachments length negative": (
        _doc_field(pvt_attachments={"a.mp3": {**_blob(b"x"), "length": -4}}),
        "length: must be a whole number",
    ),
    "pvt_attachments 1001 entries": (
        _doc_field(pvt_attachments={f"a{i}": {} for i in range(1001)}),
        "at most 1,000 are read",
    ),
    "pvt_attachments name of 2000 bytes": (_doc_field(pvt_attachments={"n" * 2000: {}}), "longer than 1024 bytes"),
    "pvt_type a list": (_doc_field(pvt_type=["mailbox_message"]), "_id/pvt_type: must be text"),
    "pvt_type an object": (_doc_field(pvt_type={"x": 1}), "_id/pvt_type: must be text"),
    "attachment name of 1100 bytes": (
        lambda doc: doc.update(_attachments=kd.inline("a" * 1100, b"x", "audio/mpeg")),
        "longer than 1024 bytes",
    ),
}


@pytest.mark.parametrize("case", sorted(DOC_CASES))
def test_a_bad_modb_document_is_skipped_alone_with_its_problem(scene: Scene, case: str) -> None:
    mutate, expected = DOC_CASES[case]
    ids: dict[str, str] = {}

    def make(account_id: str, modb: str) -> None:
        scene.couch.save("system_data", scene.storage_doc(account_id))
        bad = kd.mailbox_message(account_id, kd.new_id(), b"bad", *kd.now_month())
        mutate(bad)
        ids["bad"] = bad["_id"]
        scene.couch.save(modb, bad)
        fine = kd.mailbox_message(account_id, kd.new_id(), b"fine audio", *kd.now_month())
        ids["fine"] = fine["_id"]
        scene.couch.save(modb, fine)

    outcome = scene.run(make)
    assert outcome.good_arrived, outcome.log
    assert outcome.code == EXIT_FAILED, outcome.log
    problem = outcome.problem(f"doc:{dbnames.decode(outcome.bad_modb)}/{ids['bad']}")
    assert expected in problem and "skipped until the document changes" in problem, problem
    # the bad account's other voicemail, in the same database, still went up
    assert scene.couch.get(outcome.bad_modb, ids["fine"]) is not None
    assert not any(scope.startswith(f"account:{outcome.bad_account}") for scope in outcome.problems)
    assert "Traceback" not in outcome.log


BLOB_CASES: dict[str, tuple[bytes, str]] = {
    "zip bomb": (_zip_bomb(), "inflates to 20,971,520 bytes"),
    "random bytes": (b"\x83\x99garbage", "not a valid Erlang term"),
    "not a term at all": (b"hello", "not a valid Erlang term"),
    "nested 100000 deep": (_deep_term(100_000), "blob"),
    "huge blob": (b"\x83" + b"k" * 70_000, "more than a Kazoo pointer"),
    "truncated compressed": (bytes([131, 80, 0, 0, 0, 9]) + b"\x78\x9c", "damaged"),
}


@pytest.mark.parametrize("case", sorted(BLOB_CASES))
def test_a_hostile_handler_blob_is_reported_and_costs_nothing(scene: Scene, case: str) -> None:
    blob, expected = BLOB_CASES[case]

    def make(account_id: str, modb: str) -> None:
        scene.couch.save("system_data", scene.storage_doc(account_id))
        doc = kd.mailbox_message(account_id, kd.new_id(), b"audio", *kd.now_month())
        doc["pvt_attachments"] = {"offloaded.mp3": _blob(blob)}
        scene.couch.save(modb, doc)

    outcome = scene.run(make)
    assert outcome.good_arrived, outcome.log
    assert outcome.code == EXIT_OK, outcome.log  # a pointer that cannot be read is only not recorded
    assert "cannot read Kazoo's pointer for attachment 'offloaded.mp3'" in outcome.log
    assert expected in outcome.log, outcome.log


def test_a_zero_length_attachment_is_an_empty_object_not_gone(scene: Scene) -> None:
    def make(account_id: str, modb: str) -> None:
        scene.couch.save("system_data", scene.storage_doc(account_id))
        scene.couch.save(modb, kd.mailbox_message(account_id, kd.new_id(), b"", *kd.now_month()))

    outcome = scene.run(make)
    assert outcome.good_arrived and outcome.code == EXIT_OK, outcome.log
    assert "0 gone from CouchDB" in outcome.log and "2 uploaded" in outcome.log, outcome.log


def test_a_server_that_is_not_couchdb_is_named_as_such(scene: Scene, tmp_path: Any) -> None:
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>Welcome to nginx</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = write_config(tmp_path / "html.toml", f"http://127.0.0.1:{server.server_port}")
        scene.capsys.readouterr()
        code = cli.main(["-c", str(config), "run", "--once"])
        err = scene.capsys.readouterr().err
    finally:
        server.shutdown()
    assert code == 3, err
    assert "does not answer like CouchDB" in err and "Traceback" not in err, err


def test_a_document_too_deep_to_decode_is_skipped_alone(scene: Scene) -> None:
    """1,200 levels of JSON (deeper than Python's decoder follows), written as raw text."""
    ids: dict[str, str] = {}

    def make(account_id: str, modb: str) -> None:
        scene.couch.save("system_data", scene.storage_doc(account_id))
        bad = kd.mailbox_message(account_id, kd.new_id(), b"bad", *kd.now_month())
        ids["bad"] = bad["_id"]
        text = json.dumps(bad)[:-1] + ', "pvt_attachments": ' + '{"x": ' * 1200 + "1" + "}" * 1200 + "}"
        answer = requests.put(
            f"{scene.couch_server.auth_url}/{quote(modb, safe='')}/{bad['_id']}",
            data=text,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        scene.couch.save(modb, kd.mailbox_message(account_id, kd.new_id(), b"fine audio", *kd.now_month()))

    outcome = scene.run(make)
    assert outcome.good_arrived and outcome.code == EXIT_FAILED, outcome.log
    problem = outcome.problem(f"doc:{dbnames.decode(outcome.bad_modb)}/{ids['bad']}")
    assert "nests deeper than a JSON decoder can follow" in problem, problem
    assert "2 uploaded" in outcome.log, outcome.log  # the good account's, and the bad account's readable one
