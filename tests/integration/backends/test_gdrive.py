"""The Google Drive backend against the strict Drive v3 test server, through the
real google-api-python-client: the shared contract, then Drive's own ways."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets

import pytest

from syncd.backends.gdrive import FOLDER, DriveBackend
from syncd.errors import BackendUnavailable, NotFound
from tests.support.backend_contract import BackendContract, put
from tests.support.servers import DriveServer

pytestmark = pytest.mark.drive


def make(server: DriveServer, folder_id: str = "root", **options: object) -> DriveBackend:
    return DriveBackend(
        server.service_account_file().read_text(),
        folder_id=folder_id,
        api_endpoint=server.url,
        resumable_threshold=5 * 1024 * 1024,
        chunk_size=1024 * 1024,
        **options,
    )  # type: ignore[arg-type]


def new_folder(server: DriveServer) -> str:
    folder = server.control("as-user", {"meta": {"name": "kazoo-" + secrets.token_hex(4), "mimeType": FOLDER}})
    return str(folder["id"])


class TestDriveBackend(BackendContract):
    @pytest.fixture
    def backend(self, drive_server: DriveServer) -> DriveBackend:
        return make(drive_server, new_folder(drive_server))

    @pytest.fixture
    def second_writer(self, drive_server: DriveServer, backend: DriveBackend) -> DriveBackend:
        return make(drive_server, backend.folder_id)


def test_large_uploads_are_resumable_in_chunks_and_small_ones_multipart(drive_server: DriveServer) -> None:
    backend = make(drive_server, new_folder(drive_server))
    before = len(drive_server.control("log"))
    put(backend, "small/vm.mp3", b"x" * 1000)
    put(backend, "big/rec.mp3", bytes(range(256)) * (6 * 1024 * 1024 // 256))
    uploads = [e for e in drive_server.control("log")[before:] if e["path"].startswith("/upload/")]
    kinds = [(e["method"], e["uploadType"]) for e in uploads]
    assert kinds[0] == ("POST", "multipart")
    assert ("POST", "resumable") in kinds
    chunks = [e for e in uploads if e["method"] == "PUT"]
    assert len(chunks) == 6 and chunks[-1]["status"] == 200


def test_rate_limits_are_retried_with_backoff(drive_server: DriveServer) -> None:
    backend = make(drive_server, new_folder(drive_server))
    before = len(drive_server.control("log"))
    drive_server.control("faults", {"status": 429, "count": 2, "path": "/upload/"})
    drive_server.control("faults", {"status": 403, "count": 1, "path": "/drive/v3/files"})
    put(backend, "a/b.mp3", b"hello")
    assert backend.stat("a/b.mp3").size == 5
    served = [e["status"] for e in drive_server.control("log")[before:]]
    assert served.count(429) == 2 and served.count(403) == 1  # the faults were met, and retried past


def test_a_folder_shared_with_nobody_is_a_clear_error(drive_server: DriveServer) -> None:
    backend = make(drive_server, "no-such-folder")
    with pytest.raises(BackendUnavailable, match="no-such-folder"):
        backend.check()


def test_files_a_person_adds_are_listed(drive_server: DriveServer) -> None:
    folder = new_folder(drive_server)
    drive_server.control(
        "as-user", {"meta": {"name": "fax.pdf", "parents": [folder]}, "content": base64.b64encode(b"%PDF-1.4").decode()}
    )
    assert [o.key for o in make(drive_server, folder).list()] == ["fax.pdf"]


def new_shared_drive(server: DriveServer) -> str:
    return str(server.control("shared-drive", {"name": "Voicemail " + secrets.token_hex(4)})["id"])


class TestSharedDriveBackend(BackendContract):
    """The same contract inside a shared drive: every call must opt in to shared drives."""

    @pytest.fixture
    def backend(self, drive_server: DriveServer) -> DriveBackend:
        drive_id = new_shared_drive(drive_server)
        return make(drive_server, drive_id, drive_id=drive_id)

    @pytest.fixture
    def second_writer(self, drive_server: DriveServer, backend: DriveBackend) -> DriveBackend:
        return make(drive_server, backend.folder_id, drive_id=backend.folder_id)


def test_files_carry_their_origin_and_are_found_after_a_person_moves_them(drive_server: DriveServer) -> None:
    backend = make(drive_server, new_folder(drive_server))
    labels = {"kazoo_db": "account%2Fab%2Fcd%2Fef-202611", "kazoo_doc": "202611-abc", "kazoo_attachment": "vm.mp3"}
    stored = backend.put("box/vm.mp3", io.BytesIO(b"hello"), length=5, content_type="audio/mpeg", properties=labels)
    file = drive_server.control("file", {"id": stored.object_id})
    assert file["appProperties"] == {**labels, "syncd_key": "box/vm.mp3", "syncd_root": backend.folder_id}
    elsewhere = new_folder(drive_server)
    drive_server.control(
        "as-user",
        {
            "op": "update",
            "id": stored.object_id,
            "meta": {"name": "renamed.mp3"},
            "addParents": elsewhere,
            "removeParents": file["parents"][0],
        },
    )
    assert "box/vm.mp3" not in {o.key for o in backend.list()}
    moved = backend.stat("box/vm.mp3")  # a move is not a delete
    assert moved.object_id == stored.object_id and moved.md5 == stored.md5
    with pytest.raises(NotFound):  # another target's file of the same name is another object
        make(drive_server, new_folder(drive_server)).stat("box/vm.mp3")
    drive_server.control("as-user", {"op": "update", "id": stored.object_id, "meta": {"trashed": True}})
    with pytest.raises(NotFound):
        backend.stat("box/vm.mp3")  # trashed is gone


def test_a_key_too_long_for_one_property_is_kept_as_its_hash(drive_server: DriveServer) -> None:
    backend = make(drive_server, new_folder(drive_server))
    key = "a" * 80 + "/" + "b" * 80 + ".mp3"
    stored = backend.put(key, io.BytesIO(b"long"), length=4, content_type="audio/mpeg", properties={"kazoo_doc": "d"})
    file = drive_server.control("file", {"id": stored.object_id})
    assert file["appProperties"]["syncd_key"].startswith("sha256:")
    drive_server.control(
        "as-user",
        {
            "op": "update",
            "id": stored.object_id,
            "meta": {},
            "addParents": new_folder(drive_server),
            "removeParents": file["parents"][0],
        },
    )
    assert backend.stat(key).object_id == stored.object_id


@pytest.mark.parametrize("where", ["my-drive", "shared-drive", "folder-in-a-shared-drive"])
def test_the_changes_log_reports_trash_restore_and_removal(drive_server: DriveServer, where: str) -> None:
    if where == "my-drive":
        backend = make(drive_server, new_folder(drive_server))
    elif where == "shared-drive":
        drive_id = new_shared_drive(drive_server)
        backend = make(drive_server, drive_id, drive_id=drive_id)
    else:  # as Kazoo's handler settings give it: a folder id only; the drive is found from it
        folder = drive_server.control(
            "as-user", {"meta": {"name": "vm", "mimeType": FOLDER, "parents": [new_shared_drive(drive_server)]}}
        )
        backend = make(drive_server, folder["id"])
    token = backend.start_token()
    a, b = put(backend, "a.mp3", b"a"), put(backend, "b.mp3", b"b")
    changes, token = backend.changes_since(token)
    assert {(c.object_id, c.gone) for c in changes} == {(a.object_id, False), (b.object_id, False)}
    drive_server.control("as-user", {"op": "update", "id": a.object_id, "meta": {"trashed": True}})
    drive_server.control("as-user", {"op": "delete", "id": b.object_id})
    changes, token = backend.changes_since(token)
    assert {(c.object_id, c.gone) for c in changes} == {(a.object_id, True), (b.object_id, True)}
    drive_server.control("as-user", {"op": "update", "id": a.object_id, "meta": {"trashed": False}})
    changes, token = backend.changes_since(token)
    assert [(c.object_id, c.gone) for c in changes] == [(a.object_id, False)]
    assert backend.changes_since(token)[0] == []
    assert {o.key for o in backend.list()} == {"a.mp3"}


class Slot:
    def __init__(self) -> None:
        self.session: str | None = None

    def load(self) -> str | None:
        return self.session

    def save(self, session: str) -> None:
        self.session = session

    def clear(self) -> None:
        self.session = None


def test_an_interrupted_resumable_upload_continues_where_drive_stopped(drive_server: DriveServer) -> None:
    backend = make(drive_server, new_folder(drive_server), num_retries=1, retry_base=0.01)
    data = bytes(range(256)) * (6 * 1024 * 1024 // 256)  # six 1 MiB chunks
    slot = Slot()
    drive_server.control("faults", {"status": 503, "count": 2, "path": "/upload/", "method": "PUT", "skip": 2})
    with pytest.raises(BackendUnavailable, match="503"):
        backend.put("rec.mp3", io.BytesIO(data), length=len(data), content_type="audio/mpeg", resume=slot)
    assert slot.session is not None
    before = len(drive_server.control("log"))
    stored = backend.put("rec.mp3", io.BytesIO(data), length=len(data), content_type="audio/mpeg", resume=slot)
    assert stored.md5 == hashlib.md5(data).hexdigest()
    log = drive_server.control("log")[before:]
    assert not [e for e in log if e["method"] == "POST" and e["path"].startswith("/upload/")]  # same session
    sent = [e for e in log if e["method"] == "PUT" and e["status"] in (200, 308)]
    assert sent[0]["range"] == f"bytes */{len(data)}" and sent[0]["bytes"] == 0  # asked where it stopped
    assert sum(e["bytes"] for e in sent) == len(data) - 2 * 1024 * 1024  # only the four chunks Drive lacked
    assert [o.key for o in backend.list()] == ["rec.mp3"]


def test_impersonation_without_delegation_for_the_scope_is_a_clear_error(drive_server: DriveServer) -> None:
    backend = make(drive_server, subject="ops@not-delegated.example")
    with pytest.raises(BackendUnavailable, match="domain-wide delegation") as caught:
        backend.check()
    assert "https://www.googleapis.com/auth/drive" in str(caught.value)


def test_an_unlabelled_file_such_as_the_marker_exists_only_at_its_path(drive_server: DriveServer) -> None:
    backend = make(drive_server, new_folder(drive_server))
    stored = put(backend, ".syncd-marker", b"marker")
    assert drive_server.control("file", {"id": stored.object_id})["appProperties"] == {}
    drive_server.control(
        "as-user",
        {
            "op": "update",
            "id": stored.object_id,
            "meta": {},
            "addParents": new_folder(drive_server),
            "removeParents": backend.folder_id,
        },
    )
    with pytest.raises(NotFound):
        backend.stat(".syncd-marker")


def test_an_oauth_client_with_a_refresh_token_works_too(drive_server: DriveServer) -> None:
    authorized_user = {
        "type": "authorized_user",
        "client_id": "123.apps.googleusercontent.com",
        "client_secret": "test-client-secret",
        "refresh_token": "1//test-refresh-token",
        "token_uri": f"{drive_server.url}/token",
    }
    backend = DriveBackend(
        json.dumps(authorized_user), folder_id=new_folder(drive_server), api_endpoint=drive_server.url
    )
    backend.check()
    assert put(backend, "vm.mp3", b"by oauth").size == 8


def test_credentials_that_are_not_a_key_are_a_clear_error() -> None:
    with pytest.raises(BackendUnavailable, match="not JSON"):
        DriveBackend("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(BackendUnavailable, match="expected a service-account key"):
        DriveBackend(json.dumps({"type": "external_account"}))
