"""The media tests' `lib` fixture (tests/support/media_lib.py)."""

from tests.support.media_lib import lib  # noqa: F401 - a fixture for this folder
