"""watchdog on syncd's local folders, for every flow at once.

One observer per local backend (inotify, or polling where `watch = "poll"`;
none where `watch = "off"`). The daemon forwards each event to every flow:
a file gone is a deletion hint for two-way sync, a file created or changed
wakes a flow that reads the folder (a fax outbox). Events are only hints:
each flow still looks before it acts, and its polls cover what a lost event
missed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol

from syncd.backends.local_events import watch_folder

OnEvent = Callable[[str, str], None]  # (backend name, key inside it)


class Watched(Protocol):
    """What a configured backend tells the watcher (config.BackendConfig has it)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def options(self) -> Mapping[str, Any]: ...


class FolderWatch:
    def __init__(self, backends: Mapping[str, Watched], on_gone: OnEvent, on_file: OnEvent) -> None:
        self._observers: list[Any] = []
        for backend in backends.values():
            watch = backend.options.get("watch") or "inotify"
            if backend.type == "local" and watch != "off" and backend.options.get("path"):
                self._observers.append(
                    watch_folder(
                        backend.options["path"],
                        partial(on_gone, backend.name),
                        polling=watch == "poll",
                        on_change=partial(on_file, backend.name),
                    )
                )

    def close(self) -> None:
        for observer in self._observers:
            observer.stop()
