"""The CDR queue: CDR docs read from Kazoo, in the order every sink exports them.

A feed's page of CDRs and its cursor are written in one transaction. Each
sink keeps its own cursor (the last seq it holds), so a sink that is down
only falls behind: its rows wait here and go out in order once it is back,
and no other sink or flow waits for it. A sink's write and its cursor are
not one transaction (they live in two databases); a crash between them
replays a batch, which the sink's upsert (keyed by the CDR id) absorbs.

The queue is thinned (thin): a CDR every sink has exported, queued more than
[cdr] keep_days ago, keeps its row (db, id, revision, account, call start) but
not its doc, so the state database stops growing by a kilobyte per call while
a page read again still finds each CDR it already holds (nothing is exported
twice). Thinned rows are invisible to the sinks' reads (after, partition);
`syncd cdr export` reads Kazoo again and makes a thinned row whole.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from syncd.model.cdr import pack_cdr as _pack
from syncd.model.cdr import unpack_cdr as unpack
from syncd.state.db import Database, GuardedConnection


@dataclass(frozen=True)
class QueuedCdr:
    """A queued CDR as stored: its JSON is decoded only when asked for (`doc`), so a batch can
    go to another process as the bytes it was read as."""

    seq: int
    db: str
    account_id: str
    blob: bytes
    started: int | None  # Gregorian seconds the call started (call_start), None when unknown

    @classmethod
    def holding(cls, seq: int, db: str, account_id: str, doc: dict[str, Any], started: int | None) -> QueuedCdr:
        """A CDR read outside the queue (`syncd cdr export`), its doc already decoded."""
        queued = cls(seq, db, account_id, _pack(doc), started)
        queued.__dict__["doc"] = doc  # cached_property's own slot
        return queued

    @cached_property
    def doc(self) -> dict[str, Any]:
        return unpack(self.blob)


class FoundCdr(NamedTuple):
    """A CDR doc as read from Kazoo, to be queued (a tuple: one is made per CDR read)."""

    db: str
    account_id: str
    doc: dict[str, Any]
    started: int | None  # Gregorian seconds the call started, for status and windows


THINNED = "cdr-thinned"  # the cursors row holding the seq the queue is thinned through
_THIN_CHUNK = 2000  # rows thinned per transaction: the state database's lock is held briefly
_CHUNK = 250  # CDRs per statement: 7 parameters each, far below SQLite's 32766
_INSERT = "INSERT OR IGNORE INTO cdrs (db, doc_id, account_id, rev, started, doc, recorded_at) VALUES "
_ROW = "(?, ?, ?, ?, ?, ?, ?)"


class CdrQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, feed: str, since: Any, seq: Any, found: Iterable[FoundCdr]) -> int | None:
        """Queue new and changed CDRs read from `since` to `seq` and move the feed's cursor, in one
        transaction; returns rows queued. None, and nothing written, when the cursor no longer
        stands at `since` (another reader of the feed took these changes first)."""
        packed = _packed(found)  # before the transaction: the state DB's lock is not held while encoding
        with self.db.tx() as db:
            row = db.execute("SELECT seq FROM cursors WHERE feed = ?", (feed,)).fetchone()
            current = json.loads(row[0]) if row else None
            if (current or 0) != (since or 0):
                return None
            queued = _queue(db, packed)
            db.execute(
                "INSERT INTO cursors (feed, seq, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (feed) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
                (feed, json.dumps(seq), time.time()),
            )
        return queued

    def remember(self, found: Iterable[FoundCdr]) -> int:
        """Queue CDRs read outside a feed (`syncd cdr export`); no cursor moves."""
        packed = _packed(found)
        with self.db.tx() as db:
            return _queue(db, packed, restore=True)

    def after(self, sink: str, limit: int, after: int | None = None) -> list[QueuedCdr]:
        """The next rows this sink has not exported (or those after seq `after`), oldest first; read
        beside the feeds' writes (Database.read)."""
        rows = self.db.read(
            "SELECT seq, db, account_id, doc, started FROM cdrs WHERE seq > ? AND doc != x'' ORDER BY seq LIMIT ?",
            (self.cursor(sink) if after is None else after, limit),
        )
        return [QueuedCdr(*row) for row in rows]

    def partition(
        self, account_id: str, first: int, end: int, strays: tuple[int, int] | None = None
    ) -> list[QueuedCdr]:
        """Every CDR of one account whose call started in [first, end) (Gregorian s), oldest first;
        with strays (lo, hi), also those whose start is unknown or outside [lo, hi)."""
        lo, hi = strays or (None, None)
        rows = self.db.execute(
            "SELECT seq, db, account_id, doc, started FROM cdrs WHERE account_id = ? AND doc != x'' AND "
            "((started >= ? AND started < ?) OR (? IS NOT NULL AND (started IS NULL OR started < ? OR started >= ?))) "
            "ORDER BY started, doc_id",
            (account_id, first, end, lo, lo, hi),
        ).fetchall()
        return [QueuedCdr(*row) for row in rows]

    def thin(self, sinks: Iterable[str], queued_before: float, started_before: int | None = None) -> int:
        """Drop the docs of CDRs every one of `sinks` (all the configured ones) has exported and
        that were queued before `queued_before` (Unix time) and, when given, whose call started
        before `started_before` (Gregorian s; a row without a time then stays whole); returns rows
        thinned. A sink that has exported nothing yet (one just added) holds everything back."""
        cursors = [self._cursor_row(s) for s in sinks]
        if not cursors or None in cursors:
            return 0
        through, thinned = self.thinned_through(), 0
        exported = min(c for c in cursors if c is not None)
        while True:
            with self.db.tx() as db:
                rows = db.execute(
                    "SELECT seq FROM cdrs WHERE seq > ? AND seq <= ? AND recorded_at < ? ORDER BY seq LIMIT ?",
                    (through, exported, queued_before, _THIN_CHUNK),
                ).fetchall()
                if not rows:
                    return thinned
                through = rows[-1][0]
                thinned += db.execute(
                    "UPDATE cdrs SET doc = x'' WHERE seq >= ? AND seq <= ? AND recorded_at < ? "
                    "AND (? IS NULL OR started < ?)",
                    (rows[0][0], through, queued_before, started_before, started_before),
                ).rowcount
                db.execute(
                    "INSERT INTO cursors (feed, seq, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (feed) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
                    (THINNED, json.dumps(through), time.time()),
                )

    def thinned_through(self) -> int:
        """The seq through which thinning has gone (0: not yet). Below it a row is whole only when
        thinning had to leave it (its call's day still open for a files sink) or export restored it."""
        row = self.db.execute("SELECT seq FROM cursors WHERE feed = ?", (THINNED,)).fetchone()
        return int(json.loads(row[0])) if row else 0

    def spreadsheet(self, sink: str, book: str) -> str | None:
        """The spreadsheet a Sheets sink made for `book` (an account, or account and month)."""
        row = self.db.execute("SELECT spreadsheet_id FROM cdr_sheets WHERE sink = ? AND book = ?", (sink, book))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def set_spreadsheet(self, sink: str, book: str, spreadsheet_id: str) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO cdr_sheets (sink, book, spreadsheet_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sink, book) DO UPDATE SET spreadsheet_id = excluded.spreadsheet_id",
                (sink, book, spreadsheet_id, time.time()),
            )

    def bounds(self, sink: str, account_id: str, day: int) -> tuple[list[int], bool]:
        """The seqs the day's objects cover up to, in order ([] before its first write), and whether
        they were written while the day was open."""
        row = self.db.execute(
            "SELECT bounds, open FROM cdr_days WHERE sink = ? AND account_id = ? AND day = ?", (sink, account_id, day)
        ).fetchone()
        return ([], False) if row is None else ([int(b) for b in json.loads(row[0])], bool(row[1]))

    def set_bounds(self, sink: str, account_id: str, day: int, bounds: list[int], is_open: bool = False) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO cdr_days (sink, account_id, day, bounds, open) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sink, account_id, day) DO UPDATE SET bounds = excluded.bounds, open = excluded.open",
                (sink, account_id, day, json.dumps(bounds), int(is_open)),
            )

    def cursor(self, sink: str) -> int:
        return self._cursor_row(sink) or 0

    def _cursor_row(self, sink: str) -> int | None:
        row = self.db.execute("SELECT seq FROM cdr_sinks WHERE sink = ?", (sink,)).fetchone()
        return None if row is None else int(row[0])

    def advance(self, sink: str, seq: int, exported: int, newest_started: int | None) -> None:
        """The sink holds every row up to seq (its error, if any, is over)."""
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO cdr_sinks (sink, seq, exported, newest_started, exported_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, exported = exported + excluded.exported, "
                "newest_started = MAX(COALESCE(newest_started, 0), COALESCE(excluded.newest_started, 0)), "
                "exported_at = excluded.exported_at, last_error = NULL, error_at = NULL",
                (sink, seq, exported, newest_started, time.time()),
            )

    def failed(self, sink: str, error: str) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO cdr_sinks (sink, last_error, error_at) VALUES (?, ?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET last_error = excluded.last_error, error_at = excluded.error_at",
                (sink, error, time.time()),
            )

    def status(self) -> list[dict[str, Any]]:
        """Per sink: rows exported, rows waiting, the newest call exported, the last error."""
        newest = self.db.execute("SELECT COALESCE(MAX(seq), 0), MAX(started) FROM cdrs").fetchone()
        rows = self.db.execute(
            "SELECT sink, seq, exported, newest_started, exported_at, last_error, error_at FROM cdr_sinks ORDER BY sink"
        ).fetchall()
        keys = ("sink", "seq", "exported", "newest_started", "exported_at", "last_error", "error_at")
        found = [dict(zip(keys, r, strict=True)) for r in rows]
        for sink in found:
            sink["waiting"] = self.db.execute("SELECT COUNT(*) FROM cdrs WHERE seq > ?", (sink["seq"],)).fetchone()[0]
            sink["newest_in_kazoo"] = newest[1]
        return found


