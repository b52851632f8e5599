"""CouchDB access: the only module in syncd that imports the CouchDB client.

CouchDB-Python 1.2 has had no release since 2018; everything it is used for
sits behind CouchClient, so it can be replaced here alone. Its errors are
turned into syncd's: CouchUnavailable (retry later) or None / NotFound.
Credentials never appear in messages: `display_url` has them stripped.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import socket
import sys
import types
import zlib
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from syncd.errors import CouchUnavailable

# CouchDB-Python reads its own version at import through pkg_resources, which scans every
# installed distribution: 12 MB of the daemon's memory and 70 ms of each command's start, for a
# number syncd never reads. While it is imported, pkg_resources is an empty module, so the
# library's own fallback applies (its __version__ is "?"); a real one already loaded is kept.
_STAND_IN = "pkg_resources" not in sys.modules
if _STAND_IN:
    sys.modules["pkg_resources"] = types.ModuleType("pkg_resources")
try:
    import couchdb
    import couchdb.client
    import couchdb.http
    import couchdb.json
finally:
    if _STAND_IN:
        del sys.modules["pkg_resources"]

T = TypeVar("T")

UNREADABLE = "_syncd_unreadable"  # marks a document the changes feed named but JSON could not decode


def _decode(text: str | bytes) -> Any:
    """CouchDB's answers, through orjson (a changes page of thousands of CDRs decodes several times
    faster). What orjson refuses goes to the standard decoder: it reads integers beyond 64 bits,
    and raises RecursionError for a document nested too deep (read alone, see changes)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _encode(obj: Any) -> str:
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)  # as CouchDB-Python's own encoder


couchdb.json.use(decode=_decode, encode=_encode)


class DbUpdatesUnsupported(Exception):
    """The server does not answer GET /_db_updates (pouchdb-server, or no _global_changes)."""


