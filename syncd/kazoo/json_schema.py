"""Kazoo's JSON schemas, kept as data in schemas/, behind the one module that imports the JSON
Schema library (jsonschema, a maintained implementation; Kazoo's schemas are JSON Schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@dataclass(frozen=True)
class Failure:
    """One place where an instance fails its schema, in the words a message needs."""

    path: tuple[str | int, ...]  # where in the instance
    validator: str  # the schema keyword that failed ("maxLength", "enum", ...)
    rule: Any  # that keyword's value in the schema
    instance: Any  # the value found there
    message: str  # the library's own sentence


@cache
def schema(name: str) -> dict[str, Any]:
    """schemas/<name>.json from the package."""
    text = resources.files("syncd.kazoo").joinpath(f"schemas/{name}.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@cache
def _validator(name: str, ref: str | None) -> jsonschema.protocols.Validator:
    whole = schema(name)
    target = whole if ref is None else {"$defs": whole["$defs"], "$ref": ref}
    return jsonschema.validators.validator_for(whole)(target)


def failures(name: str, ref: str | None, instance: Any) -> Iterator[Failure]:
    """Every failure of instance against schemas/<name>.json (or its `ref`, e.g. "#/$defs/x")."""
    for error in _validator(name, ref).iter_errors(instance):
        yield _failure(error)


def first_failure(name: str, ref: str | None, instance: Any) -> Failure | None:
    """The failure that best explains why instance fails (jsonschema's best_match), or None."""
    error = jsonschema.exceptions.best_match(_validator(name, ref).iter_errors(instance))
    return None if error is None else _failure(error)


def dotted(parts: Any) -> str:
    """A path in an instance as a person reads it: music_on_hold.media_id, flow.children[0]."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _failure(error: jsonschema.ValidationError) -> Failure:
    return Failure(
        tuple(error.absolute_path), str(error.validator), error.validator_value, error.instance, error.message
    )
