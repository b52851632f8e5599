"""The little of Kazoo's REST API (Crossbar) syncd uses: API-key auth, deleting
a voicemail message (which also refreshes the phone's MWI light), creating a fax
job with its PDF (multipart, as applications/crossbar/doc/multipart.md),
listing an account's fax jobs, and media: metadata, binary, delete, and the
music_on_hold of accounts, users, devices and groups.

Plain urllib: a handful of calls do not justify another HTTP client dependency.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from syncd.errors import FaxRefused, KazooError


class Crossbar:
    def __init__(self, url: str, api_key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._token: str | None = None
        self._lock = threading.Lock()
        self.timeout = timeout

    def delete_voicemail(self, account_id: str, box_id: str, message_id: str) -> None:
        path = f"/v2/accounts/{account_id}/vmboxes/{quote(box_id, safe='')}/messages/{quote(message_id, safe='')}"
        self._call("DELETE", path, authed=True)

    def create_fax(self, account_id: str, faxbox_id: str | None, data: dict[str, Any], pdf: bytes) -> dict[str, Any]:
        """PUT a fax job with its PDF; the job as Kazoo saved it. Through the faxbox when given, so
        Kazoo fills the sender from it. Raises FaxRefused when Kazoo refuses the job itself (4xx)."""
        box = f"/faxboxes/{quote(faxbox_id, safe='')}" if faxbox_id else ""
        body, content_type = _multipart({"data": data}, pdf)
        answer = self._call(
            "PUT", f"/v2/accounts/{account_id}{box}/faxes", raw=(body, content_type), authed=True, refused=FaxRefused
        )
        return dict(answer.get("data") or {})

    def fax_ids(self, account_id: str, folder: str, created_from: int) -> list[str]:
        """Ids of the account's fax jobs in `outgoing` (queued) or `outbox` (ended) created since
        created_from (Gregorian seconds, Crossbar's created_from filter)."""
        query = urlencode({"created_from": created_from, "paginate": "false"})
        answer = self._call("GET", f"/v2/accounts/{account_id}/faxes/{folder}?{query}", authed=True)
        return [str(row["id"]) for row in answer.get("data") or [] if isinstance(row, dict) and row.get("id")]

    # -- media (cb_media): metadata, then the binary; music on hold by PATCH ----------
    def create_media(self, account_id: str, data: dict[str, Any]) -> str:
        """PUT a media doc's metadata; the id Kazoo gave it."""
        answer = self._call("PUT", f"/v2/accounts/{account_id}/media", {"data": data}, authed=True)
        media_id = (answer.get("data") or {}).get("id")
        if not media_id:
            raise KazooError(f"Crossbar at {self.url} created a media without saying its id")
        return str(media_id)

    def upload_media(
        self, account_id: str, media_id: str, audio: bytes, content_type: str, audio_path: str = "/raw"
    ) -> None:
        """POST the binary: Kazoo replaces any it had and sets content_type and content_length."""
        # 4.3 takes the audio at /media/{id}/raw; master at /media/{id} itself (syncd.kazoo.versions)
        path = f"/v2/accounts/{account_id}/media/{quote(media_id, safe='')}{audio_path}"
        self._call("POST", path, raw=(audio, content_type), authed=True)

    def update_media(self, account_id: str, media_id: str, data: dict[str, Any]) -> None:
        self._call("POST", f"/v2/accounts/{account_id}/media/{quote(media_id, safe='')}", {"data": data}, authed=True)

    def delete_media(self, account_id: str, media_id: str) -> None:
        self._call("DELETE", f"/v2/accounts/{account_id}/media/{quote(media_id, safe='')}", authed=True)

    def patch(self, account_id: str, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        """PATCH a doc's fields: the account itself (collection "") or a user, device or group."""
        where = f"/{collection}/{quote(doc_id, safe='')}" if collection else ""
        self._call("PATCH", f"/v2/accounts/{account_id}{where}", {"data": data}, authed=True)

    def _auth(self) -> str:
        with self._lock:
            if self._token is None:
                answer = self._call("PUT", "/v2/api_auth", {"data": {"api_key": self._api_key}}, authed=False)
                token = answer.get("auth_token")
                if not token:
                    raise KazooError(f"Crossbar at {self.url} answered api_auth without an auth_token")
                self._token = str(token)
            return self._token

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        authed: bool,
        raw: tuple[bytes, str] | None = None,
        refused: type[KazooError] = KazooError,
        retry_auth: bool = True,
    ) -> dict[str, Any]:
        data, content_type = (
            raw if raw else (json.dumps(body).encode() if body is not None else None, "application/json")
        )
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if authed:
            headers["X-Auth-Token"] = self._auth()
        # S310: self.url is the operator's http(s) URL, checked when the config was read
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and authed and retry_auth:
                with self._lock:
                    self._token = None  # expired token: authenticate once more
                return self._call(method, path, body, authed=True, raw=raw, refused=refused, retry_auth=False)
            if exc.code == 401 and not authed:
                raise KazooError(
                    f"Crossbar {method} {self.url}{path}: the API key was refused: check [kazoo.crossbar] api_key"
                ) from None
            if exc.code in (400, 404, 409, 413, 415) and refused is not KazooError:
                raise refused(f"Kazoo refused it: HTTP {exc.code} {_message(exc)}") from None
            raise KazooError(f"Crossbar {method} {self.url}{path}: HTTP {exc.code} {_message(exc)}") from None
        except (OSError, ValueError) as exc:
            raise KazooError(f"Crossbar at {self.url} is unreachable or answered badly ({exc})") from None


def _multipart(envelope: dict[str, Any], pdf: bytes) -> tuple[bytes, str]:
    """multipart/mixed: the JSON envelope, then the PDF (Crossbar's ACCEPTED_MIME_TYPES)."""
    boundary = "syncd-" + secrets.token_hex(16)
    head = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(envelope)}\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + pdf + f"\r\n--{boundary}--\r\n".encode(), f"multipart/mixed; boundary={boundary}"


def _message(exc: urllib.error.HTTPError) -> str:
    """Crossbar's error text (message and what failed validation), short; never the request."""
    try:
        answer = json.loads(exc.read() or b"{}")
    except ValueError:
        return ""
    detail = json.dumps(answer.get("data"), sort_keys=True)[:300] if answer.get("data") else ""
    return " ".join(x for x in (str(answer.get("message") or ""), detail) if x)
