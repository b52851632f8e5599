"""Fax outbox, end to end: PDFs dropped into a local folder, an S3 prefix and a
Drive folder become Kazoo fax jobs in `faxes`; when Kazoo's worker ends a job
the file is filed in sent/ or failed/ with a status JSON; bad files go to
rejected/ with the reason and nothing is sent. Real pouchdb-server, moto and
the Drive test server; the daemon runs as a process."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd.backends.gdrive import FOLDER
from syncd.kazoo.couch import CouchClient
from tests.conftest import s3_client, write_config
from tests.support import fax_kazoo as fk
from tests.support.servers import CouchServer, DriveServer, S3Server
from tests.test_two_way import daemon, wait_for

pytestmark = [pytest.mark.couchdb, pytest.mark.slow]

SENDER = "+14155550199"
TO = "+14155550100"


@dataclass
class Share:
    """One backend as the person dropping files sees it: put a file, read one, list what is there."""

    backend_toml: str
    put: Callable[[str, bytes], None]
    read: Callable[[str], bytes | None]
    keys: Callable[[], set[str]]


def local_share(tmp_path: Path) -> Share:
    root = tmp_path / "share"
    (root / "fax" / "outbox").mkdir(parents=True)

    def put(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(".part-" + path.name)  # as a careful copier does: whole file, then rename
        part.write_bytes(data)
        part.rename(path)

    def read(key: str) -> bytes | None:
        return (root / key).read_bytes() if (root / key).is_file() else None

    def keys() -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return Share(f'type = "local"\npath = "{root}"\nwatch = "off"\n', put, read, keys)


def s3_share(s3_server: S3Server, bucket: str) -> Share:
    client = s3_client(s3_server.url)

    def read(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def keys() -> set[str]:
        return {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    toml = (f'type = "s3"\nbucket = "{bucket}"\nendpoint_url = "{s3_server.url}"\naccess_key_id = "AKIATEST"\n'
            f'secret_access_key = "test-secret"\nregion = "us-east-1"\n')
    return Share(toml, lambda k, d: client.put_object(Bucket=bucket, Key=k, Body=d), read, keys)


def drive_share(drive_server: DriveServer) -> Share:
    """A Drive folder shared with syncd; files are added by a person (not by syncd's app)."""
    def person(meta: dict[str, Any], content: bytes = b"") -> dict[str, Any]:
        return drive_server.control("as-user", {"meta": meta, "content": base64.b64encode(content).decode()})
    root = person({"name": "office", "mimeType": FOLDER})["id"]
    fax = person({"name": "fax", "mimeType": FOLDER, "parents": [root]})["id"]
    outbox = person({"name": "outbox", "mimeType": FOLDER, "parents": [fax]})["id"]
    folders = {"fax/outbox": outbox}

    def put(key: str, data: bytes) -> None:
        folder, _, name = key.rpartition("/")
        if folder not in folders:
            parent, _, sub = folder.rpartition("/")
            folders[folder] = person({"name": sub, "mimeType": FOLDER, "parents": [folders[parent]]})["id"]
        person({"name": name, "parents": [folders[folder]], "mimeType": "application/pdf"}, data)

    from syncd.backends.gdrive import DriveBackend
    backend = DriveBackend(drive_server.service_account_file().read_text(), folder_id=root, api_endpoint=drive_server.url)

    def read(key: str) -> bytes | None:
        from syncd.errors import NotFound
        try:
            with backend.get(key) as f:
                return f.read()
        except NotFound:
            return None

    def keys() -> set[str]:
        return {o.key for o in backend.list()}
    toml = (f'type = "google_drive"\ncredentials_file = "{drive_server.service_account_file("fax.json")}"\n'
            f'folder_id = "{root}"\napi_endpoint = "{drive_server.url}"\n')
    return Share(toml, put, read, keys)


def outbox_config(tmp_path: Path, couch_url: str, account_id: str, share: Share, more: str = "") -> Path:
    return write_config(tmp_path / "c.toml", couch_url, accounts=(account_id,), extra=(
        f"[backends.office]\n{share.backend_toml}\n[fax]\npoll_interval = 0.3\n\n"
        f'[[fax.outbox]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
        f'from_number = "{SENDER}"\nfrom_name = "Acme Front Desk"\nsettle_seconds = 0.5\nmax_size_mb = 1\n'
        f"{more}\n[two_way]\nreconcile_cron = \"\"\n"))


def status_of(share: Share, key: str) -> dict[str, Any] | None:
    data = share.read(key + ".json")
    return None if data is None else json.loads(data)


@pytest.fixture
def faxes_db(couch: CouchClient) -> None:
    couch.create_db(fk.FAXES)


@pytest.mark.parametrize("kind", ["local", "s3", "drive"])
def test_a_pdf_dropped_in_the_outbox_is_faxed_once_and_filed_in_sent(
        kind: str, tmp_path: Path, couch: CouchClient, couch_server: CouchServer, faxes_db: None,
        account: tuple[str, str], request: pytest.FixtureRequest) -> None:
    account_id, _ = account
    share = {"local": lambda: local_share(tmp_path),
             "s3": lambda: s3_share(request.getfixturevalue("s3_server"), request.getfixturevalue("bucket")),
             "drive": lambda: drive_share(request.getfixturevalue("drive_server"))}[kind]()
    config = outbox_config(tmp_path, couch_server.auth_url, account_id, share)
    document = fk.pdf(pages=3, seed=kind)
    share.put(f"fax/outbox/{TO} - Acme Legal.pdf", document)
    with daemon(config):
        wait_for(lambda: fk.jobs(couch, account_id), 30, "the fax job in Kazoo")
        (job,) = fk.jobs(couch, account_id)
        assert job["pvt_type"] == "fax" and job["pvt_job_status"] == "pending"
        assert (job["to_number"], job["to_name"], job["from_number"], job["from_name"]) == (
            TO, "Acme Legal", SENDER, "Acme Front Desk")
        assert (job["pvt_account_id"], job["pvt_pages"], job["pvt_size"]) == (account_id, 3, len(document))
        assert (job["retries"], job["attempts"]) == (1, 0)
        attachment = job["_attachments"]["original_file.pdf"]
        assert attachment["content_type"] == "application/pdf"
        assert attachment["digest"] == "md5-" + base64.b64encode(hashlib.md5(document).digest()).decode()
        fk.end_job(couch, couch_server.auth_url, job["_id"], success=True, pages=3)
        sent = f"fax/sent/{TO} - Acme Legal.pdf"
        wait_for(lambda: status_of(share, sent), 30, "the file filed in sent/")
    assert share.read(sent) == document
    assert not any(k.startswith("fax/outbox/") and not k.endswith("/") for k in share.keys())
    status = status_of(share, sent)
    assert status is not None
    assert (status["status"], status["job_id"], status["to_number"], status["pages"]) == ("sent", job["_id"], TO, 3)
    assert status["result_text"] == "OK" and status["attempts"] == 1 and status["moved_to"] == sent
    assert len(fk.jobs(couch, account_id)) == 1
