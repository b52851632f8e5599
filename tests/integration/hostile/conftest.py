"""The hostile suite's fixtures (tests/support/hostile.py): log handlers put back after each test, `scene`."""

from tests.support.hostile import _restore_log_handlers, scene  # noqa: F401 - fixtures for this folder
