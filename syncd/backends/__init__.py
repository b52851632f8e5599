"""Storage backends behind one interface (base.Backend), looked up lazily by
type so an SDK is imported only when a backend of its type is configured."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from syncd.backends.base import Backend

_MODULES = {
    "local": ("syncd.backends.local", "LocalBackend"),
    "memory": ("syncd.backends.memory", "MemoryBackend"),
    "s3": ("syncd.backends.s3", "S3Backend"),
    "google_drive": ("syncd.backends.gdrive", "DriveBackend"),
}


@dataclass(frozen=True)
class BackendSpec:
    """How to build one backend: its type and its (possibly secret) options."""

    type: str
    options: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)


def open_backend(spec: BackendSpec) -> Backend:
    module_name, class_name = _MODULES[spec.type]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**spec.options)  # type: ignore[no-any-return]
