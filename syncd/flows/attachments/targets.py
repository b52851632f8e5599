"""Where the attachments flow's bytes come from and go to: CouchDB attachments as the
engine's AttachmentSource, and targets (syncd's own flows and Kazoo's storage plans)
resolved to backends as the engine's BackendResolver; syncd's [[flows]] as routing rules."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, closing
from typing import Any, BinaryIO

from syncd.backends import BackendSpec, open_backend
from syncd.backends.base import Backend
from syncd.config import Config
from syncd.errors import SyncdError
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.endpoints import EndpointPolicy
from syncd.kazoo.routing import PDF_TARGET_SUFFIX, DocPlanner, FlowRule
from syncd.state import Item


class CouchSource:
    """The engine's AttachmentSource, reading from CouchDB."""

    def __init__(self, couch: CouchClient) -> None:
        self.couch = couch

    def open(self, item: Item) -> AbstractContextManager[BinaryIO] | None:
        stream = self.couch.open_attachment(item.db, item.doc_id, item.attachment)
        return None if stream is None else closing(stream)


class Targets:
    """The engine's BackendResolver: target id -> backend, built once and reused."""

    def __init__(
        self, flow_specs: dict[str, BackendSpec], planner: DocPlanner, couch: CouchClient, endpoints: EndpointPolicy
    ) -> None:
        self.flow_specs, self.planner, self.couch, self.endpoints = flow_specs, planner, couch, endpoints
        self._built: dict[str, tuple[BackendSpec, Backend]] = {}
        self._lock = threading.Lock()

    def backend_for(self, item: Item) -> Backend:
        target = item.target.removesuffix(PDF_TARGET_SUFFIX)  # a fax's PDF beside its TIFF: same backend
        spec = self.flow_specs.get(target) or self.planner.kazoo_targets.get(target)
        if spec is None:  # after a restart: route the document again to learn its target
            doc = self.couch.get(item.db, item.doc_id)
            if doc is not None:
                self.planner.items(item.db, doc)
            spec = self.planner.kazoo_targets.get(target)
        if spec is None:
            raise SyncdError(
                f"target {item.target} is no longer in the storage plan for this document; "
                "it waits until the plan routes it again"
            )
        if target.startswith("kazoo:") and spec.options.get("endpoint_url"):
            self.endpoints.check_url(spec.options["endpoint_url"])  # a tenant's endpoint: public ones only
        with self._lock:
            built = self._built.get(target)
            if built is None or built[0] is not spec:
                built = self._built[target] = (spec, open_backend(spec))
            return built[1]


def flow_setup(config: Config) -> tuple[list[FlowRule], dict[str, BackendSpec]]:
    """syncd's own flows as FlowRules, and the backends they name."""
    specs, rules = {}, []
    for flow in config.flows:
        backend = config.backends[flow.backend]
        target = f"syncd:{backend.name}"
        specs[target] = backend.spec()
        naming: dict[str, Any] = {"field_separator": flow.field_separator}
        if flow.field_list is not None:
            naming["field_list"] = list(flow.field_list)
        if flow.prefix:
            naming["folder_base_path"] = flow.prefix
        rules.append(FlowRule(target, flow.classification, flow.pvt_type, frozenset(flow.accounts), naming))
    return rules, specs
