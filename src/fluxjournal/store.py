"""The SQLite store of ``fluxjournal ingest``: opening, checking and writing a database.

Every write is one transaction holding event rows, the job rows they change and so the
restart cursor (``jobs.nevents``): after any stop, the database holds whole batches only.
The SQL itself is in :mod:`fluxjournal.schema`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from fluxjournal import schema

#: How long a write waits for another process's write lock before it gives up.
LOCK_TIMEOUT = 10.0


class StoreError(Exception):
    """A database that cannot be used: one line that says which and why."""


class JobCursor(NamedTuple):
    """What the store holds of one job: how many eventlog entries, whether it is over,
    its submit time, and the time of its last entry when it is over."""

    nevents: int
    inactive: bool
    t_submit: float | None
    t_last: float | None


class StoredJob(NamedTuple):
    """One stored job as a restart takes it up: its entries as (timestamp, name,
    context) in position order, its jobspec and R."""

    entries: list[tuple]
    jobspec: str | None
    R: str | None


class Summary(NamedTuple):
    """What one instance's part of the database holds."""

    events: int
    jobs_by_state: list[tuple[str, int]]


class SQLiteStore:
    """One SQLite database file, created with the schema when it does not exist."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise StoreError(f"cannot create database {self.path}: no directory {directory}")
        try:
            self.db = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        try:
            for pragma in schema.SQLITE_PRAGMAS:
                self.db.execute(pragma)
            self._check_or_create()
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(self._explain(exc)) from None
        except StoreError:
            self.db.close()
            raise

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            return f"database {self.path}: {text}: another process is writing the same instance"
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
            return f"{self.path} is not an SQLite database (or it is corrupt)"
        if "locked" in text or "busy" in text:
            return f"database {self.path} is locked by another process (waited {LOCK_TIMEOUT:g} s)"
        if "readonly" in text or "unable to open" in text:
            return f"cannot write database {self.path}: {text}"
        return f"database {self.path}: {text}"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors inside, as a :class:`StoreError` that says what they mean."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back if it fails."""
        self.db.execute(schema.BEGIN_WRITE)
        try:
            yield
            self.db.execute(schema.COMMIT)
        except BaseException:
            if self.db.in_transaction:
                self.db.execute(schema.ROLLBACK)
            raise

    def _check_or_create(self) -> None:
        if self.db.execute(schema.SCHEMA_EXISTS).fetchone() is None:
            with self._transaction():
                # another process may have made it while this one waited for the lock
                if self.db.execute(schema.SCHEMA_EXISTS).fetchone() is None:
                    for statement in schema.sqlite_schema():
                        self.db.execute(statement)
        row = self.db.execute(schema.SCHEMA_VERSION_OF).fetchone()
        version = int(row[0]) if row is not None else 0
        self._check_version(version)

    def _check_version(self, version: int) -> None:
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version}, made by a newer "
                f"fluxjournal; this one knows version {schema.SCHEMA_VERSION}: upgrade fluxjournal"
            )
        if version < schema.SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version}; this fluxjournal "
                f"writes version {schema.SCHEMA_VERSION}"
            )

    def defer_indexes(self) -> bool:
        """True when the secondary indexes are to be built once a history is stored: they
        are dropped while the database holds no event (a first load builds them once at its
        end rather than row by row), and one that a stopped first load left out is built
        then too (:meth:`build_indexes`)."""
        with self._errors():
            if self.db.execute(schema.ANY_EVENT).fetchone() is None:
                for index in schema.INDEXES:
                    self.db.execute(schema.drop_index(index))
                return True
            return any(
                self.db.execute(schema.INDEX_NAMES, (index,)).fetchone() is None
                for index in schema.INDEXES
            )

    def build_indexes(self) -> None:
        """Make the secondary indexes that are missing."""
        with self._errors():
            for index in schema.INDEXES:
                self.db.execute(schema.create_index(index))

    def instance(self, name: str, source: str) -> int:
        """The number of the instance stored under ``name``, added if it is new (a known
        instance costs no write)."""
        with self._errors():
            row = self.db.execute(schema.INSTANCE_BY_NAME, (name,)).fetchone()
            if row is not None:
                return int(row[0])
            with self._transaction():
                row = self.db.execute(schema.INSTANCE_BY_NAME, (name,)).fetchone()
                if row is None:
                    insert = (name, source, time.time())
                    row = (self.db.execute(schema.INSERT_INSTANCE, insert).lastrowid,)
        return int(row[0])

    def job_cursors(self, instance: int) -> dict[int, JobCursor]:
        """Every stored job of ``instance``: what a restart needs to know of it."""
        with self._errors():
            rows = self.db.execute(schema.JOB_CURSORS, (instance,)).fetchall()
        return {
            jobid: JobCursor(n, bool(done), t_submit, t_last if done else None)
            for jobid, n, done, t_submit, t_last in rows
        }

    def active_jobs(self, instance: int) -> dict[int, StoredJob]:
        """The jobs of ``instance`` stored as not over, as a restart takes them up."""
        jobs: dict[int, StoredJob] = {}
        with self._errors():
            for jobid, jobspec, R in self.db.execute(schema.ACTIVE_JOBSPECS_AND_R, (instance,)):
                jobs[jobid] = StoredJob([], jobspec, R)
            for jobid, *entry in self.db.execute(schema.ACTIVE_JOB_EVENTS, (instance,)):
                jobs[jobid].entries.append(tuple(entry))
        return jobs

    def job(self, instance: int, jobid: int) -> StoredJob:
        """One stored job, as a restart takes it up."""
        with self._errors():
            entries = self.db.execute(schema.JOB_EVENTS, (instance, jobid)).fetchall()
            row = self.db.execute(schema.JOB_JOBSPEC_AND_R, (instance, jobid)).fetchone()
        jobspec, R = row if row is not None else (None, None)
        return StoredJob(entries, jobspec, R)

    def write(self, events: Sequence[tuple], jobs: Sequence[tuple]) -> None:
        """Store event rows and job rows in one transaction."""
        with self._errors(), self._transaction():
            if events:
                self.db.executemany(schema.INSERT_EVENTS, events)
            if jobs:
                self.db.executemany(schema.UPSERT_JOBS, jobs)

    def summary(self, instance: int) -> Summary:
        """How many events and jobs per state ``instance`` has here."""
        with self._errors():
            (events,) = self.db.execute(schema.COUNT_EVENTS, (instance,)).fetchone()
            states = self.db.execute(schema.COUNT_JOBS_BY_STATE, (instance,)).fetchall()
        return Summary(events, [tuple(r) for r in states])

    def close(self) -> None:
        """Close the connection; everything written is already committed."""
        self.db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
