"""Drain the state DB's due items through a pool of upload threads."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from syncd.engine.uploader import Outcome, Uploader
from syncd.state import Item
from syncd.state.work import WorkItems

log = logging.getLogger("syncd.runner")


@dataclass
class RunStats:
    synced: int = 0
    failed: int = 0
    gone: int = 0
    failed_ids: set[int] = field(default_factory=set)

    def add(self, item: Item, outcome: str) -> None:
        if outcome == Outcome.SYNCED:
            self.synced += 1
        elif outcome == Outcome.GONE:
            self.gone += 1
        else:
            self.failed += 1
            self.failed_ids.add(item.id)


class UploadRunner:
    """Keeps `workers` uploads in flight. On stop, finishes those in flight and returns."""

    def __init__(self, work: WorkItems, uploader: Uploader, workers: int) -> None:
        self.work, self.uploader, self.workers = work, uploader, workers
        self.wake = threading.Event()

    def drain(self, stop: threading.Event, once: bool = False) -> RunStats:
        """Process due items until none is left (or stop is set).

        once=True ignores backoff and tries each item at most once: `run --once`.
        """
        stats = RunStats()
        in_flight: dict[Future[str], Item] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="upload") as pool:
            while not stop.is_set():
                room = self.workers * 2 - len(in_flight)
                skip = (
                    set(stats.failed_ids) | {i.id for i in in_flight.values()}
                    if once
                    else {i.id for i in in_flight.values()}
                )
                batch = self.work.claim_due(room, skip=skip, ignore_backoff=once) if room > 0 else []
                for item in batch:
                    in_flight[pool.submit(self.uploader.process, item)] = item
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    stats.add(in_flight.pop(future), future.result())
            for future in list(in_flight):  # stopping: let in-flight uploads finish
                stats.add(in_flight.pop(future), future.result())
        return stats

    def run_forever(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Drain whenever woken (new work recorded) or every idle_wait seconds."""
        while not stop.is_set():
            stats = self.drain(stop)
            if stats.synced or stats.failed:
                log.debug("drained: %d synced, %d failed", stats.synced, stats.failed)
            self.wake.wait(idle_wait)
            self.wake.clear()
