"""PostgreSQL's fast path for a batch of CDR rows: COPY into a temporary table, one upsert from it,
or, when none of the batch's rows is in the table yet (a backlog), COPY straight into it.

An INSERT per row costs PostgreSQL a statement and syncd a parameter set each;
here the batch is written in COPY's text format (a tab between values, \\N for
NULL, backslash escapes), parsed by PostgreSQL in one COPY, and merged into the
table by one INSERT ... SELECT ... ON CONFLICT. A batch of CDRs the table does not
hold yet goes straight in by COPY, half of PostgreSQL's work. The statements are
made once per table. Every backslash in a value is doubled, so no value can read as COPY's
end-of-data marker or as a separator; an empty text goes as NULL (where Crossbar
writes an empty field). The text format, not CSV: a CDR's JSON needs only its
backslashes doubled, where CSV doubles every quote, one character at a time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syncd.flows.cdr.rows import json_text, sink_values
from syncd.model.cdr import CdrSink, unpack_cdr

BATCH_TABLE = "syncd_cdr_batch"
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE (the driver's own classes stay behind SQLAlchemy)
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True)
class CopyBatch:
    """A batch as COPY's text, and its rows' keys (to see whether any is in the table yet)."""

    text: str
    keys: tuple[str, ...]


class CopyUpsert:
    def __init__(self, sink: CdrSink, quote: Any) -> None:
        self.key, self.names = sink.key_column, [c.name for c in sink.columns]
        listed = ", ".join(quote(n) for n in self.names)
        self.present = f"SELECT 1 FROM {quote(sink.table)} WHERE {quote(self.key)} = ANY(%s) LIMIT 1"  # noqa: S608
        self.direct = f"COPY {quote(sink.table)} ({listed}) FROM STDIN"
        others = [quote(n) for n in self.names if n != self.key]
        self.create = f"CREATE TEMPORARY TABLE {BATCH_TABLE} (LIKE {quote(sink.table)}) ON COMMIT DROP"
        self.copy = f"COPY {BATCH_TABLE} ({listed}) FROM STDIN"
        merge = f"DO UPDATE SET {', '.join(f'{n} = EXCLUDED.{n}' for n in others)}" if others else "DO NOTHING"
        self.upsert = (
            f"INSERT INTO {quote(sink.table)} ({listed}) SELECT {listed} FROM {BATCH_TABLE} "  # noqa: S608 - names quoted
            f"ON CONFLICT ({quote(self.key)}) {merge}"
        )

    def send(self, driver: Any, batch: CopyBatch) -> None:
        """A batch through psycopg's own connection, in its open transaction; raises its errors."""
        with driver.cursor() as cursor:
            if self._all_new(cursor, batch.keys) and self._copy_new(driver, cursor, batch.text):
                return
            cursor.execute(self.create)
            with cursor.copy(self.copy) as copy:
                copy.write(batch.text)
            cursor.execute(self.upsert)

    def _all_new(self, cursor: Any, keys: tuple[str, ...]) -> bool:
        cursor.execute(self.present, (list(keys),))
        return cursor.fetchone() is None

    def _copy_new(self, driver: Any, cursor: Any, text: str) -> bool:
        """COPY straight into the table. False, and nothing written, when a row of the batch got
        there meanwhile (another writer): the savepoint is undone and the batch goes by upsert."""
        try:
            with driver.transaction(), cursor.copy(self.direct) as copy:
                copy.write(text)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
            return False
        return True


def copy_text(sink: CdrSink, rows: Sequence[dict[str, Any]]) -> CopyBatch:
    """The rows as COPY's text, in the sink's column order. A CDR met twice in one batch is
    written once, as last seen (one statement may not update a row twice)."""
    names = [c.name for c in sink.columns]
    return _copy_batch(_key_index(sink), [[row.get(n) for n in names] for row in rows])


def copy_of_queued(sink: CdrSink, cdrs: Sequence[tuple[bytes, int]]) -> CopyBatch:
    """copy_text of queued CDRs given as (their JSON as queued, the account's UTC offset at the
    call): plain data in, text out, so the helper process can make it (runtime/helper)."""
    return _copy_batch(_key_index(sink), [sink_values(sink, unpack_cdr(blob), offset) for blob, offset in cdrs])


def _key_index(sink: CdrSink) -> int:
    return [c.name for c in sink.columns].index(sink.key_column)


def _copy_batch(key: int, rows: list[list[Any]]) -> CopyBatch:
    unique = {values[key]: values for values in rows}
    return CopyBatch("".join([_line(values) for values in unique.values()]), tuple(map(str, unique)))


def _line(values: list[Any]) -> str:
    """One row. The texts are searched for a character to escape once, together: nearly every row
    has none, and a call per value would cost more than the rest of the line."""
    texts = [None if v is None or v == "" else v if type(v) is str else _text(v) for v in values]
    if _SPECIAL.search("".join([t for t in texts if t is not None])) is not None:
        texts = [None if t is None else t.translate(_ESCAPES) for t in texts]
    return "\t".join(["\\N" if t is None else t for t in texts]) + "\n"


def _text(value: Any) -> str:
    """A value that is not a text: JSON for an object or a list (JSON escapes every control
    character, so only its backslashes will need doubling), else its usual text."""
    return json_text(value) if isinstance(value, dict | list) else str(value)
