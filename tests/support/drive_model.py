"""The state and rules of the Drive v3 test server: files, folders, the `q`
language, partial responses (`fields`) and the changes log.

Drive's behaviour kept on purpose (what syncd must cope with):
- a file answers only the fields asked for; without `fields`, only kind, id,
  name and mimeType (so md5Checksum or size must be requested);
- `size` is a string; folders have neither size nor md5Checksum;
- names are not unique: two files of one name may share a folder;
- trashing keeps the file (trashed=true, hidden from `trashed = false`), and
  trashing a folder trashes everything under it (explicitlyTrashed=false);
  deleting removes it and everything under it;
- the changes log reports each changed file once, in its latest state, and a
  removed file as removed=true without a file resource;
- a query Drive would reject is rejected with 400 "Invalid Value" on `q`;
- a shared drive is a root folder whose id is the drive id; its files carry
  drive_id, and only requests that opt in (supportsAllDrives, corpora=drive,
  driveId) see them; each drive has its own changes log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

FOLDER = "application/vnd.google-apps.folder"
ROOT_ID = "root-folder-id"


class DriveError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, location: str | None = None, domain: str = "global"
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.location, self.domain = code, reason, message, location, domain

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.location:
            error.update(location=self.location, locationType="parameter")
        return {"error": {"code": self.code, "message": self.message, "errors": [error]}}


def invalid(location: str, message: str = "Invalid Value") -> DriveError:
    return DriveError(400, "invalid", message, location)


def not_found(file_id: str) -> DriveError:
    return DriveError(404, "notFound", f"File not found: {file_id}.", "fileId")


@dataclass
class File:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    content: bytes = b""
    app_properties: dict[str, str] = field(default_factory=dict)
    trashed: bool = False
    version: int = 1
    created_by_app: bool = True
    modified: float = field(default_factory=time.time)
    created: float = field(default_factory=time.time)
    drive_id: str | None = None  # set for files in a shared drive
    explicitly_trashed: bool = False  # trashed itself, not through a trashed folder

    def resource(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": list(self.parents),
            "trashed": self.trashed,
            "version": str(self.version),
            "explicitlyTrashed": self.explicitly_trashed,
            "appProperties": dict(self.app_properties),
            "modifiedTime": _rfc3339(self.modified),
            "createdTime": _rfc3339(self.created),
        }
        if self.drive_id:
            out["driveId"] = self.drive_id
        if self.mime_type != FOLDER:
            out["size"] = str(len(self.content))
            out["md5Checksum"] = hashlib.md5(self.content).hexdigest()
        return out


class Drive:
    """One user's My Drive. Thread-safe: the HTTP server serves requests in threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.files: dict[str, File] = {ROOT_ID: File(ROOT_ID, "My Drive", FOLDER, [])}
        self.changes: list[tuple[int, str, str | None]] = []  # (change id, file id, drive id)
        self.next_change = 1

    # -- mutations (each logs a change) -------------------------------------
    def create(self, meta: dict[str, Any], content: bytes, by_app: bool = True) -> File:
        parents = meta.get("parents") or [ROOT_ID]
        if not isinstance(parents, list) or len(parents) != 1:
            raise DriveError(
                403,
                "cannotAddParent",
                "Increasing the number of parents is not allowed. A file can only have one parent.",
            )
        drive_id = self.folder(parents[0]).drive_id
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            name = "Untitled"
        mime = meta.get("mimeType") or "application/octet-stream"
        if mime == FOLDER and content:
            raise invalid("mimeType", "A folder cannot have content.")
        file = File(
            "f" + secrets.token_hex(12),
            name,
            mime,
            list(parents),
            content,
            _app_properties(meta.get("appProperties"), {}),
            created_by_app=by_app,
            drive_id=drive_id,
        )
        self.files[file.id] = file
        self._log(file.id)
        return file

    def update(self, file_id: str, meta: dict[str, Any], add_parents: str = "", remove_parents: str = "") -> File:
        file = self.get(file_id, include_trashed=True)
        for key in meta:
            if key not in {"name", "trashed", "appProperties", "mimeType", "description"}:
                raise DriveError(
                    403,
                    "fieldNotWritable",
                    f"The resource body includes fields which are not directly writable. Field: {key}",
                )
        if "name" in meta:
            file.name = str(meta["name"])
        if "trashed" in meta:
            file.trashed = file.explicitly_trashed = bool(meta["trashed"])
            self._trash_below(file)
        if "appProperties" in meta:
            file.app_properties = _app_properties(meta["appProperties"], file.app_properties)
        if add_parents or remove_parents:
            parents = [p for p in file.parents if p not in remove_parents.split(",")]
            for parent in filter(None, add_parents.split(",")):
                if self.folder(parent).drive_id != file.drive_id:
                    raise DriveError(
                        403,
                        "teamDrivesParentLimit",
                        "Moving files between drives is not supported by this test server.",
                    )
                parents.append(parent)
            if len(parents) != 1:
                raise DriveError(
                    403,
                    "cannotAddParent",
                    "Increasing the number of parents is not allowed. A file can only have one parent.",
                )
            file.parents = parents
        file.version += 1
        file.modified = time.time()
        self._log(file.id)
        return file

    def _trash_below(self, folder: File) -> None:
        """A trashed folder trashes everything under it (not explicitly); restoring it restores them."""
        for child in [f for f in self.files.values() if folder.id in f.parents and not f.explicitly_trashed]:
            if child.trashed != folder.trashed:
                child.trashed = folder.trashed
                child.version += 1
                self._log(child.id)
                self._trash_below(child)

    def delete(self, file_id: str) -> None:
        file = self.get(file_id, include_trashed=True)
        for child in [f.id for f in self.files.values() if file_id in f.parents]:
            self.delete(child)
        del self.files[file_id]
        self.changes.append((self.next_change, file_id, file.drive_id))
        self.next_change += 1

    def shared_drive(self, name: str) -> File:
        drive_id = "0A" + secrets.token_hex(9)
        self.files[drive_id] = File(drive_id, name, FOLDER, [], drive_id=drive_id)
        return self.files[drive_id]

    # -- reads ---------------------------------------------------------------
    def get(self, file_id: str, include_trashed: bool = True) -> File:
        file = self.files.get(ROOT_ID if file_id == "root" else file_id)
        if file is None or (file.trashed and not include_trashed):
            raise not_found(file_id)
        return file

    def folder(self, file_id: str) -> File:
        folder = self.get(file_id)
        if folder.mime_type != FOLDER:
            raise invalid("parents", f"The parent {file_id} is not a folder.")
        return folder

    def query(self, q: str | None) -> list[File]:
        test = parse_query(q or "")
        return sorted((f for f in self.files.values() if f.id != ROOT_ID and test(f)), key=lambda f: f.id)

    def start_token(self) -> str:
        return str(self.next_change)

    def changes_since(self, token: str, drive_id: str | None) -> tuple[list[tuple[int, str]], str]:
        """One drive's changes from token on: My Drive's when drive_id is None."""
        if not token.isdigit() or int(token) < 1 or int(token) > self.next_change:
            raise invalid("pageToken")
        latest: dict[str, int] = {}
        for change_id, file_id, in_drive in self.changes:
            if change_id >= int(token) and in_drive == drive_id:
                latest[file_id] = change_id
        return sorted(((c, f) for f, c in latest.items())), str(self.next_change)

    def _log(self, file_id: str) -> None:
        self.changes.append((self.next_change, file_id, self.files[file_id].drive_id))
        self.next_change += 1


