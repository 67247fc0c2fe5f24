"""The PostgreSQL store of ``fluxjournal ingest``, through psycopg 3 (``fluxjournal[postgres]``).

The SQL is :data:`fluxjournal.storage.schema.POSTGRES`'s: the same tables, view and rule as the
SQLite store. A batch is one transaction: its event rows by binary ``COPY``, its job rows
by ``COPY`` into a table of the session's and one upsert, then the commit. An instance's
lease is a session-level advisory lock, which the server drops when the session ends,
however it ends.

A connection lost in the middle of the work (a server restart, a network cut) is opened
again, with a growing pause between tries, for up to :data:`RECONNECT_FOR` seconds; the
leases are taken again, and a batch whose commit was not confirmed is looked for in the
database (its jobs' ``nevents``) and written again only if it is not there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fluxjournal.storage import schema
from fluxjournal.storage.contract import (
    JobCursor,
    ResourceCursor,
    StoredJob,
    StoreError,
    Summary,
    checked_version,
    finished_job_nodes,
    job_nodes_of,
)
from fluxjournal.storage.queries import POSTGRES as POSTGRES_QUERIES
from fluxjournal.storage.queries import POSTGRES_REPORT

log = logging.getLogger("fluxjournal.store")  # named by what it reports on, as engine.log

SQL = schema.POSTGRES
#: How long a lost connection is tried again before the ingest gives up.
RECONNECT_FOR = 300.0
#: The first pause between two tries, and the longest.
RECONNECT_FIRST_PAUSE = 0.1
RECONNECT_LONGEST_PAUSE = 5.0
#: The pause before work that the server rolled back to break a deadlock is done again.
DEADLOCK_PAUSE = 0.05
#: How long opening a connection may take.
CONNECT_TIMEOUT = 10

_T = TypeVar("_T")


def _psycopg() -> Any:
    try:
        import psycopg
        import psycopg.types.json
    except ImportError:
        raise StoreError(
            "a PostgreSQL database needs psycopg 3: pip install 'fluxjournal[postgres]'"
        ) from None
    return psycopg


def redacted(url: str) -> str:
    """``url`` as messages show it: the same place, no password."""
    psycopg = _psycopg()
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreError(f"not a PostgreSQL connection string: {_first_line(exc)}") from None
    parts = [f"{key}={value}" for key, value in params.items() if key != "password"]
    return "postgresql: " + " ".join(parts) if parts else "postgresql (libpq's defaults)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _login_refused(text: str) -> bool:
    return any(
        words in text
        for words in ("authentication failed", "no pg_hba.conf entry", "password", "role")
    )


def _json_text(data: str | bytes | memoryview) -> str:
    return data if isinstance(data, str) else bytes(data).decode("utf-8")


class PostgresStore:
    """One PostgreSQL database, given the schema when it has none."""

    def __init__(self, url: str) -> None:
        self.psycopg = _psycopg()
        self.url = url
        self.location = redacted(url)
        #: the leases this store holds, taken again on a new connection
        self.leases: set[int] = set()
        self.db = self._connect()
        try:
            self._check_or_create()
        except BaseException:
            self.db.close()
            raise

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> Any:
        psycopg = self.psycopg
        try:
            db = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=f"fluxjournal ingest {socket.gethostname()}:{os.getpid()}",
            )
        except psycopg.OperationalError as exc:
            text = _first_line(exc)
            detail = str(exc)
            if _login_refused(detail) and "does not exist" not in detail:
                raise StoreError(f"{self.location}: the server refused the login: {text}") from None
            if "database" in detail and "does not exist" in detail:
                raise StoreError(
                    f"{self.location}: {text}: make it first (createdb, or CREATE DATABASE)"
                ) from None
            raise StoreError(f"cannot reach {self.location}: {text}") from None
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"not a PostgreSQL connection string: {_first_line(exc)}") from None
        # JSON columns read back as the text they hold, as the SQLite store gives them
        psycopg.types.json.set_json_loads(_json_text, db)
        #: whether this session has its table of staged job rows yet
        self.staged = False
        return db

    def _lost(self, exc: BaseException) -> bool:
        """True when ``exc`` means the connection is gone (the server went away)."""
        psycopg = self.psycopg
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and (
            self.db.closed or self.db.broken
        )

    def _reconnect(self) -> None:
        """Open the connection again, pausing longer after each failure, and take the
        leases again; a lease another ingester took meanwhile ends this one."""
        with contextlib.suppress(Exception):
            self.db.close()
        deadline = time.monotonic() + RECONNECT_FOR
        pause = RECONNECT_FIRST_PAUSE
        while True:
            try:
                self.db = self._connect()
                break
            except StoreError as exc:
                if time.monotonic() + pause > deadline:
                    raise StoreError(
                        f"{self.location}: the connection was lost and could not be opened "
                        f"again in {RECONNECT_FOR:g} s: {exc}"
                    ) from None
                log.warning("%s; trying again in %.1f s", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, RECONNECT_LONGEST_PAUSE)
        log.warning("%s: connected again", self.location)
        for instance in sorted(self.leases):
            holder = self._take_lease(instance)
            if holder is not None:
                self.leases.discard(instance)
                raise StoreError(
                    f"{self.location}: after the connection was lost, {holder} took over "
                    f"instance number {instance}; this ingester stops"
                )

    def _retrying(self, work: Callable[[], _T]) -> _T:
        """``work()``, done again on a new connection when the connection was lost, or
        again when the server ended it to break a deadlock: for work that may be repeated
        (reads, and writes that check first)."""
        while True:
            try:
                with self._errors():
                    return work()
            except _ConnectionLost:
                self._reconnect()
            except _Deadlock:
                time.sleep(DEADLOCK_PAUSE)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg's errors inside as a :class:`StoreError` that says what they mean, but
        a lost connection, as :class:`_ConnectionLost`."""
        psycopg = self.psycopg
        try:
            yield
        except psycopg.Error as exc:
            if self._lost(exc):
                log.warning("%s: the connection was lost: %s", self.location, _first_line(exc))
                raise _ConnectionLost from None
            if isinstance(exc, psycopg.errors.DeadlockDetected):
                # a writer that makes or drops indexes while another writes or reads
                log.debug("%s: %s; again", self.location, _first_line(exc))
                raise _Deadlock from None
            if isinstance(exc, psycopg.errors.UniqueViolation):
                raise StoreError(
                    f"{self.location}: {_first_line(exc)}: another process is writing the "
                    "same instance"
                ) from None
            raise StoreError(f"{self.location}: {_first_line(exc)}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One transaction: committed when the block ends, rolled back if it fails."""
        with self.db.transaction():
            yield self.db

    # -- the schema ----------------------------------------------------------------------

    def _check_or_create(self) -> None:
        def check() -> None:
            if self._version() == schema.SCHEMA_VERSION:
                return
            with self._transaction() as db:
                db.execute(schema.POSTGRES_SCHEMA_LOCK)
                version = self._version()  # another process may have made it meanwhile
                statements = SQL.schema() if version is None else SQL.upgrade(version)
                if version != schema.SCHEMA_VERSION:
                    for statement in statements:
                        db.execute(statement)
                if version is not None and version < schema.JOB_NODES_SINCE:
                    ran = db.execute(SQL.jobs_that_ran).fetchall()
                    with db.cursor() as cursor:
                        cursor.executemany(SQL.insert_job_nodes, job_nodes_of(ran))

        self._retrying(check)

    def _version(self) -> int | None:
        (exists,) = self.db.execute(schema.POSTGRES_SCHEMA_EXISTS).fetchone()
        if not exists:
            return None
        row = self.db.execute(SQL.schema_version_of).fetchone()
        return checked_version(int(row[0]) if row is not None else 0, self.location)

    def defer_indexes(self) -> bool:
        """As the SQLite store's: True when the secondary indexes are to be built once a
        history is stored (dropped while the database holds no event and no other
        ingester writes it: several loads at once keep them, which costs them less than
        waiting for each other's index builds)."""

        def check() -> bool:
            empty = self.db.execute(SQL.any_event).fetchone() is None
            if empty and not self.db.execute(schema.POSTGRES_OTHER_LEASES).fetchone()[0]:
                with self._transaction() as db:
                    db.execute(schema.POSTGRES_SCHEMA_LOCK)  # one writer's DDL at a time
                    db.execute(schema.POSTGRES_LOCK_TO_DROP_INDEXES)
                    for index in schema.INDEXES:
                        db.execute(SQL.drop_index(index))
                return True
            return self._indexes_missing()

        return self._retrying(check)

    def _indexes_missing(self) -> bool:
        return any(
            self.db.execute(schema.POSTGRES_INDEX_EXISTS, (index,)).fetchone() is None
            for index in schema.INDEXES
        )

    def build_indexes(self) -> None:
        def build() -> None:
            if not self._indexes_missing():
                return  # another writer made them: no lock to wait for
            with self._transaction() as db:
                db.execute(schema.POSTGRES_SCHEMA_LOCK)  # one writer's DDL at a time
                db.execute(schema.POSTGRES_LOCK_TO_MAKE_INDEXES)
                for index in schema.INDEXES:
                    db.execute(SQL.create_index(index))

        self._retrying(build)

    # -- instances and leases ------------------------------------------------------------

    def instance(
        self, name: str, source: str, parent: int | None = None, parent_jobid: int | None = None
    ) -> int:
        """The number of the instance stored under ``name``, added if it is new."""

        def find_or_add() -> int:
            row = self.db.execute(SQL.instance_by_name, (name,)).fetchone()
            if row is not None:
                return int(row[0])
            with self._transaction() as db:
                db.execute(schema.POSTGRES_SCHEMA_LOCK)  # one adds it, the other finds it
                row = db.execute(SQL.instance_by_name, (name,)).fetchone()
                if row is None:
                    insert = (name, source, time.time(), parent, parent_jobid)
                    row = db.execute(SQL.insert_instance, insert).fetchone()
            return int(row[0])

        return self._retrying(find_or_add)

    def try_lease(self, instance: int) -> str | None:
        """Take the lease of ``instance``; None when taken, else who holds it."""
        holder = self._retrying(lambda: self._take_lease(instance))
        if holder is None:
            self.leases.add(instance)
        return holder

    def _take_lease(self, instance: int) -> str | None:
        if instance in self.leases:
            return "this process"
        (taken,) = self.db.execute(schema.POSTGRES_TRY_LEASE, (instance,)).fetchone()
        if taken:
            return None
        row = self.db.execute(schema.POSTGRES_LEASE_HOLDER, (instance,)).fetchone()
        if row is None:
            return "another session"
        pid, program, client = row
        where = f" from {client}" if client is not None else ""
        return f"{program or 'a session'} (server pid {pid}{where})"

    def release_lease(self, instance: int) -> None:
        if instance not in self.leases:
            return
        self.leases.discard(instance)
        if not (self.db.closed or self.db.broken):
            with contextlib.suppress(self.psycopg.Error):
                self.db.execute(schema.POSTGRES_RELEASE_LEASE, (instance,))

    # -- reading -------------------------------------------------------------------------

    def job_cursors(self, instance: int) -> dict[int, JobCursor]:
        """Every stored job of ``instance``: what a restart needs to know of it."""
        rows = self._retrying(lambda: self.db.execute(SQL.job_cursors, (instance,)).fetchall())
        return {
            jobid: JobCursor(n, bool(done), t_submit, t_last if done else None)
            for jobid, n, done, t_submit, t_last in rows
        }

    def active_jobs(self, instance: int) -> dict[int, StoredJob]:
        """The jobs of ``instance`` stored as not over, as a restart takes them up."""

        def read() -> dict[int, StoredJob]:
            jobs: dict[int, StoredJob] = {}
            for jobid, jobspec, R in self.db.execute(SQL.active_jobspecs_and_r, (instance,)):
                jobs[jobid] = StoredJob([], jobspec, R)
            for jobid, *entry in self.db.execute(SQL.active_job_events, (instance,)):
                jobs[jobid].entries.append(tuple(entry))
            return jobs

        return self._retrying(read)

    def job(self, instance: int, jobid: int) -> StoredJob:
        """One stored job, as a restart takes it up."""

        def read() -> StoredJob:
            entries = self.db.execute(SQL.job_events, (instance, jobid)).fetchall()
            row = self.db.execute(SQL.job_jobspec_and_r, (instance, jobid)).fetchone()
            return StoredJob(entries, *(row if row is not None else (None, None)))

        return self._retrying(read)

    def summary(self, instance: int) -> Summary:
        def read() -> Summary:
            (events,) = self.db.execute(SQL.count_events, (instance,)).fetchone()
            states = self.db.execute(SQL.count_jobs_by_state, (instance,)).fetchall()
            (resources,) = self.db.execute(SQL.count_resource_events, (instance,)).fetchone()
            return Summary(events, [tuple(r) for r in states], resources)

        return self._retrying(read)

    def resource_cursor(self, instance: int) -> ResourceCursor | None:
        """The last stored entry of ``instance``'s resource eventlog; None when none is."""

        def read() -> ResourceCursor | None:
            row = self.db.execute(SQL.last_resource_event, (instance,)).fetchone()
            return None if row is None else ResourceCursor(*row)

        return self._retrying(read)

    # -- writing -------------------------------------------------------------------------

    def write(self, events: Sequence[tuple], jobs: Sequence[tuple]) -> None:
        """Store event rows and job rows in one transaction. When it fails with the
        connection lost or is rolled back to break a deadlock, it is tried again, on a new
        connection for the first, unless the database shows the batch committed (a commit
        whose answer was lost)."""
        tried = False

        def attempt() -> None:
            nonlocal tried
            if tried and self._committed(jobs):
                return
            tried = True
            self._copy(events, jobs)

        self._retrying(attempt)

    def _copy(self, events: Sequence[tuple], jobs: Sequence[tuple]) -> None:
        with self._transaction() as db, db.cursor() as cursor:
            if events:
                with cursor.copy(schema.POSTGRES_COPY_EVENTS) as copy:
                    copy.set_types(schema.POSTGRES_EVENT_TYPES)
                    write_row = copy.write_row
                    for row in events:
                        write_row(row)
            if jobs:
                if not self.staged:
                    cursor.execute(schema.POSTGRES_CREATE_STAGED_JOBS)
                    self.staged = True
                with cursor.copy(schema.POSTGRES_COPY_JOBS) as copy:
                    copy.set_types(schema.POSTGRES_JOB_TYPES)
                    write_row = copy.write_row
                    for row in jobs:
                        write_row(row)
                cursor.execute(schema.POSTGRES_UPSERT_STAGED_JOBS)
                nodes = finished_job_nodes(jobs)
                if nodes:
                    cursor.executemany(SQL.insert_job_nodes, nodes)

    def write_resource_events(self, rows: Sequence[tuple]) -> None:
        """Store resource eventlog rows (of :data:`schema.RESOURCE_EVENT_COLUMNS`, one
        instance's, in position order) in one transaction; tried again as :meth:`write`
        is, unless the database shows the last of them stored (a commit whose answer was
        lost)."""
        if not rows:
            return
        tried = False
        instance, last = rows[-1][0], rows[-1][1]

        def attempt() -> None:
            nonlocal tried
            if tried:
                row = self.db.execute(SQL.last_resource_event, (instance,)).fetchone()
                if row is not None and row[0] >= last:
                    return
            tried = True
            with self._transaction() as db, db.cursor() as cursor:
                cursor.executemany(SQL.insert_resource_events, rows)

        self._retrying(attempt)

    def _committed(self, jobs: Sequence[tuple]) -> bool:
        """True when the database holds the batch of these job rows: a batch is one
        transaction and changes the ``nevents`` of every job it holds."""
        if not jobs:
            return False
        instance = jobs[0][0]
        ids = [row[1] for row in jobs]
        stored = dict(self.db.execute(schema.POSTGRES_NEVENTS_OF, (instance, ids)).fetchall())
        return all(stored.get(row[1]) == row[2] for row in jobs)

    def close(self) -> None:
        """Close the connection (and so drop its leases); everything written is committed."""
        self.leases.clear()
        self.db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _ConnectionLost(Exception):
    """The connection went away inside :meth:`PostgresStore._errors`."""


class _Deadlock(Exception):
    """The server rolled back the transaction inside :meth:`PostgresStore._errors` to
    break a deadlock."""


class PostgresArchive:
    """A PostgreSQL database opened to read only (``fluxjournal jobs``): a role with
    SELECT on its tables is all it needs."""

    statements = SQL
    queries = POSTGRES_QUERIES
    report_queries = POSTGRES_REPORT

    def __init__(self, url: str) -> None:
        psycopg = _psycopg()
        self.psycopg = psycopg
        self.location = redacted(url)
        try:
            self.db = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=f"fluxjournal jobs {socket.gethostname()}:{os.getpid()}",
            )
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot reach {self.location}: {_first_line(exc)}") from None
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"not a PostgreSQL connection string: {_first_line(exc)}") from None
        psycopg.types.json.set_json_loads(_json_text, self.db)
        try:
            self.db.execute(schema.POSTGRES_READ_ONLY)
            (exists,) = self.db.execute(schema.POSTGRES_SCHEMA_EXISTS).fetchone()
            if not exists:
                raise StoreError(f"{self.location} holds no fluxjournal jobs table")
            row = self.db.execute(SQL.schema_version_of).fetchone()
            self.version = checked_version(int(row[0]) if row else 0, self.location)
        except psycopg.Error as exc:
            self.db.close()
            raise StoreError(f"cannot read {self.location}: {_first_line(exc)}") from None
        except StoreError:
            self.db.close()
            raise

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """The rows of a query."""
        try:
            return self.db.execute(sql, params).fetchall()
        except self.psycopg.Error as exc:
            raise StoreError(f"cannot read {self.location}: {_first_line(exc)}") from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Inside, every query reads the database as it was at the first (one repeatable
        read transaction)."""
        try:
            with self.db.transaction():
                self.db.execute(schema.POSTGRES_SNAPSHOT)
                yield
        except self.psycopg.Error as exc:
            raise StoreError(f"cannot read {self.location}: {_first_line(exc)}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PostgresArchive:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
