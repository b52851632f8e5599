from __future__ import annotations

import pytest

from syncd.kazoo.naming import object_name, uri_encode

ACCOUNT = "67c6d3eb0f4c4d6a8f3c4b4a8e2c1d0f"
MODB = "account%2F67%2Fc6%2Fd3eb0f4c4d6a8f3c4b4a8e2c1d0f-201803"
DOC = {"_id": "201803-aeda82", "pvt_account_id": ACCOUNT, "owner_id": "user@x", "pvt_secret": "no", "count": 7}


@pytest.mark.parametrize(
    ("handler", "settings", "expected"),
    [
        # kz_att_util_tests s3_url_test_: the DB name stays %2F-encoded in the key
        ("s3", {}, f"{MODB}/201803-aeda82_vm.mp3"),
        ("s3", {"folder_base_path": "vm"}, f"vm/{MODB}/201803-aeda82_vm.mp3"),
        ("s3", {"folder_base_path": "vm/", "folder_path": "box"}, f"vm/box/{MODB}/201803-aeda82_vm.mp3"),
        ("s3", {"folder_base_path": "vm", "folder_path": "/abs"}, f"/abs/{MODB}/201803-aeda82_vm.mp3"),
        ("s3", {"path": "recordings", "folder_base_path": "ignored"}, f"recordings/{MODB}/201803-aeda82_vm.mp3"),
        ("s3", {"file": "exact/key.mp3", "path": "x"}, "exact/key.mp3"),
        ("google_drive", {}, "201803-aeda82_vm.mp3"),
        ("azure", {"folder_path": "f"}, "f/201803-aeda82_vm.mp3"),
        ("http", {}, f"{ACCOUNT}/user%40x/201803-aeda82/vm.mp3"),
        (
            "s3",
            {"field_list": [{"arg": "account_id"}, {"const": "vm"}, {"arg": "attachment"}], "field_separator": "-"},
            f"{ACCOUNT}-vm-vm.mp3",
        ),
        ("s3", {"field_list": [{"field": "count"}, {"field": "missing"}, {"field": "pvt_secret"}, "raw/x"]}, "7/raw/x"),
        (
            "s3",
            {"field_list": [{"group": [{"arg": "id"}, {"const": "."}, {"arg": "attachment"}]}]},
            "201803-aeda82.vm.mp3",
        ),
    ],
)
def test_object_name_matches_kazoo(handler: str, settings: dict, expected: str) -> None:
    assert object_name(handler, settings, MODB, DOC, "vm.mp3") == expected


def test_object_name_raw_db_name_is_encoded_like_kazoo() -> None:
    raw = MODB.replace("%2F", "/")
    assert object_name("s3", {}, raw, DOC, "vm.mp3") == f"{MODB}/201803-aeda82_vm.mp3"


def test_object_name_unknown_account_when_doc_has_none() -> None:
    assert object_name("http", {}, MODB, {"_id": "d"}, "a") == "unknown_account/d/a"


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("x@y", "x%40y"),
        ("a b", "a%20b"),
        ("50%", "50%25"),
        ("é.mp3", "é.mp3"),
        ("plain-_.~", "plain-_.~"),
        ("a+b=c&d", "a%2Bb%3Dc%26d"),
    ],
)
def test_uri_encode_follows_http_uri_encode(raw: str, encoded: str) -> None:
    assert uri_encode(raw) == encoded


def test_attachment_name_with_slash_is_encoded() -> None:
    assert object_name("s3", {}, MODB, DOC, "a/b c.mp3").endswith("201803-aeda82_a%2Fb%20c.mp3")