# A CDR to queue: as found, its id, its revision, and its doc as queued (_pack)
_Packed = tuple[FoundCdr, str, str, bytes]


def _packed(found: Iterable[FoundCdr]) -> list[_Packed]:
    return [(c, str(c.doc["_id"]), str(c.doc.get("_rev", "")), _pack(c.doc)) for c in found]


def _queue(db: GuardedConnection, rows: list[_Packed], restore: bool = False) -> int:
    """A changed CDR leaves its old row (and seq) and comes back with a new, higher seq; the same
    revision read again (a replayed page) is ignored: nothing new to export. New CDRs (nearly all)
    go in by one multi-row statement per chunk; the few already queued are looked at one by one.
    restore: a thinned row of the same revision gets its doc back (`syncd cdr export`)."""
    now, queued = time.time(), 0
    for first in range(0, len(rows), _CHUNK):
        chunk = rows[first : first + _CHUNK]
        inserted = db.execute(
            _INSERT + ", ".join([_ROW] * len(chunk)) + " RETURNING db, doc_id",
            [v for c, i, r, blob in chunk for v in (c.db, i, c.account_id, r, c.started, blob, now)],
        ).fetchall()
        queued += len(inserted)
        new = set(inserted)
        for row in chunk:
            if (row[0].db, row[1]) not in new:
                queued += _requeue_if_changed(db, row, now, restore)
    return queued


def _requeue_if_changed(db: GuardedConnection, row: _Packed, now: float, restore: bool) -> int:
    found, doc_id, rev, blob = row
    if not db.execute("DELETE FROM cdrs WHERE db = ? AND doc_id = ? AND rev != ?", (found.db, doc_id, rev)).rowcount:
        if restore:  # the same revision, thinned: whole again, its seq kept (no sink sees it anew)
            db.execute("UPDATE cdrs SET doc = ? WHERE db = ? AND doc_id = ? AND doc = x''", (blob, found.db, doc_id))
        return 0  # the same revision, queued already
    db.execute(_INSERT + _ROW, (found.db, doc_id, found.account_id, rev, found.started, blob, now))
    return 1
