"""A media library on a local folder against the test CouchDB, driven pass by pass in-process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.daemon import Daemon
from syncd.flows.media.library import LibraryReport
from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import write_config
from tests.support.servers import CouchServer

GRACE = 0.3


@dataclass
class Lib:
    daemon: Daemon
    folder: Path
    account_id: str
    couch: CouchClient
    work: Path

    @property
    def db(self) -> str:
        return dbnames.account_db(self.account_id)

    def run(self, allow_deletes: bool = False) -> LibraryReport:
        return self.daemon.media.run_pass(allow_deletes)

    def run_past_grace(self) -> LibraryReport:
        """A pass that sees what changed (a file gone is a first sighting), then, once the grace
        period is over, the pass that acts on it."""
        self.run()
        time.sleep(GRACE + 0.1)
        return self.run()

    def media(self) -> dict[str, dict[str, Any]]:
        """Live media docs of the account by description (the file name)."""
        docs = [d for d in self.couch.all_docs(self.db) if d.get("pvt_type") == "media" and not d.get("pvt_deleted")]
        return {d.get("description") or d["_id"]: d for d in docs}

    def audio_in_couch(self, doc: dict[str, Any], tmp: Path) -> Path:
        name = next(iter(doc["_attachments"]))
        stream = self.couch.open_attachment(self.db, doc["_id"], name)
        assert stream is not None
        path = tmp / f"from-couch-{doc['_id'].replace('/', '_')}.{name.rsplit('.', 1)[-1]}"
        path.write_bytes(stream.read())
        return path

    def audit(self) -> list[Any]:
        return self.daemon.state.audit.lines(200, self.account_id)


@pytest.fixture
def lib(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    couch_server: CouchServer,
    couch: CouchClient,
    account: tuple[str, str],
) -> Iterator[Lib]:
    """@pytest.mark.library("max_size_mb = 1", ...) adds keys to the library's table."""
    account_id, _ = account
    marker = request.node.get_closest_marker("library")
    more = "".join(f"{line}\n" for line in (marker.args if marker else ()))
    store = tmp_path / "store"
    (store / "media").mkdir(parents=True)
    extra = (
        f'[backends.files]\ntype = "local"\npath = "{store}"\n\n'
        f"[two_way]\ngrace_period = {GRACE}\n\n[media]\npoll_interval = 0.2\n\n"
        f'[[media.library]]\nname = "main"\naccount = "{account_id}"\nbackend = "files"\nfolder = "media"\n'
        f"settle_seconds = 0\n{more}"
    )
    path = write_config(tmp_path / "c.toml", couch_server.auth_url, extra, (account_id,))
    daemon = Daemon(config.load(str(path)), exclusive=True)
    try:
        yield Lib(daemon, store / "media", account_id, couch, tmp_path)
    finally:
        daemon.close()
