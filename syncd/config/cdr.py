"""Configuration of CDR export: the [cdr] table and its [[cdr.sink]] entries.

A sink is a SQL database (SQLAlchemy URL: sqlite, postgresql+psycopg,
mysql+pymysql / mariadb+pymysql). Without `url` the sink is SQLite, in a file
beside the state database (the embedded default). A password never sits in
the URL of the config: give `password` or, better, `password_file`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from syncd.config.validator import Validator
from syncd.kazoo.versions import DEFAULT, kazoo_version
from syncd.model.cdr import (
    CSV_FORMULAS,
    FILE_FORMATS,
    SHEETS_PER,
    SINK_TYPES,
    CdrSink,
    Column,
    FileLayout,
    SheetsLayout,
)

SQL_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "mysql+pymysql", "mariadb+pymysql")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_CCV_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_SINK_KEYS = {
    "name",
    "type",
    "url",
    "password",
    "password_file",
    "table",
    "columns",
    "rename",
    "custom_channel_vars",
    "json_column",
    "accounts",
    "batch_size",
    "backend",
    "folder",
    "format",
    "flush_interval",
    "close_after",
    "csv_formulas",
    "per",
}
_SQL_ONLY = ("url", "password", "password_file", "table")
_FILES_ONLY = ("backend", "folder", "format", "flush_interval", "close_after", "csv_formulas")


@dataclass(frozen=True)
class CdrConfig:
    anonymous: bool = False  # also export anonymous_cdrs (calls with no account)
    poll_interval: float = 2.0
    sinks: tuple[CdrSink, ...] = field(default_factory=tuple)
    passwords: tuple[str, ...] = field(default=(), repr=False)  # for the log redactor
    keep_days: float = 7.0  # an exported CDR's doc stays in the state database this long (state/cdrs: thin)


def cdr_config(
    v: Validator, t: dict[str, Any], state_path: str | None, backends: dict[str, str], version: str = DEFAULT
) -> CdrConfig:
    """backends: [backends.X] name -> its type; version: [kazoo] version, whose Crossbar columns the sinks get."""
    v.unknown(t, "cdr", {"anonymous", "poll_interval", "sink", "keep_days"})
    raw = t.get("sink", [])
    if not isinstance(raw, list):
        v.problem("cdr.sink", "must be an array of tables ([[cdr.sink]])")
        raw = []
    found = [_sink(v, s, f"cdr.sink[{i}]", state_path, backends, version) for i, s in enumerate(raw)]
    sinks = [s for s in found if s is not None]
    names = [s[0].name for s in sinks]
    for name in {n for n in names if names.count(n) > 1}:
        v.problem("cdr.sink", f"two sinks are named {name!r}: each sink needs a name of its own (its cursor)")
    return CdrConfig(
        v.boolean(t, "cdr.anonymous", False),
        v.number(t, "cdr.poll_interval", 2.0, minimum=0.1, maximum=3600),
        tuple(s[0] for s in sinks),
        tuple(s[1] for s in sinks if s[1]),
        v.number(t, "cdr.keep_days", 7.0, minimum=1, maximum=36_500),
    )


def _sink(
    v: Validator, s: Any, path: str, state_path: str | None, backends: dict[str, str], version: str
) -> tuple[CdrSink, str | None] | None:
    if not isinstance(s, dict):
        v.problem(path, "must be a table")
        return None
    v.unknown(s, path, _SINK_KEYS)
    name = v.string(s, f"{path}.name", required=True)
    kind = v.choice(s, f"{path}.type", SINK_TYPES, "sql")
    if kind == "files":
        return _files_sink(v, s, path, name, backends, version)
    if kind == "sheets":
        return _sheets_sink(v, s, path, name, backends, version)
    for key in _FILES_ONLY:
        if key in s:
            v.problem(f"{path}.{key}", 'belongs to a files sink (type = "files"); this sink is SQL')
    table = v.string(s, f"{path}.table") or "kazoo_cdrs"
    if not _IDENTIFIER.fullmatch(table):
        v.problem(f"{path}.table", f"{table!r} is not a plain SQL name (letters, digits, _; at most 63)")
    password = v.secret(s, path, "password")
    url = _url(v, s, path, state_path, password)
    columns = _columns(v, s, path, version)
    if not name or not kind or url is None or columns is None:
        return None
    sink = CdrSink(
        name=name,
        type=kind,
        url=url[0],
        display=url[1],
        table=table,
        columns=columns,
        kazoo_version=version,
        accounts=v.account_ids(s, f"{path}.accounts"),
        batch_size=int(v.number(s, f"{path}.batch_size", 500, minimum=1, maximum=10_000, integer=True)),
    )
    return sink, password


def _files_sink(
    v: Validator, s: dict[str, Any], path: str, name: str | None, backends: dict[str, str], version: str
) -> tuple[CdrSink, str | None] | None:
    for key in _SQL_ONLY:
        if key in s:
            v.problem(f"{path}.{key}", "belongs to a SQL sink; a files sink writes to a backend (backend, folder)")
    backend = v.string(s, f"{path}.backend", required=True)
    if backend and backend not in backends:
        v.problem(
            f"{path}.backend", f"names no [backends.{backend}] table (defined: {', '.join(sorted(backends)) or 'none'})"
        )
    folder = v.folder(s, f"{path}.folder", "cdrs")
    layout_format = v.choice(s, f"{path}.format", FILE_FORMATS, "csv") or "csv"
    flush = v.number(s, f"{path}.flush_interval", 60.0, minimum=1, maximum=86_400)
    close_after = v.number(s, f"{path}.close_after", 21_600.0, minimum=0, maximum=30 * 86_400)
    formulas = v.choice(s, f"{path}.csv_formulas", CSV_FORMULAS, "neutralize") or "neutralize"
    columns = _columns(v, s, path, version)
    if not name or not backend or backend not in backends or folder is None or columns is None:
        return None
    layout = FileLayout(backend, folder, layout_format, flush, close_after, formulas == "neutralize")
    sink = CdrSink(
        name=name,
        type="files",
        url="",
        display=f"{backend}:{folder} ({layout_format})",
        table="",
        columns=columns,
        kazoo_version=version,
        accounts=v.account_ids(s, f"{path}.accounts"),
        batch_size=int(v.number(s, f"{path}.batch_size", 5000, minimum=1, maximum=100_000, integer=True)),
        files=layout,
    )
    return sink, None


def _sheets_sink(
    v: Validator, s: dict[str, Any], path: str, name: str | None, backends: dict[str, str], version: str
) -> tuple[CdrSink, str | None] | None:
    for key in (*_SQL_ONLY, "folder", "format", "flush_interval", "close_after"):
        if key in s:
            v.problem(f"{path}.{key}", 'does not apply to a Google Sheets sink (type = "sheets")')
    backend = v.string(s, f"{path}.backend", required=True)
    if backend and backends.get(backend) != "google_drive":
        v.problem(f"{path}.backend", "must name a [backends.X] of type google_drive: its credentials write the sheets")
    per = v.choice(s, f"{path}.per", SHEETS_PER, "account") or "account"
    s = {"json_column": "", **s}  # a whole CDR rarely fits a cell: asked for, never by default
    columns = _columns(v, s, path, version)
    if not name or not backend or backends.get(backend) != "google_drive" or columns is None:
        return None
    sink = CdrSink(
        name=name,
        type="sheets",
        url="",
        display=f"Google Sheets via {backend} (one spreadsheet per {per})",
        table="",
        columns=columns,
        kazoo_version=version,
        accounts=v.account_ids(s, f"{path}.accounts"),
        batch_size=int(v.number(s, f"{path}.batch_size", 500, minimum=1, maximum=5000, integer=True)),
        sheets=SheetsLayout(backend, per),
    )
    return sink, None


def _url(
    v: Validator, s: dict[str, Any], path: str, state_path: str | None, password: str | None
) -> tuple[str, str] | None:
    """(the URL syncd connects with, the URL it shows)."""
    raw = v.string(s, f"{path}.url")
    if raw is None:
        folder = posixpath.dirname(state_path or "") or "."
        embedded = f"sqlite:///{posixpath.join(folder, 'cdrs.sqlite3')}"
        return embedded, embedded
    parts = urlsplit(raw)
    if parts.scheme not in SQL_SCHEMES:
        v.problem(f"{path}.url", f"must start with one of {', '.join(s + '://' for s in SQL_SCHEMES)}")
        return None
    if parts.password is not None:
        v.problem(f"{path}.url", "holds a password: give it as password_file (or password) instead")
        return None
    if parts.scheme == "sqlite" or not password:
        return raw, raw
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), raw


def _columns(v: Validator, s: dict[str, Any], path: str, version: str) -> tuple[Column, ...] | None:
    known = kazoo_version(version).cdr_columns
    chosen = s.get("columns", list(known))
    if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
        v.problem(f"{path}.columns", "must be an array of Crossbar CDR column names")
        return None
    unknown = [c for c in chosen if c not in known]
    if unknown:
        v.problem(
            f"{path}.columns",
            f"unknown column(s) {', '.join(map(repr, unknown))} for Kazoo {version} ([kazoo] version); "
            f"known: {', '.join(known)}",
        )
        return None
    ccvs = s.get("custom_channel_vars", [])
    if not isinstance(ccvs, list) or not all(isinstance(c, str) and _CCV_NAME.fullmatch(c) for c in ccvs):
        v.problem(f"{path}.custom_channel_vars", "must be an array of custom channel var names (letters, digits, _ -)")
        return None
    json_column = s.get("json_column", "cdr")
    sources = ["id", *[c for c in chosen if c != "id"], *[f"ccv:{c}" for c in ccvs]]
    sources += ["cdr"] if json_column else []
    renames = _renames(v, s, path, sources, json_column)
    if renames is None:
        return None
    columns = tuple(Column(src, renames.get(src, _default_name(src))) for src in sources)
    names = [c.name for c in columns]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        v.problem(f"{path}.rename", f"two columns would both be called {', '.join(clash)}")
        return None
    return columns


def _renames(v: Validator, s: dict[str, Any], path: str, sources: list[str], json_column: Any) -> dict[str, str] | None:
    """Source -> the sink's name for it, as asked (`rename`, `json_column`); None after a problem."""
    rename = s.get("rename", {})
    if not isinstance(rename, dict):
        v.problem(f"{path}.rename", 'must be a table of column = "new name"')
        return None
    if json_column and (not isinstance(json_column, str) or not _IDENTIFIER.fullmatch(json_column)):
        v.problem(f"{path}.json_column", 'must be a plain SQL name, or "" for no JSON column')
        return None
    out = {"cdr": json_column} if json_column else {}
    fine = True
    for source, new in rename.items():
        if source not in sources:
            v.problem(f"{path}.rename", f"{source!r} is not a column of this sink")
            fine = False
        elif not isinstance(new, str) or not _IDENTIFIER.fullmatch(new):
            v.problem(f"{path}.rename.{source}", "must be a plain SQL name (letters, digits, _; at most 63)")
            fine = False
        else:
            out[source] = new
    return out if fine else None


def _default_name(source: str) -> str:
    """Crossbar's own names (SQLAlchemy quotes `to` and `from`); ccv_<name> for a custom channel var."""
    return "ccv_" + source[4:].replace("-", "_") if source.startswith("ccv:") else source
