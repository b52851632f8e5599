"""TOML configuration -> a frozen, validated Config.

Validation collects every problem at once, each with its dotted path and what
is allowed, and rejects unknown keys. Secrets may be given inline, or read from
a file (a relative path is looked up in systemd's $CREDENTIALS_DIRECTORY).

Imports nothing from syncd but errors.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.errors import ConfigError

DEFAULT_PATH = "/etc/syncd/config.toml"

# What each syncd-driven flow uploads: (database classification, pvt_type).
FLOW_KINDS = {
    "voicemail": ("modb", "mailbox_message"),
    "recordings": ("modb", "call_recording"),
    "faxes": ("modb", "fax"),
    "media": ("account", "media"),
}
BACKEND_TYPES = ("local", "s3")
CHECKSUM_MODES = ("when_required", "when_supported")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class CouchConfig:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


@dataclass(frozen=True)
class KazooConfig:
    accounts: tuple[str, ...] = ()
    follow_storage_plans: bool = True
    history_months: int = 12
    poll_interval: float = 1.0
    discovery_interval: float = 300.0
    s3_checksum: str = "when_required"


@dataclass(frozen=True)
class UploadConfig:
    workers: int = 8
    retry_base: float = 30.0
    retry_max: float = 3600.0


@dataclass(frozen=True)
class BackendConfig:
    name: str
    type: str
    options: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class FlowConfig:
    name: str
    kind: str
    backend: str
    accounts: tuple[str, ...] = ()
    prefix: str | None = None
    field_list: tuple[Any, ...] | None = None
    field_separator: str = "/"

    @property
    def classification(self) -> str:
        return FLOW_KINDS[self.kind][0]

    @property
    def pvt_type(self) -> str:
        return FLOW_KINDS[self.kind][1]


@dataclass(frozen=True)
class Config:
    source: str
    couchdb: CouchConfig
    state_path: str
    log_level: str = "info"
    kazoo: KazooConfig = KazooConfig()
    upload: UploadConfig = UploadConfig()
    backends: dict[str, BackendConfig] = field(default_factory=dict)
    flows: tuple[FlowConfig, ...] = ()

    def secrets(self) -> list[str]:
        """Every secret value in this config, for the log redactor."""
        found = [self.couchdb.password] if self.couchdb.password else []
        found += [b.options["secret_access_key"] for b in self.backends.values()
                  if b.options.get("secret_access_key")]
        return found


def config_path(cli_path: str | None) -> str:
    """--config wins, then $SYNCD_CONFIG, then /etc/syncd/config.toml."""
    return cli_path or os.environ.get("SYNCD_CONFIG") or DEFAULT_PATH


def load(path: str) -> Config:
    """Read and validate the TOML file at path; raise ConfigError with every problem."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, ["file not found: pass --config PATH or set SYNCD_CONFIG"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read file: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    return parse(raw, source=path)


def parse(raw: dict[str, Any], source: str = "<config>") -> Config:
    """Validate an already-parsed TOML document."""
    v = _Validator()
    v.unknown(raw, "", {"couchdb", "state", "log", "kazoo", "upload", "backends", "flows"})
    couch = _couch(v, v.table(raw, "couchdb", required=True))
    state = v.table(raw, "state", required=True)
    v.unknown(state, "state", {"path"})
    state_path = v.string(state, "state.path", required=True)
    log = v.table(raw, "log")
    v.unknown(log, "log", {"level"})
    level = v.choice(log, "log.level", LOG_LEVELS, "info")
    kazoo = _kazoo(v, v.table(raw, "kazoo"))
    upload = _upload(v, v.table(raw, "upload"))
    backends = _backends(v, v.table(raw, "backends"))
    flows = _flows(v, raw.get("flows", []), backends)
    if v.problems:
        raise ConfigError(source, v.problems)
    return Config(source, couch, state_path or "", level or "info", kazoo, upload, backends, flows)


def _couch(v: _Validator, t: dict[str, Any]) -> CouchConfig:
    v.unknown(t, "couchdb", {"url", "username", "password", "password_file", "timeout"})
    url = v.string(t, "couchdb.url", required=True) or ""
    if url and not url.startswith(("http://", "https://")):
        v.problem("couchdb.url", "must start with http:// or https://")
    password = v.secret(t, "couchdb", "password")
    return CouchConfig(url, v.string(t, "couchdb.username"), password,
                       v.number(t, "couchdb.timeout", 30.0, minimum=1))


def _kazoo(v: _Validator, t: dict[str, Any]) -> KazooConfig:
    v.unknown(t, "kazoo", {"accounts", "follow_storage_plans", "history_months",
                           "poll_interval", "discovery_interval", "s3_checksum"})
    return KazooConfig(
        accounts=v.account_ids(t, "kazoo.accounts"),
        follow_storage_plans=v.boolean(t, "kazoo.follow_storage_plans", True),
        history_months=int(v.number(t, "kazoo.history_months", 12, minimum=0, integer=True)),
        poll_interval=v.number(t, "kazoo.poll_interval", 1.0, minimum=0.05),
        discovery_interval=v.number(t, "kazoo.discovery_interval", 300.0, minimum=1),
        s3_checksum=v.choice(t, "kazoo.s3_checksum", CHECKSUM_MODES, "when_required") or "",
    )


def _upload(v: _Validator, t: dict[str, Any]) -> UploadConfig:
    v.unknown(t, "upload", {"workers", "retry_base", "retry_max"})
    return UploadConfig(
        workers=int(v.number(t, "upload.workers", 8, minimum=1, integer=True)),
        retry_base=v.number(t, "upload.retry_base", 30.0, minimum=0.01),
        retry_max=v.number(t, "upload.retry_max", 3600.0, minimum=0.01),
    )


