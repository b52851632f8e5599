"""Deletion hints from events: watchdog on syncd's local folders, SQS for S3,
and the change logs of backends that keep one (Google Drive), polled.

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
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from syncd.backends.local_events import watch_folder
from syncd.engine.change_feeds import follow_changes
from syncd.errors import StateDamaged
from syncd.runtime.bulkhead import describe

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.engine.twoway import TwoWay
    from syncd.state import State

log = logging.getLogger("syncd.watch")
DEBOUNCE_SECONDS = 0.5


@dataclass(frozen=True)
class HintHooks:
    """What the hint threads need from the daemon, as callbacks (never the daemon itself)."""

    two_way: Callable[[], TwoWay]  # a fresh pass; called under `lock`, which serialises two-way work
    lock: AbstractContextManager[Any]
    fax_hint: Callable[[str, str], None]  # (backend name, key): a file event in a fax outbox
    contain: Callable[[str, BaseException], object]  # the bulkhead: log once, count, carry on
    thread: Callable[..., threading.Thread]  # a supervised thread (name, loop, daemon=...)


class Hints:
    def __init__(self, config: Config, state: State, hooks: HintHooks, stop: threading.Event) -> None:
        self.config, self.state, self.hooks, self.stop = config, state, hooks, stop
        self._keys: dict[tuple[str | None, str], None] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._observers: list[Any] = []
        self._threads = [hooks.thread("hints", self._consume, daemon=True)]
        for backend in config.backends.values():
            watch = backend.options.get("watch") or "inotify"
            if backend.type == "local" and watch != "off" and backend.options.get("path"):
                target = f"syncd:{backend.name}"
                self._observers.append(
                    watch_folder(
                        backend.options["path"],
                        partial(self.add, target),
                        polling=watch == "poll",
                        on_change=partial(hooks.fax_hint, backend.name),
                    )
                )
        sqs = config.two_way
        if sqs.sqs_queue_url:
            from syncd.backends.s3_events import SqsWatcher

            watcher = SqsWatcher(sqs.sqs_queue_url, **sqs.sqs)
            self._threads.append(
                hooks.thread("sqs-events", lambda: watcher.run(stop, lambda _b, k: self.add(None, k)), daemon=True)
            )
        self._threads.append(hooks.thread("change-feeds", self._poll_change_feeds, daemon=True))
        for thread in self._threads:
            thread.start()

    def add(self, target: str | None, key: str) -> None:
        with self._lock:
            self._keys[(target, key)] = None
        self._wake.set()

    def _consume(self) -> None:
        while not self.stop.is_set():
            self._wake.wait(1.0)
            if self.stop.wait(DEBOUNCE_SECONDS):
                return
            self._wake.clear()
            with self._lock:
                keys, self._keys = list(self._keys), {}
            if keys:
                self._hand_over(keys)

    @contextmanager
    def _pass(self) -> Iterator[TwoWay]:
        with self.hooks.lock:
            yield self.hooks.two_way()

    def _hand_over(self, keys: list[tuple[str | None, str]]) -> None:
        with self._pass() as tw:
            for target, key in keys:
                try:
                    tw.hint(target, key)
                except StateDamaged:
                    raise
                except Exception as exc:  # noqa: BLE001 - one key's trouble never stops the others
                    self.hooks.contain(f"cannot follow up a deletion event for key {key!r}", exc)

    def _poll_change_feeds(self) -> None:
        """Every change_poll_interval: each tracked target's change log, when its backend keeps one."""
        while not self.stop.wait(self.config.two_way.change_poll_interval):
            with self._pass() as tw:
                for target in self.state.tracked_targets():
                    scope = f"changes:{target}"
                    try:
                        follow_changes(tw, target)
                    except StateDamaged:
                        raise
                    except Exception as exc:  # noqa: BLE001 - one target's log never stops the others
                        if self.state.set_problem(scope, describe(exc)):
                            log.warning(
                                "cannot read the change log of %s (%s); listing scans still cover deletes", target, exc
                            )
                        continue
                    if self.state.clear_problem(scope):
                        log.info("reading the change log of %s again", target)

    def close(self) -> None:
        for observer in self._observers:
            observer.stop()
