from __future__ import annotations

import base64

import erlang
import pytest

from syncd.kazoo.handler_blobs import BlobError, ExternalCopy, external_copy


def blob(term: object) -> str:
    return base64.b64encode(erlang.term_to_binary(term)).decode()


def atom(name: str) -> erlang.OtpErlangAtom:
    return erlang.OtpErlangAtom(name.encode())


def binary(text: str) -> erlang.OtpErlangBinary:
    return erlang.OtpErlangBinary(text.encode())


def test_s3_blob_gives_bucket_and_key_and_drops_credentials() -> None:
    settings = {atom("bucket"): binary("kazoo-vm"), atom("key"): binary("AKIA"), atom("secret"): binary("SECRET")}
    key = "account%2Fab%2Fcd%2Fef-202611/202611-x_vm.mp3"
    entry = {
        "content_type": "audio/mpeg",
        "length": 10,
        "stub": False,
        "handler": {"kz_att_s3": {"S3": blob((settings, binary(key))), "metadata": {"etag": "e"}}},
    }
    copy = external_copy(entry)
    assert copy == ExternalCopy("kz_att_s3", "kazoo-vm", key)
    assert "SECRET" not in repr(copy)


def test_old_s3_blob_shape_key_secret_bucket_path() -> None:
    term = (binary("AKIA"), binary("SECRET"), binary("old-bucket"), binary("p/a.mp3"))
    copy = external_copy({"handler": {"kz_att_s3": {"S3": blob(term)}}})
    assert copy == ExternalCopy("kz_att_s3", "old-bucket", "p/a.mp3")


def test_google_drive_blob_gives_file_id() -> None:
    copy = external_copy({"handler": {"kz_att_google_drive": {"gdrive": blob((binary("oauth1"), binary("FILEID")))}}})
    assert copy == ExternalCopy("kz_att_google_drive", None, "FILEID")


def test_http_handler_records_url_and_link_handler_is_not_external() -> None:
    assert external_copy({"handler": {"kz_att_http": {"url": "https://h/x"}}}) == ExternalCopy(
        "kz_att_http", None, "https://h/x"
    )
    assert external_copy({"handler": {"kz_att_link": {"att_dbname": "a", "att_docid": "b"}}}) is None
    assert external_copy({"content_type": "audio/mpeg"}) is None


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"\x83garbage").decode(), ""])
def test_corrupt_blob_is_a_blob_error(bad: str) -> None:
    with pytest.raises(BlobError):
        external_copy({"handler": {"kz_att_s3": {"S3": bad}}})
