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

from apscheduler.triggers.cron import CronTrigger

from syncd.config_backends import CHECKSUM_MODES, backend_options, credential_secrets, kazoo_drive
from syncd.config_fax import FaxConfig, fax_config, no_uploads_into_outboxes
from syncd.config_validator import Validator
from syncd.errors import ConfigError

DEFAULT_PATH = "/etc/syncd/config.toml"

# What each syncd-driven flow uploads: (database classification, pvt_type).
FLOW_KINDS = {
    "voicemail": ("modb", "mailbox_message"),
    "recordings": ("modb", "call_recording"),
    "faxes": ("modb", "fax"),
    "media": ("account", "media"),
}
LOG_LEVELS = ("debug", "info", "warning", "error")
ON_KAZOO_DELETE = ("keep", "trash", "delete")
TWO_WAY_KINDS = ("voicemail", "recordings", "faxes")


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
    # syncd's own Drive credentials for Kazoo's google_drive handlers: credentials, subject, api_endpoint
    google_drive: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class UploadConfig:
    workers: int = 8
    retry_base: float = 30.0
    retry_max: float = 3600.0


@dataclass(frozen=True)
class KindPolicy:
    """Two-way policy for one kind of document (voicemail, recordings, faxes)."""

    delete_in_kazoo: bool = False   # its object vanished from storage -> soft delete in Kazoo
    on_kazoo_delete: str = "keep"   # deleted in Kazoo -> keep | trash | delete its object


@dataclass(frozen=True)
class TwoWayConfig:
    kinds: dict[str, KindPolicy] = field(default_factory=lambda: {"voicemail": KindPolicy(True)})
    grace_period: float = 60.0
    scan_interval: float = 300.0
    recheck_interval: float = 2.0
    change_poll_interval: float = 10.0
    max_deletes: int = 20
    max_delete_share: float = 0.5
    share_from: int = 3
    max_deletes_per_run: int = 100
    guard_window: float = 3600.0
    reconcile_cron: str | None = "30 3 * * *"
    reconcile_jitter: float = 900.0
    crossbar_url: str | None = None
    crossbar_api_key: str | None = field(default=None, repr=False)
    sqs_queue_url: str | None = None
    sqs: dict[str, Any] = field(default_factory=dict, repr=False)

    def pvt_types(self, predicate: Any) -> frozenset[str]:
        return frozenset(FLOW_KINDS[k][1] for k, p in self.kinds.items() if predicate(p))

    def kazoo_delete_modes(self) -> dict[str, str]:
        """pvt_type -> "trash" | "delete", for the kinds that do not keep objects of docs deleted in Kazoo."""
        return {FLOW_KINDS[k][1]: p.on_kazoo_delete for k, p in self.kinds.items() if p.on_kazoo_delete != "keep"}


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
    two_way: TwoWayConfig = TwoWayConfig()
    fax: FaxConfig = FaxConfig()

    def secrets(self) -> list[str]:
        """Every secret value in this config, for the log redactor."""
        found = [self.couchdb.password] if self.couchdb.password else []
        found += [b.options["secret_access_key"] for b in self.backends.values()
                  if b.options.get("secret_access_key")]
        found += [x for x in (self.two_way.crossbar_api_key, self.two_way.sqs.get("secret_access_key")) if x]
        drives = [self.kazoo.google_drive] + [b.options for b in self.backends.values() if b.type == "google_drive"]
        for drive in drives:
            found += credential_secrets(drive.get("credentials"))
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
    v = Validator()
    v.unknown(raw, "", {"couchdb", "state", "log", "kazoo", "upload", "backends", "flows", "two_way", "fax"})
    couch = _couch(v, v.table(raw, "couchdb", required=True))
    state = v.table(raw, "state", required=True)
    v.unknown(state, "state", {"path"})
    state_path = v.string(state, "state.path", required=True)
    log = v.table(raw, "log")
    v.unknown(log, "log", {"level"})
    level = v.choice(log, "log.level", LOG_LEVELS, "info")
    kazoo = _kazoo(v, v.table(raw, "kazoo"))
    upload = _upload(v, v.table(raw, "upload"))
    backends = {name: BackendConfig(name, kind, opts)
                for name, (kind, opts) in backend_options(v, v.table(raw, "backends")).items()}
    flows = _flows(v, raw.get("flows", []), backends)
    two_way = _two_way(v, v.table(raw, "two_way"))
    fax = fax_config(v, v.table(raw, "fax"), set(backends))
    no_uploads_into_outboxes(v, fax, flows)
    if fax.submit_via == "crossbar" and not two_way.crossbar_url:
        v.problem("fax.submit_via", "\"crossbar\" needs [two_way] crossbar_url and crossbar_api_key (or _file): "
                  "the Crossbar connection syncd uses")
    if v.problems:
        raise ConfigError(source, v.problems)
    return Config(source, couch, state_path or "", level or "info", kazoo, upload, backends, flows, two_way, fax)


def _two_way(v: Validator, t: dict[str, Any]) -> TwoWayConfig:
    numbers = {"grace_period": (60.0, 0), "scan_interval": (300.0, 1), "recheck_interval": (2.0, 0.1),
               "change_poll_interval": (10.0, 0.1),
               "max_deletes": (20, 0), "max_delete_share": (0.5, 0), "share_from": (3, 1),
               "max_deletes_per_run": (100, 0), "guard_window": (3600.0, 0), "reconcile_jitter": (900.0, 0)}
    v.unknown(t, "two_way", {*numbers, *TWO_WAY_KINDS, "reconcile_cron", "crossbar_url", "crossbar_api_key",
                             "crossbar_api_key_file", "sqs"})
    values = {k: v.number(t, f"two_way.{k}", d, minimum=m, integer=isinstance(d, int))
              for k, (d, m) in numbers.items()}
    if values["max_delete_share"] > 1:
        v.problem("two_way.max_delete_share", "must be a share between 0 and 1 (0.5 = half)")
    kinds = {kind: _kind_policy(v, v.table(t, kind), f"two_way.{kind}", kind == "voicemail")
             for kind in TWO_WAY_KINDS}
    cron = t.get("reconcile_cron", "30 3 * * *")
    if not _valid_cron(cron):
        v.problem("two_way.reconcile_cron", f"must be a 5-field cron expression like \"30 3 * * *\", "
                  f"or \"\" to turn scheduled reconciliation off (got {cron!r})")
        cron = None
    crossbar = v.string(t, "two_way.crossbar_url")
    key = v.secret(t, "two_way", "crossbar_api_key")
    if bool(crossbar) != bool(key):
        v.problem("two_way.crossbar_url", "give crossbar_url and crossbar_api_key (or _file) together")
    sqs = _sqs(v, v.table(t, "sqs"))
    ints = {k: int(values[k]) for k in ("max_deletes", "share_from", "max_deletes_per_run")}
    return TwoWayConfig(kinds=kinds, crossbar_url=crossbar, crossbar_api_key=key,
                        reconcile_cron=cron or None, sqs_queue_url=sqs.pop("queue_url", None), sqs=sqs,
                        **{**values, **ints})


def _valid_cron(cron: Any) -> bool:
    if cron == "":
        return True
    if not isinstance(cron, str) or len(cron.split()) != 5:
        return False
    try:
        CronTrigger.from_crontab(cron)
    except ValueError:
        return False
    return True


def _kind_policy(v: Validator, t: dict[str, Any], path: str, deletes_by_default: bool) -> KindPolicy:
    v.unknown(t, path, {"delete_in_kazoo", "on_kazoo_delete"})
    return KindPolicy(v.boolean(t, f"{path}.delete_in_kazoo", deletes_by_default),
                      v.choice(t, f"{path}.on_kazoo_delete", ON_KAZOO_DELETE, "keep") or "keep")


def _sqs(v: Validator, t: dict[str, Any]) -> dict[str, Any]:
    if not t:
        return {}
    v.unknown(t, "two_way.sqs", {"queue_url", "region", "endpoint_url", "access_key_id", "secret_access_key",
                                 "secret_access_key_file", "wait_seconds"})
    return {"queue_url": v.string(t, "two_way.sqs.queue_url", required=True),
            "region": v.string(t, "two_way.sqs.region"), "endpoint_url": v.string(t, "two_way.sqs.endpoint_url"),
            "access_key_id": v.string(t, "two_way.sqs.access_key_id"),
            "secret_access_key": v.secret(t, "two_way.sqs", "secret_access_key"),
            "wait_seconds": int(v.number(t, "two_way.sqs.wait_seconds", 10, minimum=0, integer=True))}


def _couch(v: Validator, t: dict[str, Any]) -> CouchConfig:
    v.unknown(t, "couchdb", {"url", "username", "password", "password_file", "timeout"})
    url = v.string(t, "couchdb.url", required=True) or ""
    if url and not url.startswith(("http://", "https://")):
        v.problem("couchdb.url", "must start with http:// or https://")
    password = v.secret(t, "couchdb", "password")
    return CouchConfig(url, v.string(t, "couchdb.username"), password,
                       v.number(t, "couchdb.timeout", 30.0, minimum=1))


def _kazoo(v: Validator, t: dict[str, Any]) -> KazooConfig:
    v.unknown(t, "kazoo", {"accounts", "follow_storage_plans", "history_months",
                           "poll_interval", "discovery_interval", "s3_checksum", "google_drive"})
    return KazooConfig(
        accounts=v.account_ids(t, "kazoo.accounts"),
        follow_storage_plans=v.boolean(t, "kazoo.follow_storage_plans", True),
        history_months=int(v.number(t, "kazoo.history_months", 12, minimum=0, integer=True)),
        poll_interval=v.number(t, "kazoo.poll_interval", 1.0, minimum=0.05),
        discovery_interval=v.number(t, "kazoo.discovery_interval", 300.0, minimum=1),
        s3_checksum=v.choice(t, "kazoo.s3_checksum", CHECKSUM_MODES, "when_required") or "",
        google_drive=kazoo_drive(v, t),
    )


def _upload(v: Validator, t: dict[str, Any]) -> UploadConfig:
    v.unknown(t, "upload", {"workers", "retry_base", "retry_max"})
    return UploadConfig(
        workers=int(v.number(t, "upload.workers", 8, minimum=1, integer=True)),
        retry_base=v.number(t, "upload.retry_base", 30.0, minimum=0.01),
        retry_max=v.number(t, "upload.retry_max", 3600.0, minimum=0.01),
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
