"""The little of Kazoo's REST API (Crossbar) syncd uses: API-key auth and
deleting a voicemail message, which also refreshes the phone's MWI light.

Plain urllib: two calls do not justify another HTTP client dependency.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from syncd.errors import KazooError


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

    def _auth(self) -> str:
        with self._lock:
            if self._token is None:
                answer = self._call("PUT", "/v2/api_auth", {"data": {"api_key": self._api_key}}, authed=False)
                token = answer.get("auth_token")
                if not token:
                    raise KazooError(f"Crossbar at {self.url} answered api_auth without an auth_token")
                self._token = str(token)
            return self._token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, *, authed: bool,
              retry_auth: bool = True) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if authed:
            headers["X-Auth-Token"] = self._auth()
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and authed and retry_auth:
                with self._lock:
                    self._token = None  # expired token: authenticate once more
                return self._call(method, path, body, authed=True, retry_auth=False)
            what = "the API key was refused: check [two_way] crossbar_api_key" if exc.code == 401 and not authed \
                else f"HTTP {exc.code}"
            raise KazooError(f"Crossbar {method} {self.url}{path}: {what}") from None
        except (OSError, ValueError) as exc:
            raise KazooError(f"Crossbar at {self.url} is unreachable or answered badly ({exc})") from None
