"""A backend as the person dropping files into it sees it (a local folder, an S3 bucket, a
Drive folder shared with syncd): put a file, read one, list what is there, delete one.
Files are added by a person, not through syncd's own backend code."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.backends.gdrive import FOLDER, DriveBackend
from syncd.errors import NotFound
from tests.conftest import s3_client
from tests.support.servers import DriveServer, S3Server


@dataclass
class Share:
    backend_toml: str
    put: Callable[[str, bytes], None]
    read: Callable[[str], bytes | None]
    keys: Callable[[], set[str]]
    delete: Callable[[str], None]


def local_share(tmp_path: Path, folders: tuple[str, ...] = ("fax/outbox",)) -> Share:
    root = tmp_path / "share"
    root.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)

    def put(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(".part-" + path.name)  # as a careful copier does: whole file, then rename
        part.write_bytes(data)
        part.rename(path)

    def read(key: str) -> bytes | None:
        return (root / key).read_bytes() if (root / key).is_file() else None

    def keys() -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    return Share(f'type = "local"\npath = "{root}"\nwatch = "off"\n', put, read, keys, lambda k: (root / k).unlink())


def s3_share(s3_server: S3Server, bucket: str) -> Share:
    client = s3_client(s3_server.url)

    def read(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
        except client.exceptions.NoSuchKey:
            return None

    def keys() -> set[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    toml = (
        f'type = "s3"\nbucket = "{bucket}"\nendpoint_url = "{s3_server.url}"\naccess_key_id = "AKIATEST"\n'
        f'secret_access_key = "test-secret"\nregion = "us-east-1"\n'
    )
    return Share(
        toml,
        lambda k, d: client.put_object(Bucket=bucket, Key=k, Body=d),
        read,
        keys,
        lambda k: client.delete_object(Bucket=bucket, Key=k),
    )


def drive_share(drive_server: DriveServer, folders: tuple[str, ...] = ("fax/outbox",)) -> Share:
    """A Drive folder shared with syncd; files are added, moved and deleted by a person."""

    def person(meta: dict[str, Any], content: bytes = b"") -> dict[str, Any]:
        return drive_server.control("as-user", {"meta": meta, "content": base64.b64encode(content).decode()})

    ids = {"": person({"name": "office", "mimeType": FOLDER})["id"]}

    def folder_id(folder: str) -> str:
        if folder not in ids:
            parent, _, name = folder.rpartition("/")
            ids[folder] = person({"name": name, "mimeType": FOLDER, "parents": [folder_id(parent)]})["id"]
        return ids[folder]

    for folder in folders:
        folder_id(folder)
    backend = DriveBackend(
        drive_server.service_account_file().read_text(), folder_id=ids[""], api_endpoint=drive_server.url
    )

    def delete(key: str) -> None:
        drive_server.control("as-user", {"op": "delete", "id": backend.stat(key).object_id})

    def put(key: str, data: bytes) -> None:
        """A new file; one already at key is deleted first (Drive would keep both under one name)."""
        try:
            delete(key)
        except NotFound:
            pass
        folder, _, name = key.rpartition("/")
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        person({"name": name, "parents": [folder_id(folder)], "mimeType": mime}, data)

    def read(key: str) -> bytes | None:
        try:
            with backend.get(key) as f:
                return f.read()
        except NotFound:
            return None

    toml = (
        f'type = "google_drive"\ncredentials_file = "{drive_server.service_account_file("fax.json")}"\n'
        f'folder_id = "{ids[""]}"\napi_endpoint = "{drive_server.url}"\n'
    )
    return Share(toml, put, read, lambda: {o.key for o in backend.list()}, delete)
