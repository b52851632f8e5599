"""A Crossbar stand-in for media and hold music, on 127.0.0.1, writing to the test CouchDB as
cb_media, cb_accounts, cb_users, cb_devices and cb_groups do (docs/kazoo.md §8):

Every doc is validated against Kazoo's schema for it (syncd/kazoo/schemas/docs.json, the release
given) before it is saved, as crossbar_doc does: a failure is a 400 naming the field.

- PUT /v2/api_auth with the API key -> an auth token (every other call needs it);
- PUT /v2/accounts/{A}/media {"data": ...}: `name` required (400 otherwise), media_source
  "upload" and streamable by default, a 32-hex id of Kazoo's choosing, or
  <language>/<prompt_id> for a prompt; 201 with the doc;
- POST /v2/accounts/{A}/media/{M}/raw (4.3; master: POST .../media/{M}) with an audio/* body:
  the old binary goes, the new one is saved as uploaded_file_<gregorian>.<ext>, content_type and content_length set;
  another content type is 415;
- POST /v2/accounts/{A}/media/{M} {"data": ...}: the public fields replaced (pvt_ kept);
- DELETE /v2/accounts/{A}/media/{M}: soft delete (pvt_deleted); a prompt is hard-deleted
  (cb_media:delete_type/1);
- PATCH /v2/accounts/{A} and /v2/accounts/{A}/{users|devices|groups}/{ID} {"data": ...}: the
  fields merged into the doc, objects recursively, a null value removing its key; pvt_modified
  bumped, and an account doc copied into `accounts` (kzd_accounts:save/1).
Every call is logged in `calls`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.doc_checks import problems
from tests.support import kazoo_data as kd
from tests.support.crossbar_faxes import API_KEY, JsonHandler, serving

_EXT = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/x-wav": "wav", "audio/wav": "wav", "audio/ogg": "ogg"}


class CrossbarMedia:
    def __init__(self, couch: CouchClient, version: str = "4.3") -> None:
        self.couch, self.version = couch, version
        self.calls: list[str] = []
        self.token = secrets.token_hex(8)

    def invalid(self, kind: str, doc: dict[str, Any]) -> tuple[int, Any] | None:
        """Crossbar's 400 when the doc fails its schema, else None."""
        found = problems(kind, doc, self.version)
        if not found:
            return None
        return 400, {"message": "validation error", "data": {path: {"schema": rule} for path, rule in found}}

    def create(self, account_id: str, data: dict[str, Any]) -> tuple[int, Any]:
        refused = self.invalid("media", {"media_source": "upload", **data})
        if refused:
            return refused
        prompt, language = data.get("prompt_id"), str(data.get("language") or "en-us")
        now = kd.gregorian_now()
        doc = {
            "media_source": "upload",
            "streamable": True,
            "language": "en-us",
            **data,
            "_id": f"{language}/{prompt}" if prompt else secrets.token_hex(16),
            "pvt_type": "media",
            "pvt_account_id": account_id,
            "pvt_account_db": dbnames.account_db(account_id, encoded=True),
            "pvt_created": now,
            "pvt_modified": now,
        }
        if not self.couch.create(dbnames.account_db(account_id), doc):
            return 409, {"message": "conflict"}
        return 201, {"data": {**_public(doc), "id": doc["_id"]}}

    def upload(self, account_id: str, media_id: str, content_type: str, body: bytes) -> tuple[int, Any]:
        ext = _EXT.get(content_type)
        if ext is None:
            return 415, {"message": "unsupported media type", "data": {"content_type": content_type}}
        db = dbnames.account_db(account_id)
        doc = self.couch.get(db, media_id)
        if doc is None or doc.get("pvt_deleted"):
            return 404, {"message": "bad identifier"}
        bare = {k: v for k, v in doc.items() if k != "_attachments"}
        bare.update(content_type=content_type, content_length=len(body), media_source="upload")
        refused = self.invalid("media", bare)
        if refused:
            return refused
        bare["_rev"] = self.couch.save(db, bare)
        kd.write_as_kazoo(
            self.couch,
            db,
            {**bare, "_attachments": kd.inline(f"uploaded_file_{kd.gregorian_now()}.{ext}", body, content_type)},
        )
        return 200, {"data": _public(self.couch.get(db, media_id) or {})}

    def update(self, account_id: str, media_id: str, data: dict[str, Any]) -> tuple[int, Any]:
        db = dbnames.account_db(account_id)
        doc = self.couch.get(db, media_id)
        if doc is None or doc.get("pvt_deleted"):
            return 404, {"message": "bad identifier"}
        kept = {k: v for k, v in doc.items() if k.startswith(("_", "pvt_"))}
        updated = {**kept, **{k: v for k, v in data.items() if not k.startswith(("_", "pvt_"))}}
        refused = self.invalid("media", updated)
        if refused:
            return refused
        self.couch.save(db, updated)
        return 200, {"data": _public(self.couch.get(db, media_id) or {})}

    def delete(self, account_id: str, media_id: str) -> tuple[int, Any]:
        db = dbnames.account_db(account_id)
        doc = self.couch.get(db, media_id)
        if doc is None or doc.get("pvt_deleted"):
            return 404, {"message": "bad identifier"}
        if doc.get("prompt_id") is not None:  # kzd_media:is_prompt: Crossbar deletes it for good
            self.couch.delete(db, doc["_id"], doc["_rev"])
        else:
            self.couch.save(db, {**doc, "pvt_deleted": True, "pvt_modified": kd.gregorian_now()})
        return 200, {"data": _public(doc)}

    def patch(self, account_id: str, doc_id: str, data: dict[str, Any]) -> tuple[int, Any]:
        db = dbnames.account_db(account_id)
        doc = self.couch.get(db, doc_id)
        if doc is None or doc.get("pvt_deleted"):
            return 404, {"message": "bad identifier"}
        merged = {**_merge(doc, data), "pvt_modified": kd.gregorian_now()}
        refused = self.invalid(str(doc.get("pvt_type")), merged)
        if refused:
            return refused
        merged["_rev"] = self.couch.save(db, merged)
        if doc.get("pvt_type") == "account":  # kzd_accounts:save/1 keeps the copy in `accounts`
            copy = self.couch.get("accounts", doc_id)
            self.couch.save("accounts", {**merged, "_rev": copy["_rev"]} if copy else _unrevised(merged))
        return 200, {"data": _public(self.couch.get(db, doc_id) or {})}


def _merge(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _unrevised(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_rev"}


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}


@contextmanager
def crossbar_media(couch: CouchClient, version: str = "4.3") -> Iterator[tuple[str, CrossbarMedia]]:
    api = CrossbarMedia(couch, version)

    class Handler(JsonHandler):
        def _route(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
            api.calls.append(f"{method} {'/'.join(parts)}")
            if method == "PUT" and parts == ["v2", "api_auth"]:
                ok = json.loads(body)["data"].get("api_key") == API_KEY
                return self._answer(201, {"auth_token": api.token}) if ok else self._answer(401, {"error": "401"})
            if self.headers.get("X-Auth-Token") != api.token:
                return self._answer(401, {"error": "401", "message": "invalid credentials"})
            data = json.loads(body).get("data", {}) if body and "json" in self.headers.get("Content-Type", "") else {}
            account = parts[2] if len(parts) > 2 else ""
            return self._answer(*self._dispatch(method, parts[3:], account, data, body))

        def _dispatch(self, method: str, rest: list[str], account: str, data: Any, body: bytes) -> tuple[int, Any]:
            if method == "PUT" and rest == ["media"]:
                return api.create(account, data)
            content_type = self.headers.get("Content-Type", "")
            if method == "POST" and len(rest) == 3 and rest[0] == "media" and rest[2] == "raw":
                return api.upload(account, rest[1], content_type, body)
            if method == "POST" and len(rest) == 2 and rest[0] == "media" and api.version == "master":
                if content_type.startswith("audio/"):  # master takes the binary at /media/{M} itself
                    return api.upload(account, rest[1], content_type, body)
            if method == "POST" and len(rest) == 2 and rest[0] == "media":
                return api.update(account, rest[1], data)
            if method == "DELETE" and len(rest) == 2 and rest[0] == "media":
                return api.delete(account, rest[1])
            if method == "PATCH" and not rest:
                return api.patch(account, account, data)
            if method == "PATCH" and len(rest) == 2 and rest[0] in ("users", "devices", "groups"):
                return api.patch(account, rest[1], data)
            return 404, {"message": "not found"}

        def do_PUT(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
            self._route("PUT")

        def do_POST(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
            self._route("POST")

        def do_PATCH(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
            self._route("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
            self._route("DELETE")

    with serving(Handler) as url:
        yield url, api
