"""The layout rules import-linter cannot express (README, Layout). The import rules (the
floors, independent flows, each SDK in its module) are contracts in pyproject.toml, which
`make lint` runs; this file holds the rest: what sits at the root, that every flow meets
the daemon's contract, and that modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "syncd"
ROOT_MODULES = {"__init__.py", "__main__.py", "errors.py", "daemon.py"}
PACKAGES = {"cli", "config", "state", "kazoo", "backends", "engine", "flows", "runtime", "model"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def rel(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


def test_the_root_holds_the_lifecycle_and_the_packages_only() -> None:
    assert {p.name for p in PKG.glob("*.py")} == ROOT_MODULES
    assert {p.name for p in PKG.iterdir() if p.is_dir() and p.name != "__pycache__"} == PACKAGES
    for package in {p.parent for p in PKG.rglob("*.py")}:
        assert (package / "__init__.py").is_file(), f"{rel(package)} has no __init__.py"


def flows() -> list[Path]:
    return [p for p in (PKG / "flows").iterdir() if p.is_dir() and p.name != "__pycache__"]


def test_every_flow_is_in_the_independence_contract() -> None:
    """A new flow must join import-linter's contract that no flow imports another."""
    import tomllib

    contracts = tomllib.loads((PKG.parent / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (independent,) = [c for c in contracts if c["type"] == "independence"]
    assert set(independent["modules"]) == {f"syncd.flows.{f.name}" for f in flows()}


def test_each_flow_meets_the_daemons_contract_and_the_daemon_knows_no_more() -> None:
    """Every flow package has a flow.py whose class the daemon runs through syncd.flows.contract.Flow;
    the daemon imports a flow's flow.py and nothing else of it."""
    from syncd.daemon import FLOWS
    from syncd.flows.contract import Flow

    contract = {n for n in vars(Flow) if not n.startswith("_")} | set(Flow.__annotations__)
    assert {cls.__module__ for cls in FLOWS} == {f"syncd.flows.{f.name}.flow" for f in flows()}
    for cls in FLOWS:
        assert contract <= set(dir(cls)), (cls.__name__, contract - set(dir(cls)))
    reached = {n for n in imports(PKG / "daemon.py") if n.startswith("syncd.flows")} - {"syncd.flows.contract"}
    assert all(n.count(".") == 3 and n.endswith(".flow") for n in reached), reached


def test_modules_stay_small() -> None:
    for path in PKG.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path


def test_the_bulkhead_sits_below_everything() -> None:
    """Every layer contains errors through runtime/bulkhead.py, so it may import only syncd's errors."""
    names = imports(PKG / "runtime" / "bulkhead.py")
    assert {n for n in names if n.startswith("syncd")} == {"syncd.errors"}


def test_tests_mirror_the_package_per_tier_with_one_file_per_name() -> None:
    """tests/<tier>/<package>/... follows syncd/<package>/... in each tier (unit, integration,
    e2e); helpers live in tests/support; no two test files share a name."""
    tests = PKG.parent / "tests"
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for path in tests.rglob("test_*.py"):
        parts = path.relative_to(tests).parts
        assert parts[0] in {"unit", "integration", "e2e"}, f"{path}: not in a tier"
        folders = parts[1:-1]
        if folders and folders[0] not in ("hostile", "support"):
            assert (PKG.joinpath(*folders) / "__init__.py").is_file(), (
                f"{path}: syncd/{'/'.join(folders)} is no package"
            )


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
