"""Files dropped into a fax outbox by anyone with access to the folder. Each bad
entry is rejected with a status file saying why, nothing behind a link or a
FIFO is ever read or copied, and a good PDF dropped beside it is faxed in the
same run."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd import cli
from syncd.kazoo.couch import CouchClient
from tests.conftest import write_config
from tests.support import fax_kazoo as fk
from tests.support.servers import CouchServer

pytestmark = [pytest.mark.couchdb]

TO = "+14155550100"
SECRET = b"-----BEGIN PRIVATE KEY-----\nsyncd's own secret\n"


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _symlink_to_secret(path: Path) -> None:
    secret = path.parents[3] / "host-secret.pem"  # outside the share
    secret.write_bytes(SECRET)
    path.symlink_to(secret)


def _symlink_to_folder(path: Path) -> None:
    elsewhere = path.parents[3] / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "inside.pdf").write_bytes(fk.pdf(seed="elsewhere"))
    path.with_suffix("").symlink_to(elsewhere, target_is_directory=True)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


def _cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


GOOD = fk.pdf(pages=2, seed="good")
CATALOG_OF_NUMBERS = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 5 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PAGES_NOT_A_TREE = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n(text)\nendobj\n"
    b"trailer\n<< /Root 1 0 R /Size 3 >>\n%%EOF\n"
)
LOOPING_PAGES = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n"
    b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>\nendobj\ntrailer\n<< /Root 1 0 R /Size 3 >>\n%%EOF\n"
)

# name -> (how the entry is made at outbox/<name>, what its status file must say)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "symlink to a secret": (_symlink_to_secret, "this is a symbolic link, not a file"),
    "symlink to a folder": (_symlink_to_folder, "this is a symbolic link, not a file"),
    "fifo": (_fifo, "this is a FIFO, not a file"),
    "socket": (_socket, "this is a socket, not a file"),
    "not a pdf": (_write(b"MZ\x90\x00 an executable renamed to .pdf" * 20), "not a PDF file"),
    "empty": (_write(b""), "the file is empty"),
    "oversized": (_write(b"%PDF-1.4\n" + b"0" * 1_100_000), "more than this outbox accepts"),
    "header then garbage": (_write(b"%PDF-1.7\n" + os.urandom(4000)), "the PDF is damaged"),
    "truncated": (_write(_cut(GOOD, 0.4)), "the PDF is damaged"),
    "catalog of numbers": (_write(CATALOG_OF_NUMBERS), "the PDF is damaged"),
    "pages not a tree": (_write(PAGES_NOT_A_TREE), "the PDF is damaged"),
    "pages that loop": (_write(LOOPING_PAGES), "the PDF is damaged"),
    "too many pages": (_write(fk.pdf(pages=6, seed="long")), "the PDF has 6 pages, more than this outbox sends"),
    "password protected": (_write(b""), "password-protected"),
}


def _encrypted() -> bytes:
    import io

    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(GOOD)))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_entry_in_the_outbox_is_rejected_and_a_good_pdf_beside_it_is_faxed(
    case: str,
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    account: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    couch.create_db(fk.FAXES)
    account_id, _ = account
    root = tmp_path / "share"
    outbox = root / "fax" / "outbox"
    outbox.mkdir(parents=True)
    make, expected = CASES[case]
    name = f"{TO} - {case}.pdf"
    if case == "password protected":
        make = _write(_encrypted())
    make(outbox / name)
    (outbox / f"{TO} - good.pdf").write_bytes(fk.pdf(pages=2, seed=account_id))  # its own job id
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=(
            f'[backends.office]\ntype = "local"\npath = "{root}"\nwatch = "off"\n\n[fax]\npoll_interval = 0.3\n\n'
            f'[[fax.outbox]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
            f'from_number = "+14155550199"\nsettle_seconds = 0\nmax_size_mb = 1\nmax_pages = 5\n'
        ),
    )
    capsys.readouterr()
    code = cli.main(["-c", str(config), "run", "--once"])
    log = capsys.readouterr().err
    assert code == 0, log
    jobs = fk.jobs(couch, account_id)
    assert [j["to_number"] for j in jobs] == [TO], log  # the good PDF, and only it
    assert jobs[0]["pvt_pages"] == 2
    status_name = name.removesuffix(".pdf") if case == "symlink to a folder" else name
    status = json.loads((root / "fax" / "rejected" / f"{status_name}.json").read_bytes())
    assert status["status"] == "rejected" and expected in status["error"], status
    assert "Traceback" not in log
    everything = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    assert SECRET not in everything  # nothing behind a link was read or copied
    assert b"syncd's own secret" not in json.dumps([j for j in jobs]).encode()


def test_a_rejected_folder_that_is_a_symlink_is_never_written_through(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    account: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    couch.create_db(fk.FAXES)
    account_id, _ = account
    root = tmp_path / "share"
    (root / "fax" / "outbox").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "fax" / "rejected").symlink_to(outside, target_is_directory=True)
    (root / "fax" / "outbox" / f"{TO} - junk.pdf").write_bytes(b"not a pdf at all")
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=(
            f'[backends.office]\ntype = "local"\npath = "{root}"\nwatch = "off"\n\n'
            f'[[fax.outbox]]\nname = "office"\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
            f'from_number = "+14155550199"\nsettle_seconds = 0\n'
        ),
    )
    capsys.readouterr()
    assert cli.main(["-c", str(config), "run", "--once"]) == 0
    log = capsys.readouterr().err
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert "'rejected' is a symbolic link; links are never followed" in log, log
    assert (root / "fax" / "outbox" / f"{TO} - junk.pdf").exists()  # kept: it could not be filed
    assert "fax rejected, nothing sent: not a PDF file" in log  # judged, then kept for the next pass
