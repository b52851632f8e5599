"""Kazoo's schemas are the contract for every doc syncd writes into Kazoo.

Crossbar validates a doc against its schema on every save, and Monster UI saves
back through Crossbar, so a doc that fails its schema is a doc nobody can edit
afterwards. Every write syncd makes (media, hold music on accounts, users,
devices and groups, fax jobs, soft deletes) is checked first, against the
schema of the configured Kazoo release (schemas/docs.json, transcribed from
Kazoo's own), on the doc's public fields as Crossbar sees them.

A doc syncd makes must pass whole. A doc syncd changes (a tenant's user, a
voicemail it soft-deletes) must not fail anywhere it did not fail before: syncd
never makes a doc worse, and a fault a tenant left in a field syncd does not
touch is not syncd's to refuse over. Either way a failure raises DocRefused,
which names the doc, the field and Kazoo's rule, and nothing is written.
"""

from __future__ import annotations

import json
from typing import Any

from syncd.errors import KazooError
from syncd.kazoo.json_schema import Failure, dotted, failures, schema
from syncd.kazoo.versions import DEFAULT

_DOCS = "docs"  # schemas/docs.json
_SHOWN = 80


class DocRefused(KazooError):
    """A doc syncd was about to write fails Kazoo's schema for it: it is not written."""


def _ref(kind: str, version: str) -> str:
    ref = schema(_DOCS)["kinds"][version].get(kind)
    if ref is None:
        raise KeyError(f"no Kazoo schema for {kind!r} docs")
    return str(ref)


def kinds(version: str = DEFAULT) -> tuple[str, ...]:
    return tuple(schema(_DOCS)["kinds"][version])


def public_part(kind: str, doc: dict[str, Any]) -> Any:
    """What Crossbar validates: the public fields (kz_doc:public_fields), a message's metadata."""
    if kind == "mailbox_message":
        return doc.get("metadata", {})
    return {k: v for k, v in doc.items() if not str(k).startswith(("_", "pvt_"))}


def problems(kind: str, doc: dict[str, Any], version: str = DEFAULT) -> list[tuple[str, str]]:
    """(field path, what Kazoo's schema says) for each failure, first by path."""
    found = []
    for error in failures(_DOCS, _ref(kind, version), public_part(kind, doc)):
        found.append((dotted(error.path) or "(document)", _explain(error)))
    return sorted(set(found))


def check_write(
    kind: str, doc: dict[str, Any], version: str = DEFAULT, before: dict[str, Any] | None = None, where: str = ""
) -> None:
    """Raise DocRefused if doc fails Kazoo's `kind` schema where `before` (the doc as read; None for a
    doc syncd makes) did not. where: who the doc belongs to, for the message (e.g. 'of account X')."""
    failures = problems(kind, doc, version)
    if before is not None and failures:
        already = set(problems(kind, before, version))
        failures = [f for f in failures if f not in already]
    if failures:
        path, rule = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        doc_id = str(doc.get("_id", "(new)"))[:200]
        raise DocRefused(
            f"{kind} {doc_id}{' ' + where if where else ''} would fail Kazoo {version}'s schema at {path}: "
            f"{rule}{more}; syncd did not write it"
        )


def _explain(error: Failure) -> str:
    shown = json.dumps(error.instance, default=str)
    shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "..."
    rule = f"{error.validator} {json.dumps(error.rule, default=str)[:_SHOWN]}"
    if error.validator in ("required", "additionalProperties"):
        return f"{error.message[:200]} ({rule})"
    return f"{rule} (found {shown})"
