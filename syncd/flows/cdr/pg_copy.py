"""PostgreSQL's fast path for a batch of CDR rows: COPY into a temporary table, one upsert from it.

An INSERT per row costs PostgreSQL a statement and syncd a parameter set each;
here the batch is written as CSV by Python's C csv writer, parsed by PostgreSQL
in one COPY, and merged into the table by one INSERT ... SELECT ... ON CONFLICT.
The statements are made once per table. Every text is quoted, so no value can
read as COPY's end-of-data marker, and FORCE_NULL turns the empty ones (where
Crossbar writes an empty field) into NULL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from syncd.flows.cdr.records import CdrSink

BATCH_TABLE = "syncd_cdr_batch"


class CopyUpsert:
    def __init__(self, sink: CdrSink, quote: Callable[[str], str]) -> None:
        self.key, self.names = sink.key_column, [c.name for c in sink.columns]
        listed = ", ".join(quote(n) for n in self.names)
        others = [quote(n) for n in self.names if n != self.key]
        self.create = f"CREATE TEMPORARY TABLE {BATCH_TABLE} (LIKE {quote(sink.table)}) ON COMMIT DROP"
        nullable = f", FORCE_NULL ({', '.join(others)})" if others else ""
        self.copy = f"COPY {BATCH_TABLE} ({listed}) FROM STDIN WITH (FORMAT csv{nullable})"
        merge = f"DO UPDATE SET {', '.join(f'{n} = EXCLUDED.{n}' for n in others)}" if others else "DO NOTHING"
        self.upsert = (
            f"INSERT INTO {quote(sink.table)} ({listed}) SELECT {listed} FROM {BATCH_TABLE} "  # noqa: S608 - names quoted
            f"ON CONFLICT ({quote(self.key)}) {merge}"
        )

    def send(self, driver: Any, text: str) -> None:
        """A batch's CSV (csv_text) through psycopg's own connection, in its open transaction;
        raises its errors."""
        with driver.cursor() as cursor:
            cursor.execute(self.create)
            with cursor.copy(self.copy) as copy:
                copy.write(text)
            cursor.execute(self.upsert)


def csv_text(sink: CdrSink, rows: Sequence[dict[str, Any]], json_text: Callable[[Any], str]) -> str:
    """The rows as COPY's CSV, in the sink's column order. A CDR met twice in one batch is written
    once, as last seen (one statement may not update a row twice). Pure Python on purpose: it is
    made while the sink's server takes the batch before."""
    key, names = sink.key_column, [c.name for c in sink.columns]
    unique = {row[key]: row for row in rows}.values()
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(
        [json_text(v) if isinstance(v, dict | list) else v for v in map(row.get, names)] for row in unique
    )
    return text.getvalue()
