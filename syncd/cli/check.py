"""`syncd check`: validate what the daemon depends on and report each part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from syncd.backends import BackendSpec, open_backend
from syncd.config import Config
from syncd.errors import KazooError, PlanError
from syncd.flows.attachments.targets import backend_spec, flow_setup
from syncd.flows.fax.records import Outbox
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.endpoints import EndpointPolicy
from syncd.kazoo.faxes import FAXES_DB, KazooFaxQueue
from syncd.kazoo.follower import SYSTEM_DATA, account_ids
from syncd.kazoo.plans import PlanBook
from syncd.kazoo.routing import handler_target
from syncd.runtime.bulkhead import describe
from syncd.state import State


@dataclass(frozen=True)
class CheckRow:
    name: str
    ok: bool
    detail: str


def run_all(cfg: Config) -> list[CheckRow]:
    rows = [CheckRow("config", True, f"{cfg.source} is valid"), _state(cfg)]
    couch = CouchClient(cfg.couchdb.url, cfg.couchdb.username, cfg.couchdb.password, cfg.couchdb.timeout)
    rows.append(_probe("couchdb", lambda: f"{couch.display_url} answers (version {couch.version()})"))
    _, specs = flow_setup(cfg)
    for target, spec in sorted(specs.items()):
        rows.append(_probe(target, partial(_check_backend, spec)))
    if cfg.kazoo.follow_storage_plans and rows[2].ok:
        rows += _plans(cfg, couch)
    for box in cfg.fax.outboxes:
        rows.append(_probe(f"fax outbox {box.name}", partial(_check_outbox, cfg, couch, box)))
    return rows


def _check_outbox(cfg: Config, couch: CouchClient, box: Outbox) -> str:
    """The folder is reachable, Kazoo has its fax queue, and there is a caller id to send from."""
    backend = open_backend(backend_spec(cfg.backends[box.backend]))
    backend.check()
    if not couch.db_exists(FAXES_DB):
        raise KazooError(f"CouchDB has no {FAXES_DB!r} database: is Kazoo's fax application installed?")
    sender = KazooFaxQueue(couch).sender(box.account_id, box.sender)
    if not sender.from_number:
        raise KazooError(f"faxbox {box.sender.faxbox_id} has no caller_id; set from_number on the outbox")
    return f"{backend.describe()}, folder {box.folder!r}; faxes sent as {sender.from_number}"


def _state(cfg: Config) -> CheckRow:
    def open_state() -> str:
        State(cfg.state_path).close()
        return f"{cfg.state_path} opens"

    return _probe("state", open_state)


def _check_backend(spec: BackendSpec) -> str:
    backend = open_backend(spec)
    backend.check()
    return f"{backend.describe()} reachable"


def _plans(cfg: Config, couch: CouchClient) -> list[CheckRow]:
    plans = PlanBook(lambda doc_id: couch.get(SYSTEM_DATA, doc_id))
    endpoints = EndpointPolicy(cfg.kazoo.allow_endpoints, cfg.couchdb.url)
    rows: list[CheckRow] = []
    seen: set[str] = set()
    accounts = list(cfg.kazoo.accounts) or account_ids(couch)
    for account_id in accounts:
        try:
            rows += _account_plan(cfg, plans, endpoints, account_id, seen)
        except PlanError as exc:  # the account's storage document itself is refused
            rows.append(CheckRow(f"plan {account_id}", False, str(exc)))
    if not rows:
        rows.append(CheckRow("plans", True, f"{len(accounts)} account(s); no storage handler to check"))
    return rows


def _account_plan(
    cfg: Config, plans: PlanBook, endpoints: EndpointPolicy, account_id: str, seen: set[str]
) -> list[CheckRow]:
    routes, problems = plans.routes(account_id)
    rows = [CheckRow(f"plan {account_id}", False, str(p)) for p in problems]
    for route in routes:
        try:
            found = handler_target(route, cfg.kazoo.s3_checksum, cfg.kazoo.google_drive)
        except PlanError as exc:
            rows.append(CheckRow(f"plan {account_id}", False, str(exc)))
            continue
        if found is None or found[0] in seen:
            continue
        target, spec = found
        seen.add(target)

        def probe(s: BackendSpec = spec) -> str:
            if s.options.get("endpoint_url"):
                endpoints.check_url(s.options["endpoint_url"])  # never connect where a tenant may not send us
            return _check_backend(s)

        rows.append(_probe(target, probe))
    return rows


def _probe(name: str, fn: Callable[[], str]) -> CheckRow:
    try:
        return CheckRow(name, True, fn())
    except Exception as exc:  # noqa: BLE001 - check reports every part, whatever fails in one
        return CheckRow(name, False, describe(exc))
