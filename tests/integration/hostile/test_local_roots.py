"""A symlink planted inside a local backend's root never takes syncd out of it:
an upload through a linked folder is refused (the item fails with the reason,
retried later), and the other voicemails still land in the same run."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import cli
from syncd.backends.local import LocalBackend
from syncd.errors import InvalidKey
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.naming import object_name
from tests.conftest import write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer

pytestmark = [pytest.mark.couchdb]


def test_a_symlinked_folder_in_the_root_is_not_followed_by_uploads(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    account: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    account_id, modb = account
    archive, outside = tmp_path / "archive", tmp_path / "outside"
    archive.mkdir()
    outside.mkdir()
    (archive / "vm").symlink_to(outside, target_is_directory=True)  # planted by someone with folder access
    docs = [kd.mailbox_message(account_id, kd.new_id(), kd.fake_mp3(900, str(i)), *kd.now_month()) for i in range(2)]
    for doc in docs:
        kd.write_as_kazoo(couch, modb, doc)
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=(
            f'[backends.archive]\ntype = "local"\npath = "{archive}"\nwatch = "off"\n\n'
            '[[flows]]\nkind = "voicemail"\nbackend = "archive"\nprefix = "vm"\n\n'
            '[[flows]]\nkind = "recordings"\nbackend = "archive"\nprefix = "rec"\n'
        ),
    )
    recording = kd.call_recording(account_id, kd.fake_mp3(700, "rec"), *kd.now_month())
    kd.write_as_kazoo(couch, modb, recording)
    capsys.readouterr()
    assert cli.main(["-c", str(config), "run", "--once"]) == 1
    err = capsys.readouterr().err
    assert list(outside.iterdir()) == []  # nothing written out of the root
    assert "'vm' is a symbolic link; links are never followed" in err, err
    (name,) = recording["_attachments"]
    assert (archive / object_name("s3", {"folder_base_path": "rec"}, modb, recording, name)).is_file()
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["file link", "folder link", "fifo"])
def test_reads_and_deletes_never_follow_a_link_or_open_a_fifo(tmp_path: Path, kind: str) -> None:
    import os

    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret")
    key = {"file link": "d/x", "folder link": "link/x", "fifo": "d/x"}[kind]
    if kind == "file link":
        (root / "d" / "x").symlink_to(secret)
    elif kind == "folder link":
        (root / "link").symlink_to(tmp_path, target_is_directory=True)
        (tmp_path / "x").write_bytes(b"outside")
    else:
        os.mkfifo(root / "d" / "x")
    backend = LocalBackend(str(root))
    for action in (lambda: backend.stat(key), lambda: backend.get(key).__enter__().read(), lambda: backend.delete(key)):
        with pytest.raises(InvalidKey):
            action()
    listed = {o.key: o.special for o in backend.list()}
    assert listed[key.split("/")[0] if kind == "folder link" else key] in ("symbolic link", "FIFO")
    assert secret.read_bytes() == b"host secret" and (tmp_path / "secret").exists()
