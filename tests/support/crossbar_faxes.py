"""A Crossbar stand-in for fax jobs, on 127.0.0.1, writing to the real pouchdb-server as
cb_faxes does (docs/kazoo.md §6.1):

- PUT /v2/api_auth with the API key -> an auth token (every other call needs it);
- PUT /v2/accounts/{A}/faxes and /v2/accounts/{A}/faxboxes/{FB}/faxes with a
  multipart/mixed body (JSON {"data": ...} part, then the PDF): to_number and
  from_number required, to_number normalised to E.164 (a number that cannot be is
  400 "validation error"), the faxbox fills the sender (nested form), the PDF
  saved as original_file.pdf, the job saved in `faxes` as pending with a 32-hex
  id of Kazoo's choosing; 202 with the job;
- GET /v2/accounts/{A}/faxes/outgoing and /faxes/outbox (?created_from=): the
  account's queued jobs and its ended ones (this month's MODB), ids only.
"""

from __future__ import annotations

import email
import email.policy
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.support import kazoo_data as kd

API_KEY = "c" * 64
_FROM_FAXBOX = {
    "caller_id": "from_number",
    "caller_name": "from_name",
    "fax_identity": "fax_identity_number",
    "fax_header": "fax_identity_name",
    "retries": "retries",
}


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON, for Crossbar stand-ins."""

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class CrossbarFaxes:
    def __init__(self, couch: CouchClient) -> None:
        self.couch = couch
        self.calls: list[str] = []
        self.token = secrets.token_hex(8)
        self.refuse: set[str] = set()  # to_numbers Kazoo's number manager cannot route

    def create(self, account_id: str, faxbox_id: str | None, content_type: str, body: bytes) -> tuple[int, Any]:
        message = email.message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
        )
        parts = list(message.iter_parts()) if message.is_multipart() else []
        if len(parts) != 2 or parts[1].get_content_type() != "application/pdf":
            return 400, {"message": "invalid request", "data": {"multipart": "a JSON part and a PDF"}}
        data = json.loads(parts[0].get_content())["data"]
        if faxbox_id:
            box = self.couch.get(dbnames.account_db(account_id), faxbox_id) or {}
            data = {**{job: box[b] for b, job in _FROM_FAXBOX.items() if b in box}, **data, "faxbox_id": faxbox_id}
        digits = "".join(c for c in str(data.get("to_number", "")) if c.isdigit())
        if len(digits) < 10 or data.get("to_number") in self.refuse:
            return 400, {"message": "validation error", "data": {"to_number": {"invalid": "not reconcilable"}}}
        data["to_number"] = "+" + (digits if len(digits) > 10 else "1" + digits)
        now = kd.gregorian_now()
        doc = {
            **data,
            "_id": secrets.token_hex(16),
            "pvt_type": "fax",
            "pvt_job_status": "pending",
            "pvt_account_id": account_id,
            "pvt_account_db": "faxes",
            "pvt_created": now,
            "pvt_modified": now,
            "attempts": 0,
            "retries": data.get("retries", 1),
            "_attachments": kd.inline("original_file.pdf", parts[1].get_content(), "application/pdf"),
        }
        self.couch.save("faxes", doc)
        public = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}
        return 202, {"data": {**public, "id": doc["_id"]}, "status": "success"}

    def listing(self, account_id: str, folder: str, created_from: int) -> list[dict[str, Any]]:
        if folder == "outgoing":
            docs = [d for d in self.couch.all_docs("faxes") if d.get("pvt_account_id") == account_id]
        else:
            modb = dbnames.modb(account_id, *kd.now_month())
            docs = [d for d in self.couch.all_docs(modb) if d.get("pvt_type") == "fax" and d.get("folder") == "outbox"]
        return [
            {"id": d["_id"], "created": d.get("pvt_created")}
            for d in docs
            if int(d.get("pvt_created") or 0) >= created_from
        ]


@contextmanager
def crossbar_faxes(couch: CouchClient) -> Iterator[tuple[str, CrossbarFaxes]]:
    api = CrossbarFaxes(couch)

    class Handler(JsonHandler):
        def _authed(self) -> bool:
            if self.headers.get("X-Auth-Token") == api.token:
                return True
            self._answer(401, {"error": "401", "message": "invalid credentials"})
            return False

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            parts = urlsplit(self.path).path.strip("/").split("/")
            api.calls.append(f"PUT {'/'.join(parts)}")
            if parts == ["v2", "api_auth"]:
                ok = json.loads(body)["data"].get("api_key") == API_KEY
                return self._answer(201, {"auth_token": api.token}) if ok else self._answer(401, {"error": "401"})
            if not self._authed():
                return None
            if len(parts) == 4 and parts[3] == "faxes":
                return self._answer(*api.create(parts[2], None, self.headers["Content-Type"], body))
            if len(parts) == 6 and parts[3] == "faxboxes" and parts[5] == "faxes":
                return self._answer(*api.create(parts[2], parts[4], self.headers["Content-Type"], body))
            return self._answer(404, {"message": "not found"})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            api.calls.append(f"GET {'/'.join(parts)}")
            if not self._authed():
                return None
            if len(parts) == 5 and parts[3] == "faxes" and parts[4] in ("outgoing", "outbox"):
                since = int(parse_qs(url.query).get("created_from", ["0"])[0])
                return self._answer(200, {"data": api.listing(parts[2], parts[4], since)})
            return self._answer(404, {"message": "not found"})

    with serving(Handler) as url:
        yield url, api


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stand-in's handler served on 127.0.0.1 in a thread: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
