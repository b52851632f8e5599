"""The layout and the import rules that keep the layers apart (DESIGN §3, README Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "syncd"
OBJECT_STORE_SDKS = {"boto3", "botocore", "s3transfer", "googleapiclient", "google", "httplib2", "google_auth_httplib2"}
SDKS = OBJECT_STORE_SDKS | {
    "couchdb",
    "watchdog",
    "apscheduler",
    "erlang",
    "jsonschema",
    "img2pdf",
    "pypdf",
    "phonenumbers",
    "sqlalchemy",
    "pyarrow",
}
ROOT_MODULES = {"__init__.py", "__main__.py", "errors.py", "daemon.py"}
PACKAGES = {"cli", "config", "state", "kazoo", "backends", "engine", "flows", "runtime"}


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


def rel(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


def test_the_root_holds_the_lifecycle_and_the_packages_only() -> None:
    assert {p.name for p in PKG.glob("*.py")} == ROOT_MODULES
    assert {p.name for p in PKG.iterdir() if p.is_dir() and p.name != "__pycache__"} == PACKAGES
    for package in {p.parent for p in PKG.rglob("*.py")}:
        assert (package / "__init__.py").is_file(), f"{rel(package)} has no __init__.py"


def flows() -> list[Path]:
    return [p for p in (PKG / "flows").iterdir() if p.is_dir() and p.name != "__pycache__"]


def test_there_are_flows_and_none_imports_another() -> None:
    assert {f.name for f in flows()} >= {"attachments", "fax"}
    for flow in flows():
        for path in flow.rglob("*.py"):
            others = {n.split(".")[2] for n in imports(path) if n.startswith("syncd.flows.")} - {flow.name}
            assert not others, (rel(path), others)


def test_each_flow_meets_the_daemons_contract_and_the_daemon_knows_no_more() -> None:
    """Every flow package has a flow.py whose class the daemon runs through syncd.runtime.flow.Flow;
    the daemon imports a flow's flow.py and nothing else of it."""
    from syncd.daemon import FLOWS
    from syncd.runtime.flow import Flow

    contract = {n for n in vars(Flow) if not n.startswith("_")} | set(Flow.__annotations__)
    assert {cls.__module__ for cls in FLOWS} == {f"syncd.flows.{f.name}.flow" for f in flows()}
    for cls in FLOWS:
        assert contract <= set(dir(cls)), (cls.__name__, contract - set(dir(cls)))
    reached = {n for n in imports(PKG / "daemon.py") if n.startswith("syncd.flows")}
    assert all(n.count(".") == 3 and n.endswith(".flow") for n in reached), reached


def test_below_the_flows_only_a_flows_records_are_imported() -> None:
    """config, state, kazoo, runtime and backends share a flow's vocabulary (its records module);
    only the wiring (daemon.py, cli/) reaches a flow's workings."""
    for path in PKG.rglob("*.py"):
        where = rel(path)
        if where.startswith(("flows/", "cli/")) or where == "daemon.py":
            continue
        reached = {n for n in imports(path) if n.startswith("syncd.flows") and not n.endswith(".records")}
        assert not reached, (where, reached)


def test_a_flows_records_import_nothing_of_syncd_but_errors() -> None:
    for path in (PKG / "flows").glob("*/records.py"):
        assert {n for n in imports(path) if n.startswith("syncd")} <= {"syncd.errors"}, rel(path)


def test_engine_imports_no_sdk_no_flow_and_no_config() -> None:
    for path in (PKG / "engine").glob("*.py"):
        names = imports(path)
        assert not top(names) & SDKS, path
        assert not any(
            n.startswith(("syncd.config", "syncd.kazoo", "syncd.flows", "syncd.cli", "syncd.daemon")) for n in names
        ), path


def test_only_backends_import_object_store_sdks() -> None:
    users = {rel(p) for p in PKG.rglob("*.py") if top(imports(p)) & OBJECT_STORE_SDKS}
    assert users and all(u.startswith("backends/") for u in users), users


