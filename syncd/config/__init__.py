"""TOML configuration -> a frozen, validated Config.

Validation collects every problem at once, each with its dotted path and what
is allowed, and rejects unknown keys. Secrets may be given inline, or read from
a file (a relative path is looked up in systemd's $CREDENTIALS_DIRECTORY).

Imports nothing from syncd but errors.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from syncd.backends import BackendSpec
from syncd.config.backends import (
    CHECKSUM_MODES,
    BackendOptions,
    DriveOptions,
    LocalOptions,
    S3Options,
    backend_options,
    credential_secrets,
    kazoo_drive,
)
from syncd.config.cdr import CdrConfig, cdr_config
from syncd.config.crossbar import CrossbarConfig, crossbar_config
from syncd.config.fax import FaxConfig, fax_config
from syncd.config.kinds import DAY, FLOW_KINDS
from syncd.config.media import MediaConfig, media_config
from syncd.config.overlaps import Place, check_overlaps, place
from syncd.config.two_way import TwoWayConfig, two_way_config
from syncd.config.validator import Validator, read_credential_file
from syncd.errors import ConfigError
from syncd.kazoo.versions import DEFAULT, VERSIONS

DEFAULT_PATH = "/etc/syncd/config.toml"
_Options = TypeVar("_Options", LocalOptions, S3Options, DriveOptions)
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
    # endpoints tenant storage docs may name although not public (host names, addresses, CIDRs)
    allow_endpoints: tuple[str, ...] = ()
    # syncd's own Drive credentials for Kazoo's google_drive handlers: credentials, subject, api_endpoint
    google_drive: dict[str, Any] = field(default_factory=dict, repr=False)
    crossbar: CrossbarConfig | None = None  # [kazoo.crossbar]: voicemail deletes and fax jobs through Crossbar
    version: str = DEFAULT  # the Kazoo release syncd writes for: "4.3" or "master" (syncd.kazoo.versions)


@dataclass(frozen=True)
class UploadConfig:
    workers: int = 8
    retry_base: float = 30.0
    retry_max: float = 3600.0


@dataclass(frozen=True)
class BackendConfig:
    name: str
    type: str
    options: BackendOptions = field(repr=False)  # typed by `type`: LocalOptions, S3Options or DriveOptions

    def spec(self) -> BackendSpec:
        """What open_backend needs: the options set, without syncd's own (watch)."""
        return BackendSpec(self.type, self.options.kwargs())


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
    two_way: TwoWayConfig = TwoWayConfig()
    fax: FaxConfig = FaxConfig()
    cdr: CdrConfig = CdrConfig()
    media: MediaConfig = MediaConfig()
    # keys that still work but have moved, each with where to (logged as warnings at start)
    deprecations: tuple[str, ...] = ()

    def secrets(self) -> list[str]:
        """Every secret value in this config, for the log redactor."""
        found = [self.couchdb.password] if self.couchdb.password else []
        found += [o.secret_access_key for o in self._options(S3Options) if o.secret_access_key]
        crossbar_key = self.kazoo.crossbar.api_key if self.kazoo.crossbar else None
        found += [x for x in (crossbar_key, self.two_way.sqs.get("secret_access_key")) if x]
        found += list(self.cdr.passwords)
        found += credential_secrets(self.kazoo.google_drive.get("credentials"))
        for drive in self._options(DriveOptions):
            found += credential_secrets(drive.credentials)
        return found

    def local_folders(self) -> list[tuple[str, str, str]]:
        """(backend name, path, watch) of each [backends.X] type = "local", for the folder watcher."""
        return [
            (b.name, o.path, o.watch)
            for b in self.backends.values()
            if isinstance(o := b.options, LocalOptions) and o.path
        ]

    def _options(self, kind: type[_Options]) -> list[_Options]:
        return [b.options for b in self.backends.values() if isinstance(b.options, kind)]


def config_path(cli_path: str | None) -> str:
    """--config wins, then $SYNCD_CONFIG, then /etc/syncd/config.toml."""
    return cli_path or os.environ.get("SYNCD_CONFIG") or DEFAULT_PATH