_BACKEND_KEYS = {
    "local": {"type", "path"},
    "s3": {"type", "bucket", "region", "endpoint_url", "access_key_id", "secret_access_key",
           "secret_access_key_file", "addressing_style", "checksum"},
}


def _backends(v: _Validator, t: dict[str, Any]) -> dict[str, BackendConfig]:
    out = {}
    for name, b in t.items():
        path = f"backends.{name}"
        if not isinstance(b, dict):
            v.problem(path, "must be a table")
            continue
        kind = v.choice(b, f"{path}.type", BACKEND_TYPES, None, required=True)
        if kind is None:
            continue
        v.unknown(b, path, _BACKEND_KEYS[kind])
        opts = _local_options(v, b, path) if kind == "local" else _s3_options(v, b, path)
        out[name] = BackendConfig(name, kind, opts)
    return out


def _local_options(v: _Validator, b: dict[str, Any], path: str) -> dict[str, Any]:
    folder = v.string(b, f"{path}.path", required=True)
    if folder and not os.path.isabs(folder):
        v.problem(f"{path}.path", "must be an absolute path")
    return {"path": folder}


def _s3_options(v: _Validator, b: dict[str, Any], path: str) -> dict[str, Any]:
    return {
        "bucket": v.string(b, f"{path}.bucket", required=True),
        "region": v.string(b, f"{path}.region"),
        "endpoint_url": v.string(b, f"{path}.endpoint_url"),
        "access_key_id": v.string(b, f"{path}.access_key_id"),
        "secret_access_key": v.secret(b, path, "secret_access_key"),
        "addressing_style": v.choice(b, f"{path}.addressing_style", ("auto", "path", "virtual"), "auto"),
        "checksum": v.choice(b, f"{path}.checksum", CHECKSUM_MODES, "when_required"),
    }


def _flows(v: _Validator, flows: Any, backends: dict[str, BackendConfig]) -> tuple[FlowConfig, ...]:
    if not isinstance(flows, list):
        v.problem("flows", "must be an array of tables ([[flows]])")
        return ()
    out = []
    for i, f in enumerate(flows):
        path = f"flows[{i}]"
        if not isinstance(f, dict):
            v.problem(path, "must be a table")
            continue
        v.unknown(f, path, {"name", "kind", "backend", "accounts", "prefix", "field_list", "field_separator"})
        kind = v.choice(f, f"{path}.kind", tuple(FLOW_KINDS), None, required=True)
        backend = v.string(f, f"{path}.backend", required=True)
        if backend and backend not in backends:
            known = ", ".join(sorted(backends)) or "none defined"
            v.problem(f"{path}.backend", f"names no [backends.{backend}] table (defined: {known})")
        fields = f.get("field_list")
        if fields is not None and not _valid_field_list(fields):
            v.problem(f"{path}.field_list", "must be an array of {arg=...}, {field=...}, "
                      "{const=...} or {group=[...]} tables; arg is one of account_id, db, id, attachment")
        if kind and backend:
            out.append(FlowConfig(
                name=v.string(f, f"{path}.name") or f"{kind}-{backend}", kind=kind, backend=backend,
                accounts=v.account_ids(f, f"{path}.accounts"), prefix=v.string(f, f"{path}.prefix"),
                field_list=tuple(fields) if fields is not None else None,
                field_separator=v.string(f, f"{path}.field_separator") or "/"))
    return tuple(out)


def _valid_field_list(fields: Any) -> bool:
    if not isinstance(fields, list):
        return False
    for item in fields:
        if isinstance(item, str):
            continue
        if not isinstance(item, dict) or len(item) != 1:
            return False
        (key, value), = item.items()
        ok = {
            "arg": lambda x: x in ("account_id", "db", "id", "attachment"),
            "field": lambda x: isinstance(x, str) and bool(x),
            "const": lambda x: isinstance(x, str),
            "group": _valid_field_list,
        }.get(key)
        if ok is None or not ok(value):
            return False
    return True


class _Validator:
    """Collects problems instead of stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def unknown(self, table: dict[str, Any], path: str, allowed: set[str]) -> None:
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

    def boolean(self, t: dict[str, Any], path: str, default: bool) -> bool:
        value = self._get(t, path)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(path, "must be true or false")
            return default
        return value

    def number(self, t: dict[str, Any], path: str, default: float, minimum: float,
               integer: bool = False) -> float:
        value = self._get(t, path)
        if value is None:
            return default
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
            what = "a whole number" if integer else "a number"
            self.problem(path, f"must be {what} >= {minimum:g} (got {value!r})")
            return default
        return float(value)

    def choice(self, t: dict[str, Any], path: str, allowed: tuple[str, ...], default: str | None,
               required: bool = False) -> str | None:
        value = self._get(t, path)
        if value is None:
            if required:
                self.problem(path, f"missing; one of: {', '.join(allowed)}")
            return default
        if value not in allowed:
            self.problem(path, f"must be one of: {', '.join(allowed)} (got {value!r})")
            return default
        return str(value)

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
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.problem(f"{section}.{key}_file", f"cannot read {path}: {exc.strerror}")
            return None


def _credential_path(name: str) -> Path:
    """Relative secret files live in systemd's credentials directory when there is one."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and not os.path.isabs(name):
        return Path(creds) / name
    return Path(name)


def _is_account_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
