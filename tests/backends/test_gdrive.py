"""The Google Drive backend against the strict Drive v3 test server, through the
real google-api-python-client: the shared contract, then Drive's own ways."""

from __future__ import annotations

import base64
import secrets

import pytest

from syncd.backends.gdrive import FOLDER, DriveBackend
from syncd.errors import BackendUnavailable
from tests.backends.contract import BackendContract, put
from tests.support.servers import DriveServer

pytestmark = pytest.mark.drive


def make(server: DriveServer, folder_id: str = "root", **options: object) -> DriveBackend:
    return DriveBackend(server.service_account_file().read_text(), folder_id=folder_id, api_endpoint=server.url,
                        resumable_threshold=5 * 1024 * 1024, chunk_size=1024 * 1024, **options)  # type: ignore[arg-type]


def new_folder(server: DriveServer) -> str:
    folder = server.control("as-user", {"meta": {"name": "kazoo-" + secrets.token_hex(4), "mimeType": FOLDER}})
    return str(folder["id"])


class TestDriveBackend(BackendContract):
    @pytest.fixture
    def backend(self, drive_server: DriveServer) -> DriveBackend:
        return make(drive_server, new_folder(drive_server))


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
    drive_server.control("as-user", {"meta": {"name": "fax.pdf", "parents": [folder]},
                                     "content": base64.b64encode(b"%PDF-1.4").decode()})
    assert [o.key for o in make(drive_server, folder).list()] == ["fax.pdf"]
