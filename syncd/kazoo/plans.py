"""Kazoo storage plans: merged and routed exactly as kzs_plan does (docs/kazoo.md §1.2, §2.1).

- system plan  = merge(file default, system_data/system)
- account plan = merge(system plan, [system_data/<pvt_plan_id>], system_data/<account_id>)
- owner plan   = merge(account plan (or system plan), system_data/<owner id>)
Later documents win; objects merge recursively. Routing then takes
plan.<classification>.attachments shallow-merged with .types.<pvt_type>.attachments,
and, when that names a handler, the handler's settings merged with `params`.

Pure: takes documents, returns routes. Loading them is couch.py's job.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from syncd.errors import PlanError
from syncd.kazoo.storage_docs import check_handler_settings, check_storage_doc

# core/kazoo_data/priv/defaults/system.json
DEFAULT_SYSTEM_PLAN: dict[str, Any] = {
    "_id": "system",
    "pvt_type": "storage",
    "attachments": {},
    "connections": {"local": {}},
    "plan": {c: {"attachments": {}, "connection": "local", "types": {}} for c in ("account", "modb", "system", "yodb")},
}

KNOWN_HANDLERS = frozenset({"s3", "google_drive", "google_storage", "azure", "onedrive", "dropbox", "http", "ftp"})

# Call recordings are stored with only doc_type, so no per-owner plan applies (§2.1, §5).
_NO_OWNER_TYPES = frozenset({"call_recording"})


@dataclass(frozen=True)
class Route:
    """Where Kazoo's plan sends one attachment."""

    handler_id: str  # the 32-char key in the storage doc's `attachments`
    handler: str  # "s3", "google_drive", ...
    settings: dict[str, Any] = field(repr=False)  # handler settings merged with params
    stub: bool  # plan "stub": true -> Kazoo keeps a CouchDB copy too
    storage_doc: str  # which system_data doc decided: "system", account id or owner id


def merge_recursive(*docs: dict[str, Any]) -> dict[str, Any]:
    """kz_json:merge_recursive: right wins; nested objects merge, anything else is replaced."""
    out: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge_recursive(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


class PlanBook:
    """Answers "where does Kazoo send this attachment?" from system_data documents.

    fetch(doc_id) returns a system_data document or None. Results are cached
    until invalidate() is called (on any system_data change).
    """

    def __init__(self, fetch: Callable[[str], dict[str, Any] | None]) -> None:
        self._fetch = fetch
        self._plans: dict[tuple[str, str | None], tuple[dict[str, Any], str]] = {}
        # (account, owner, classification, pvt_type) -> its route or its PlanError: routing (and
        # checking the merged settings) is done once per plan, not once per document
        self._routes: dict[tuple[str, str | None, str, str], Route | PlanError | None] = {}

    def invalidate(self) -> None:
        self._plans.clear()
        self._routes.clear()

    def route(self, account_id: str, classification: str, doc: dict[str, Any]) -> Route | None:
        """The route for doc's attachments, or None when they stay in CouchDB.

        Raises PlanError when the plan names a handler it does not define, or an
        unknown handler type.
        """
        pvt_type = doc.get("pvt_type")
        if not isinstance(pvt_type, str):
            return None
        owner = None if pvt_type in _NO_OWNER_TYPES else _owner(doc)
        key = (account_id, owner, classification, pvt_type)
        if key not in self._routes:
            try:
                plan, decided_by = self._plan(account_id, owner)
                self._routes[key] = _match(plan, decided_by, classification, pvt_type)
            except PlanError as exc:
                self._routes[key] = exc
        found = self._routes[key]
        if isinstance(found, PlanError):
            raise found
        return found

    def routes(self, account_id: str) -> tuple[list[Route], list[PlanError]]:
        """Every route the account plan defines, and every broken one, for `syncd check`."""
        plan, decided_by = self._plan(account_id, None)
        routes, problems = [], []
        for classification, section in sorted(plan.get("plan", {}).items()):
            types = section.get("types", {}) if isinstance(section, dict) else {}
            for pvt_type in sorted(types) or [""]:
                try:
                    route = _match(plan, decided_by, classification, pvt_type)
                except PlanError as exc:
                    problems.append(exc)
                    continue
                if route is not None:
                    routes.append(route)
        return routes, problems

    def _plan(self, account_id: str, owner: str | None) -> tuple[dict[str, Any], str]:
        key = (account_id, owner)
        if key not in self._plans:
            self._plans[key] = self._load(account_id, owner)
        return self._plans[key]

    def _load(self, account_id: str, owner: str | None) -> tuple[dict[str, Any], str]:
        if owner is not None:
            owner_doc = self._storage_doc(owner)
            if (
                owner_doc is not None
                and owner_doc.get("pvt_type") == "storage"
                and owner_doc.get("pvt_account_id") == account_id
            ):
                base, _ = self._plan(account_id, None)
                return merge_recursive(base, owner_doc), owner
        system = merge_recursive(DEFAULT_SYSTEM_PLAN, self._storage_doc("system") or {})
        account_doc = self._storage_doc(account_id)
        if account_doc is None:
            return system, "system"
        template = None
        plan_id = account_doc.get("pvt_plan_id")
        if isinstance(plan_id, str) and plan_id:
            template = self._storage_doc(plan_id)
        layers = [system, template, account_doc] if template else [system, account_doc]
        return merge_recursive(*layers), account_id

    def _storage_doc(self, doc_id: str) -> dict[str, Any] | None:
        """A live storage document, checked against Kazoo's schemas (PlanError when it fails)."""
        doc = self._fetch(doc_id)
        if doc is None or (isinstance(doc, dict) and doc.get("pvt_deleted") is True):
            return None
        check_storage_doc(doc_id, doc)
        return doc


def _owner(doc: dict[str, Any]) -> str | None:
    # props:get_first_defined([storage_id, doc_owner]) with storage_id = storage_ref_id | source_id
    for key in ("storage_ref_id", "source_id", "owner_id"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _match(plan: dict[str, Any], decided_by: str, classification: str, pvt_type: str) -> Route | None:
    section = plan.get("plan", {}).get(classification)
    if not isinstance(section, dict):
        return None
    type_map = section.get("types", {}).get(pvt_type, {}) if pvt_type else {}
    type_map = type_map if isinstance(type_map, dict) else {}
    type_att = {**_obj(section.get("attachments")), **_obj(type_map.get("attachments"))}
    handler_id = type_att.get("handler")
    if handler_id is None:
        return None
    where = f"plan.{classification}" + (f".types.{pvt_type}" if pvt_type else "") + ".attachments.handler"
    entry = _obj(plan.get("attachments")).get(handler_id) if isinstance(handler_id, str) else None
    if not isinstance(entry, dict):
        defined = ", ".join(sorted(_obj(plan.get("attachments")))) or "none"
        raise PlanError(
            decided_by,
            where,
            f"names handler {handler_id!r}, which is not in "
            f"`attachments` (defined: {defined}); fix the storage document",
        )
    handler = entry.get("handler")
    if handler not in KNOWN_HANDLERS:
        raise PlanError(
            decided_by,
            f"attachments.{handler_id}.handler",
            f"unknown handler type {handler!r}; Kazoo knows {', '.join(sorted(KNOWN_HANDLERS))}",
        )
    settings = {**_obj(entry.get("settings")), **_obj(type_att.get("params"))}
    check_handler_settings(decided_by, f"attachments.{handler_id}.settings (with the plan's params)", handler, settings)
    return Route(handler_id, handler, settings, type_att.get("stub") is True, decided_by)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
