"""Google Drive (v3), through google-api-python-client.

A KEY is a path under the target's root folder: "a/b/name" is file `name` in
folder `b` in folder `a`, and missing folders are created (as Kazoo's handler
does with path tokens). Drive allows several files of one name in a folder;
syncd treats the newest as the object and trashes older ones (never a folder
of that name) when it replaces a file: a replace deletes nothing outright.

Identity survives moves: a file stored with labels (the caller's properties:
the Kazoo database, doc and attachment) also carries its key and the target's
root folder in its appProperties (`syncd_key`, `syncd_root`). A key with no
file at its path is looked up by those, so a file a person moved elsewhere
still exists for syncd; only a trashed or removed file is gone. Unlabelled
files (the location marker) exist only at their path.

Uploads are multipart up to `resumable_threshold` (Google's advice: 5 MB) and
resumable in 8 MiB chunks above it, streamed from a forward-only body; the
session is kept in the caller's ResumeSlot, so a restart continues it. The
MD5 Drive computes (`md5Checksum`) is checked against the bytes sent; on a
mismatch the new file is deleted and IntegrityError raised. ETAG is that MD5.

Conditional writes (create-only, replace-one-version) are checked before the
upload and again after it (gdrive_files.lost_to). `changes_since` reads Drive's
changes log (gdrive_changes). httplib2 is not thread-safe, so each thread has
its own authorised connection.
"""

from __future__ import annotations

import builtins
import io
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing
from typing import Any, BinaryIO

import googleapiclient.discovery_cache
import googleapiclient.errors
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.http import MediaIoBaseUpload, MediaUpload, build_http

from syncd.backends.base import Backend, HashingReader, ObjectChange, ObjectInfo, ResumeSlot
from syncd.backends.gdrive_changes import read_changes
from syncd.backends.gdrive_files import (
    KEY_PROPERTY,
    PROPERTY_BYTES,
    ROOT_PROPERTY,
    check_conditions,
    has_property,
    key_property_value,
    lost_to,
    newest,
    object_info,
    quote_query,
)
from syncd.backends.gdrive_io import (
    Backoff,
    RangeReader,
    StreamUpload,
    as_contract_errors,
    load_credentials,
    log,
    session_position,
)
from syncd.errors import BackendUnavailable, IntegrityError, InvalidKey, NotFound, PreconditionFailed

FOLDER = "application/vnd.google-apps.folder"
MiB = 1024 * 1024
_FILE_FIELDS = "id,name,size,md5Checksum,mimeType,parents,trashed,appProperties,modifiedTime,createdTime"


class DriveBackend(Backend):
    kind = "google_drive"

    def __init__(
        self,
        credentials: str,
        folder_id: str = "root",
        subject: str | None = None,
        drive_id: str | None = None,
        api_endpoint: str | None = None,
        resumable_threshold: int = 5 * MiB,
        chunk_size: int = 8 * MiB,
        num_retries: int = 6,
        retry_base: float = 1.0,
    ) -> None:
        self.folder_id, self._drive_id = folder_id, drive_id
        self.resumable_threshold, self.chunk_size = resumable_threshold, chunk_size
        self._backoff = Backoff(num_retries, retry_base)
        self._credentials = load_credentials(credentials, subject)
        document = json.loads(googleapiclient.discovery_cache.get_static_doc("drive", "v3"))
        if api_endpoint:  # uploads use rootUrl too, so replace it rather than client_options' base
            document["rootUrl"] = api_endpoint.rstrip("/") + "/"
        self._service = build_from_document(document, http=build_http())
        self._local = threading.local()
        self._folders: dict[str, str] = {"": folder_id}
        self._folders_lock = threading.Lock()
        self.endpoint = api_endpoint or "Google Drive"

    def describe(self) -> str:
        where = f"shared drive {self._drive_id}, " if self._drive_id else ""
        return f"google_drive folder {self.folder_id} ({where}{self.endpoint})"

    def check(self) -> None:
        self._run(
            "open the root folder",
            self._files().get(fileId=self.folder_id, fields="id,mimeType", supportsAllDrives=True),
        )

    # -- reads ---------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        yield from self._walk(self.folder_id, "", prefix)

    def _walk(self, folder_id: str, path: str, prefix: str) -> Iterator[ObjectInfo]:
        for child in self._query(f"'{quote_query(folder_id)}' in parents and trashed = false"):
            key = f"{path}{child['name']}"
            if child["mimeType"] == FOLDER:
                if prefix.startswith(key + "/") or (key + "/").startswith(prefix):
                    yield from self._walk(child["id"], key + "/", prefix)
            elif key.startswith(prefix):
                yield object_info(key, child)

    def stat(self, key: str) -> ObjectInfo:
        return object_info(key, self._find(key))

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        file = self._find(key)

        def fetch(first: int, last: int) -> bytes:
            request = self._files().get_media(fileId=file["id"], supportsAllDrives=True)
            request.headers["Range"] = f"bytes={first}-{last}"
            return self._run(f"read {key!r}", request, key)  # type: ignore[no-any-return]

        return closing(RangeReader(fetch, int(file.get("size") or 0), self.chunk_size))  # type: ignore[arg-type]

    # -- writes ----------------------------------------------------------------
    def put(
        self,
        key: str,
        body: BinaryIO,
        *,
        length: int,
        content_type: str,
        md5: str | None = None,
        properties: dict[str, str] | None = None,
        resume: ResumeSlot | None = None,
        if_absent: bool = False,
        if_etag: str | None = None,
    ) -> ObjectInfo:
        folder_path, name = self._split(key)
        parent = self._folder(folder_path, create=True)
        older = self._files_named(parent, name)
        check_conditions(key, older, if_absent, if_etag)
        reader = HashingReader(body)
        meta = {"name": name, "parents": [parent], "appProperties": self._app_properties(key, properties)}
        created = self._upload(key, meta, reader, length, content_type, resume)
        sent = reader.hexdigest()
        if reader.count != length or created.get("md5Checksum") != sent or (md5 and md5 != sent):
            if resume is not None:
                resume.clear()
            self._remove(created, f"remove the bad upload of {key!r}")
            raise IntegrityError(
                f"{self.describe()}: {key!r}: expected md5 {md5 or sent} and {length} bytes, "
                f"read {reader.count} bytes with md5 {sent}, Drive stored "
                f"{created.get('md5Checksum')}; the upload was removed"
            )
        if if_absent or if_etag is not None:
            self._keep_only_if_first(key, parent, name, created, older, if_absent)
        for file_id in (f["id"] for f in older):  # replaced: trashed, so a person can restore it for 30 days
            if file_id != created["id"]:
                self._run(
                    f"trash the replaced {key!r}",
                    self._files().update(fileId=file_id, body={"trashed": True}, supportsAllDrives=True),
                )
        return object_info(key, created)

    def _files_named(self, parent: str, name: str) -> builtins.list[dict[str, Any]]:
        """The files (never a folder of that name: it holds other keys) at name in parent."""
        return [f for f in self._children(parent, name=name) if f["mimeType"] != FOLDER]

    def _keep_only_if_first(
        self,
        key: str,
        parent: str,
        name: str,
        created: dict[str, Any],
        older: builtins.list[dict[str, Any]],
        absent: bool,
    ) -> None:
        """Drive has no conditional write: after the upload, look again; when another writer's
        file of that name came meanwhile and wins, ours is removed and the write refused."""
        seen = {f["id"] for f in older} | {created["id"]}
        rivals = [f for f in self._files_named(parent, name) if f["id"] not in seen]
        refusal = lost_to(key, created, rivals, absent)
        if refusal is not None:
            self._remove(created, f"remove the refused upload of {key!r}")
            raise refusal

    def _upload(
        self, key: str, meta: dict[str, Any], reader: HashingReader, length: int, kind: str, resume: ResumeSlot | None
    ) -> dict[str, Any]:
        kind = kind if kind.count("/") == 1 else "application/octet-stream"  # the client builds a MIME part of it
        if length > self.resumable_threshold:
            media: MediaUpload = StreamUpload(reader, length, kind, self.chunk_size)
        else:
            media = MediaIoBaseUpload(io.BytesIO(reader.read(length)), mimetype=kind, resumable=False)
        request = self._files().create(body=meta, media_body=media, fields=_FILE_FIELDS, supportsAllDrives=True)
        if media.resumable():
            return self._call(f"upload {key!r}", lambda: self._resumable(key, request, media, resume), key)  # type: ignore[no-any-return]
        return self._run(f"upload {key!r}", request, key)  # type: ignore[no-any-return]

    def _remove(self, file: dict[str, Any], what: str) -> None:
        """Delete outright a file syncd itself just uploaded (never anyone else's: those are trashed)."""
        self._run(what, self._files().delete(fileId=file["id"], supportsAllDrives=True))

    def _resumable(self, key: str, request: Any, media: StreamUpload, slot: ResumeSlot | None) -> dict[str, Any]:
        """Send the chunks; continue the slot's session when Drive still has it."""
        session = slot.load() if slot else None
        if session:
            known = session
            where = self._backoff.run(
                f"ask where the upload of {key!r} stopped",
                lambda: session_position(self._http(), known, media.size()),
            )
            if isinstance(where, dict):  # completed before syncd stopped: read the body so its MD5 is checked
                media.skip_to(media.size())
                return where
            if where is None:
                log.info("the interrupted upload session of %r expired; starting again", key)
            else:
                request.resumable_uri, request.resumable_progress = session, where
                media.skip_to(where)
                log.info("continuing the interrupted upload of %r at byte %d of %d", key, where, media.size())
        done = None
        while done is None:
            _, done = self._backoff.run(f"upload {key!r}", lambda: request.next_chunk(http=self._http()))
            if slot and request.resumable_uri and request.resumable_uri != session:
                session = request.resumable_uri
                slot.save(session)
        return done  # type: ignore[no-any-return]

    def delete(self, key: str, *, etag: str | None = None) -> None:
        """Moves the file to Drive's trash (restorable for 30 days), after the etag check."""
        file = self._find(key)
        if etag is not None and file.get("md5Checksum") != etag:
            raise PreconditionFailed(key, etag, str(file.get("md5Checksum")))
        self._run(
            f"trash {key!r}", self._files().update(fileId=file["id"], body={"trashed": True}, supportsAllDrives=True)
        )

    # -- changes -----------------------------------------------------------------
    def start_token(self) -> str:
        """Where Drive's changes log stands now: changes_since(token) returns what comes after."""
        args = {"driveId": self.drive_id} if self.drive_id else {}
        answer = self._run(
            "start reading the changes log", self._service.changes().getStartPageToken(supportsAllDrives=True, **args)
        )
        return str(answer["startPageToken"])

    def changes_since(self, token: str) -> tuple[builtins.list[ObjectChange], str]:
        """Changes after token, and the token for next time. A removed file and a trashed one are gone."""
        changes = read_changes(self._service.changes(), self._run, token, self.drive_id)
        if changes is None:
            raise BackendUnavailable(f"{self.describe()}: the changes log ended without a newStartPageToken")
        return changes

    # -- Drive plumbing --------------------------------------------------------
    @property
    def drive_id(self) -> str | None:
        """The shared drive holding folder_id: as configured, else asked of Drive once (Kazoo's
        handler settings name only a folder, which may sit in a shared drive)."""
        if self._drive_id is None and self.folder_id != "root":
            folder = self._run(
                "open the root folder",
                self._files().get(fileId=self.folder_id, fields="id,driveId", supportsAllDrives=True),
            )
            self._drive_id = folder.get("driveId") or ""
        return self._drive_id or None

    def _files(self) -> Any:
        return self._service.files()

    def _http(self) -> AuthorizedHttp:
        if not hasattr(self._local, "http"):
            # build_http: an httplib2.Http that does not follow Drive's "308 Resume Incomplete"
            self._local.http = AuthorizedHttp(self._credentials, http=build_http())
        return self._local.http

    def _run(self, what: str, request: Any, key: str | None = None) -> Any:
        return self._call(what, lambda: self._backoff.run(what, lambda: request.execute(http=self._http())), key)

    def _call(self, what: str, fn: Any, key: str | None) -> Any:
        return as_contract_errors(self.describe(), what, fn, key)

    def _query(self, query: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            answer = self._run(
                "list a folder",
                self._files().list(
                    q=query,
                    pageSize=1000,
                    pageToken=token,
                    fields=f"nextPageToken,files({_FILE_FIELDS})",
                    **self._drive_args(),
                ),
            )
            yield from answer.get("files", [])
            token = answer.get("nextPageToken")
            if not token:
                return

    def _children(self, folder_id: str, name: str) -> Iterator[dict[str, Any]]:
        return self._query(
            f"'{quote_query(folder_id)}' in parents and trashed = false and name = '{quote_query(name)}'"
        )

    def _drive_args(self) -> dict[str, Any]:
        if not self.drive_id:
            return {"supportsAllDrives": True}
        return {
            "supportsAllDrives": True,
            "includeItemsFromAllDrives": True,
            "corpora": "drive",
            "driveId": self.drive_id,
        }

    def _find(self, key: str) -> dict[str, Any]:
        """The newest file at key's path; else the newest that syncd stored as key, moved elsewhere."""
        folder_path, name = self._split(key)
        files: builtins.list[dict[str, Any]] = []
        try:
            parent = self._folder(folder_path, create=False)
            files = [f for f in self._children(parent, name=name) if f["mimeType"] != FOLDER]
        except NotFound:
            pass
        if not files:
            files = list(
                self._query(
                    f"{has_property(ROOT_PROPERTY, self.folder_id)} and "
                    f"{has_property(KEY_PROPERTY, key_property_value(key))} and trashed = false"
                )
            )
        if not files:
            raise NotFound(key)
        return newest(files)

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
            folder_id = self._run(
                f"create folder {path!r}",
                self._files().create(
                    body={"name": name, "mimeType": FOLDER, "parents": [parent]}, fields="id", supportsAllDrives=True
                ),
            )["id"]
        with self._folders_lock:
            return self._folders.setdefault(path, folder_id)

    def _app_properties(self, key: str, labels: dict[str, str] | None) -> dict[str, str]:
        """The caller's labels that fit Drive's limit (longer values are left out), and, for a
        labelled file, the key and root that find it wherever a person moves it."""
        if not labels:
            return {}
        out = {k: v for k, v in labels.items() if len(k.encode()) + len(v.encode()) <= PROPERTY_BYTES}
        return {**out, KEY_PROPERTY: key_property_value(key), ROOT_PROPERTY: self.folder_id}

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise InvalidKey(key, "Drive paths need non-empty names between '/' (no '.' or '..')")
        return "/".join(parts[:-1]), parts[-1]
