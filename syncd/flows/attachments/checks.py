"""`syncd check` for the attachments flow: every target it uploads to, and (when syncd
follows Kazoo's storage plans) every account's plan and the handlers it names."""

from __future__ import annotations

from functools import partial

from syncd.backends import BackendSpec, open_backend
from syncd.config import Config
from syncd.errors import PlanError
from syncd.flows.attachments.targets import flow_setup
from syncd.flows.contract import Probe
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.endpoints import EndpointPolicy
from syncd.kazoo.follower import SYSTEM_DATA, account_ids
from syncd.kazoo.plans import PlanBook
from syncd.kazoo.routing import handler_target


def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
    _, specs = flow_setup(config)
    found = [Probe(target, partial(_reach, spec)) for target, spec in sorted(specs.items())]
    if config.kazoo.follow_storage_plans and kazoo_reachable:
        found += _plans(config, couch)
    return found


def _reach(spec: BackendSpec) -> str:
    backend = open_backend(spec)
    backend.check()
    return f"{backend.describe()} reachable"


def _plans(config: Config, couch: CouchClient) -> list[Probe]:
    plans = PlanBook(lambda doc_id: couch.get(SYSTEM_DATA, doc_id))
    endpoints = EndpointPolicy(config.kazoo.allow_endpoints, config.couchdb.url)
    found: list[Probe] = []
    seen: set[str] = set()
    accounts = list(config.kazoo.accounts) or account_ids(couch)
    for account_id in accounts:
        try:
            found += _account_plan(config, plans, endpoints, account_id, seen)
        except PlanError as exc:  # the account's storage document itself is refused
            found.append(_refused(f"plan {account_id}", exc))
    if not found:
        found.append(Probe("plans", lambda: f"{len(accounts)} account(s); no storage handler to check"))
    return found


def _account_plan(
    config: Config, plans: PlanBook, endpoints: EndpointPolicy, account_id: str, seen: set[str]
) -> list[Probe]:
    routes, problems = plans.routes(account_id)
    found = [_refused(f"plan {account_id}", p) for p in problems]
    for route in routes:
        try:
            handler = handler_target(route, config.kazoo.s3_checksum, config.kazoo.google_drive)
        except PlanError as exc:
            found.append(_refused(f"plan {account_id}", exc))
            continue
        if handler is None or handler[0] in seen:
            continue
        target, spec = handler
        seen.add(target)
        found.append(Probe(target, partial(_reach_handler, endpoints, spec)))
    return found


def _reach_handler(endpoints: EndpointPolicy, spec: BackendSpec) -> str:
    if spec.options.get("endpoint_url"):
        endpoints.check_url(spec.options["endpoint_url"])  # never connect where a tenant may not send us
    return _reach(spec)


def _refused(name: str, problem: Exception) -> Probe:
    def fail() -> str:
        raise problem

    return Probe(name, fail)
