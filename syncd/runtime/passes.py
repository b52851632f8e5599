"""One pass of any flow, run so that nothing it meets ends the daemon.

Each pass is said once when it starts failing and once when it works again:
a standing problem (by scope) is recorded for `syncd status`, CouchDB being
away is one problem for every flow, a state database that cannot be written
waits, and only a damaged state database stops the daemon (`fatal`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from syncd.errors import CouchUnavailable, StateDamaged, StateUnavailable
from syncd.runtime.bulkhead import Bulkhead
from syncd.state.problems import Problems

log = logging.getLogger("syncd")


class PassGuard:
    def __init__(self, problems: Problems, bulkhead: Bulkhead, fatal: Callable[[BaseException], None]) -> None:
        self.problems, self.bulkhead, self.fatal = problems, bulkhead, fatal

    def __call__(
        self, what: str, fn: Callable[[], object], reads_couch: bool = True, problem: str | None = None
    ) -> None:
        """Run fn; `what` names the pass in messages, `problem` is its scope in `syncd status`."""
        try:
            fn()
            if problem is not None and self.problems.clear(problem):
                log.info("%s works again", what)
                self.bulkhead.forget(f"cannot {what}")
            if reads_couch and self.problems.clear("couchdb"):
                log.info("CouchDB reachable again")
            self.bulkhead.state_recovered()
        except StateDamaged as exc:
            self.fatal(exc)
        except StateUnavailable as exc:
            self.bulkhead.contain("state database", exc)
        except CouchUnavailable as exc:
            if self.problems.set("couchdb", str(exc)):
                log.error("%s; will keep retrying", exc)
        except Exception as exc:  # noqa: BLE001 - one pass's trouble never ends the daemon
            text = self.bulkhead.contain(f"cannot {what}", exc)
            if problem is not None:
                self.problems.set(problem, text)
