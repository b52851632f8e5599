from __future__ import annotations

from typing import Any

import pytest

from syncd.errors import PlanError
from syncd.kazoo.plans import PlanBook, merge_recursive

ACCT = "a" * 32
S3 = "fb45659e12a9b8fca1bf6a0e4a95b220"
GD = "5fa1f134417927ae200fb12879acec71"


def book(docs: dict[str, dict[str, Any]]) -> PlanBook:
    return PlanBook(docs.get)


def account_doc(**plan: Any) -> dict[str, Any]:
    return {
        "_id": ACCT,
        "pvt_type": "storage",
        "pvt_account_id": ACCT,
        "attachments": {
            S3: {"handler": "s3", "settings": {"bucket": "kazoo", "key": "K", "secret": "S"}},
            GD: {"handler": "google_drive", "settings": {"oauth_doc_id": "o"}},
        },
        "plan": plan,
    }


def vm_doc(**extra: Any) -> dict[str, Any]:
    return {"_id": "202611-x", "pvt_type": "mailbox_message", "source_id": "box1", **extra}


def test_merge_recursive_right_wins_and_objects_merge() -> None:
    assert merge_recursive({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]}) == {
        "a": {"b": 1, "c": 3},
        "l": [2],
    }


def test_route_params_merge_over_settings_like_fixture_account5() -> None:
    doc = account_doc(
        modb={
            "types": {
                "call_recording": {
                    "attachments": {"handler": S3, "params": {"bucket": "sandbox", "path": "recordings"}}
                }
            }
        }
    )
    route = book({ACCT: doc}).route(ACCT, "modb", {"_id": "r", "pvt_type": "call_recording"})
    assert route is not None
    assert (route.handler, route.handler_id, route.storage_doc) == ("s3", S3, ACCT)
    assert route.settings == {"bucket": "sandbox", "key": "K", "secret": "S", "path": "recordings"}
    assert route.stub is False


def test_route_classification_level_handler_applies_to_all_types() -> None:
    doc = account_doc(modb={"attachments": {"handler": S3, "stub": True}})
    route = book({ACCT: doc}).route(ACCT, "modb", vm_doc())
    assert route is not None and route.stub is True


def test_route_type_attachments_replace_params_shallowly() -> None:
    doc = account_doc(
        modb={
            "attachments": {"handler": S3, "params": {"path": "a", "region": "r"}},
            "types": {"mailbox_message": {"attachments": {"params": {"path": "b"}}}},
        }
    )
    route = book({ACCT: doc}).route(ACCT, "modb", vm_doc())
    assert route is not None and route.settings.get("path") == "b" and "region" not in route.settings


def test_route_none_when_plan_has_no_handler_for_type() -> None:
    doc = account_doc(modb={"types": {"fax": {"attachments": {"handler": S3}}}})
    assert book({ACCT: doc}).route(ACCT, "modb", vm_doc()) is None
    assert book({ACCT: doc}).route(ACCT, "account", vm_doc()) is None


def test_system_plan_applies_when_account_has_no_storage_doc() -> None:
    system = {
        "_id": "system",
        "pvt_type": "storage",
        "attachments": account_doc()["attachments"],
        "plan": {"modb": {"types": {"mailbox_message": {"attachments": {"handler": S3}}}}},
    }
    route = book({"system": system}).route(ACCT, "modb", vm_doc())
    assert route is not None and route.storage_doc == "system"


def test_pvt_plan_id_template_sits_between_system_and_account() -> None:
    template = {
        "_id": "tpl",
        "pvt_type": "storage_plan",
        "attachments": account_doc()["attachments"],
        "plan": {"modb": {"types": {"mailbox_message": {"attachments": {"handler": S3, "params": {"path": "t"}}}}}},
    }
    acct = {"_id": ACCT, "pvt_type": "storage", "pvt_plan_id": "tpl"}
    route = book({"tpl": template, ACCT: acct}).route(ACCT, "modb", vm_doc())
    assert route is not None and route.settings["path"] == "t"


def test_owner_storage_doc_overrides_account_plan_for_its_vmbox() -> None:
    acct = account_doc(modb={"types": {"mailbox_message": {"attachments": {"handler": S3}}}})
    owner = {
        "_id": "box1",
        "pvt_type": "storage",
        "pvt_account_id": ACCT,
        "plan": {"modb": {"types": {"mailbox_message": {"attachments": {"handler": S3, "params": {"path": "own"}}}}}},
    }
    plans = book({ACCT: acct, "box1": owner})
    assert plans.route(ACCT, "modb", vm_doc()).settings["path"] == "own"  # type: ignore[union-attr]
    assert plans.route(ACCT, "modb", vm_doc(source_id="other")).settings.get("path") is None  # type: ignore[union-attr]
    # call recordings are stored without an owner: the owner doc never applies
    rec = {"_id": "r", "pvt_type": "call_recording", "source_id": "box1"}
    assert (
        book({ACCT: account_doc(modb={"types": {"call_recording": {"attachments": {"handler": S3}}}}), "box1": owner})
        .route(ACCT, "modb", rec)
        .settings.get("path")
        is None
    )  # type: ignore[union-attr]


def test_owner_doc_of_another_account_is_ignored() -> None:
    acct = account_doc(modb={"types": {"mailbox_message": {"attachments": {"handler": S3}}}})
    foreign = {
        "_id": "box1",
        "pvt_type": "storage",
        "pvt_account_id": "b" * 32,
        "plan": {"modb": {"types": {"mailbox_message": {"attachments": {"handler": "zz"}}}}},
    }
    assert book({ACCT: acct, "box1": foreign}).route(ACCT, "modb", vm_doc()) is not None


def test_missing_handler_reference_is_a_clear_plan_error() -> None:
    doc = account_doc(modb={"types": {"mailbox_message": {"attachments": {"handler": "0" * 32}}}})
    with pytest.raises(PlanError) as err:
        book({ACCT: doc}).route(ACCT, "modb", vm_doc())
    message = str(err.value)
    assert f"system_data/{ACCT}" in message
    assert "plan.modb.types.mailbox_message.attachments.handler" in message
    assert "0" * 32 in message and "not in `attachments`" in message


def test_unknown_handler_type_is_a_clear_plan_error() -> None:
    doc = account_doc(modb={"types": {"mailbox_message": {"attachments": {"handler": S3}}}})
    doc["attachments"][S3]["handler"] = "dropbocks"
    with pytest.raises(PlanError, match=r"handler: 'dropbocks' is not one of \['s3'"):
        book({ACCT: doc}).route(ACCT, "modb", vm_doc())


def test_routes_lists_every_route_and_problem() -> None:
    doc = account_doc(
        modb={
            "types": {
                "mailbox_message": {"attachments": {"handler": S3}},
                "fax": {"attachments": {"handler": "missing"}},
            }
        }
    )
    routes, problems = book({ACCT: doc}).routes(ACCT)
    assert [r.handler_id for r in routes] == [S3]
    assert len(problems) == 1 and "types.fax" in str(problems[0])


def test_invalidate_rereads_documents() -> None:
    docs: dict[str, Any] = {}
    plans = book(docs)
    assert plans.route(ACCT, "modb", vm_doc()) is None
    docs[ACCT] = account_doc(modb={"types": {"mailbox_message": {"attachments": {"handler": S3}}}})
    assert plans.route(ACCT, "modb", vm_doc()) is None  # cached
    plans.invalidate()
    assert plans.route(ACCT, "modb", vm_doc()) is not None
