"""Google Drive (v3), through google-api-python-client.

A KEY is a path under the target's root folder: "a/b/name" is file `name` in
folder `b` in folder `a`, and missing folders are created (as Kazoo's handler
does with path tokens). Drive allows several files of one name in a folder;
syncd treats the newest as the object and trashes older ones when it replaces
a file, so nothing is ever deleted outright by a replace.

Uploads are multipart up to `resumable_threshold` (Google's advice: 5 MB) and
resumable in 8 MiB chunks above it, streamed from a forward-only body. The
MD5 Drive computes (`md5Checksum`) is checked against the bytes sent; on a
mismatch the new file is deleted and IntegrityError raised. ETAG is that MD5.

Retries: every request goes through the client's own retry loop
(`num_retries`): 429, 5xx and 403 rate-limit errors back off exponentially
with jitter. httplib2 is not thread-safe, so each thread has its own
authorised connection.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing
from typing import Any, BinaryIO

import google.auth.exceptions
import googleapiclient.discovery_cache
import googleapiclient.errors
import httplib2
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.http import MediaIoBaseUpload, MediaUpload, build_http

from syncd.backends.base import Backend, HashingReader, ObjectInfo
from syncd.errors import BackendUnavailable, IntegrityError, InvalidKey, NotFound, PreconditionFailed

FOLDER = "application/vnd.google-apps.folder"
FULL_SCOPE = "https://www.googleapis.com/auth/drive"
MiB = 1024 * 1024
_FILE_FIELDS = "id,name,size,md5Checksum,mimeType,parents,trashed,appProperties,modifiedTime"


class DriveBackend(Backend):
    kind = "google_drive"

    def __init__(self, credentials: str, folder_id: str = "root", subject: str | None = None,
                 drive_id: str | None = None, api_endpoint: str | None = None,
                 resumable_threshold: int = 5 * MiB, chunk_size: int = 8 * MiB, num_retries: int = 6) -> None:
        self.folder_id, self.drive_id = folder_id, drive_id
        self.resumable_threshold, self.chunk_size, self.num_retries = resumable_threshold, chunk_size, num_retries
        self._credentials = _load_credentials(credentials, subject)
        document = json.loads(googleapiclient.discovery_cache.get_static_doc("drive", "v3"))
        if api_endpoint:  # uploads use rootUrl too, so replace it rather than client_options' base
            document["rootUrl"] = api_endpoint.rstrip("/") + "/"
        self._service = build_from_document(document, http=build_http())
        self._local = threading.local()
        self._folders: dict[str, str] = {"": folder_id}
        self._folders_lock = threading.Lock()
        self.endpoint = api_endpoint or "Google Drive"

    def describe(self) -> str:
        where = f"shared drive {self.drive_id}, " if self.drive_id else ""
        return f"google_drive folder {self.folder_id} ({where}{self.endpoint})"

    def check(self) -> None:
        self._run("open the root folder", self._files().get(fileId=self.folder_id, fields="id,mimeType",
                                                             supportsAllDrives=True))

    # -- reads ---------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        yield from self._walk(self.folder_id, "", prefix)

    def _walk(self, folder_id: str, path: str, prefix: str) -> Iterator[ObjectInfo]:
        for child in self._children(folder_id):
            key = f"{path}{child['name']}"
            if child["mimeType"] == FOLDER:
                if prefix.startswith(key + "/") or (key + "/").startswith(prefix):
                    yield from self._walk(child["id"], key + "/", prefix)
            elif key.startswith(prefix):
                yield _info(key, child)

    def stat(self, key: str) -> ObjectInfo:
        return _info(key, self._find(key))

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        file = self._find(key)
        return closing(_RangeReader(self, file["id"], int(file.get("size") or 0)))  # type: ignore[arg-type]

    # -- writes ----------------------------------------------------------------
    def put(self, key: str, body: BinaryIO, *, length: int, content_type: str,
            md5: str | None = None, properties: dict[str, str] | None = None) -> ObjectInfo:
        folder_path, name = self._split(key)
        parent = self._folder(folder_path, create=True)
        older = [f["id"] for f in self._children(parent, name=name)]
        reader = HashingReader(body)
        if content_type.count("/") != 1:  # the client builds a MIME part from it
            content_type = "application/octet-stream"
        meta = {"name": name, "parents": [parent], "appProperties": properties or {}}
        if length > self.resumable_threshold:
            media: MediaUpload = _StreamUpload(reader, length, content_type, self.chunk_size)
        else:
            media = MediaIoBaseUpload(io.BytesIO(reader.read(length)), mimetype=content_type, resumable=False)
        request = self._files().create(body=meta, media_body=media, fields=_FILE_FIELDS, supportsAllDrives=True)
        created = self._upload(key, request, media.resumable())
        sent = reader.hexdigest()
        if reader.count != length or created.get("md5Checksum") != sent or (md5 and md5 != sent):
            self._run(f"remove the bad upload of {key!r}", self._files().delete(fileId=created["id"],
                                                                                  supportsAllDrives=True))
            raise IntegrityError(f"{self.describe()}: {key!r}: expected md5 {md5 or sent} and {length} bytes, "
                                 f"read {reader.count} bytes with md5 {sent}, Drive stored "
                                 f"{created.get('md5Checksum')}; the upload was removed")
        for file_id in older:  # replaced: trashed, so a person can still restore it for 30 days
            self._run(f"trash the replaced {key!r}", self._files().update(
                fileId=file_id, body={"trashed": True}, supportsAllDrives=True))
        return _info(key, created)

    def delete(self, key: str, *, etag: str | None = None) -> None:
        """Moves the file to Drive's trash (restorable for 30 days), after the etag check."""
        file = self._find(key)
        if etag is not None and file.get("md5Checksum") != etag:
            raise PreconditionFailed(key, etag, str(file.get("md5Checksum")))
        self._run(f"trash {key!r}", self._files().update(fileId=file["id"], body={"trashed": True},
                                                          supportsAllDrives=True))

    # -- Drive plumbing --------------------------------------------------------
    def _files(self) -> Any:
        return self._service.files()

    def _http(self) -> AuthorizedHttp:
        if not hasattr(self._local, "http"):
            # build_http: an httplib2.Http that does not follow Drive's "308 Resume Incomplete"
            self._local.http = AuthorizedHttp(self._credentials, http=build_http())
        return self._local.http

    def _run(self, what: str, request: Any, key: str | None = None) -> Any:
        return self._call(what, lambda: request.execute(http=self._http(), num_retries=self.num_retries), key)

    def _upload(self, key: str, request: Any, resumable: bool) -> dict[str, Any]:
        if not resumable:
            return self._run(f"upload {key!r}", request, key)  # type: ignore[no-any-return]

        def chunks() -> dict[str, Any]:
            done = None
            while done is None:
                _, done = request.next_chunk(http=self._http(), num_retries=self.num_retries)
            return done  # type: ignore[no-any-return]
        return self._call(f"upload {key!r}", chunks, key)  # type: ignore[no-any-return]

    def _call(self, what: str, fn: Any, key: str | None) -> Any:
        """Drive's and the transport's errors as the contract's: NotFound or BackendUnavailable."""
        try:
            return fn()
        except googleapiclient.errors.HttpError as exc:
            status = exc.resp.status
            if status == 404 and key is not None:
                raise NotFound(key) from None
            hint = ""
            if status in (401, 403):
                hint = ("; check the credentials file and that the folder is shared with this account "
                        f"(scope {FULL_SCOPE} is needed to see files people add)")
            raise BackendUnavailable(f"{self.describe()}: cannot {what}: HTTP {status} {exc.reason}{hint}") from None
        except (google.auth.exceptions.GoogleAuthError, httplib2.HttpLib2Error, OSError) as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot {what}: {exc}") from None

    def _children(self, folder_id: str, name: str | None = None) -> Iterator[dict[str, Any]]:
        query = f"'{_quote(folder_id)}' in parents and trashed = false"
        if name is not None:
            query += f" and name = '{_quote(name)}'"
        token = None
        while True:
            answer = self._run("list a folder", self._files().list(
                q=query, pageSize=1000, pageToken=token, fields=f"nextPageToken,files({_FILE_FIELDS})",
                **self._drive_args()))
            yield from answer.get("files", [])
            token = answer.get("nextPageToken")
            if not token:
                return

    def _drive_args(self) -> dict[str, Any]:
        if not self.drive_id:
            return {"supportsAllDrives": True}
        return {"supportsAllDrives": True, "includeItemsFromAllDrives": True, "corpora": "drive",
                "driveId": self.drive_id}

    def _find(self, key: str) -> dict[str, Any]:
        folder_path, name = self._split(key)
        try:
            parent = self._folder(folder_path, create=False)
        except NotFound:
            raise NotFound(key) from None
        files = [f for f in self._children(parent, name=name) if f["mimeType"] != FOLDER]
        if not files:
            raise NotFound(key)
        return max(files, key=lambda f: f.get("modifiedTime", "") + f["id"])

    def _folder(self, path: str, create: bool) -> str:
        with self._folders_lock:
            if path in self._folders:
                return self._folders[path]
            parent_path, _, name = path.rpartition("/")
        parent = self._folder(parent_path, create)
        found = [f for f in self._children(parent, name=name) if f["mimeType"] == FOLDER]
        if found:
            folder_id = found[0]["id"]
        elif not create:
            raise NotFound(path)
        else:
            folder_id = self._run(f"create folder {path!r}", self._files().create(
                body={"name": name, "mimeType": FOLDER, "parents": [parent]}, fields="id",
                supportsAllDrives=True))["id"]
        with self._folders_lock:
            return self._folders.setdefault(path, folder_id)

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise InvalidKey(key, "Drive paths need non-empty names between '/' (no '.' or '..')")
        return "/".join(parts[:-1]), parts[-1]