class CouchClient:
    """A thin, thread-safe-enough wrapper over one CouchDB server."""

    def __init__(
        self, url: str, username: str | None = None, password: str | None = None, timeout: float = 30.0
    ) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""  # the config checked there is one
        self.display_url = urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))
        user = username or parts.username
        secret = password if password is not None else parts.password
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if user is not None:
            creds = quote(user, safe="") + (":" + quote(secret, safe="") if secret else "")
            netloc = f"{creds}@{netloc}"
        session = couchdb.http.Session(timeout=timeout, retry_delays=[0.2, 1.0])
        self._server = couchdb.Server(urlunsplit(parts._replace(netloc=netloc)), session=session)
        self._dbs: dict[str, couchdb.Database] = {}

    # -- reads -------------------------------------------------------------
    def version(self) -> str:
        return str(self._call("reach the server", self._server.version))

    def db_exists(self, db: str) -> bool:
        def head() -> bool:
            try:
                self._server.resource.head(db)  # the client quotes "/" as %2F
                return True
            except couchdb.http.ResourceNotFound:
                return False

        return self._call(f"check database {db}", head)

    def get(self, db: str, doc_id: str) -> dict[str, Any] | None:
        """The document, or None when it (or its database) does not exist."""

        def fetch() -> dict[str, Any] | None:
            try:
                doc = self._db(db).get(doc_id)
            except couchdb.http.ResourceNotFound:
                return None
            return None if doc is None else dict(doc)

        return self._call(f"read {db}/{doc_id}", fetch)

    def changes(self, db: str, since: Any, limit: int) -> tuple[list[dict[str, Any]], Any]:
        """One page of the normal changes feed with docs: (results, last_seq).

        Raises CouchUnavailable; a missing database gives ([], since). Only last_seq is used, so
        CouchDB is asked (seq_interval, as its replicator does) not to compute each row's seq, a
        quarter of its work for a page of CDRs; servers without the option ignore it.
        """

        def page() -> tuple[list[dict[str, Any]], Any]:
            try:
                data = self._db(db).changes(
                    since=since, limit=limit, include_docs=True, style="main_only", seq_interval=limit
                )
            except couchdb.http.ResourceNotFound:
                return [], since
            except RecursionError:  # one document nests too deep to decode: read the page doc by doc
                return self._changes_one_by_one(db, since, limit)
            return data["results"], data["last_seq"]

        return self._call(f"read changes of {db}", page)

    def changes_pages(self, db: str, since: Any, limit: int) -> Generator[tuple[list[dict[str, Any]], Any, Any]]:
        """Pages of db's changes from since to the end, as (results, since, last_seq). While the caller
        handles a full page the next one is already being read (CouchDB serves while syncd works);
        a caller that stops early waits for that one read. Raises CouchUnavailable."""
        results, last_seq = self.changes(db, since, limit)
        if len(results) < limit:  # the usual case, a few new changes: no thread
            yield results, since, last_seq
            return
        with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
            while len(results) >= limit:
                ahead = pool.submit(self.changes, db, last_seq, limit)
                yield results, since, last_seq
                since = last_seq
                results, last_seq = ahead.result()
            yield results, since, last_seq

    def _changes_one_by_one(self, db: str, since: Any, limit: int) -> tuple[list[dict[str, Any]], Any]:
        """The page without docs, then each doc alone; one that cannot be decoded is marked UNREADABLE
        (its own problem, named by id) and the others are read as usual."""
        data = self._db(db).changes(since=since, limit=limit, style="main_only")
        for change in data["results"]:
            if change.get("deleted"):
                continue
            try:
                change["doc"] = self.get(db, change["id"]) or {"_id": change["id"]}
            except RecursionError:
                change["doc"] = {"_id": change["id"], UNREADABLE: "nests deeper than a JSON decoder can follow"}
        return data["results"], data["last_seq"]

    def wait_for_change(self, db: str, since: Any, timeout_ms: int) -> bool:
        """Long-poll db's _changes after since; True when something changed before the timeout."""

        def longpoll() -> bool:
            try:
                data = self._db(db).changes(
                    feed="longpoll", since=since, limit=1, timeout=timeout_ms, style="main_only"
                )
            except couchdb.http.ResourceNotFound:
                return False
            return bool(data.get("results"))

        return bool(self._call(f"wait for changes of {db}", longpoll))

    def all_docs(self, db: str, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every non-design document of db, paged by _id."""
        start: str | None = None
        while True:
            opts: dict[str, Any] = {"include_docs": True, "limit": page_size + 1}
            if start is not None:
                opts["startkey"] = start
            rows = self._call(f"list {db}", functools.partial(self._all_docs_page, db, opts))
            for row in rows[:page_size]:
                if not row.id.startswith("_design/") and row.doc is not None:
                    yield dict(row.doc)
            if len(rows) <= page_size:
                return
            start = rows[page_size].id

    def _all_docs_page(self, db: str, opts: dict[str, Any]) -> list[Any]:
        return list(self._db(db).view("_all_docs", **opts))

    def open_attachment(self, db: str, doc_id: str, name: str) -> BinaryIO | None:
        """A stream of the attachment's bytes (read(n), close()), or None if absent. CouchDB keeps
        some types compressed (attachments.compressible_types: text/*, JSON, XML) and serves them
        gzip-encoded, with a digest of the gzip bytes: such a stream is a GzipAttachment, which
        gives the bytes as Kazoo stored them and the MD5 of what CouchDB's digest covers."""

        def fetch() -> BinaryIO | None:
            try:
                resource = couchdb.client._doc_resource(self._db(db).resource, doc_id)
                # as CouchDB stores it: a compressed attachment comes encoded, so its digest can be checked
                _, headers, data = resource.get(name, headers={"Accept-Encoding": "gzip"})
            except couchdb.http.ResourceNotFound:
                return None
            if data is None:  # an empty body: a zero-length attachment, which exists
                data = b""
            stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data  # small bodies come buffered
            if str(headers.get("Content-Encoding", "")).lower() == "gzip":
                return cast(BinaryIO, GzipAttachment(stream))
            return stream

        return self._call(f"read attachment {db}/{doc_id}/{name}", fetch)

    def db_updates(self, since: Any, timeout_ms: int) -> tuple[list[dict[str, Any]], Any]:
        """One longpoll of /_db_updates; raises DbUpdatesUnsupported where the server lacks it."""

        def poll() -> tuple[list[dict[str, Any]], Any]:
            try:
                _, _, data = self._server.resource.get_json(
                    "_db_updates", feed="longpoll", since=since, timeout=timeout_ms
                )
            except (
                couchdb.http.ServerError,
                couchdb.http.ResourceNotFound,
                TypeError,
                couchdb.http.Unauthorized,
                couchdb.http.PreconditionFailed,
            ) as exc:
                if _is_server_down(exc):
                    raise
                raise DbUpdatesUnsupported(str(exc)) from None
            if not isinstance(data, dict) or "results" not in data:
                raise DbUpdatesUnsupported("unexpected answer")
            return data["results"], data.get("last_seq", since)

        return self._call("read /_db_updates", poll)

    # -- writes (tests, demo, and Kazoo-side actions) ------------------------
    def create_db(self, db: str) -> None:
        def create() -> None:
            try:
                self._server.resource.put_json(db)
            except couchdb.http.PreconditionFailed:
                pass  # already there

        self._call(f"create database {db}", create)

    def save(self, db: str, doc: dict[str, Any]) -> str:
        """Create or update a document; returns the new _rev. Conflicts raise CouchUnavailable."""

        def save() -> str:
            _, rev = self._db(db).save(doc)
            return str(rev)

        return self._call(f"write {db}/{doc.get('_id')}", save)

    def update(self, db: str, doc: dict[str, Any]) -> str | None:
        """Write doc only if its _rev is still current; the new _rev, or None on a conflict."""

        def save() -> str | None:
            try:
                _, rev = self._db(db).save(doc)
            except couchdb.http.ResourceConflict:
                return None
            return str(rev)

        return self._call(f"update {db}/{doc.get('_id')}", save)

    def create(self, db: str, doc: dict[str, Any]) -> bool | None:
        """Write a new document at doc["_id"]: True when written, False when that id already
        exists (nothing written), None when the database does not exist."""

        def put() -> bool | None:
            try:
                self._db(db).save(dict(doc))  # a copy: save() writes _rev into what it is given
            except couchdb.http.ResourceConflict:
                return False
            except couchdb.http.ResourceNotFound:
                return None
            return True

        return self._call(f"create {db}/{doc.get('_id')}", put)

    def delete(self, db: str, doc_id: str, rev: str) -> bool:
        """Remove a document at that revision (Crossbar's hard delete, only for what Kazoo itself
        hard-deletes); False when the doc has another revision now (nothing removed)."""

        def remove() -> bool:
            try:
                self._db(db).delete({"_id": doc_id, "_rev": rev})
            except (couchdb.http.ResourceConflict, couchdb.http.ResourceNotFound):
                return False
            return True

        return self._call(f"delete {db}/{doc_id}", remove)

    def put_attachment(self, db: str, doc: dict[str, Any], content: Any, name: str, content_type: str) -> None:
        self._call(
            f"write attachment {db}/{doc['_id']}/{name}",
            lambda: self._db(db).put_attachment(doc, content, name, content_type),
        )

    # -- plumbing ----------------------------------------------------------
    def _db(self, name: str) -> couchdb.Database:
        db = self._dbs.get(name)
        if db is None:
            # Built directly: Server.__getitem__ would HEAD the database on every call.
            db = self._dbs[name] = couchdb.Database(self._server.resource(name), name)
        return db

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except couchdb.http.Unauthorized:
            raise CouchUnavailable(
                f"CouchDB at {self.display_url} refused the credentials while "
                f"trying to {what}: check [couchdb] url / username / password"
            ) from None
        except couchdb.http.ResourceConflict:
            raise CouchUnavailable(f"CouchDB at {self.display_url}: conflict while trying to {what}") from None
        except (OSError, couchdb.http.ServerError, couchdb.http.RedirectLimit) as exc:
            raise CouchUnavailable(
                f"cannot {what}: CouchDB at {self.display_url} is unreachable or failing ({_reason(exc)})"
            ) from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # couchdb-python assumes JSON answers; anything else ends up here (an HTML page, a proxy's error)
            raise CouchUnavailable(
                f"cannot {what}: the server at {self.display_url} does not answer like "
                f"CouchDB ({type(exc).__name__}); check that [couchdb] url points at "
                "CouchDB itself"
            ) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__ + (f": {exc.args[0]}" if exc.args else "")


def _is_server_down(exc: BaseException) -> bool:
    if isinstance(exc, couchdb.http.ServerError):
        status = exc.args[0][0] if exc.args and isinstance(exc.args[0], tuple) else None
        return isinstance(status, int) and status >= 500 and status != 501
    return False


class GzipAttachment:
    """An attachment CouchDB serves gzip-encoded: read() gives the decoded bytes (what Kazoo
    stored and serves), and the encoded bytes are MD5-hashed on the way, because CouchDB's
    digest is computed on them. stored_md5() reads the encoding to its end and returns that MD5."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw, self._md5 = raw, hashlib.md5()  # noqa: S324 - CouchDB's integrity digest
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""

    def read(self, size: int | None = -1) -> bytes:
        want = None if size is None or size < 0 else size
        while want is None or len(self._pending) < want:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                self._pending += self._inflate.flush()
                break
            self._md5.update(chunk)
            self._pending += self._inflate.decompress(chunk)
        out, self._pending = (self._pending, b"") if want is None else (self._pending[:want], self._pending[want:])
        return out

    def stored_md5(self) -> str:
        while chunk := self._raw.read(1 << 16):
            self._md5.update(chunk)
        return self._md5.hexdigest()

    def close(self) -> None:
        self._raw.close()
