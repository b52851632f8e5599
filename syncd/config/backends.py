"""Configuration of storage backends: [backends.<name>] tables and the Drive
credentials for Kazoo's google_drive handlers ([kazoo.google_drive])."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from syncd.config.validator import Validator

BACKEND_TYPES = ("local", "s3", "google_drive")
CHECKSUM_MODES = ("when_required", "when_supported")

_DRIVE_ACCESS = {"credentials", "credentials_file", "subject", "api_endpoint"}
_BACKEND_KEYS = {
    "local": {"type", "path", "watch"},
    "s3": {
        "type",
        "bucket",
        "region",
        "endpoint_url",
        "access_key_id",
        "secret_access_key",
        "secret_access_key_file",
        "addressing_style",
        "checksum",
        "list_api",
        "ambient_credentials",
        "conditional_writes",
    },
    "google_drive": {"type", "folder_id", "drive_id", *_DRIVE_ACCESS},
}


@dataclass(frozen=True)
class LocalOptions:
    """[backends.X] type = "local": a local or NFS folder."""

    path: str | None
    watch: str = "inotify"  # how syncd hears of changes: inotify | poll | off (syncd's own, not the backend's)

    def kwargs(self) -> dict[str, Any]:
        return {"path": self.path}


@dataclass(frozen=True)
class S3Options:
    """[backends.X] type = "s3": a bucket on AWS or an S3-compatible store."""

    bucket: str | None
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    addressing_style: str | None = "auto"
    checksum: str | None = "when_required"
    list_api: str | None = "auto"
    conditional_writes: bool = True
    ambient_credentials: bool = False

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class DriveOptions:
    """[backends.X] type = "google_drive": a folder of My Drive or of a shared drive."""

    credentials: str | None = field(default=None, repr=False)
    subject: str | None = None
    api_endpoint: str | None = None
    folder_id: str = "root"
    drive_id: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


BackendOptions = LocalOptions | S3Options | DriveOptions  # one per type: what `type` says is what is there


def backend_options(v: Validator, t: dict[str, Any]) -> dict[str, tuple[str, BackendOptions]]:
    """[backends.<name>] -> name: (type, its typed options), every problem reported to v."""
    out: dict[str, tuple[str, BackendOptions]] = {}
    for name, b in t.items():
        path = f"backends.{name}"
        if not isinstance(b, dict):
            v.problem(path, "must be a table")
            continue
        kind = v.choice(b, f"{path}.type", BACKEND_TYPES, None, required=True)
        if kind is None:
            continue
        v.unknown(b, path, _BACKEND_KEYS[kind])
        opts: BackendOptions
        if kind == "local":
            opts = _local_options(v, b, path)
        elif kind == "s3":
            opts = _s3_options(v, b, path)
        else:
            opts = _drive_options(v, b, path)
        out[name] = (kind, opts)
    return out


def _local_options(v: Validator, b: dict[str, Any], path: str) -> LocalOptions:
    folder = v.string(b, f"{path}.path", required=True)
    if folder and not os.path.isabs(folder):
        v.problem(f"{path}.path", "must be an absolute path")
    return LocalOptions(folder, v.choice(b, f"{path}.watch", ("inotify", "poll", "off"), "inotify") or "inotify")


def _drive_access(v: Validator, t: dict[str, Any], path: str) -> dict[str, Any]:
    """Credentials (a service-account key or an OAuth client's authorized-user JSON) and where to call."""
    credentials = v.secret(t, path, "credentials")
    if credentials is None:
        v.problem(
            f"{path}.credentials_file",
            "missing; the JSON key of a service account, or an OAuth "
            "client's authorized-user JSON (see README, Google Drive)",
        )
    return {
        "credentials": credentials,
        "subject": v.string(t, f"{path}.subject"),
        "api_endpoint": v.string(t, f"{path}.api_endpoint"),
    }


def kazoo_drive(v: Validator, t: dict[str, Any]) -> dict[str, Any]:
    if "google_drive" not in t:
        return {}
    drive = v.table(t, "google_drive")
    v.unknown(drive, "kazoo.google_drive", _DRIVE_ACCESS)
    return _drive_access(v, drive, "kazoo.google_drive")


def _drive_options(v: Validator, b: dict[str, Any], path: str) -> DriveOptions:
    return DriveOptions(
        **_drive_access(v, b, path),
        folder_id=v.string(b, f"{path}.folder_id") or "root",
        drive_id=v.string(b, f"{path}.drive_id"),
    )


def _s3_options(v: Validator, b: dict[str, Any], path: str) -> S3Options:
    ambient = v.boolean(b, f"{path}.ambient_credentials", False)
    has_keys = b.get("access_key_id") is not None
    if has_keys == ambient:
        v.problem(
            f"{path}.access_key_id",
            "give access_key_id and secret_access_key (or _file), or set "
            "ambient_credentials = true to use this host's own AWS identity (environment, ~/.aws, "
            "instance role) - not both",
        )
    endpoint = v.string(b, f"{path}.endpoint_url")
    if endpoint is not None:
        v.url(endpoint, f"{path}.endpoint_url")
    return S3Options(
        ambient_credentials=ambient,
        bucket=v.string(b, f"{path}.bucket", required=True),
        region=v.string(b, f"{path}.region"),
        endpoint_url=endpoint,
        access_key_id=v.string(b, f"{path}.access_key_id"),
        secret_access_key=v.secret(b, path, "secret_access_key"),
        addressing_style=v.choice(b, f"{path}.addressing_style", ("auto", "path", "virtual"), "auto"),
        checksum=v.choice(b, f"{path}.checksum", CHECKSUM_MODES, "when_required"),
        list_api=v.choice(b, f"{path}.list_api", ("auto", "v1", "v2"), "auto"),
        conditional_writes=v.boolean(b, f"{path}.conditional_writes", True),
    )


def credential_secrets(text: str | None) -> list[str]:
    """A Google credentials JSON and the secrets inside it (private key, refresh token, client secret)."""
    if not text:
        return []
    try:
        info = json.loads(text)
    except ValueError:
        return [text]
    inner = [info.get(k) for k in ("private_key", "refresh_token", "client_secret")] if isinstance(info, dict) else []
    return [text, *(str(x) for x in inner if x)]
