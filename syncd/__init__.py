"""syncd: keeps Kazoo (2600Hz) and storage backends in two-way sync."""

from __future__ import annotations

__version__ = "0.1.0"
