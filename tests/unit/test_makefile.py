"""`make test` on a fresh machine: the Debian packages its servers need are installed when make runs
as root, and otherwise it stops at once naming the command to run (README, Two commands)."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import ROOT


def test_missing_packages_without_root_stop_make_test_with_the_exact_command() -> None:
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    done = subprocess.run(
        [*as_nobody, "make", "-s", "sysdeps", "SYSDEPS_MISSING=ffmpeg mariadb-server"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "sudo apt-get install -y ffmpeg mariadb-server" in done.stderr


def test_nothing_missing_is_nothing_to_do() -> None:
    done = subprocess.run(["make", "-s", "sysdeps"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_ci_runs_the_readme_test_command_twice_the_second_time_on_a_loaded_machine() -> None:
    """README, Two commands: real CouchDB first, then pouchdb-server beside one CPU burner per core."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    runs = [i for i, line in enumerate(lines) if line.endswith("make test")]
    burners = [i for i, line in enumerate(lines) if "$(nproc)" in line and "while True: pass" in line]
    assert [lines[i] for i in runs] == ["SYNCD_TEST_COUCHDB=real make test", "make test"], runs
    assert len(burners) == 1 and runs[0] < burners[0] < runs[1]
    assert any(line.startswith("trap ") and "kill" in line for line in lines[burners[0] : runs[1]])