def _app_properties(value: Any, current: dict[str, str]) -> dict[str, str]:
    if value is None:
        return current
    if not isinstance(value, dict):
        raise invalid("appProperties")
    out = dict(current)
    for key, item in value.items():
        if item is None:
            out.pop(key, None)
        elif len(key.encode()) + len(str(item).encode()) > 124:
            raise DriveError(
                400, "invalid", "The size of a property key plus value exceeds 124 bytes.", "appProperties"
            )
        else:
            out[key] = str(item)
    return out


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


# -- the q language ----------------------------------------------------------
_STRING = r"'((?:[^'\\]|\\.)*)'"
_TERMS = [
    (
        re.compile(rf"^{_STRING}\s+in\s+parents$"),
        lambda m: lambda f: _unquote(m[1]) in f.parents or (_unquote(m[1]) == "root" and ROOT_ID in f.parents),
    ),
    (re.compile(rf"^name\s*(=|!=|contains)\s*{_STRING}$"), lambda m: _compare("name", m[1], _unquote(m[2]))),
    (re.compile(rf"^mimeType\s*(=|!=)\s*{_STRING}$"), lambda m: _compare("mime_type", m[1], _unquote(m[2]))),
    (
        re.compile(r"^trashed\s*(=|!=)\s*(true|false)$"),
        lambda m: lambda f: (f.trashed == (m[2] == "true")) == (m[1] == "="),
    ),
    (
        re.compile(rf"^appProperties\s+has\s+\{{\s*key\s*=\s*{_STRING}\s+and\s+value\s*=\s*{_STRING}\s*\}}$"),
        lambda m: lambda f: f.app_properties.get(_unquote(m[1])) == _unquote(m[2]),
    ),
]


