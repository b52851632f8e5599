"""Property-based: random shapes where tenants and folder users write. Whatever
comes in, only the documented error types come out (PlanError, DocError,
BlobError, FaxFileError, ConfigError); nothing else escapes a validator or decoder."""

from __future__ import annotations

import base64
import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd import config
from syncd.errors import ConfigError, DocError, PlanError
from syncd.flows.fax.files import count_pdf_pages
from syncd.kazoo import dbnames
from syncd.kazoo.handler_blobs import BlobError, external_copy
from syncd.kazoo.plans import PlanBook
from syncd.kazoo.routing import DocPlanner, FlowRule, handler_target
from syncd.kazoo.storage_docs import check_storage_doc
from syncd.model.fax import FaxFileError
from tests.support import fax_kazoo as fk
from tests.support import kazoo_data as kd

ACCOUNT = "a" * 32
HANDLER = "b" * 32
MODB = dbnames.modb(ACCOUNT, 2026, 11)
KEYS = [
    "attachments",
    "plan",
    "settings",
    "handler",
    "field_list",
    "field_separator",
    "bucket",
    "key",
    "secret",
    "host",
    "port",
    "region",
    "scheme",
    "modb",
    "types",
    "mailbox_message",
    "params",
    "stub",
    HANDLER,
    "arg",
    "group",
    "const",
    "field",
    "_attachments",
    "pvt_attachments",
    "length",
    "digest",
    "content_type",
    "pvt_type",
    "kz_att_s3",
    "S3",
    "folder_base_path",
    "pvt_plan_id",
    "owner_id",
    "source_id",
]
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_storage() -> dict[str, Any]:
    return kd.s3_storage_doc(ACCOUNT, HANDLER, bucket="bucket-x", port=9000)


@FAST
@given(JSON)
def test_random_storage_docs_raise_only_plan_errors(doc: Any) -> None:
    try:
        check_storage_doc(ACCOUNT, doc)
    except PlanError:
        pass


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6), st.sampled_from(["attachments", "plan"]))
def test_random_parts_of_a_valid_storage_doc_route_or_raise_plan_errors(part: dict[str, Any], where: str) -> None:
    doc = _valid_storage()
    doc[where] = {**doc[where], **part}
    plans = PlanBook(lambda doc_id: doc if doc_id == ACCOUNT else None)
    try:
        route = plans.route(ACCOUNT, "modb", {"_id": "x", "pvt_type": "mailbox_message"})
        if route is not None:
            handler_target(route, "when_required", {})
    except PlanError:
        pass


@FAST
@given(JSON, JSON)
def test_random_modb_documents_raise_only_doc_or_plan_errors(attachments: Any, pointers: Any) -> None:
    storage = _valid_storage()
    planner = DocPlanner(
        PlanBook(lambda doc_id: storage if doc_id == ACCOUNT else None),
        [FlowRule("syncd:x", "modb", "mailbox_message")],
        True,
        "when_required",
    )
    doc = {
        "_id": "202611-" + "c" * 32,
        "pvt_type": "mailbox_message",
        "_attachments": attachments,
        "pvt_attachments": pointers,
    }
    try:
        planner.items(MODB, doc)
    except (DocError, PlanError):
        pass


@FAST
@given(st.binary(max_size=300), st.booleans())
def test_random_erlang_blobs_raise_only_blob_errors(data: bytes, versioned: bool) -> None:
    """Random bytes, and random terms behind the version byte (the decoder's own ground)."""
    blob = base64.b64encode(b"\x83" + data if versioned else data).decode()
    for module, key in (("kz_att_s3", "S3"), ("kz_att_google_drive", "gdrive"), ("kz_att_azure", "azure")):
        try:
            external_copy({"handler": {module: {key: blob}}})
        except BlobError:
            pass


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_as_pdfs_raise_only_fax_file_errors(data: bytes) -> None:
    try:
        count_pdf_pages(io.BytesIO(b"%PDF-1.4\n" + data))
    except FaxFileError:
        pass


REAL_PDF = fk.pdf(pages=2, seed="fuzz")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(REAL_PDF) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_a_real_pdf_with_random_bytes_changed_parses_or_is_rejected(flips: list[tuple[int, int]]) -> None:
    data = bytearray(REAL_PDF)
    for at, value in flips:
        data[at] = value
    try:
        assert count_pdf_pages(io.BytesIO(bytes(data))) >= 1
    except FaxFileError:
        pass


SECTIONS = {
    "kazoo": ["history_months", "poll_interval", "discovery_interval", "accounts", "allow_endpoints"],
    "upload": ["workers", "retry_base", "retry_max"],
    "two_way": [
        "grace_period",
        "max_deletes",
        "max_delete_share",
        "share_from",
        "guard_window",
        "reconcile_cron",
        "crossbar_url",
    ],
    "couchdb": ["url", "timeout"],
}


@FAST
@given(st.sampled_from(sorted(SECTIONS)), st.data())
def test_random_config_values_raise_only_config_errors(section: str, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(SECTIONS[section]))
    value = data.draw(
        SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=5), SCALARS, max_size=3)
    )
    raw: dict[str, Any] = {"couchdb": {"url": "http://127.0.0.1:5984"}, "state": {"path": "/tmp/s.db"}}
    raw.setdefault(section, {})[key] = value
    try:
        parsed = config.parse(raw)
    except ConfigError:
        return
    numbers = [parsed.kazoo.poll_interval, parsed.two_way.max_delete_share, parsed.two_way.grace_period]
    assert all(n == n and n != float("inf") for n in numbers)  # no NaN or infinity ever gets through
    assert 0 <= parsed.two_way.max_delete_share <= 1
