"""Bulkheads: one bad item, document, account, file or backend fails alone.

Every place that handles one unit of work (an upload, a document, an account's
feed, an outbox file, a target's scan) and every long-running loop runs its
step through a Bulkhead. An error of any type is contained there: logged once
per distinct cause (the traceback only at debug level, so a broken input does
not flood the journal five times a second), counted, and turned into a short
text the caller records as that unit's problem. The caller then carries on
with the next unit.

The one thing never contained is StateDamaged: without a usable state
database nothing can be recorded safely, so it stops the daemon (exit 4).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from syncd.errors import StateDamaged, StateUnavailable, SyncdError, describe

T = TypeVar("T")
STATE = "state database"
STATE_QUIET = 5.0  # seconds without a state failure before it counts as cleared


class Bulkhead:
    """Contains errors; remembers which causes it already logged."""

    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger
        self.counts: Counter[str] = Counter()
        self._said: set[tuple[str, str]] = set()
        self._state_failed_at: float | None = None
        self._lock = threading.Lock()

    def contain(self, where: str, exc: BaseException) -> str:
        """Log exc (once per `where` and cause) and return its text. Re-raises StateDamaged."""
        if isinstance(exc, StateDamaged):
            raise exc
        if isinstance(exc, StateUnavailable):
            where = STATE  # one condition of the whole process, said once however many loops meet it
            self._state_failed_at = time.monotonic()
        text = describe(exc)
        with self._lock:
            self.counts[type(exc).__name__] += 1
            first = (where, text) not in self._said
            if first:
                self._said.add((where, text))
        if first:
            expected = isinstance(exc, SyncdError)
            self.log.log(
                logging.WARNING if expected else logging.ERROR,
                "%s: %s%s",
                where,
                text,
                "" if expected else " (unexpected; contained, everything else carries on)",
            )
            self.log.debug("traceback for %s", where, exc_info=exc)
        return text

    def state_recovered(self) -> bool:
        """True once when the state database, after failing, has gone STATE_QUIET seconds without a failure.

        Some writes succeed on a full disk (an update in place), so one success proves nothing."""
        with self._lock:
            failed_at = self._state_failed_at
            recovered = failed_at is not None and time.monotonic() - failed_at > STATE_QUIET
            if recovered:
                self._state_failed_at = None
                self._said = {said for said in self._said if said[0] != STATE}
        if recovered:
            self.log.info("state database writable again; work resumes")
        return recovered

    def forget(self, where: str) -> None:
        """The unit works again: a later error of the same kind is worth saying again."""
        with self._lock:
            self._said = {said for said in self._said if said[0] != where}

    def run(self, where: str, step: Callable[[], T]) -> T | None:
        """step(), or None when it raised (contained)."""
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - the bulkhead: one unit's error of any type stays there
            self.contain(where, exc)
            return None


def supervised(
    name: str,
    loop: Callable[[], None],
    stop: threading.Event,
    bulkhead: Bulkhead,
    on_fatal: Callable[[BaseException], None],
    backoff: float = 5.0,
) -> Callable[[], None]:
    """A thread body that runs `loop` until stop, restarting it after `backoff` s when it raises.

    A loop never dies of an unexpected error; only StateDamaged ends it, handed to on_fatal.
    """

    def body() -> None:
        while not stop.is_set():
            try:
                loop()
                return
            except StateDamaged as exc:
                on_fatal(exc)
                return
            except Exception as exc:  # noqa: BLE001 - supervision: the loop resumes after a backoff
                bulkhead.contain(f"{name} loop", exc)
                stop.wait(backoff)

    return body
