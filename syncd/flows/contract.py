"""The contract between the daemon and a flow (attachments, fax, cdr, media, and those to come).

It sits with the flows, below the daemon: every flow builds Loops, Jobs, Probes and
Sections of it, and the daemon, above, runs them; both import it and no arrow points up.

A flow gives the daemon its long-running loops, its scheduled jobs, the
probes `syncd check` runs and the section `syncd status` shows; the daemon
starts the loops as supervised threads, schedules the jobs with APScheduler,
forwards file events from syncd's local folders and wakes the loops on stop.
The daemon knows no flow by name beyond building it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.engine.abc import Converter
    from syncd.kazoo.couch import CouchClient
    from syncd.kazoo.crossbar import Crossbar
    from syncd.kazoo.feed_pages import FeedPages
    from syncd.runtime.bulkhead import Bulkhead
    from syncd.runtime.passes import PassGuard
    from syncd.state import State


@dataclass(frozen=True)
class Loop:
    """A long-running loop, run in its own supervised thread until `stop` is set."""

    name: str
    run: Callable[[threading.Event], None]
    abandon_at_exit: bool = False  # it blocks in a long poll: the process may end without joining it


@dataclass(frozen=True)
class Job:
    """A scheduled job: every `seconds`, or on the crontab `cron`; `jitter` spreads hosts apart."""

    id: str
    run: Callable[[], object]
    seconds: float | None = None
    cron: str | None = None
    jitter: float = 0


@dataclass(frozen=True)
class Probe:
    """One row of `syncd check`: run() says what it reached, or raises what is wrong."""

    name: str
    run: Callable[[], str]


@dataclass
class Section:
    """A flow's part of `syncd status`: rows for --json under `key`, lines for people."""

    key: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shared:
    """The machinery below the flows that the daemon builds once and lends to each."""

    config: Config
    state: State
    couch: CouchClient
    crossbar: Crossbar | None  # when [kazoo.crossbar] is configured
    bulkhead: Bulkhead
    guard: PassGuard  # runs one pass of a flow so that nothing it meets ends the daemon
    pages: FeedPages  # the follower's pages of MODB changes, offered to every flow reading the same feeds
    rendition: Converter | None = None  # what an upload converts first (a received fax's TIFF to PDF)


class Flow(Protocol):
    """What every flow gives the daemon. A flow's class is built with Shared; `probes` and
    `status` are static so `syncd check` and `syncd status` ask without building it."""

    name: str

    @staticmethod
    def probes(config: Config, couch: CouchClient, kazoo_reachable: bool) -> list[Probe]:
        """`syncd check` rows for what this flow needs (folders, backends, Kazoo's side)."""

    @staticmethod
    def status(state: State) -> Section:
        """This flow's part of `syncd status`, read from the state database only."""

    def start(self, stop: threading.Event) -> None:
        """Once, before the loops start and the jobs are scheduled."""

    def loops(self) -> list[Loop]: ...
    def jobs(self) -> list[Job]: ...
    def run_once(self, stop: threading.Event) -> None:
        """`syncd run --once`: everything the flow would do in one pass."""

    def on_file(self, backend: str, key: str) -> None:
        """A file appeared or changed in one of syncd's local folders (look now, not at the next poll)."""

    def on_gone(self, backend: str, key: str) -> None:
        """A file vanished from one of syncd's local folders (a hint: the flow looks before it acts)."""

    def wake(self) -> None:
        """The daemon is stopping: end any wait so the loops see `stop`."""
