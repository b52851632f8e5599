"""Everything that knows Kazoo: CouchDB access (couch.py is the only module that
imports the CouchDB client), database naming, storage-plan loading and routing,
object naming, the Erlang handler blobs, and the shapes of Kazoo's documents.

Facts here follow 2600hz/kazoo 4.3 and master; see docs/kazoo.md.
"""

from __future__ import annotations
