"""The daemon's malloc settings: applied on glibc, left alone elsewhere."""

from __future__ import annotations

import platform

import pytest

from syncd.runtime import malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings exist only in glibc")
def test_glibc_takes_the_settings() -> None:
    assert malloc.return_large_buffers_to_the_system() is True


def test_another_c_library_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(malloc.platform, "libc_ver", lambda: ("", ""))
    assert malloc.return_large_buffers_to_the_system() is False
