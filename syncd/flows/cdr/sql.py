"""The SQL sink, through SQLAlchemy Core: PostgreSQL (psycopg 3, the CDR as jsonb), MySQL /
MariaDB (PyMySQL, JSON) and SQLite (JSON as text).

- The table is created when missing. A column the config adds is added to the
  table with ALTER TABLE ADD COLUMN (existing rows get NULL); a column the config
  drops stays in the table, untouched: syncd never drops data.
- Rows are upserted keyed by the CDR id (ON CONFLICT / ON DUPLICATE KEY), a batch
  per transaction: a replayed batch, or a CDR that changed, updates its row.
  PostgreSQL takes a batch by COPY into a temporary table and one upsert from it
  (pg_copy.py), several times faster than an INSERT per row.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from syncd.flows.cdr.pg_copy import CopyBatch, CopyUpsert, copy_text
from syncd.flows.cdr.rows import json_text
from syncd.kazoo.cdrs import INTEGER_COLUMNS, NUMBER_COLUMNS
from syncd.model.cdr import CdrSink, SinkUnavailable


class SqlSink:
    def __init__(self, sink: CdrSink) -> None:
        self.sink = sink
        self._engine: sa.Engine | None = None
        self._table: sa.Table | None = None
        self._copy: CopyUpsert | None = None

    def describe(self) -> str:
        return f"{self.sink.display} table {self.sink.table}"

    def check(self) -> str:
        with self._guard("reach"):
            self._ready()
        return f"{self.describe()} reachable"

    def copy_text(self, rows: Sequence[dict[str, Any]]) -> CopyBatch | None:
        """What upsert sends PostgreSQL for these rows, made ahead (None: another database, or a
        single row, goes by INSERT)."""
        if len(rows) < 2 or not self.copies():
            return None
        return copy_text(self.sink, rows)

    @functools.cache  # noqa: B019 - one SqlSink per configured sink, for the life of the process
    def copies(self) -> bool:
        """PostgreSQL: batches go by COPY (copy), their COPY text made ahead (copy_text, pg_copy)."""
        return bool(sa.engine.make_url(self.sink.url).get_backend_name() == "postgresql")

    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write rows (one transaction); raises SinkUnavailable."""
        if not rows:
            return
        if len(rows) > 1 and self.copies():
            self.copy(copy_text(self.sink, rows))
            return
        with self._guard("write to"):
            table = self._ready()
            engine = self._engine_()
            with engine.begin() as conn:
                conn.execute(self._statement(table, engine.dialect.name), list(rows))

    def copy(self, batch: CopyBatch) -> None:
        """Write a batch given as COPY's text (copy_text, copy_of_queued) in one transaction; PostgreSQL
        only. Raises SinkUnavailable."""
        with self._guard("write to"):
            self._ready()
            with self._engine_().begin() as conn:
                self._copy_upsert(conn, batch)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine, self._table, self._copy = None, None, None

    def _statement(self, table: sa.Table, dialect: str) -> Any:
        key = self.sink.key_column
        others = [c.name for c in self.sink.columns if c.name != key]
        if dialect == "postgresql":
            ins = postgresql.insert(table)
            return ins.on_conflict_do_update(index_elements=[key], set_={n: ins.excluded[n] for n in others})
        if dialect == "sqlite":
            ins_l = sqlite.insert(table)
            return ins_l.on_conflict_do_update(index_elements=[key], set_={n: ins_l.excluded[n] for n in others})
        if dialect in ("mysql", "mariadb"):
            ins_m = mysql.insert(table)
            return ins_m.on_duplicate_key_update({n: ins_m.inserted[n] for n in others})
        raise SinkUnavailable(f"CDR sink {self.sink.name!r}: SQL dialect {dialect!r} has no upsert syncd knows")

    def _copy_upsert(self, conn: sa.Connection, batch: CopyBatch) -> None:
        """PostgreSQL: the batch by COPY (pg_copy.py), in this transaction."""
        if self._copy is None:
            self._copy = CopyUpsert(self.sink, partial(_quoted, conn.engine))
        dbapi_error = conn.dialect.loaded_dbapi.Error
        try:
            self._copy.send(conn.connection.driver_connection, batch)
        except dbapi_error as exc:  # as SQLAlchemy would have wrapped it
            raise sa.exc.DBAPIError.instance(self._copy.copy, None, exc, dbapi_error) from exc

    def _ready(self) -> sa.Table:
        """The table, created or widened to the config's columns on first use."""
        if self._table is None:
            engine = self._engine_()
            table = _table(self.sink, engine.dialect.name)
            with engine.begin() as conn:
                table.create(conn, checkfirst=True)
                present = {c["name"] for c in sa.inspect(conn).get_columns(self.sink.table)}
                for column in table.columns:
                    if column.name not in present:
                        kind = column.type.compile(dialect=engine.dialect)
                        conn.execute(
                            sa.text(
                                f"ALTER TABLE {_quoted(engine, self.sink.table)} ADD COLUMN "
                                f"{_quoted(engine, column.name)} {kind}"
                            )
                        )
            self._table = table
        return self._table

    def _engine_(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.sink.url, pool_pre_ping=True, future=True, json_serializer=json_text)
        return self._engine

    @contextmanager
    def _guard(self, verb: str) -> Iterator[None]:
        """SQLAlchemy's errors as SinkUnavailable naming the sink; the URL's password never shown."""
        try:
            yield
        except (SQLAlchemyError, ImportError, OSError) as exc:
            text = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
            self.close()  # a fresh connection (and table check) next time
            raise SinkUnavailable(
                f"cannot {verb} CDR sink {self.sink.name!r} ({self.describe()}): {text}; "
                "the CDRs wait in the state database and go out in order once it answers",
                row_fault=row_fault(exc),
                detail=text,
            ) from None


def _table(sink: CdrSink, dialect: str) -> sa.Table:
    key = sink.key_column
    columns = [
        sa.Column(c.name, _type(c.source, dialect), primary_key=c.name == key, nullable=c.name != key)
        for c in sink.columns
    ]
    return sa.Table(sink.table, sa.MetaData(), *columns)


def _type(source: str, dialect: str) -> Any:
    if source == "cdr":
        return postgresql.JSONB() if dialect == "postgresql" else sa.JSON()
    if source == "id":
        return sa.String(255)  # YYYYMM-<call id>: a key MySQL can index
    if source in INTEGER_COLUMNS:
        return sa.BigInteger()
    if source in NUMBER_COLUMNS:
        return sa.Float(precision=53)  # double precision everywhere (MySQL's FLOAT alone is 4 bytes)
    return sa.Text()


def _quoted(engine: sa.Engine, name: str) -> str:
    return str(engine.dialect.identifier_preparer.quote(name))


# What a database says when it refuses a row's values, not the table: PostgreSQL's SQLSTATE classes
# 22 (data exception: a NUL byte, a number out of range) and 23 (integrity); MySQL's and
# MariaDB's error codes for a value that does not fit; SQLite's integrity and size errors.
# Anything else (an unknown or mistyped column, no such table, no permission) is the table's.
_MYSQL_ROW_CODES = frozenset({1048, 1062, 1264, 1292, 1366, 1406, 3140})


def row_fault(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in ("22", "23")
    code = orig.args[0] if orig is not None and orig.args and isinstance(orig.args[0], int) else None
    if code is not None:
        return code in _MYSQL_ROW_CODES
    return isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError) and not isinstance(exc, sa.exc.ProgrammingError)
