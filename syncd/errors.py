"""Every exception syncd raises on purpose, and describe(), the one-line text of any error
for logs and status. All subclass SyncdError, and each builds its own message from its
fields, so the CLI can print it as it is.

Imports nothing from syncd: every layer may raise these.
"""

from __future__ import annotations


class SyncdError(Exception):
    """Base of syncd's own errors; str() is a message fit for an operator."""


class ConfigError(SyncdError):
    """The configuration file is unreadable or invalid.

    Carries every problem found at once, each as 'dotted.path: what is wrong'.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class StorageError(SyncdError):
    """A backend operation failed. Subclasses say why."""


class NotFound(StorageError):
    """The object does not exist in the backend."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"object not found: {key!r}")


class PreconditionFailed(StorageError):
    """The object's current etag is not the one the caller expected."""

    def __init__(self, key: str, expected: str | None, actual: str | None) -> None:
        self.key, self.expected, self.actual = key, expected, actual
        super().__init__(f"object {key!r} changed: expected etag {expected!r}, found {actual!r}")


class KeyTaken(PreconditionFailed):
    """A write meant to create an object found one already at its key (another writer's): nothing
    was replaced. The caller picks another name or fails that item."""

    def __init__(self, key: str) -> None:
        StorageError.__init__(self, f"object {key!r} already exists; it was left as it is")
        self.key, self.expected, self.actual = key, None, None


class InvalidKey(StorageError):
    """The key cannot be stored safely in this backend (e.g. escapes a folder)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"refusing object name {key!r}: {reason}")


class InvalidCredentials(StorageError):
    """A backend was described without the credentials it must be used with."""


class BackendUnavailable(StorageError):
    """The backend could not be reached or refused the request; retry later."""


class IntegrityError(StorageError):
    """Bytes stored or read do not match the expected checksum."""


class KazooError(SyncdError):
    """Base of errors about Kazoo's side."""


class CouchUnavailable(KazooError):
    """CouchDB could not be reached or answered with a server error."""


class PlanError(KazooError):
    """A Kazoo storage document cannot be followed (broken reference, unknown handler)."""

    def __init__(self, doc: str, path: str, problem: str) -> None:
        self.doc, self.path, self.problem = doc, path, problem
        super().__init__(f"storage plan system_data/{doc}: {path}: {problem}")


class DocError(KazooError):
    """A Kazoo document (tenant data) has a field that is not of the shape Kazoo writes:
    that document is skipped, with this message in status, until it changes."""

    def __init__(self, doc: object, path: str, problem: str) -> None:
        doc_id = doc.get("_id") if isinstance(doc, dict) else None
        self.doc_id, self.path, self.problem = str(doc_id)[:200], path, problem
        super().__init__(f"document {self.doc_id}: {path}: {problem}")


class StateError(SyncdError):
    """The state database cannot be opened or is from a newer syncd."""


class StateUnavailable(StateError):
    """The state database cannot be written for now (disk full, read-only, I/O error): work waits
    and resumes when the condition clears; nothing is lost, since nothing moved past what was recorded."""


class StateDamaged(StateError):
    """The state database is unusable (damaged, not a database): the daemon stops (exit 4)."""


class StateLocked(StateError):
    """Another syncd process holds this state database."""


class UnsafeInput(SyncdError):
    """Input from outside syncd's trust (a tenant's document, a dropped file, a setting) was refused."""


class FaxRefused(KazooError):
    """Kazoo refused a fax job for what it holds (a number it cannot use, a file it will not take):
    sending it again would fail again, so the file is rejected with this message."""


_MAX_TEXT = 300  # one line of a log or a status: a longer text is cut


def describe(exc: BaseException) -> str:
    """A one-line text of an error: syncd's own errors as they are, others with their type."""
    text = str(exc) if isinstance(exc, SyncdError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
