"""The helper process: work runs there while it lives, here when it cannot, and it never
outlives syncd."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from syncd.runtime import helper as helper_module
from syncd.runtime.helper import Helper
from tests.conftest import ROOT


def refuse(text: str) -> None:
    raise ValueError(text)


def test_the_work_runs_in_another_process_and_its_errors_are_the_callers() -> None:
    helper = Helper("test")
    try:
        first = helper.run(os.getpid)
        assert first != os.getpid()
        with pytest.raises(ValueError, match="bad CDR"):
            helper.run(refuse, "bad CDR")
        assert helper.run(os.getpid) == first  # an error in the work leaves the helper in place
    finally:
        helper.close()


def test_a_helper_killed_is_replaced_after_the_pause_and_meanwhile_the_work_runs_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    helper = Helper("test", retry_after=1.0)
    try:
        child = helper.run(os.getpid)
        os.kill(child, signal.SIGKILL)
        time.sleep(0.2)
        with caplog.at_level(logging.WARNING, logger="syncd.runtime"):
            assert helper.run(os.getpid) == os.getpid()  # the call that met the dead helper
        assert "the test helper process stopped" in caplog.text
        assert helper.run(os.getpid) == os.getpid()  # within the pause: no new start
        time.sleep(1.1)
        replaced = helper.run(os.getpid)
        assert replaced not in (child, os.getpid())
    finally:
        helper.close()


def test_a_helper_that_cannot_start_leaves_the_work_here(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_processes(*args: object, **kwargs: object) -> ProcessPoolExecutor:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(helper_module, "ProcessPoolExecutor", no_processes)
    helper = Helper("test")
    with caplog.at_level(logging.WARNING, logger="syncd.runtime"):
        assert helper.run(os.getpid) == os.getpid()
    assert "cannot start the test helper process" in caplog.text


def test_a_helper_ends_when_syncd_is_killed(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        from syncd.runtime.helper import Helper
        if __name__ == "__main__":
            print(Helper("test").run(os.getpid), flush=True)
            time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
    finally:
        parent.kill()
        parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the helper outlived the process that started it"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_no_helper_outlives_syncd_killed_at_any_moment_around_its_start() -> None:
    """SIGKILL at 50 random moments from just before the helper starts to just after; afterwards no
    process started by those syncds is left (found by a mark in their environment)."""
    script = textwrap.dedent(
        """
        import os, sys, time
        from syncd.runtime.helper import Helper
        if __name__ == "__main__":
            print("ready", flush=True)
            helper = Helper("test")
            while True:
                helper.run(os.getpid)
        """
    )
    mark = f"SYNCD_TEST_HELPER_MARK={os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    chance = random.Random(mark)
    for _ in range(50):
        parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
        assert parent.stdout is not None and parent.stdout.readline() == "ready\n"
        time.sleep(chance.uniform(0, 0.4))  # the helper's spawn takes about this long
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
    deadline = time.monotonic() + 20
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _marked(mark) == [], "processes of a killed syncd were left behind"


def _marked(mark: str) -> list[int]:
    """Living processes whose environment carries mark."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if mark.encode() in environ.read().split(b"\0") and _alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found
