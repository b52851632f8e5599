"""Session-wide real servers on 127.0.0.1 (pouchdb-server, moto S3), started once, when a
test first asks for one, and always stopped; every test gets its own account id and bucket.
The unit tier asks for none, so it starts none."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from syncd.kazoo.couch import CouchClient
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, DriveServer, S3Server, couch_server_for_tests
from tests.support.sql_servers import MariaDbServer, PostgresServer

ROOT = Path(__file__).resolve().parents[1]


SERVERS_USED: list[str] = []


@pytest.fixture(scope="session")
def couch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CouchServer]:
    """pouchdb-server by default; real Apache CouchDB with SYNCD_TEST_COUCHDB (see README, Tests)."""
    server = couch_server_for_tests(tmp_path_factory.mktemp("couch"), kd.SESSION)
    SERVERS_USED.append(server.version)
    yield server  # type: ignore[misc]
    server.stop()


def on_existing_server() -> bool:
    """The suite runs against a CouchDB named by URL, which it does not own."""
    return "://" in os.environ.get("SYNCD_TEST_COUCHDB", "")


def couch_kind() -> str:
    """ "couchdb" when the suite runs against real Apache CouchDB, else "pouchdb"."""
    return "pouchdb" if os.environ.get("SYNCD_TEST_COUCHDB", "pouchdb") == "pouchdb" else "couchdb"


TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its tier, by the folder it is in (tests/unit: no server, no
    process; tests/integration: real servers, in process; tests/e2e: syncd run as a process),
    so `-m unit` and `make test-fast` select by folder too.

    @pytest.mark.only_on("couchdb", reason=...): a test that can hold on one server only says so,
    and is reported as skipped with that reason on the other (never silently)."""
    kind = couch_kind()
    for item in items:
        tier = Path(str(item.path)).relative_to(ROOT / "tests").parts[0]
        assert tier in TIERS, f"{item.nodeid}: a test file belongs in tests/unit, tests/integration or tests/e2e"
        item.add_marker(getattr(pytest.mark, tier))
        only = item.get_closest_marker("only_on")
        if only is not None and only.args[0] != kind:
            item.add_marker(pytest.mark.skip(reason=f"holds only on {only.args[0]}: {only.kwargs['reason']}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for version in SERVERS_USED:
        terminalreporter.write_line(f"CouchDB API under test: {version}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def drive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriveServer]:
    server = DriveServer(tmp_path_factory.mktemp("drive"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    server = MariaDbServer()
    yield server
    server.stop()


@pytest.fixture
def couch(couch_server: CouchServer) -> CouchClient:
    return CouchClient(couch_server.auth_url)


def s3_client(url: str):  # noqa: ANN201
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = "syncd-" + secrets.token_hex(6)
    s3_client(s3_server.url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def account(couch: CouchClient) -> tuple[str, str]:
    """A fresh Kazoo account: (account id, this month's MODB name)."""
    account_id = kd.new_id()
    return account_id, kd.seed_account(couch, account_id)


def write_config(
    path: Path, couch_url: str, extra: str = "", accounts: tuple[str, ...] = (), allow_endpoints: str = '["127.0.0.1"]'
) -> Path:
    """A config for tests; tenant endpoints on 127.0.0.1 (moto) are allowed unless told otherwise."""
    if not accounts and on_existing_server():
        accounts = (kd.SESSION + "0" * 26,)  # never follow the accounts of a server the suite does not own
    listed = ", ".join(f'"{a}"' for a in accounts)
    path.write_text(
        f'[couchdb]\nurl = "{couch_url}"\n\n[state]\npath = "{path.parent}/state.sqlite3"\n\n'
        f"[kazoo]\naccounts = [{listed}]\npoll_interval = 0.2\nallow_endpoints = {allow_endpoints}\n\n"
        f"[upload]\nretry_base = 0.2\nretry_max = 1.0\n\n{extra}"
    )
    return path


def run_syncd(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncd", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
