"""The import rules that keep the layers apart (DESIGN §3)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "syncd"
SDKS = {"boto3", "botocore", "s3transfer", "couchdb", "googleapiclient", "google", "watchdog", "apscheduler",
        "erlang"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_engine_imports_no_sdk_and_no_config() -> None:
    for path in (PKG / "engine").glob("*.py"):
        names = imports(path)
        assert not top(names) & SDKS, path
        assert "syncd.config" not in names and not any(n.startswith("syncd.kazoo") for n in names), path


def test_backends_import_neither_engine_nor_config() -> None:
    for path in (PKG / "backends").glob("*.py"):
        names = imports(path)
        assert not any(n.startswith(("syncd.engine", "syncd.config", "syncd.kazoo")) for n in names), path


def test_only_kazoo_couch_imports_the_couchdb_client() -> None:
    users = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if "couchdb" in top(imports(p))}
    assert users == {"kazoo/couch.py"}


DRIVE = {"backends/gdrive.py", "backends/gdrive_io.py"}


def test_each_sdk_stays_in_its_module() -> None:
    owners = {"boto3": {"backends/s3.py", "backends/s3_events.py"}, "erlang": {"kazoo/handler_blobs.py"},
              "watchdog": {"backends/local_events.py"},
              "googleapiclient": DRIVE, "google": DRIVE, "httplib2": DRIVE, "google_auth_httplib2": DRIVE,
              "jsonschema": {"kazoo/storage_docs.py"},
              "pypdf": {"faxfiles.py"}, "img2pdf": {"faxfiles.py"}, "phonenumbers": {"faxfiles.py"},
              "apscheduler": {"daemon.py", "config.py"}}  # config: cron expressions checked by the parser that runs them
    for sdk, allowed in owners.items():
        users = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if sdk in top(imports(p))}
        assert users <= allowed, (sdk, users)


def test_modules_stay_small() -> None:
    for path in PKG.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path


def test_the_bulkhead_sits_below_everything() -> None:
    """Every layer contains errors through syncd/bulkhead.py, so it may import only syncd's errors."""
    names = imports(PKG / "bulkhead.py")
    assert {n for n in names if n.startswith("syncd")} == {"syncd.errors"}
