"""What the referrer index keeps of a tenant's doc: every id-shaped value, bare or as a path,
with where it sits; nothing of a deleted doc or a media doc; a hostile doc fails safe."""

from __future__ import annotations

from typing import Any

from syncd.kazoo.referrers import MAX_REFS_PER_DOC, indexable, indexed, references
from syncd.state.referrers import ANY, Ref
from tests.support import kazoo_data as kd

A, B = "a" * 32, "b" * 32
M = "0123456789abcdef0123456789abcdef"


def keys(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r.media_account, r.media_key, r.path) for r in references(A, doc)}


def test_bare_ids_and_paths_name_their_accounts_media() -> None:
    doc = {
        "_id": kd.new_id(),
        "pvt_type": "device",
        "music_on_hold": {"media_id": f"/{B}/{M}"},  # another account's media, kz_media_util:media_path
        "announce": M,
        "prompt": "/en-us/vm-enter_pass",
        "pvt_secret": M,  # private: Kazoo never plays from it
        "nested": [{"_": {"data": {"id": M}}}],  # "_" deep down is Kazoo's child key, not private
        "plain": "not an id",
    }
    found = keys(doc)
    assert (B, M, "music_on_hold.media_id") in found and (A, M, "announce") in found
    assert (A, "en-us/vm-enter_pass", "prompt") in found and (A, M, "nested[0]._.data.id") in found
    assert not any(path == "pvt_secret" for _, _, path in found)
    assert not any(path == "plain" for _, _, path in found)


def test_deleted_docs_media_docs_and_design_docs_name_nothing() -> None:
    for doc in (
        {"_id": kd.new_id(), "pvt_type": "user", "pvt_deleted": True, "music_on_hold": {"media_id": M}},
        {"_id": kd.new_id(), "pvt_type": "media", "source_id": M},
        {"_id": "_design/x", "views": {"v": M}},
    ):
        assert references(A, doc) == ()
    gone = indexed(A, {"id": "x", "deleted": True, "changes": [{"rev": "7-abc"}]})
    assert gone is not None and gone.rev_gen == 7 and gone.refs == ()


def test_a_doc_with_more_ids_than_the_index_keeps_matches_every_lookup() -> None:
    doc = {"_id": kd.new_id(), "pvt_type": "callflow", "ids": [kd.new_id() for _ in range(MAX_REFS_PER_DOC + 1)]}
    (only,) = references(A, doc)
    assert isinstance(only, Ref) and (only.media_account, only.media_key) == (ANY, ANY)


def test_which_media_ids_the_index_can_answer_for() -> None:
    assert indexable(M) and indexable("en-us/vm-enter_pass")
    assert not indexable("custom-name") and not indexable("a/b/c") and not indexable("/x")


def test_fields_of_the_wrong_type_are_indexed_without_failing() -> None:
    doc = {"_id": kd.new_id(), "_rev": None, "pvt_type": ["user"], "name": {"not": "text"}, "moh": [M, 7, None, {}]}
    found = indexed(A, {"id": doc["_id"], "doc": doc})
    assert found is not None and found.rev_gen == 0 and "user" in found.label
    assert [(r.media_account, r.media_key, r.path) for r in found.refs] == [(A, M, "moh[0]")]
    assert indexed(A, {"doc": "not an object"}) is None  # no id: nothing to keep
