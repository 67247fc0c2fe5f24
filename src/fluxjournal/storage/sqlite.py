"""The SQLite store of ``fluxjournal ingest``: one database file, the embedded default.

The SQL is :data:`fluxjournal.storage.schema.SQLITE`'s. Several processes may write one file (a
write waits up to :data:`LOCK_TIMEOUT` for another's); an instance's lease is a lock on
its byte range of a file beside the database (``PATH-lease``), which the kernel drops when
the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from fluxjournal._switch import core
from fluxjournal.storage import schema
from fluxjournal.storage.contract import (
    JobCursor,
    ResourceCursor,
    StoreBusy,
    StoredJob,
    StoreError,
    Summary,
    checked_version,
    finished_job_nodes,
    finished_record_nodes,
    job_nodes_of,
)
from fluxjournal.storage.queries import SQLITE as SQLITE_QUERIES
from fluxjournal.storage.queries import SQLITE_REPORT

#: How long a write waits for another process's write lock before it gives up.
LOCK_TIMEOUT = 10.0
#: The pause before the set-up of a database another process holds is tried again.
SET_UP_PAUSE = 0.02
#: The bytes of the lease file that each instance's lock covers; they hold its holder.
LEASE_SPAN = 128
LEASE_SUFFIX = "-lease"

SQL = schema.SQLITE

log = logging.getLogger("fluxjournal.ingest")
#: Why rows go through executemany, once said (under -v) per process.
_said_why: set[str] = set()


class SQLiteStore:
    """One SQLite database file, created with the schema when it does not exist."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.location = self.path
        #: the leases this store holds, given back when it closes
        self.leases: set[int] = set()
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise StoreError(f"cannot create database {self.path}: no directory {directory}")
        try:
            self.db = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        try:
            self._set_up()
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(self._explain(exc)) from None
        except StoreError:
            self.db.close()
            raise
        #: the compiled core's writer on this connection (rows bound and stepped in C,
        #: in the same transactions), or None: rows go through executemany
        self.writer: Any = self._open_writer()

    @property
    def writes_chunks(self) -> bool:
        """True when :meth:`write_chunks` takes rows without Python row tuples."""
        return self.writer is not None

    def _open_writer(self) -> Any:
        opener = getattr(core, "SQLiteWriter", None)
        if opener is None:
            return None  # the pure-Python twin has only executemany
        try:
            return opener.open(self.db, self.path, SQL.insert_events, SQL.upsert_jobs)
        except RuntimeError as exc:
            why = str(exc)
        except sqlite3.Error as exc:
            why = f"the statements do not prepare ({exc})"
        if why not in _said_why:
            _said_why.add(why)
            log.debug("SQLite rows go through the sqlite3 module's executemany: %s", why)
        return None

    def _set_up(self) -> None:
        """The pragmas, then the schema checked or made. Turning a new file to WAL needs
        it to itself, and SQLite refuses at once rather than wait when another process
        has it open (two ingesters starting on a new file): that is tried again."""
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                for pragma in schema.SQLITE_PRAGMAS:
                    self.db.execute(pragma)
                self._check_or_create()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(SET_UP_PAUSE)

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
        except sqlite3.OperationalError as exc:
            text = str(exc)
            busy = "locked" in text or "busy" in text
            raise (StoreBusy if busy else StoreError)(self._explain(exc)) from None
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back if it fails."""
        self.db.execute(schema.SQLITE_BEGIN_WRITE)
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def _check_or_create(self) -> None:
        if self._version() == schema.SCHEMA_VERSION:
            return
        with self._transaction():
            # another process may have made or upgraded it while this one waited
            version = self._version()
            if version is None:
                for statement in SQL.schema():
                    self.db.execute(statement)
            elif version < schema.SCHEMA_VERSION:
                for statement in SQL.upgrade(version):
                    self.db.execute(statement)
                if version < schema.JOB_NODES_SINCE:
                    ran = self.db.execute(SQL.jobs_that_ran).fetchall()
                    self.db.executemany(SQL.insert_job_nodes, job_nodes_of(ran))

    def _version(self) -> int | None:
        """The database's schema version; None when it has no schema yet. Refuses one
        made by a newer fluxjournal."""
        if self.db.execute(schema.SQLITE_SCHEMA_EXISTS).fetchone() is None:
            return None
        row = self.db.execute(SQL.schema_version_of).fetchone()
        return checked_version(int(row[0]) if row is not None else 0, f"database {self.path}")

    def defer_indexes(self) -> bool:
        """True when the secondary indexes are to be built once a history is stored: they
        are dropped while the database holds no event and this process writes no other
        instance into it (a first load builds them once at its end rather than row by
        row), and one that a stopped first load left out is built then too
        (:meth:`build_indexes`)."""
        with self._errors():
            alone = _lease_file(self.path).held <= self.leases
            if alone and self.db.execute(SQL.any_event).fetchone() is None:
                for index in schema.INDEXES:
                    self.db.execute(SQL.drop_index(index))
                return True
            return any(
                self.db.execute(schema.SQLITE_INDEX_EXISTS, (index,)).fetchone() is None
                for index in schema.INDEXES
            )

    def build_indexes(self) -> None:
        """Make the secondary indexes that are missing."""
        with self._errors():
            for index in schema.INDEXES:
                self.db.execute(SQL.create_index(index))

    def instance(
        self, name: str, source: str, parent: int | None = None, parent_jobid: int | None = None
    ) -> int:
        """The number of the instance stored under ``name``, added if it is new (a known
        instance costs no write); ``parent`` and ``parent_jobid``: the instance and job it
        runs as."""
        with self._errors():
            row = self.db.execute(SQL.instance_by_name, (name,)).fetchone()
            if row is not None:
                return int(row[0])
            with self._transaction():
                row = self.db.execute(SQL.instance_by_name, (name,)).fetchone()
                if row is None:
                    insert = (name, source, time.time(), parent, parent_jobid)
                    row = self.db.execute(SQL.insert_instance, insert).fetchone()
        return int(row[0])

    def try_lease(self, instance: int) -> str | None:
        """Take the lease of ``instance``; None when taken, else who holds it."""
        holder = _lease_file(self.path).take(instance)
        if holder is None:
            self.leases.add(instance)
        return holder

    def release_lease(self, instance: int) -> None:
        if instance in self.leases:
            self.leases.discard(instance)
            _lease_file(self.path).give_back(instance)

    def job_cursors(self, instance: int) -> dict[int, JobCursor]:
        """Every stored job of ``instance``: what a restart needs to know of it."""
        with self._errors():
            rows = self.db.execute(SQL.job_cursors, (instance,)).fetchall()
        return {
            jobid: JobCursor(n, bool(done), t_submit, t_last if done else None)
            for jobid, n, done, t_submit, t_last in rows
        }

    def active_jobs(self, instance: int) -> dict[int, StoredJob]:
        """The jobs of ``instance`` stored as not over, as a restart takes them up."""
        jobs: dict[int, StoredJob] = {}
        with self._errors():
            for jobid, jobspec, R in self.db.execute(SQL.active_jobspecs_and_r, (instance,)):
                jobs[jobid] = StoredJob([], jobspec, R)
            for jobid, *entry in self.db.execute(SQL.active_job_events, (instance,)):
                jobs[jobid].entries.append(tuple(entry))
        return jobs

    def job(self, instance: int, jobid: int) -> StoredJob:
        """One stored job, as a restart takes it up."""
        with self._errors():
            entries = self.db.execute(SQL.job_events, (instance, jobid)).fetchall()
            row = self.db.execute(SQL.job_jobspec_and_r, (instance, jobid)).fetchone()
        jobspec, R = row if row is not None else (None, None)
        return StoredJob(entries, jobspec, R)

    def write(self, events: Sequence[tuple], jobs: Sequence[tuple]) -> None:
        """Store event rows and job rows in one transaction."""
        with self._errors(), self._transaction():
            if events:
                self.db.executemany(SQL.insert_events, events)
            if jobs:
                self.db.executemany(SQL.upsert_jobs, jobs)
                nodes = finished_job_nodes(jobs)
                if nodes:
                    self.db.executemany(SQL.insert_job_nodes, nodes)

    def write_chunks(self, instance: int, chunks: Sequence[Any], jobs: Sequence[tuple]) -> None:
        """Store event rows and job rows in one transaction, through the compiled core's
        writer (:attr:`writes_chunks`): ``chunks`` are the compiled core's ``EventSpan``s
        or lists of event rows, ``jobs`` are (jobid, nevents, record, uri), the row being
        ``(instance, jobid, nevents, *record.fields(), uri)``."""
        with self._errors(), self._transaction():
            self.writer.write(instance, chunks, jobs)
            nodes = finished_record_nodes(instance, jobs)
            if nodes:
                self.db.executemany(SQL.insert_job_nodes, nodes)

    def resource_cursor(self, instance: int) -> ResourceCursor | None:
        """The last stored entry of ``instance``'s resource eventlog; None when none is."""
        with self._errors():
            row = self.db.execute(SQL.last_resource_event, (instance,)).fetchone()
        return None if row is None else ResourceCursor(*row)

    def write_resource_events(self, rows: Sequence[tuple]) -> None:
        """Store resource eventlog rows (of :data:`schema.RESOURCE_EVENT_COLUMNS`) in one
        transaction."""
        with self._errors(), self._transaction():
            self.db.executemany(SQL.insert_resource_events, rows)

    def summary(self, instance: int) -> Summary:
        """How many events and jobs per state ``instance`` has here."""
        with self._errors():
            (events,) = self.db.execute(SQL.count_events, (instance,)).fetchone()
            states = self.db.execute(SQL.count_jobs_by_state, (instance,)).fetchall()
            (resources,) = self.db.execute(SQL.count_resource_events, (instance,)).fetchone()
        return Summary(events, [tuple(r) for r in states], resources)

    def close(self) -> None:
        """Close the connection and give back the leases; everything written is committed."""
        for instance in list(self.leases):
            self.release_lease(instance)
        if self.writer is not None:
            self.writer.close()  # its statements, before the connection
            self.writer = None
        self.db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _LeaseFile:
    """The file beside a database whose byte ranges are the leases of its instances.

    POSIX locks belong to the process, so one open file per path serves every store of
    the process (closing any descriptor of the file would drop them all), and a lease
    this process already holds is refused here, before the kernel would grant it again.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open lease file {path}: {exc.strerror}") from None
        self.held: set[int] = set()

    def take(self, instance: int) -> str | None:
        offset = instance * LEASE_SPAN
        if instance in self.held:
            return f"this process (pid {self.pid})"
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, LEASE_SPAN, offset)
        except OSError:
            text = os.pread(self.fd, LEASE_SPAN, offset).rstrip(b"\0").decode("utf-8", "replace")
            return text or "another process"
        holder = f"pid {self.pid} on {socket.gethostname()}".encode()[:LEASE_SPAN]
        os.pwrite(self.fd, holder.ljust(LEASE_SPAN, b"\0"), offset)
        self.held.add(instance)
        return None

    def give_back(self, instance: int) -> None:
        if instance not in self.held:
            return
        offset = instance * LEASE_SPAN
        os.pwrite(self.fd, bytes(LEASE_SPAN), offset)
        fcntl.lockf(self.fd, fcntl.LOCK_UN, LEASE_SPAN, offset)
        self.held.discard(instance)


_lease_files: dict[str, _LeaseFile] = {}
_lease_files_lock = threading.Lock()


def _lease_file(database: str) -> _LeaseFile:
    """The process's lease file of ``database`` (a child of fork starts with none)."""
    path = os.path.realpath(database) + LEASE_SUFFIX
    with _lease_files_lock:
        lease = _lease_files.get(path)
        if lease is None or lease.pid != os.getpid():
            lease = _lease_files[path] = _LeaseFile(path)
        return lease


