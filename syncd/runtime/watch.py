"""watchdog on syncd's local folders, for every flow at once.

One observer per local backend (inotify, or polling where `watch = "poll"`;
none where `watch = "off"`). The daemon forwards each event to every flow:
a file gone is a deletion hint for two-way sync, a file created or changed
wakes a flow that reads the folder (a fax outbox). Events are only hints:
each flow still looks before it acts, and its polls cover what a lost event
missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from syncd.backends.local_events import watch_folder

OnEvent = Callable[[str, str], None]  # (backend name, key inside it)


class FolderWatch:
    def __init__(self, folders: Iterable[tuple[str, str, str]], on_gone: OnEvent, on_file: OnEvent) -> None:
        """folders: (backend name, path, watch) of each local backend; watch: inotify, poll or off."""
        self._observers: list[Any] = []
        for name, path, watch in folders:
            if watch != "off":
                self._observers.append(
                    watch_folder(
                        path, partial(on_gone, name), polling=watch == "poll", on_change=partial(on_file, name)
                    )
                )

    def close(self) -> None:
        for observer in self._observers:
            observer.stop()
