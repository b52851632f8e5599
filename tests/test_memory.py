"""The daemon's malloc settings: applied on glibc, left alone elsewhere."""

from __future__ import annotations

import platform

import pytest

from syncd import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings exist only in glibc")
def test_glibc_takes_the_settings() -> None:
    assert memory.return_large_buffers_to_the_system() is True


def test_another_c_library_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    assert memory.return_large_buffers_to_the_system() is False