def load(path: str) -> Config:
    """Read and validate the TOML file at path; raise ConfigError with every problem."""
    try:
        raw = tomllib.loads(read_credential_file(Path(path), limit=1024 * 1024))
    except FileNotFoundError:
        raise ConfigError(path, ["file not found: pass --config PATH or set SYNCD_CONFIG"]) from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, tomllib.TOMLDecodeError):
            raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(path, [f"cannot read file: {why}"]) from None
    return parse(raw, source=path)


def parse(raw: dict[str, Any], source: str = "<config>", validator: Validator | None = None) -> Config:
    """Validate an already-parsed TOML document. validator: one to read afterwards (which keys
    each table allows, which defaults were applied: the example config's drift test)."""
    v = validator or Validator()
    v.unknown(
        raw, "", {"couchdb", "state", "log", "kazoo", "upload", "backends", "flows", "two_way", "fax", "cdr", "media"}
    )
    couch = _couch(v, v.table(raw, "couchdb", required=True))
    state = v.table(raw, "state", required=True)
    v.unknown(state, "state", {"path"})
    state_path = v.string(state, "state.path", required=True)
    if state_path and not os.path.isabs(state_path):
        v.problem(
            "state.path",
            f"must be an absolute path; {state_path!r} would depend on the directory syncd "
            f"starts in (here: {os.path.abspath(state_path)})",
        )
    log = v.table(raw, "log")
    v.unknown(log, "log", {"level"})
    level = v.choice(log, "log.level", LOG_LEVELS, "info")
    notices: list[str] = []
    kazoo_table, two_way_table = v.table(raw, "kazoo"), v.table(raw, "two_way")  # each read (and judged) once
    kazoo = _kazoo(v, kazoo_table, crossbar_config(v, kazoo_table, two_way_table, notices))
    upload = _upload(v, v.table(raw, "upload"))
    backends = {
        name: BackendConfig(name, kind, opts)
        for name, (kind, opts) in backend_options(v, v.table(raw, "backends")).items()
    }
    flows = _flows(v, raw.get("flows", []), backends)
    two_way = two_way_config(v, two_way_table)
    fax = fax_config(v, v.table(raw, "fax"), set(backends))
    cdr = cdr_config(v, v.table(raw, "cdr"), state_path, {n: b.type for n, b in backends.items()}, kazoo.version)
    media = media_config(v, v.table(raw, "media"), set(backends))
    check_overlaps(v, _places(backends, flows, fax, cdr, media))
    if media.write_via == "crossbar" and not kazoo.crossbar:
        v.problem(
            "media.write_via",
            '"crossbar" needs [kazoo.crossbar] url and api_key (or api_key_file): the Crossbar connection syncd uses',
        )
    if fax.submit_via == "crossbar" and not kazoo.crossbar:
        v.problem(
            "fax.submit_via",
            '"crossbar" needs [kazoo.crossbar] url and api_key (or api_key_file): the Crossbar connection syncd uses',
        )
    if v.problems:
        raise ConfigError(source, v.problems)
    return Config(
        source,
        couch,
        state_path or "",
        level or "info",
        kazoo,
        upload,
        backends,
        flows,
        two_way,
        fax,
        cdr,
        media,
        tuple(notices),
    )


def _places(
    backends: dict[str, BackendConfig],
    flows: tuple[FlowConfig, ...],
    fax: FaxConfig,
    cdr: CdrConfig,
    media: MediaConfig,
) -> list[Place]:
    found = [
        place(f"flows[{i}] {f.name!r}", "flow", backends[f.backend].options, f.prefix)
        for i, f in enumerate(flows)
        if f.backend in backends
    ]
    found += [
        place(f"fax.outbox {b.name!r}", "outbox", backends[b.backend].options, b.folder)
        for b in fax.outboxes
        if b.backend in backends
    ]
    files = [(s.name, s.files) for s in cdr.sinks if s.files and s.files.backend in backends]
    found += [place(f"cdr.sink {name!r}", "cdr files", backends[f.backend].options, f.folder) for name, f in files]
    found += [
        place(
            f"media.library {b.name!r}",
            "media library",
            backends[b.backend].options,
            b.folder,
        )
        for b in media.libraries
        if b.backend in backends
    ]
    return found


