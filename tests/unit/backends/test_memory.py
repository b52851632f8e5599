from __future__ import annotations

import pytest

from syncd.backends.memory import MemoryBackend
from tests.support.backend_contract import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> MemoryBackend:
        return MemoryBackend()
