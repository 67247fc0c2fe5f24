"""What the store tests need of a database: a new one of either store, and a way to look
into it that does not go through fluxjournal's own store code."""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pgcluster
import pytest

from fluxjournal.storage import schema

#: Set by ``.ci/run``: without a PostgreSQL server the run fails instead of skipping.
REQUIRE_VARIABLE = "FLUXJOURNAL_REQUIRE_POSTGRES"
_numbers = itertools.count()


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_VARIABLE):
        pytest.fail(f"{REQUIRE_VARIABLE} is set, but {reason}")
    pytest.skip(reason)


def need_postgres():
    """The server to test against (a generator: a session fixture's body)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install '.[test]'")
    cluster = pgcluster.Cluster.from_env()
    own = cluster is None
    if own:
        if pgcluster.binaries() is None:
            _unavailable(
                "no PostgreSQL server: install PostgreSQL (Debian: apt-get install postgresql) "
                f"or point {pgcluster.URL_VARIABLE} at one"
            )
        try:
            cluster = pgcluster.start(tempfile.mkdtemp(prefix="fluxjournal-pg-"))
        except (RuntimeError, OSError) as exc:
            _unavailable(f"the PostgreSQL server did not start: {exc}")
    try:
        yield cluster
    finally:
        if own:
            cluster.stop()


class Database:
    """One test database: its ``url`` (what ``--db`` takes), and reads of its rows."""

    def __init__(self, kind: str, url: str, cluster: Any = None, name: str = "") -> None:
        self.kind = kind
        self.url = url
        self.cluster = cluster
        self.name = name
        self._reader: Any = None

    @classmethod
    def new(cls, kind: str, tmp_path: Path, cluster: Any = None) -> Database:
        if kind == "sqlite":
            return cls(kind, str(tmp_path / "test.db"))
        import psycopg

        name = f"test_{os.getpid()}_{next(_numbers)}"
        with psycopg.connect(cluster.url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return cls(kind, cluster.url_of(name), cluster, name)

    def drop(self) -> None:
        self.close()
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.cluster.url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def connect(self) -> Any:
        """A connection of the store's own driver, JSON read back as text."""
        if self.kind == "sqlite":
            return sqlite3.connect(self.url, isolation_level=None)
        import psycopg
        import psycopg.types.json

        db = psycopg.connect(self.url, autocommit=True)
        psycopg.types.json.set_json_loads(lambda data: bytes(data).decode(), db)
        return db

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """The rows of a query written with ``?`` marks, a fresh read each time."""
        if self._reader is None:
            self._reader = self.connect()
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        return [tuple(row) for row in self._reader.execute(sql, params).fetchall()]

    def dicts(self, sql: str, params: tuple = ()) -> list[dict]:
        """The rows of a query as column name to value."""
        if self._reader is None:
            self._reader = self.connect()
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        cursor = self._reader.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def exists(self) -> bool:
        """True once fluxjournal has made its tables."""
        if self.kind == "sqlite":
            if not os.path.exists(self.url):
                return False
            found = self.rows("SELECT 1 FROM sqlite_master WHERE name = 'events'")
        else:
            found = self.rows("SELECT 1 WHERE to_regclass('events') IS NOT NULL")
        return bool(found)

    def columns(self, table: str) -> list[str]:
        """The columns of a table or view, in order, lower case."""
        if self.kind == "sqlite":
            return [row[1].lower() for row in self.rows(f"PRAGMA table_info({table})")]
        return [
            name
            for (name,) in self.rows(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = ? ORDER BY ordinal_position",
                (table,),
            )
        ]

    def writes(self) -> Any:
        """A mark that changes whenever a row of the database is written."""
        if self.kind == "sqlite":
            return self.rows("PRAGMA data_version")[0][0]
        marks = []
        for table in ("meta", "instances", "events", "jobs"):
            marks += self.rows(f"SELECT ctid::text, xmin::text FROM {table} ORDER BY ctid")
        return marks

    def as_version(self, version: int) -> None:
        """Make a database fluxjournal made into one of an older schema version: without
        the tables, columns and indexes added after ``version``."""
        later = range(version + 1, schema.SCHEMA_VERSION + 1)
        tables = {table for since in later for table in schema.ADDED_TABLES.get(since, ())}
        columns = {
            column
            for since in later
            for column in schema.ADDED_COLUMNS.get(since, ())
            if column[0] not in tables
        }
        writer = self.connect()
        try:
            if version < 2:
                writer.execute("DROP INDEX instances_parent")
            for index, (table, names) in schema.INDEXES.items():
                if any((table, name) in columns for name in names):
                    writer.execute(f"DROP INDEX {index}")
            for table in tables:
                writer.execute(f"DROP TABLE {table}")
            for table, name in columns:
                writer.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        finally:
            writer.close()
        self.set_schema_version(version)

    def set_schema_version(self, version: int) -> None:
        writer = self.connect()
        try:
            mark = "?" if self.kind == "sqlite" else "%s"
            writer.execute(
                f"UPDATE meta SET value = {mark} WHERE key = 'schema_version'", (str(version),)
            )
        finally:
            writer.close()
