"""A helper process for CPU-heavy pure functions.

syncd's loops are threads of one process, and Python runs one thread's code at
a time: while a sink turns thousands of queued CDRs into rows, the follower that
reads Kazoo waits its turn. A pure function handed to the helper runs in a
second process, on another core, beside the threads.

The helper is only an accelerator, never a dependency: the same function runs
in this process while no helper is available (it could not be started, or it
died: killed, out of memory). A dead helper is replaced on a call made after a
pause, so one that keeps dying costs a start a minute, not one a call.
An exception the function raises is the caller's, wherever it ran.

The helper is started by multiprocessing's spawn, which imports the main module
again unless it is a package's __main__: syncd's entry points (the console script
and `python -m syncd`) guard theirs.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from syncd.runtime.malloc import return_large_buffers_to_the_system

log = logging.getLogger("syncd.runtime")
T = TypeVar("T")
RETRY_AFTER = 60.0  # seconds before a helper that died is started again
PARENT_CHECK = 1.0  # seconds between the helper's looks at whether syncd is still there
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Helper:
    def __init__(self, name: str, retry_after: float = RETRY_AFTER) -> None:
        self.name, self.retry_after = name, retry_after
        self._pool: ProcessPoolExecutor | None = None
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args), in the helper process when there is one, else here. fn and its arguments
        must pickle: a module-level function and plain data."""
        pool = self._ready()
        if pool is None:
            return fn(*args)
        try:
            future = pool.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError, OSError) as exc:  # could not start, or closed meanwhile
            self._lost(pool, exc)
            return fn(*args)
        try:
            return future.result()
        except BrokenProcessPool as exc:  # the helper died under this call: it is done here
            self._lost(pool, exc)
        return fn(*args)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _ready(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is not None:
                return self._pool
            if self._down_since is not None and time.monotonic() - self._down_since < self.retry_after:
                return None
            try:  # spawn, not fork: forking a process that runs threads can copy a held lock
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_begin, initargs=(os.getpid(),))
                log.info("the %s helper process starts (CPU-heavy work beside syncd's threads)", self.name)
            except OSError as exc:  # no semaphores (/dev/shm), no processes left
                self._down_since = time.monotonic()
                log.warning(
                    "cannot start the %s helper process (%s); the work runs in syncd's own process", self.name, exc
                )
            return self._pool

    def _lost(self, pool: ProcessPoolExecutor, exc: BaseException) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool, self._down_since = None, time.monotonic()
                log.warning(
                    "the %s helper process stopped (%s); the work runs in syncd's own process, "
                    "a new helper is tried in %.0f s",
                    self.name,
                    exc or type(exc).__name__,
                    self.retry_after,
                )
        pool.shutdown(wait=False, cancel_futures=True)


def _begin(parent: int) -> None:
    """In the helper: Ctrl-C (sent to the terminal's whole process group) is the daemon's to act
    on; the daemon ends the helper as it stops, and a daemon that is killed leaves no helper: the
    kernel ends it with its parent (PR_SET_PDEATHSIG), and `parent` is syncd's pid as syncd itself
    read it, so a syncd killed before this ran is seen at once (a pid read here, that late, would
    be init's). malloc is tuned as in the daemon (runtime/malloc), so batch after batch does not grow it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # syncd was gone before the parent-death signal was asked for
        os._exit(0)
    return_large_buffers_to_the_system()
    threading.Thread(target=_end_with, args=(parent,), name="parent-watch", daemon=True).start()


def _die_with_parent() -> None:
    """Linux's prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills this process when its parent ends.
    Elsewhere (or without libc) the watch thread alone does it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _end_with(parent: int) -> None:
    while os.getppid() == parent:  # the parent gone, the helper is adopted: nobody will call on it
        time.sleep(PARENT_CHECK)
    os._exit(0)
