"""The config validator: collects every problem, each with its dotted path."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class Validator:
    """Collects problems instead of stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        # what the validation met, for the example config's drift test: the keys each table
        # allows, and the default each optional setting takes when it is absent
        self.allowed: dict[str, set[str]] = {}
        self.defaults: dict[str, Any] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def unknown(self, table: dict[str, Any], path: str, allowed: set[str]) -> None:
        self.allowed.setdefault(path, set()).update(allowed)
        for key in sorted(set(table) - allowed):
            where = f"{path}.{key}" if path else key
            self.problem(where, f"unknown key (allowed here: {', '.join(sorted(allowed))})")

    def table(self, raw: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
        value = raw.get(key)
        if value is None:
            if required:
                self.problem(key, "missing table; it is required")
            return {}
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        return value

    def _get(self, t: dict[str, Any], path: str) -> Any:
        return t.get(path.rsplit(".", 1)[-1])

    def string(self, t: dict[str, Any], path: str, required: bool = False) -> str | None:
        value = self._get(t, path)
        if value is None:
            if required:
                self.problem(path, "missing; it is required")
            return None
        if not isinstance(value, str) or not value:
            self.problem(path, "must be a non-empty string")
            return None
        return value

    def folder(self, t: dict[str, Any], path: str, default: str | None) -> str | None:
        """A folder path inside a backend: no '..', no hidden names, not the backend's root."""
        value = t.get(path.rsplit(".", 1)[-1], default)
        parts = value.strip("/").split("/") if isinstance(value, str) else []
        if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            self.problem(
                path,
                "must be a folder path inside the backend, like \"fax/outbox\" (no '..', no hidden "
                "names, not the backend's root)",
            )
            return None
        return "/".join(parts)

    def url(self, value: str, path: str, schemes: tuple[str, ...] = ("http", "https")) -> bool:
        """A URL with one of schemes, a host and (if any) a valid port; False (and a problem) otherwise."""
        parts = urlsplit(value)
        try:
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            port_ok = False
        if parts.scheme not in schemes or not parts.hostname or not port_ok or " " in value:
            shown = "" if "@" in value else f", got {value!r}"  # never echo credentials in a URL
            self.problem(
                path,
                f"must be a URL like {schemes[0]}://host:port (scheme {' or '.join(schemes)}, "
                f"a host, a port 1-65535){shown}",
            )
            return False
        return True

    def boolean(self, t: dict[str, Any], path: str, default: bool) -> bool:
        self.defaults[path] = default
        value = self._get(t, path)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(path, "must be true or false")
            return default
        return value

    def number(
        self, t: dict[str, Any], path: str, default: float, minimum: float, maximum: float, integer: bool = False
    ) -> float:
        """A finite number in [minimum, maximum]: NaN, infinity and absurd values are refused with the path."""
        self.defaults[path] = default
        value = self._get(t, path)
        if value is None:
            return default
        kinds = (int,) if integer else (int, float)
        what = "a whole number" if integer else "a number"
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or not math.isfinite(value)
            or not minimum <= value <= maximum
        ):
            self.problem(path, f"must be {what} from {minimum:g} to {maximum:g} (got {value!r})")
            return default
        return float(value)

    def choice(
        self, t: dict[str, Any], path: str, allowed: tuple[str, ...], default: str | None, required: bool = False
    ) -> str | None:
        if not required and default is not None:
            self.defaults[path] = default
        value = self._get(t, path)
        if value is None:
            if required:
                self.problem(path, f"missing; one of: {', '.join(allowed)}")
            return default
        if value not in allowed:
            self.problem(path, f"must be one of: {', '.join(allowed)} (got {value!r})")
            return default
        return str(value)

    def place(self, b: dict[str, Any], path: str, backends: set[str]) -> tuple[str, str, str] | None:
        """A table's account, backend and folder in it (an outbox, a library): (account id, backend
        name, folder), or None with every problem reported."""
        account = b.get("account")
        if not _is_account_id(account):
            self.problem(f"{path}.account", "missing or not a 32-character lowercase hex account id")
        backend = self.string(b, f"{path}.backend", required=True)
        if backend and backend not in backends:
            defined = ", ".join(sorted(backends)) or "none"
            self.problem(f"{path}.backend", f"names no [backends.{backend}] table (defined: {defined})")
        folder = self.folder(b, f"{path}.folder", None)
        if folder is None or not backend or backend not in backends or not _is_account_id(account):
            return None
        return str(account), backend, folder

    def account_ids(self, t: dict[str, Any], path: str) -> tuple[str, ...]:
        value = self._get(t, path)
        if value is None:
            return ()
        bad = not isinstance(value, list) or not all(_is_account_id(a) for a in value)
        if bad:
            self.problem(path, "must be an array of 32-character lowercase hex account ids")
            return ()
        return tuple(value)

    def secret(self, t: dict[str, Any], section: str, key: str) -> str | None:
        """A secret given inline as `key`, or read from the file named by `key_file`."""
        inline, file_name = t.get(key), t.get(f"{key}_file")
        if inline is not None and file_name is not None:
            self.problem(f"{section}.{key}", f"give either {key} or {key}_file, not both")
            return None
        if file_name is None:
            return self.string(t, f"{section}.{key}")
        path = _credential_path(str(file_name))
        try:
            return read_credential_file(path)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.problem(f"{section}.{key}_file", f"cannot read {path}: {why}")
            return None


MAX_CREDENTIAL_BYTES = 64 * 1024  # a Google key file is ~2 KB; a password a few bytes


def read_credential_file(path: Path, limit: int = MAX_CREDENTIAL_BYTES) -> str:
    """A secret (or config) file's text: a regular file only (a FIFO or device would block or never end),
    at most `limit` bytes. Opened non-blocking and checked with fstat before a byte is read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file (a FIFO, device or folder is never read as a secret)")
        if st.st_size > limit:
            raise ValueError(f"{st.st_size:,} bytes; this file may be at most {limit:,}")
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _credential_path(name: str) -> Path:
    """Relative secret files live in systemd's credentials directory when there is one."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and not os.path.isabs(name):
        return Path(creds) / name
    return Path(name)


def _is_account_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
