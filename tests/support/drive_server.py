"""A strict Drive v3 test server on 127.0.0.1, for google-api-python-client (and Sheets v4 beside
it: tests/support/sheets_model.py).

    python -m tests.support.drive_server --port 8090

Serves what syncd uses, with Drive's semantics and error bodies (see
drive_model.py): OAuth token grants (service-account JWT and refresh token),
files list/get (alt=media, Range)/create/update/delete, multipart and
resumable uploads (256 KiB chunk rule, 308 + Range, status queries), changes
getStartPageToken/list. Requests need a bearer token this server issued.

Control endpoints for tests, under /__control/:
- POST faults  {"status": 429, "count": 3, "path": "/upload"}: the next matching
  requests fail as Drive's rate limiter or backend would; {"delay": 30, ...}
  holds them that many seconds before their body is read instead; "method"
  narrows the match, "skip" lets that many matching requests through first;
- GET log: every request (method, path, uploadType, Content-Range, status);
- POST as-user {"meta": ..., "content": base64}: a file added by a person, which
  a drive.file token cannot see; {"op": "update", "id", "meta", "addParents",
  "removeParents"} and {"op": "delete", "id"}: a person trashing, restoring,
  moving or deleting a file;
- POST file {"id": ...}: a file's whole resource, trashed or not;
- POST shared-drive {"name": ...}: a new shared drive (its id is its root folder).

A service account impersonating anyone "@not-delegated.example" is refused a
token, as Google refuses one whose domain-wide delegation lacks the scope.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.drive_model import FOLDER, Drive, DriveError, File, invalid, select
from tests.support.sheets_model import Sheets, SheetsError

FILE_DEFAULT = ("kind", "id", "name", "mimeType")
CHUNK = 256 * 1024
FULL_SCOPES = {"https://www.googleapis.com/auth/drive"}
_FAULTS = {
    429: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    403: ("usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded"),
    500: ("global", "backendError", "Backend Error"),
    503: ("global", "backendError", "Service Unavailable"),
}


class State:
    def __init__(self) -> None:
        self.drive = Drive()
        self.tokens: dict[str, set[str]] = {}  # access token -> scopes
        self.sessions: dict[str, dict[str, Any]] = {}
        self.sheets = Sheets()  # Sheets v4 on the same port, with the same tokens and faults
        self.faults: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.lock = threading.RLock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; the log is /__control/log
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # -- dispatch ------------------------------------------------------------
    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self._delay(method, url.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        entry = {
            "method": method,
            "path": url.path,
            "uploadType": self.query.get("uploadType"),
            "range": self.headers.get("Content-Range"),
            "bytes": len(self.body),
        }
        try:
            status, payload, headers = self._route(method, url.path)
        except DriveError as exc:
            status, payload, headers = exc.code, exc.body(), {}
        entry["status"] = status
        with self.state.lock:
            self.state.log.append(entry)
        self._reply(status, payload, headers)

    def _route(self, method: str, path: str) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/__control/"):
            return self._control(method, path[len("/__control/") :])
        if path == "/token" and method == "POST":
            return self._token()
        scopes = self._auth()
        self._fault(path)
        with self.state.lock:
            return self._api(method, path, scopes)

    def _api(self, method: str, path: str, scopes: set[str]) -> tuple[int, Any, dict[str, str]]:
        drive = self.state.drive
        if path.startswith("/v4/spreadsheets"):
            try:
                body = self._json() if method in ("POST", "PUT") else {}
                return 200, self.state.sheets.serve(method, path, self.query, body), {}
            except SheetsError as exc:
                return exc.code, exc.body(), {}
        if path == "/drive/v3/changes/startPageToken" and method == "GET":
            self._shared_drive_param()
            return 200, {"kind": "drive#startPageToken", "startPageToken": drive.start_token()}, {}
        if path == "/drive/v3/changes" and method == "GET":
            return self._changes(scopes)
        if path == "/drive/v3/files" and method == "GET":
            return self._list(scopes)
        if path == "/drive/v3/files" and method == "POST":
            meta = self._json()
            return 200, self._file(drive.create(meta, b""), FILE_DEFAULT), {}
        if path == "/upload/drive/v3/files" and method == "POST":
            return self._upload_start()
        if path == "/upload/drive/v3/files" and method == "PUT":
            return self._upload_chunk()
        match = re.fullmatch(r"/drive/v3/files/([^/]+)", path)
        if match:
            return self._one_file(method, match[1], scopes)
        raise DriveError(404, "notFound", f"Not Found: {method} {path}")

    # -- auth ----------------------------------------------------------------
    def _token(self) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = _jwt_claims(form.get("assertion", ""))
            scopes = set(str(claims.get("scope", "")).split())
            if str(claims.get("sub", "")).endswith("@not-delegated.example"):  # no domain-wide delegation
                return (
                    401,
                    {
                        "error": "unauthorized_client",
                        "error_description": "Client is unauthorized to "
                        "retrieve access tokens using this method, or client not authorized for any of "
                        "the scopes requested.",
                    },
                    {},
                )
        elif grant == "refresh_token" and form.get("refresh_token") and form.get("client_id"):
            scopes = set(form.get("scope", "https://www.googleapis.com/auth/drive").split())
        else:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}, {}
        token = "ya29.test-" + secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens[token] = scopes
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}, {}

    def _auth(self) -> set[str]:
        header = self.headers.get("Authorization", "")
        scopes = self.state.tokens.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or scopes is None:
            raise DriveError(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth "
                "2 access token, login cookie or other valid authentication credential.",
                "Authorization",
            )
        return scopes

    def _fault(self, path: str) -> None:
        fault = self._take_fault(self.command, path, "status")
        if fault:
            domain, reason, message = _FAULTS[fault["status"]]
            raise DriveError(fault["status"], reason, message, domain=domain)

    def _delay(self, method: str, path: str) -> None:
        fault = self._take_fault(method, path, "delay")
        if fault:
            time.sleep(fault["delay"])

    def _take_fault(self, method: str, path: str, kind: str) -> dict[str, Any] | None:
        with self.state.lock:
            for fault in self.state.faults:
                if (
                    kind not in fault
                    or fault["count"] <= 0
                    or fault.get("path", "") not in path
                    or fault.get("method", method) != method
                ):
                    continue
                if fault.get("skip", 0) > 0:
                    fault["skip"] -= 1
                    return None
                fault["count"] -= 1
                return fault
        return None

    # -- files -----------------------------------------------------------------
    def _list(self, scopes: set[str]) -> tuple[int, Any, dict[str, str]]:
        size = self.query.get("pageSize", "100")
        if not size.isdigit() or not 1 <= int(size) <= 1000:
            raise invalid("pageSize")
        if self.query.get("driveId") and self.query.get("includeItemsFromAllDrives") != "true":
            raise DriveError(
                403,
                "teamDriveIncludeItemsRequired",
                "The includeItemsFromAllDrives parameter must be set to true when driveId is specified.",
            )
        corpora = self.query.get("corpora", "user")
        if self.query.get("driveId") and corpora != "drive":
            raise invalid("corpora", "The corpora parameter must be 'drive' when driveId is specified.")
        files = [f for f in self.state.drive.query(self.query.get("q")) if self._listable(f, scopes, corpora)]
        token = self.query.get("pageToken", "0")
        if not token.isdigit():
            raise invalid("pageToken")
        start = int(token)
        page = files[start : start + int(size)]
        out: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [f.resource() for f in page],
        }
        if start + int(size) < len(files):
            out["nextPageToken"] = str(start + int(size))
        fields = self.query.get("fields")
        if not fields:
            out["files"] = [select(f, None, FILE_DEFAULT) for f in out["files"]]
            return 200, out, {}
        return 200, select(out, fields, ()), {}

    def _one_file(self, method: str, file_id: str, scopes: set[str]) -> tuple[int, Any, dict[str, str]]:
        drive = self.state.drive
        file = drive.get(file_id)
        if not _visible(file, scopes) or (file.drive_id and self.query.get("supportsAllDrives") != "true"):
            raise DriveError(404, "notFound", f"File not found: {file_id}.", "fileId")
        if method == "GET" and self.query.get("alt") == "media":
            return self._media(file)
        if method == "GET":
            return 200, self._file(file, FILE_DEFAULT), {}
        if method == "PATCH":
            updated = drive.update(
                file_id, self._json(), self.query.get("addParents", ""), self.query.get("removeParents", "")
            )
            return 200, self._file(updated, FILE_DEFAULT), {}
        if method == "DELETE":
            drive.delete(file_id)
            return 204, None, {}
        raise DriveError(405, "methodNotAllowed", "Method not allowed")

    def _media(self, file: File) -> tuple[int, Any, dict[str, str]]:
        if file.mime_type == FOLDER:
            raise DriveError(403, "fileNotDownloadable", "Only files with binary content can be downloaded.", "alt")
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if wanted is None:
            return 200, file.content, {"Content-Type": file.mime_type}
        first = int(wanted[1])
        last = min(int(wanted[2]) if wanted[2] else len(file.content) - 1, len(file.content) - 1)
        if first >= len(file.content):
            raise DriveError(416, "requestedRangeNotSatisfiable", "Request range not satisfiable")
        return (
            206,
            file.content[first : last + 1],
            {"Content-Type": file.mime_type, "Content-Range": f"bytes {first}-{last}/{len(file.content)}"},
        )

    def _file(self, file: File, default: tuple[str, ...]) -> dict[str, Any]:
        return select(file.resource(), self.query.get("fields"), default)

    # -- uploads ---------------------------------------------------------------
    def _upload_start(self) -> tuple[int, Any, dict[str, str]]:
        kind = self.query.get("uploadType")
        if kind == "multipart":
            meta, content = _multipart(self.headers.get("Content-Type", ""), self.body)
            return 200, self._file(self.state.drive.create(meta, content), FILE_DEFAULT), {}
        if kind == "media":
            return 200, self._file(self.state.drive.create({}, self.body), FILE_DEFAULT), {}
        if kind != "resumable":
            raise invalid("uploadType", "Invalid upload type")
        total = self.headers.get("X-Upload-Content-Length")
        session = secrets.token_hex(16)
        self.state.sessions[session] = {
            "meta": self._json() if self.body else {},
            "data": bytearray(),
            "total": int(total) if total else None,
            "fields": self.query.get("fields"),
        }
        host = self.headers.get("Host", "127.0.0.1")
        return 200, None, {"Location": f"http://{host}/upload/drive/v3/files?uploadType=resumable&upload_id={session}"}

    def _upload_chunk(self) -> tuple[int, Any, dict[str, str]]:
        session = self.state.sessions.get(self.query.get("upload_id", ""))
        if session is None:
            raise DriveError(404, "notFound", "Upload session not found or expired.")
        data: bytearray = session["data"]
        match = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\*|\d+)", self.headers.get("Content-Range", ""))
        if match is None:
            raise invalid("Content-Range", "Invalid request. Content-Range header is missing or malformed.")
        total = None if match[4] == "*" else int(match[4])
        if match[1] != "*":
            first, last = int(match[2]), int(match[3])
            if first != len(data) or last - first + 1 != len(self.body):
                raise invalid(
                    "Content-Range", "Invalid request. The byte range does not match what was received so far."
                )
            final = total is not None and last + 1 == total
            if not final and len(self.body) % CHUNK:
                raise invalid(
                    "Content-Range",
                    "Invalid request. Chunk size must be a multiple of 256 KiB except for the last chunk.",
                )
            data += self.body
        if total is not None and len(data) == total:
            del self.state.sessions[self.query["upload_id"]]
            file = self.state.drive.create(session["meta"], bytes(data))
            return 200, select(file.resource(), session["fields"], FILE_DEFAULT), {}
        return 308, None, ({"Range": f"bytes=0-{len(data) - 1}"} if data else {})

    # -- changes ---------------------------------------------------------------
    def _changes(self, scopes: set[str]) -> tuple[int, Any, dict[str, str]]:
        token = self.query.get("pageToken")
        if not token:
            raise DriveError(400, "required", "Required parameter: pageToken", "pageToken")
        size = int(self.query.get("pageSize", "100"))
        if not 1 <= size <= 1000:
            raise invalid("pageSize")
        drive_id = self._shared_drive_param()
        if drive_id and self.query.get("includeItemsFromAllDrives") != "true":
            raise DriveError(
                403,
                "teamDriveIncludeItemsRequired",
                "The includeItemsFromAllDrives parameter must be set to true when driveId is specified.",
            )
        found, new_start = self.state.drive.changes_since(token, drive_id)
        page = found[:size]
        changes = []
        for _change_id, file_id in page:
            file = self.state.drive.files.get(file_id)
            if file is not None and not _visible(file, scopes):
                continue
            change: dict[str, Any] = {
                "kind": "drive#change",
                "changeType": "file",
                "fileId": file_id,
                "removed": file is None,
                "time": "2026-01-01T00:00:00.000Z",
            }
            if file is not None:
                change["file"] = file.resource()
            changes.append(change)
        out: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
        if len(found) > size:
            out["nextPageToken"] = str(page[-1][0] + 1)
        else:
            out["newStartPageToken"] = new_start
        return 200, select(out, self.query.get("fields"), tuple(out)), {}

    def _listable(self, file: File, scopes: set[str], corpora: str) -> bool:
        if not _visible(file, scopes):
            return False
        if not file.drive_id:
            return corpora != "drive"
        return (
            self.query.get("includeItemsFromAllDrives") == "true"
            and self.query.get("supportsAllDrives") == "true"
            and (corpora == "allDrives" or self.query.get("driveId") == file.drive_id)
        )

    def _shared_drive_param(self) -> str | None:
        drive_id = self.query.get("driveId")
        if drive_id is None:
            return None
        if self.query.get("supportsAllDrives") != "true":
            raise DriveError(
                403,
                "teamDrivesSupportRequired",
                "The supportsAllDrives parameter must be true when driveId is specified.",
            )
        root = self.state.drive.files.get(drive_id)
        if root is None or root.drive_id != drive_id:
            raise DriveError(404, "notFound", f"Shared drive not found: {drive_id}", "driveId")
        return drive_id

    # -- control -----------------------------------------------------------------
    def _control(self, method: str, name: str) -> tuple[int, Any, dict[str, str]]:
        with self.state.lock:
            if name == "faults" and method == "POST":
                self.state.faults.append(self._json())
                return 200, {"ok": True}, {}
            if name == "log" and method == "GET":
                return 200, self.state.log, {}
            if name == "as-user" and method == "POST":
                return 200, self._as_user(self._json()), {}
            if name == "file" and method == "POST":
                return 200, self.state.drive.get(self._json()["id"]).resource(), {}
            if name == "sheets" and method == "GET":  # every spreadsheet: {id: {title, sheets: {title: rows}}}
                return (
                    200,
                    {
                        b.spreadsheet_id: {"title": b.title, "sheets": {s.title: s.rows for s in b.sheets}}
                        for b in self.state.sheets.books.values()
                    },
                    {},
                )
            if name == "shared-drive" and method == "POST":
                return 200, self.state.drive.shared_drive(self._json().get("name", "Shared")).resource(), {}
        return 404, {"error": "no such control"}, {}

    def _as_user(self, request: dict[str, Any]) -> dict[str, Any]:
        drive, op = self.state.drive, request.get("op", "create")
        if op == "update":
            return drive.update(
                request["id"], request.get("meta", {}), request.get("addParents", ""), request.get("removeParents", "")
            ).resource()
        if op == "delete":
            drive.delete(request["id"])
            return {"deleted": request["id"]}
        file = drive.create(request.get("meta", {}), base64.b64decode(request.get("content", "")), by_app=False)
        return file.resource()

    # -- plumbing ----------------------------------------------------------------
    def _json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            raise DriveError(400, "parseError", "Parse Error") from None
        if not isinstance(value, dict):
            raise DriveError(400, "parseError", "Parse Error")
        return value

    def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, (bytes, bytearray)):
            body = bytes(payload)
        elif payload is None:
            body = b""
        else:
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json; charset=UTF-8", **headers}
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _visible(file: File, scopes: set[str]) -> bool:
    """A drive.file token sees only files this app created (Kazoo's handler blind spot)."""
    return bool(scopes & FULL_SCOPES) or file.created_by_app


def _jwt_claims(assertion: str) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise DriveError(400, "invalid_grant", "Invalid JWT")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    if not content_type.startswith("multipart/related"):
        raise invalid("Content-Type", "Invalid multipart request: expected multipart/related")
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    parts = list(message.iter_parts())
    if len(parts) != 2:
        raise invalid("body", "Invalid multipart request with 2 parts expected")
    meta = json.loads(parts[0].get_payload(decode=True) or b"{}")
    return meta, parts[1].get_payload(decode=True) or b""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Handler.state = State()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
