"""Real SQL servers for the CDR sink tests: PostgreSQL from Debian's packages, started per session
on 127.0.0.1 with password (scram) authentication, as a provider's billing database would be.

initdb and postgres refuse to run as root: under root the cluster belongs to Debian's `postgres`
user and is started through runuser.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.support.servers import free_port


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: install Debian's postgresql package (apt-get install postgresql)"
        )
    return path


class PostgresServer:
    """A throwaway cluster: user `syncd`, its password in password_file, database `billing`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
        self.password = "pg-" + secrets.token_hex(8)
        self.password_file = self.dir / "password"
        self.password_file.write_text(self.password)
        self._as = _runner(self.dir)
        data = self.dir / "data"
        subprocess.run(
            [
                *self._as,
                postgres_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "syncd",
                "--auth=scram-sha-256",
                f"--pwfile={self.password_file}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self._data = data
        self.start()
        self._psql("CREATE DATABASE billing")
        self.url = f"postgresql+psycopg://syncd@127.0.0.1:{self.port}/billing"

    def start(self) -> None:
        log = (self.dir / "postgres.log").open("ab")
        self.proc = subprocess.Popen(
            [
                *self._as,
                postgres_bin("postgres"),
                "-D",
                str(self._data),
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait()

    def pause(self) -> None:
        """The database goes away (as in an outage; fast shutdown drops the clients' sessions);
        start() brings it back with its data."""
        subprocess.run(
            [*self._as, postgres_bin("pg_ctl"), "stop", "-D", str(self._data), "-m", "fast", "-w"],
            check=True,
            capture_output=True,
        )
        self.proc.wait(30)

    def query(self, sql: str) -> list[tuple[str, ...]]:
        """Rows as psql prints them unaligned (| between fields), for assertions."""
        out = self._psql(sql, "billing")
        return [tuple(line.split("|")) for line in out.splitlines() if line]

    def _psql(self, sql: str, db: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        done = subprocess.run(
            [
                postgres_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "syncd",
                "-d",
                db,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return done.stdout

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'postgres.log').read_text()[-2000:]}")
            try:
                self._psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        raise RuntimeError("postgres did not start within 60 s")

    def stop(self) -> None:
        _end(self.proc, self.dir)


def _end(proc: subprocess.Popen[bytes], folder: Path) -> None:
    """Stop a server (its own shutdown first, a kill after 30 s) and remove its files."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(folder, ignore_errors=True)


def _runner(folder: Path) -> list[str]:
    """Run as `postgres` when we are root (PostgreSQL will not run as root), else as ourselves."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    os.chmod(folder, 0o700)
    os.chown(folder, user.pw_uid, user.pw_gid)
    for path in folder.iterdir():
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def cdr_config(server: PostgresServer, table: str) -> str:
    """[cdr] with two sinks: `billing` in PostgreSQL (password from a file) and `local`, the embedded SQLite."""
    return (
        f'[cdr]\npoll_interval = 0.2\n\n[[cdr.sink]]\nname = "billing"\nurl = "{server.url}"\n'
        f'password_file = "{server.password_file}"\ntable = "{table}"\ncustom_channel_vars = ["owner_id"]\n'
        f'batch_size = 7\n\n[[cdr.sink]]\nname = "local"\n'
    )


def pg_rows(server: PostgresServer, table: str) -> list[dict[str, Any]]:
    url = server.url.replace("syncd@", f"syncd:{server.password}@")
    return _rows(url, table)


def pg_delete(server: PostgresServer, table: str, cdr_id: str) -> None:
    engine = sa.create_engine(server.url.replace("syncd@", f"syncd:{server.password}@"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DELETE FROM "{table}" WHERE id = :id'), {"id": cdr_id})  # noqa: S608 - the test's own table
    finally:
        engine.dispose()


def sqlite_rows(folder: Path, table: str) -> list[dict[str, Any]]:
    """The embedded sink: cdrs.sqlite3 beside the state database."""
    if not (folder / "cdrs.sqlite3").exists():
        return []
    return _rows(f"sqlite:///{folder}/cdrs.sqlite3", table)


def _rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(table):
            return []
        reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(reflected))]
    finally:
        engine.dispose()
    # a reflected MySQL DOUBLE reads back as Decimal: compare numbers as Python floats
    return [{k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in rows]


class MariaDbServer:
    """A throwaway MariaDB from Debian's mariadb-server: user `syncd` with a password, database `billing`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="syncd-maria-"))
        self.password = "maria-" + secrets.token_hex(8)
        self.password_file = self.dir / "password"
        self.password_file.write_text(self.password)
        self.socket = self.dir / "mysqld.sock"
        user = pwd.getpwuid(os.geteuid()).pw_name
        subprocess.run(
            [
                _maria("mariadb-install-db"),
                f"--datadir={self.dir / 'data'}",
                f"--user={user}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        self._user = user
        self.start()
        self._sql(
            f"CREATE DATABASE billing; CREATE USER 'syncd'@'127.0.0.1' IDENTIFIED BY '{self.password}'; "
            "GRANT ALL ON billing.* TO 'syncd'@'127.0.0.1';"
        )
        self.url = f"mysql+pymysql://syncd@127.0.0.1:{self.port}/billing"

    def rows(self, table: str) -> list[dict[str, Any]]:
        return _rows(self.url.replace("syncd@", f"syncd:{self.password}@"), table)

    def start(self) -> None:
        log = (self.dir / "mariadb.log").open("ab")
        self.proc = subprocess.Popen(
            [
                _maria("mariadbd"),
                "--no-defaults",
                f"--datadir={self.dir / 'data'}",
                f"--user={self._user}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket}",
                f"--pid-file={self.dir / 'mariadb.pid'}",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd did not start: {(self.dir / 'mariadb.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def pause(self) -> None:
        """The database goes away (as in an outage); start() brings it back with its data."""
        self.proc.terminate()
        self.proc.wait(60)

    def _ready(self) -> bool:
        try:
            self._sql("SELECT 1")
        except subprocess.CalledProcessError:
            return False
        return True

    def _sql(self, sql: str) -> None:
        subprocess.run(
            [_maria("mariadb"), "-S", str(self.socket), "-u", "root", "-e", sql], check=True, capture_output=True
        )

    def stop(self) -> None:
        _end(self.proc, self.dir)


def _maria(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)
    if not path:
        raise RuntimeError(f"MariaDB's {name} not found: install Debian's mariadb-server package")
    return path