class SQLiteArchive:
    """An SQLite database opened to read only (``fluxjournal jobs``): it never writes,
    so that a user with read permission alone on the file and its ``-wal`` and ``-shm``
    files reads it while the ingester writes, as SQLite's read-only WAL rules allow."""

    statements = SQL
    queries = SQLITE_QUERIES
    report_queries = SQLITE_REPORT

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.location = self.path
        if not os.path.isfile(self.path):
            raise StoreError(f"no database at {self.path}")
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT, isolation_level=None)
            self.db.execute(schema.SQLITE_QUERY_ONLY)
            self.version = self._version()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot read database {self.path}: {exc}") from None
        except StoreError:
            self.close()
            raise

    def _version(self) -> int:
        if self.db.execute(schema.SQLITE_SCHEMA_EXISTS).fetchone() is None:
            raise StoreError(f"{self.path} holds no fluxjournal jobs table")
        row = self.db.execute(SQL.schema_version_of).fetchone()
        return checked_version(int(row[0]) if row is not None else 0, f"database {self.path}")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """The rows of a query."""
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read database {self.path}: {exc}") from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Inside, every query reads the database as it was at the first: one read
        transaction (WAL keeps its snapshot while the ingester commits beside it)."""
        try:
            self.db.execute(schema.SQLITE_BEGIN_READ)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read database {self.path}: {exc}") from None
        try:
            yield
        finally:
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

    def __enter__(self) -> SQLiteArchive:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
