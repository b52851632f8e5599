"""The Drive backend's moving parts below the contract: credentials, the retry
policy and error translation, resumable-upload bodies and sessions, ranged reads.

Retries are syncd's own rather than the client's `num_retries`, so each one is
logged with the object it is about, and so a resumable upload interrupted by
a transport error asks Drive where it stopped before sending more.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import google.auth.exceptions
import googleapiclient.errors
import httplib2
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.http import MediaUpload

from syncd.backends.base import HashingReader
from syncd.errors import BackendUnavailable, IntegrityError, NotFound

log = logging.getLogger("syncd.gdrive")
FULL_SCOPE = "https://www.googleapis.com/auth/drive"
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
TRANSPORT_ERRORS = (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, OSError)
T = TypeVar("T")


def load_credentials(text: str, subject: str | None) -> Any:
    """Credentials from a service-account key or an OAuth client's authorized-user JSON (its text)."""
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BackendUnavailable(
            f"the Google credentials are not JSON ({exc.msg}); give the key file downloaded from the Cloud console"
        ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            creds = service_account.Credentials.from_service_account_info(info, scopes=[FULL_SCOPE])
            return creds.with_subject(subject) if subject else creds
        if kind == "authorized_user":
            creds = user_credentials.Credentials.from_authorized_user_info(info, scopes=[FULL_SCOPE])
            # google-auth ignores the file's token_uri; honour it (a test server, or a Workspace proxy)
            return creds.with_token_uri(info["token_uri"]) if info.get("token_uri") else creds
    except (ValueError, KeyError) as exc:
        raise BackendUnavailable(f"the Google credentials of type {kind} are incomplete: {exc}") from None
    raise BackendUnavailable(
        f"the Google credentials have type {kind!r}; expected a service-account key "
        '("service_account") or an OAuth client\'s token ("authorized_user")'
    )


class Backoff:
    """Exponential backoff with jitter for Drive's transient answers: 429, 5xx, 403 rate limits.

    Attempt n waits between half and all of min(maximum, base * 2**(n-1)):
    never a tight loop, and clients that failed together do not retry together.
    """

    def __init__(
        self, retries: int = 6, base: float = 1.0, maximum: float = 64.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.retries, self.base, self.maximum, self.sleep = retries, base, maximum, sleep

    def run(self, what: str, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except googleapiclient.errors.HttpError as exc:
                why = transient(exc)
                if why is None or attempt >= self.retries:
                    raise
            except TRANSPORT_ERRORS as exc:
                if attempt >= self.retries:
                    raise
                why = f"connection error ({exc})"
            attempt += 1
            delay = min(self.maximum, self.base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
            log.warning(
                "Drive: %s to %s; backing off %.1f s before retry %d of %d", why, what, delay, attempt, self.retries
            )
            self.sleep(delay)


def as_contract_errors(backend: str, what: str, fn: Callable[[], Any], key: str | None) -> Any:
    """fn(), with Drive's and the transport's errors turned into the contract's: NotFound or
    BackendUnavailable, naming the backend (its description) and what it could not do."""
    try:
        return fn()
    except googleapiclient.errors.HttpError as exc:
        status = exc.resp.status
        if status == 404 and key is not None:
            raise NotFound(key) from None
        hint = ""
        if status in (401, 403):
            hint = (
                "; check the credentials file and that the folder is shared with this account "
                f"(scope {FULL_SCOPE} is needed to see files people add)"
            )
        raise BackendUnavailable(f"{backend}: cannot {what}: HTTP {status} {exc.reason}{hint}") from None
    except google.auth.exceptions.RefreshError as exc:
        raise BackendUnavailable(
            f"{backend}: cannot {what}: Google refused a token for scope {FULL_SCOPE} ({exc}). "
            "For a service account impersonating a user, authorise its client id for that scope under "
            "domain-wide delegation in the Admin console; for an OAuth client, create the refresh token "
            "with that scope"
        ) from None
    except (google.auth.exceptions.GoogleAuthError, *TRANSPORT_ERRORS) as exc:
        raise BackendUnavailable(f"{backend}: cannot {what}: {exc}") from None


def transient(exc: googleapiclient.errors.HttpError) -> str | None:
    """Why Drive's error is worth retrying (e.g. "HTTP 429 rateLimitExceeded"), or None."""
    status = exc.resp.status
    reason = error_reason(exc)
    if status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return f"HTTP {status} {reason or exc.reason}".rstrip()
    return None


def error_reason(exc: googleapiclient.errors.HttpError) -> str:
    try:
        errors = json.loads(exc.content)["error"].get("errors") or [{}]
        return str(errors[0].get("reason", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def session_position(http: Any, session_uri: str, length: int) -> int | dict[str, Any] | None:
    """Where Drive's resumable session stands: the bytes it holds, the file when already
    complete, or None when the session is gone (expired after a week, or never finished)."""
    resp, content = http.request(
        session_uri, "PUT", body=b"", headers={"Content-Range": f"bytes */{length}", "Content-Length": "0"}
    )
    if resp.status == 308:
        match = re.fullmatch(r"bytes=0-(\d+)", resp.get("range", ""))
        return int(match[1]) + 1 if match else 0
    if resp.status in (200, 201):
        return json.loads(content)  # type: ignore[no-any-return]
    if resp.status in (404, 410):
        return None
    raise googleapiclient.errors.HttpError(resp, content, uri="(resumable session)")


class StreamUpload(MediaUpload):
    """A forward-only body for a resumable upload; keeps one chunk to resend after a 308."""

    def __init__(self, reader: HashingReader, size: int, mimetype: str, chunksize: int) -> None:
        self._reader, self._size, self._mimetype, self._chunksize = reader, size, mimetype, chunksize
        self._buffer, self._buffer_at = b"", 0

    def chunksize(self) -> int:
        return self._chunksize

    def mimetype(self) -> str:
        return self._mimetype

    def size(self) -> int:
        return self._size

    def resumable(self) -> bool:
        return True

    def skip_to(self, position: int) -> None:
        """Read (and hash) the bytes a resumed session already holds, without sending them."""
        while self._buffer_at + len(self._buffer) < position:
            step = min(self._chunksize, position - self._buffer_at - len(self._buffer))
            self._buffer_at += len(self._buffer)
            self._buffer = self._reader.read(step)
            if not self._buffer:
                raise IntegrityError(
                    f"the body ended at byte {self._buffer_at}, before the {position} bytes Drive already holds"
                )
        self._buffer = self._buffer[position - self._buffer_at :]
        self._buffer_at = position

    def getbytes(self, begin: int, length: int) -> bytes:
        end = self._buffer_at + len(self._buffer)
        if begin < self._buffer_at:
            raise IntegrityError(f"Drive asked again for bytes from {begin}, before the chunk kept in memory")
        if begin >= end:  # the next chunk: drop the previous one
            self.skip_to(begin)
            self._buffer += self._reader.read(length)
        elif begin + length > end:
            self._buffer = self._buffer[begin - self._buffer_at :] + self._reader.read(begin + length - end)
            self._buffer_at = begin
        return self._buffer[begin - self._buffer_at : begin - self._buffer_at + length]

    def has_stream(self) -> bool:
        return False


class RangeReader(io.RawIOBase):
    """Reads a Drive file in ranged requests, so memory stays at one chunk."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, chunk: int) -> None:
        self._fetch, self._size, self._chunk, self._pos = fetch, size, chunk, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._pos >= self._size:
            return b""
        size = self._chunk if size is None or size < 0 else min(size, self._chunk)
        data = self._fetch(self._pos, min(self._pos + size, self._size) - 1)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