def test_backends_import_neither_engine_nor_config() -> None:
    for path in (PKG / "backends").glob("*.py"):
        names = imports(path)
        assert not any(n.startswith(("syncd.engine", "syncd.config", "syncd.kazoo")) for n in names), path


def test_only_kazoo_couch_imports_the_couchdb_client() -> None:
    users = {rel(p) for p in PKG.rglob("*.py") if "couchdb" in top(imports(p))}
    assert users == {"kazoo/couch.py"}


DRIVE = {"backends/gdrive.py", "backends/gdrive_io.py", "backends/gsheets.py"}  # Sheets: the same Google client


def test_each_sdk_stays_in_its_module() -> None:
    owners = {
        "boto3": {"backends/s3.py", "backends/s3_events.py"},
        "erlang": {"kazoo/handler_blobs.py"},
        "watchdog": {"backends/local_events.py"},
        "googleapiclient": DRIVE,
        "google": DRIVE,
        "httplib2": DRIVE,
        "google_auth_httplib2": DRIVE,
        "jsonschema": {"kazoo/json_schema.py"},
        "pypdf": {"flows/fax/files.py"},
        "img2pdf": {"flows/fax/files.py"},
        "phonenumbers": {"flows/fax/records.py"},
        "sqlalchemy": {"flows/cdr/sql.py"},
        "pyarrow": {"flows/cdr/files.py"},
        "psycopg": set(),  # SQLAlchemy loads the database drivers by URL; syncd never imports one
        "pymysql": set(),
        # config: cron expressions are checked by the parser that runs them
        "apscheduler": {"daemon.py", "config/two_way.py"},
    }
    for sdk, allowed in owners.items():
        users = {rel(p) for p in PKG.rglob("*.py") if sdk in top(imports(p))}
        assert users <= allowed, (sdk, users)


def test_modules_stay_small() -> None:
    for path in PKG.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path


def test_the_bulkhead_sits_below_everything() -> None:
    """Every layer contains errors through runtime/bulkhead.py, so it may import only syncd's errors."""
    names = imports(PKG / "runtime" / "bulkhead.py")
    assert {n for n in names if n.startswith("syncd")} == {"syncd.errors"}


def test_tests_mirror_the_package_with_one_file_per_name() -> None:
    """tests/<package>/... follows syncd/<package>/...; no two test files share a name."""
    tests = PKG.parent / "tests"
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for folder in {p.parent for p in tests.rglob("test_*.py")} - {tests}:
        top_level = folder.relative_to(tests).parts[0]
        assert top_level in PACKAGES | {"hostile", "support"}, f"tests/{top_level} mirrors no package"


def test_every_engine_protocol_lives_in_engine_abc() -> None:
    for path in (PKG / "engine").glob("*.py"):
        if path.name == "abc.py":
            continue
        tree = ast.parse(path.read_text())
        protocols = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and any("Protocol" in ast.unparse(base) for base in node.bases)
        ]
        assert not protocols, (rel(path), protocols)


def test_the_daemon_loads_no_sink_or_store_library_it_is_not_configured_for() -> None:
    """SQLAlchemy, pyarrow, the Google client and boto3 cost tens of MB each: a daemon loads them
    with the sink or backend that needs them (the 200 MB recording test bounds the daemon's RSS)."""
    import subprocess
    import sys

    code = (
        "import sys, syncd.daemon, syncd.cli\n"
        "print(sorted(m for m in ('sqlalchemy', 'pyarrow', 'googleapiclient', 'boto3') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded


def test_the_cdr_helper_process_loads_no_state_or_sink_module() -> None:
    """The helper process (runtime/helper) imports what turns queued CDRs into COPY's text and no
    more: the state DB's modules and the sinks' libraries would add to syncd's peak RSS."""
    import subprocess
    import sys

    code = (
        "import sys, syncd.runtime.helper, syncd.flows.cdr.pg_copy\n"
        "print(sorted({m.split('.')[0] if not m.startswith('syncd.') else '.'.join(m.split('.')[:2])"
        " for m in sys.modules} & {'syncd.state', 'syncd.backends', 'syncd.engine', 'sqlalchemy', 'psycopg',"
        " 'couchdb', 'boto3', 'pyarrow'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded
