"""Hints for a local/NFS folder backend, from watchdog: deletions (two-way) and,
when asked, new or changed files (a fax outbox wakes at once).

inotify (watchdog's Observer) for local disks; a PollingObserver for NFS, where
inotify sees only this host's own changes. Events are hints, never proof: the
consumer stats the object before acting. Temp files syncd itself writes are
ignored. Debouncing happens in the caller (events arrive in bursts).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from syncd.backends.local import TMP_PREFIX

log = logging.getLogger("syncd.watch")


class _GoneHandler(FileSystemEventHandler):
    def __init__(
        self, root: Path, on_gone: Callable[[str], None], on_change: Callable[[str], None] | None = None
    ) -> None:
        self.root, self.on_gone, self.on_change = root, on_gone, on_change

    def _key(self, path: str | bytes) -> str | None:
        rel = os.path.relpath(os.fsdecode(path), self.root)
        if rel.startswith("..") or os.path.basename(rel).startswith(TMP_PREFIX):
            return None
        return rel.replace(os.sep, "/")

    def on_deleted(self, event: FileSystemEvent) -> None:
        key = self._key(event.src_path)
        if key and not event.is_directory:
            self.on_gone(key)

    def on_moved(self, event: FileSystemEvent) -> None:  # moved away = gone from its key
        key = self._key(event.src_path)
        if key and not event.is_directory:
            self.on_gone(key)
        self._changed(event, event.dest_path)

    def on_created(self, event: FileSystemEvent) -> None:
        self._changed(event, event.src_path)

    def on_modified(self, event: FileSystemEvent) -> None:
        self._changed(event, event.src_path)

    def _changed(self, event: FileSystemEvent, path: str | bytes) -> None:
        key = self._key(path) if self.on_change and path else None
        if key and not event.is_directory and self.on_change:
            self.on_change(key)


def watch_folder(
    root: str,
    on_gone: Callable[[str], None],
    polling: bool = False,
    poll_seconds: float = 5.0,
    on_change: Callable[[str], None] | None = None,
) -> BaseObserver:
    """Start watching root (recursively); the caller stops the returned observer."""
    observer: BaseObserver = PollingObserver(timeout=poll_seconds) if polling else Observer()
    observer.schedule(_GoneHandler(Path(root), on_gone, on_change), root, recursive=True)
    observer.daemon = True
    observer.start()
    log.info("watching folder %s for deletions (%s)", root, "polling" if polling else "inotify")
    return observer
