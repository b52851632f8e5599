from __future__ import annotations

import sys

from syncd.cli import main

sys.exit(main())
