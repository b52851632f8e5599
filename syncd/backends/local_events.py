"""Deletion hints for a local/NFS folder backend, from watchdog.

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
    def __init__(self, root: Path, on_gone: Callable[[str], None]) -> None:
        self.root, self.on_gone = root, on_gone

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


def watch_folder(root: str, on_gone: Callable[[str], None], polling: bool = False,
                 poll_seconds: float = 5.0) -> BaseObserver:
    """Start watching root (recursively); the caller stops the returned observer."""
    observer: BaseObserver = PollingObserver(timeout=poll_seconds) if polling else Observer()
    observer.schedule(_GoneHandler(Path(root), on_gone), root, recursive=True)
    observer.daemon = True
    observer.start()
    log.info("watching folder %s for deletions (%s)", root, "polling" if polling else "inotify")
    return observer