def _couch(v: Validator, t: dict[str, Any]) -> CouchConfig:
    v.unknown(t, "couchdb", {"url", "username", "password", "password_file", "timeout"})
    url = v.string(t, "couchdb.url", required=True) or ""
    if url and not v.url(url, "couchdb.url"):
        url = ""
    password = v.secret(t, "couchdb", "password")
    return CouchConfig(
        url, v.string(t, "couchdb.username"), password, v.number(t, "couchdb.timeout", 30.0, minimum=1, maximum=3600)
    )


def _kazoo(v: Validator, t: dict[str, Any], crossbar: CrossbarConfig | None) -> KazooConfig:
    v.unknown(
        t,
        "kazoo",
        {
            "accounts",
            "follow_storage_plans",
            "history_months",
            "poll_interval",
            "discovery_interval",
            "s3_checksum",
            "google_drive",
            "allow_endpoints",
            "crossbar",
            "version",
        },
    )
    return KazooConfig(
        version=v.choice(t, "kazoo.version", VERSIONS, DEFAULT) or DEFAULT,
        accounts=v.account_ids(t, "kazoo.accounts"),
        follow_storage_plans=v.boolean(t, "kazoo.follow_storage_plans", True),
        history_months=int(v.number(t, "kazoo.history_months", 12, minimum=0, maximum=240, integer=True)),
        poll_interval=v.number(t, "kazoo.poll_interval", 1.0, minimum=0.05, maximum=3600),
        discovery_interval=v.number(t, "kazoo.discovery_interval", 300.0, minimum=1, maximum=DAY),
        s3_checksum=v.choice(t, "kazoo.s3_checksum", CHECKSUM_MODES, "when_required") or "",
        google_drive=kazoo_drive(v, t),
        allow_endpoints=_allow_endpoints(v, t.get("allow_endpoints")),
        crossbar=crossbar,
    )


def _allow_endpoints(v: Validator, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(x, str) and _endpoint_entry(x) for x in value):
        v.problem(
            "kazoo.allow_endpoints",
            "must be an array of host names, IP addresses or CIDR networks "
            '(e.g. ["127.0.0.1", "10.0.0.0/8", "minio.internal"])',
        )
        return ()
    return tuple(value)


def _endpoint_entry(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return bool(text) and all(c.isalnum() or c in ".-" for c in text)


def _upload(v: Validator, t: dict[str, Any]) -> UploadConfig:
    v.unknown(t, "upload", {"workers", "retry_base", "retry_max"})
    return UploadConfig(
        workers=int(v.number(t, "upload.workers", 8, minimum=1, maximum=64, integer=True)),
        retry_base=v.number(t, "upload.retry_base", 30.0, minimum=0.01, maximum=DAY),
        retry_max=v.number(t, "upload.retry_max", 3600.0, minimum=0.01, maximum=7 * DAY),
    )


def _flows(v: Validator, flows: Any, backends: dict[str, BackendConfig]) -> tuple[FlowConfig, ...]:
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
            v.problem(
                f"{path}.field_list",
                "must be an array of {arg=...}, {field=...}, "
                "{const=...} or {group=[...]} tables; arg is one of account_id, db, id, attachment",
            )
        if kind and backend:
            out.append(
                FlowConfig(
                    name=v.string(f, f"{path}.name") or f"{kind}-{backend}",
                    kind=kind,
                    backend=backend,
                    accounts=v.account_ids(f, f"{path}.accounts"),
                    prefix=v.string(f, f"{path}.prefix"),
                    field_list=tuple(fields) if fields is not None else None,
                    field_separator=v.string(f, f"{path}.field_separator") or "/",
                )
            )
    return tuple(out)


def _valid_field_list(fields: Any) -> bool:
    if not isinstance(fields, list):
        return False
    for item in fields:
        if isinstance(item, str):
            continue
        if not isinstance(item, dict) or len(item) != 1:
            return False
        ((key, value),) = item.items()
        ok = {
            "arg": lambda x: x in ("account_id", "db", "id", "attachment"),
            "field": lambda x: isinstance(x, str) and bool(x),
            "const": lambda x: isinstance(x, str),
            "group": _valid_field_list,
        }.get(key)
        if ok is None or not ok(value):
            return False
    return True