class _StreamUpload(MediaUpload):
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

    def getbytes(self, begin: int, length: int) -> bytes:
        end = self._buffer_at + len(self._buffer)
        if begin < self._buffer_at:
            raise IntegrityError(f"Drive asked again for bytes from {begin}, before the chunk kept in memory")
        if begin >= end:  # the next chunk: drop the previous one
            self._buffer_at, self._buffer = begin, self._reader.read(length)
        elif begin + length > end:
            self._buffer = self._buffer[begin - self._buffer_at:] + self._reader.read(begin + length - end)
            self._buffer_at = begin
        return self._buffer[begin - self._buffer_at:begin - self._buffer_at + length]

    def has_stream(self) -> bool:
        return False


class _RangeReader(io.RawIOBase):
    """Reads a Drive file in ranged requests, so memory stays at one chunk."""

    def __init__(self, backend: DriveBackend, file_id: str, size: int) -> None:
        self._backend, self._file_id, self._size, self._pos = backend, file_id, size, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._pos >= self._size:
            return b""
        size = self._backend.chunk_size if size is None or size < 0 else min(size, self._backend.chunk_size)
        request = self._backend._files().get_media(fileId=self._file_id, supportsAllDrives=True)
        request.headers["Range"] = f"bytes={self._pos}-{min(self._pos + size, self._size) - 1}"
        data: bytes = self._backend._run("read a file", request)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _load_credentials(text: str, subject: str | None) -> Any:
    """Credentials from a service-account key or an OAuth client's authorized-user JSON (its text)."""
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise BackendUnavailable(f"the Google credentials are not JSON ({exc.msg}); give the key file "
                                 "downloaded from the Cloud console") from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            creds = service_account.Credentials.from_service_account_info(info, scopes=[FULL_SCOPE])
            return creds.with_subject(subject) if subject else creds
        if kind == "authorized_user":
            return user_credentials.Credentials.from_authorized_user_info(info, scopes=[FULL_SCOPE])
    except (ValueError, KeyError) as exc:
        raise BackendUnavailable(f"the Google credentials of type {kind} are incomplete: {exc}") from None
    raise BackendUnavailable(f"the Google credentials have type {kind!r}; expected a service-account key "
                             "(\"service_account\") or an OAuth client's token (\"authorized_user\")")


def _info(key: str, file: dict[str, Any]) -> ObjectInfo:
    md5 = file.get("md5Checksum")
    return ObjectInfo(key, int(file.get("size") or 0), md5 or f"id:{file['id']}", md5)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")

