"""The engine: takes recorded work from the state DB and applies it through
backends, verifying every byte, and carries deletes both ways. It sees
backends only through syncd.backends.base.Backend, and Kazoo and the flows
only through the protocols in engine/abc.py; it imports no SDK, no config and
no flow (tests/unit/test_architecture.py holds this).

Upload rule: an item counts as synced only when the MD5 of the bytes read from
CouchDB equals the attachment's CouchDB digest AND the backend reports that
same MD5 for the stored object. An object already present with that MD5 (a
Kazoo "stub" plan wrote it, or an earlier run died after uploading) is
recorded without uploading again.
"""

from __future__ import annotations
