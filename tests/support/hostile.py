"""The hostile suite runs syncd's CLI in process: each run installs its own log handler on
the test's captured stderr, so the root logger's handlers are put back after every test.
`scene`: a good and a bad account on real servers (tests/support/scene.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.kazoo.couch import CouchClient
from tests.support.scene import Scene
from tests.support.servers import CouchServer, S3Server


@pytest.fixture(autouse=True)
def _restore_log_handlers() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def scene(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> Scene:
    return Scene(tmp_path, couch, couch_server, s3_server, bucket, capsys)
