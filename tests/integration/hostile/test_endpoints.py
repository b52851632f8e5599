"""SSRF: a tenant's storage doc naming an endpoint only the host can reach. syncd
refuses it, says why, and sends nothing there: a listener proves no connection
was made (and, with the operator's allow-list, that it would have seen one)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from syncd.errors import UnsafeInput
from syncd.kazoo.endpoints import EndpointPolicy
from tests.support import kazoo_data as kd
from tests.support.scene import EXIT_FAILED, Scene

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]

GOOD_ONLY = '["localhost"]'  # the good account's handler names moto as "localhost"


@dataclass
class Listener:
    port: int
    connections: list[str] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    seen = Listener(server.getsockname()[1])

    def accept() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            seen.connections.append(f"{peer[0]}:{peer[1]}")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield seen
    server.close()


def _tenant_pointing_at(scene: Scene, host: str, port: int | None = None):  # noqa: ANN202
    def make(account_id: str, modb: str) -> None:
        settings = {"host": host, **({"port": port} if port else {})}
        scene.couch.save("system_data", scene.storage_doc(account_id, **settings))
        scene.couch.save(modb, kd.mailbox_message(account_id, kd.new_id(), b"tenant audio", *kd.now_month()))

    return make


def _last_error(outcome) -> str:  # noqa: ANN001
    from syncd.state import State

    state = State(str(outcome.config.parent / "state.sqlite3"))
    try:
        errors = [r["last_error"] for r in state.work.summary() if r["account_id"] == outcome.bad_account]
    finally:
        state.close()
    assert len(errors) == 1 and errors[0], errors
    return str(errors[0])


def test_loopback_without_the_allow_list_is_refused_and_nothing_connects(scene: Scene, listener: Listener) -> None:
    outcome = scene.run(
        _tenant_pointing_at(scene, "127.0.0.1", listener.port), allow_endpoints=GOOD_ONLY, good_host="localhost"
    )
    assert outcome.good_arrived, outcome.log
    assert outcome.code == EXIT_FAILED
    error = _last_error(outcome)
    assert "endpoint '127.0.0.1' resolves to 127.0.0.1, a loopback address" in error, error
    assert "add it to [kazoo] allow_endpoints" in error
    assert listener.connections == []


def test_the_same_endpoint_allowed_by_the_operator_is_reached(scene: Scene, listener: Listener) -> None:
    """The control: the listener does see syncd when the operator allows the address."""
    outcome = scene.run(_tenant_pointing_at(scene, "127.0.0.1", listener.port))
    assert outcome.good_arrived
    assert listener.connections, outcome.log


def test_a_name_that_resolves_to_loopback_is_refused(scene: Scene, listener: Listener) -> None:
    outcome = scene.run(
        _tenant_pointing_at(scene, "localhost", listener.port), allow_endpoints='["127.0.0.9"]', good_host="127.0.0.9"
    )
    assert outcome.code == EXIT_FAILED
    assert "endpoint 'localhost' resolves to" in _last_error(outcome)
    assert listener.connections == []


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fd00::1", "private"),
    ],
)
def test_metadata_and_private_addresses_are_refused(scene: Scene, host: str, kind: str) -> None:
    outcome = scene.run(_tenant_pointing_at(scene, host), allow_endpoints=GOOD_ONLY, good_host="localhost")
    assert outcome.good_arrived, outcome.log
    error = _last_error(outcome)
    assert f"resolves to {host}" in error and kind in error, error


def test_couchdbs_own_address_is_refused_even_when_allowed(scene: Scene) -> None:
    port = urlsplit(scene.couch_server.url).port
    outcome = scene.run(_tenant_pointing_at(scene, "127.0.0.1", port), allow_endpoints='["127.0.0.0/8"]')
    assert outcome.good_arrived
    assert f"endpoint 127.0.0.1:{port} is CouchDB's own address" in _last_error(outcome)


def test_the_policy_reads_no_url_it_cannot_parse() -> None:
    policy = EndpointPolicy(["10.0.0.0/8"], "http://127.0.0.1:5984")
    for url in ("http://bad host/", "http://x:99999/", "http:///nohost"):
        with pytest.raises(UnsafeInput):
            policy.check_url(url)
    policy.check_url("http://10.9.9.9:9000")  # allowed network
