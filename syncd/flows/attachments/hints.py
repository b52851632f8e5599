"""Deletion hints from events: watchdog on syncd's local folders (forwarded by the
daemon), SQS for S3, and the change logs of backends that keep one (Google
Drive), polled.

Events only say "look at this key"; keys are collected for a short debounce
(bursts of events for one key become one look), then handed to TwoWay.hint,
which stats the object and records a first sighting when it is really gone.
The confirm pass then acts after the grace period, as for listing scans.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any

from syncd.config import Config
from syncd.engine.change_feeds import follow_changes
from syncd.engine.twoway import TwoWay
from syncd.errors import StateDamaged, describe
from syncd.flows.contract import Loop
from syncd.state import State

log = logging.getLogger("syncd.watch")
DEBOUNCE_SECONDS = 0.5


class Hints:
    """two_way: a fresh pass, called under `lock` (which serialises two-way work);
    contain: the bulkhead (log once, count, carry on)."""

    def __init__(
        self,
        config: Config,
        state: State,
        two_way: Callable[[], TwoWay],
        lock: AbstractContextManager[Any],
        contain: Callable[[str, BaseException], object],
    ) -> None:
        self.config, self.state, self.two_way, self.lock, self.contain = config, state, two_way, lock, contain
        self._keys: dict[tuple[str | None, str], None] = {}
        self._guard = threading.Lock()
        self._wake = threading.Event()

    def loops(self) -> list[Loop]:
        loops = [Loop("hints", self._consume, True), Loop("change-feeds", self._poll_change_feeds, True)]
        if url := self.config.two_way.sqs_queue_url:
            loops.append(Loop("sqs-events", partial(self._follow_sqs, url), True))
        return loops

    def wake(self) -> None:
        self._wake.set()

    def add(self, target: str | None, key: str) -> None:
        """Look at key in target (None: every target that tracks key) after the debounce."""
        with self._guard:
            self._keys[(target, key)] = None
        self._wake.set()

    def _consume(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(1.0)
            if stop.wait(DEBOUNCE_SECONDS):
                return
            self._wake.clear()
            with self._guard:
                keys, self._keys = list(self._keys), {}
            if keys:
                self._hand_over(keys)

    def _follow_sqs(self, url: str, stop: threading.Event) -> None:
        from syncd.backends.s3_events import SqsWatcher

        watcher = SqsWatcher(url, **self.config.two_way.sqs)
        watcher.run(stop, lambda _bucket, key: self.add(None, key))

    @contextmanager
    def _pass(self) -> Iterator[TwoWay]:
        with self.lock:
            yield self.two_way()

    def _hand_over(self, keys: list[tuple[str | None, str]]) -> None:
        with self._pass() as tw:
            for target, key in keys:
                try:
                    tw.hint(target, key)
                except StateDamaged:
                    raise
                except Exception as exc:  # noqa: BLE001 - one key's trouble never stops the others
                    self.contain(f"cannot follow up a deletion event for key {key!r}", exc)

    def _poll_change_feeds(self, stop: threading.Event) -> None:
        """Every change_poll_interval: each tracked target's change log, when its backend keeps one."""
        while not stop.wait(self.config.two_way.change_poll_interval):
            with self._pass() as tw:
                for target in self.state.listings.tracked_targets():
                    scope = f"changes:{target}"
                    try:
                        follow_changes(tw, target)
                    except StateDamaged:
                        raise
                    except Exception as exc:  # noqa: BLE001 - one target's log never stops the others
                        if self.state.problems.set(scope, describe(exc)):
                            log.warning(
                                "cannot read the change log of %s (%s); listing scans still cover deletes", target, exc
                            )
                        continue
                    if self.state.problems.clear(scope):
                        log.info("reading the change log of %s again", target)