def parse_query(q: str) -> Any:
    """A predicate for the `and`-joined terms syncd uses; anything else is rejected as Drive does."""
    if not q.strip():
        return lambda f: True
    tests = [_term(part.strip()) for part in _split_and(q)]
    return lambda f: all(t(f) for t in tests)


def _split_and(q: str) -> list[str]:
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(q):
        ch = q[i]
        if quoted and ch == "\\":
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "{}":
            depth += 1 if ch == "{" else -1
        elif not quoted and depth == 0 and q[i : i + 5].lower() == " and ":
            parts.append(q[start:i])
            start = i + 5
            i += 5
            continue
        i += 1
    if quoted or depth:
        raise invalid("q")
    parts.append(q[start:])
    return parts


def _term(text: str) -> Any:
    for pattern, build in _TERMS:
        match = pattern.match(text)
        if match:
            return build(match)
    raise invalid("q")


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _compare(attr: str, op: str, value: str) -> Any:
    if op == "contains":
        return lambda f: value in getattr(f, attr)
    return lambda f: (getattr(f, attr) == value) == (op == "=")


# -- partial responses ---------------------------------------------------------
def select(resource: dict[str, Any], fields: str | None, default: tuple[str, ...]) -> dict[str, Any]:
    """Only the requested fields, as Drive answers; `*` for all."""
    if not fields:
        return {k: resource[k] for k in default if k in resource}
    return _select(resource, _parse_fields(fields))


def _parse_fields(spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stack = [out]
    name = ""
    for ch in spec + ",":
        if ch == "(":
            sub: dict[str, Any] = {}
            stack[-1][name.strip()] = sub
            stack.append(sub)
            name = ""
        elif ch in ",)":
            if name.strip():
                stack[-1][name.strip()] = None
            name = ""
            if ch == ")":
                if len(stack) == 1:
                    raise invalid("fields", "Invalid field selection")
                stack.pop()
        else:
            name += ch
    if len(stack) != 1:
        raise invalid("fields", "Invalid field selection")
    return out


def _select(resource: Any, spec: dict[str, Any]) -> Any:
    if "*" in spec:
        return resource
    if isinstance(resource, list):
        return [_select(item, spec) for item in resource]
    out = {}
    for key, sub in spec.items():
        if "/" in key:
            raise invalid("fields", "Invalid field selection")
        if key in resource:
            out[key] = resource[key] if sub is None else _select(resource[key], sub)
    return out
