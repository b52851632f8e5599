"""`syncd check`: validate what the daemon depends on and report each part.

The config, the state database and CouchDB here; then whatever each flow
says it needs (syncd.daemon.probes). Every part is reported, whatever fails
in another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from syncd.config import Config
from syncd.daemon import probes
from syncd.errors import describe
from syncd.kazoo.couch import CouchClient
from syncd.state import State


@dataclass(frozen=True)
class CheckRow:
    name: str
    ok: bool
    detail: str


def run_all(cfg: Config) -> list[CheckRow]:
    rows = [CheckRow("config", True, f"{cfg.source} is valid"), _state(cfg)]
    couch = CouchClient(cfg.couchdb.url, cfg.couchdb.username, cfg.couchdb.password, cfg.couchdb.timeout)
    reached = _probe("couchdb", lambda: f"{couch.display_url} answers (version {couch.version()})")
    rows.append(reached)
    rows += [_probe(p.name, p.run) for p in probes(cfg, couch, kazoo_reachable=reached.ok)]
    return rows


def _state(cfg: Config) -> CheckRow:
    def open_state() -> str:
        State(cfg.state_path).close()
        return f"{cfg.state_path} opens"

    return _probe("state", open_state)


def _probe(name: str, fn: Callable[[], str]) -> CheckRow:
    try:
        return CheckRow(name, True, fn())
    except Exception as exc:  # noqa: BLE001 - check reports every part, whatever fails in one
        return CheckRow(name, False, describe(exc))
