from __future__ import annotations

import io
from pathlib import Path

import pytest

from syncd.backends.local import LocalBackend
from syncd.errors import BackendUnavailable, InvalidKey
from tests.support.backend_contract import BackendContract, put


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> LocalBackend:
        return LocalBackend(str(tmp_path))

    @pytest.fixture
    def second_writer(self, tmp_path: Path) -> LocalBackend:
        return LocalBackend(str(tmp_path))

    @pytest.mark.parametrize(
        "key", ["../escape", "a/../../b", "/etc/passwd", "a//b", "./a", "nul\x00", "", "a/.syncd-tmp.x"]
    )
    def test_names_that_could_escape_are_refused(self, backend: LocalBackend, key: str, tmp_path: Path) -> None:
        with pytest.raises(InvalidKey):
            put(backend, key, b"x")
        assert list(tmp_path.parent.glob("escape")) == []

    def test_missing_root_is_not_created(self, tmp_path: Path) -> None:
        backend = LocalBackend(str(tmp_path / "unmounted"))
        with pytest.raises(BackendUnavailable, match="is the share mounted"):
            put(backend, "a", b"x")
        assert not (tmp_path / "unmounted").exists()

    def test_failed_write_leaves_no_temp_file(self, backend: LocalBackend, tmp_path: Path) -> None:
        with pytest.raises(Exception):  # noqa: B017, PT011
            backend.put("a/b", io.BytesIO(b"abc"), length=9, content_type="x")
        assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
