"""kazoo/couch.py: CouchDB-Python is loaded without pkg_resources (its version lookup scans
every installed distribution, 12 MB of the daemon's memory for a number syncd never reads)."""

from __future__ import annotations

import subprocess
import sys


def test_the_couchdb_client_is_loaded_without_pkg_resources() -> None:
    probe = (
        "import sys; import syncd.kazoo.couch as c; import couchdb; "
        "print('pkg_resources' in sys.modules, couchdb.__version__, c.CouchClient.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "?", "CouchClient"], done.stderr


def test_a_pkg_resources_loaded_before_is_kept() -> None:
    probe = (
        "import sys, types; sys.modules['pkg_resources'] = loaded = types.ModuleType('pkg_resources'); "
        "import syncd.kazoo.couch; print(sys.modules['pkg_resources'] is loaded)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["True"], done.stderr
