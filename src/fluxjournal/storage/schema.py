"""The database schema of ``fluxjournal ingest``, and every SQL statement it runs.

The tables are described once, as data (:data:`TABLES`, :data:`INDEXES`,
:data:`ACCOUNTING_VIEW`), and the SQL of each store is made from that description by its
:class:`Dialect` (:data:`SQLITE`, :data:`POSTGRES`), so that both stores hold the same
columns in the same order. What the read side asks of these tables (``fluxjournal jobs``,
``fluxjournal report``) is in :mod:`fluxjournal.storage.queries`; nothing else in
fluxjournal writes SQL.

- ``meta``: the schema version (``schema_version``), checked on open.
- ``instances``: one row per Flux instance stored here, under a name that survives the
  instance's restarts; ``instance`` is the number the other tables use. An instance that
  ran as a job of another (``flux batch``, ``flux alloc``) has that instance and job in
  ``parent`` and ``parent_jobid``.
- ``events``: one row per eventlog entry: the entry's position in its job's eventlog, its
  exact timestamp, name and context (JSON text).
- ``jobs``: one row per job, as ``flux jobs -a --json`` reports it, kept up to date as its
  events arrive; ``nevents`` is how many of the job's eventlog entries ``events`` holds,
  written in the same transaction as those rows: it is the restart cursor. ``t_free`` is
  the time of the job's ``free`` entry, where its allocation ended (version 5), which
  job-list does not report.
- ``job_nodes``: which job ran on which node: a row per rank of each inactive job's
  allocation, with the node's name, written with the job's last row (version 3), so that
  ``fluxjournal jobs -i node17`` reads an index rather than every job's R; with the span
  the job held the node (``t_run``, its ``alloc``, to ``t_release``, its ``free`` or,
  without one, its ``clean``: version 5), so that a report's node-hours are one ordered
  read of an index.
- ``resource_events``: one row per entry of each instance's resource eventlog (the
  ``resource.journal``: ``resource-define`` with the R its response carried, ``online``,
  ``offline``, ``drain``, ``undrain``, ``restart``, ...), ``position`` being the entry's
  index in that eventlog, which the journal sends whole from its start on every request:
  a restart skips as many entries as are stored (version 4).
- ``accounting_jobs``: a view with the columns of flux-accounting's ``jobs`` table, for
  the inactive jobs that ran.
"""

from __future__ import annotations

from typing import NamedTuple

#: Bumped whenever a table, column, index or view changes; a database with a higher
#: version was made by a newer fluxjournal and is refused, one with a lower version is
#: brought up to this one (:data:`ADDED_COLUMNS`).
SCHEMA_VERSION = 5


class Column(NamedTuple):
    """A column: its name, the kind of value it holds (a key of :attr:`Dialect.types`),
    and whether it may be NULL (a job-list field that ``flux jobs`` leaves out is)."""

    name: str
    kind: str
    required: bool = False


EVENT_COLUMNS = (
    Column("instance", "int", True),
    Column("jobid", "int", True),
    Column("position", "int", True),
    Column("timestamp", "real", True),
    Column("name", "text", True),
    Column("context", "json", True),
)

#: job-list's fields in the names and forms of ``flux jobs -a --json`` (absent there:
#: NULL here), in the order of ``JobRecord.fields()``.
JOB_LIST_COLUMNS = (
    Column("userid", "int"),
    Column("urgency", "int"),
    Column("priority", "int"),
    Column("state", "text"),
    Column("status", "text"),
    Column("result", "text"),
    Column("success", "bool"),
    Column("waitstatus", "int"),
    Column("returncode", "int"),
    Column("exception_occurred", "bool"),
    Column("exception_type", "text"),
    Column("exception_severity", "int"),
    Column("exception_note", "text"),
    Column("t_submit", "real"),
    Column("t_depend", "real"),
    Column("t_priority", "real"),
    Column("t_sched", "real"),
    Column("t_run", "real"),
    Column("t_cleanup", "real"),
    Column("t_inactive", "real"),
    Column("runtime", "real"),
    Column("duration", "real"),
    Column("expiration", "real"),
    Column("ntasks", "int"),
    Column("ncores", "int"),
    Column("nnodes", "int"),
    Column("ranks", "text"),
    Column("nodelist", "text"),
    Column("name", "text"),
    Column("cwd", "text"),
    Column("queue", "text"),
    Column("project", "text"),
    Column("bank", "text"),
    Column("dependencies", "json"),
    Column("jobspec", "json"),
    Column("R", "json"),
)

#: The jobs table: the instance and job id, the restart cursor, job-list's fields, the
#: URI of the Flux instance the job is (``flux jobs`` reports it from the job's ``uri``
#: memo), added in version 2, and the time of the job's ``free`` entry, added in version 5.
#: A row is ``(instance, id, nevents, *JobRecord.fields(), uri, JobRecord.t_free)``.
JOB_COLUMNS = (
    Column("instance", "int", True),
    Column("id", "int", True),
    Column("nevents", "int", True),
    *JOB_LIST_COLUMNS,
    Column("uri", "text"),
    Column("t_free", "real"),
)

#: The names of job-list's fields, as ``JobRecord.fields()`` gives their values.
JOB_FIELDS = tuple(column.name for column in JOB_LIST_COLUMNS)
#: Where ``JobRecord.fields()`` holds a job's ranks and nodes.
FIELD_RANKS, FIELD_NODELIST = JOB_FIELDS.index("ranks"), JOB_FIELDS.index("nodelist")
#: Where ``JobRecord.fields()`` holds the start of a job's allocation and its end.
FIELD_T_RUN, FIELD_T_INACTIVE = JOB_FIELDS.index("t_run"), JOB_FIELDS.index("t_inactive")
#: Where a job row (in the order of :data:`JOB_COLUMNS`) holds what ``job_nodes`` is
#: made of.
(
    JOB_ROW_INSTANCE,
    JOB_ROW_ID,
    JOB_ROW_STATE,
    JOB_ROW_RANKS,
    JOB_ROW_NODELIST,
    JOB_ROW_T_RUN,
    JOB_ROW_T_INACTIVE,
    JOB_ROW_T_FREE,
) = (
    [column.name for column in JOB_COLUMNS].index(name)
    for name in ("instance", "id", "state", "ranks", "nodelist", "t_run", "t_inactive", "t_free")
)

INSTANCE_COLUMNS = (
    Column("instance", "serial", True),
    Column("name", "text", True),
    Column("source", "text"),
    Column("first_seen", "real"),
    Column("parent", "int"),
    Column("parent_jobid", "int"),
)

META_COLUMNS = (Column("key", "text", True), Column("value", "text", True))

#: Where a job's allocation ended, as SQL over a jobs row: its ``free`` entry, or its
#: ``clean`` without one (``job_nodes.t_release``; ``contract._released`` says the
#: same in Python).
RELEASE = "COALESCE(t_free, t_inactive)"
#: A job's node, and the span it held it (version 5).
JOB_NODE_COLUMNS = (
    Column("instance", "int", True),
    Column("jobid", "int", True),
    Column("rank", "int", True),
    Column("host", "text"),
    Column("t_run", "real"),
    Column("t_release", "real"),
)

#: The resource eventlog's entries: the context as JSON text (``{}`` when the entry has
#: none), and the R that a ``resource-define`` response carried (NULL on the others).
RESOURCE_EVENT_COLUMNS = (
    Column("instance", "int", True),
    Column("position", "int", True),
    Column("timestamp", "real", True),
    Column("name", "text", True),
    Column("context", "json", True),
    Column("R", "json"),
)

TABLES = {
    "meta": (META_COLUMNS, ("key",)),
    "instances": (INSTANCE_COLUMNS, ("instance",)),
    "events": (EVENT_COLUMNS, ("instance", "jobid", "position")),
    "jobs": (JOB_COLUMNS, ("instance", "id")),
    "job_nodes": (JOB_NODE_COLUMNS, ("instance", "jobid", "rank")),
    "resource_events": (RESOURCE_EVENT_COLUMNS, ("instance", "position")),
}
#: The tables each schema version added.
ADDED_TABLES = {3: ("job_nodes",), 4: ("resource_events",)}
#: The version that added ``job_nodes``: an older database's finished jobs fill it in.
JOB_NODES_SINCE = 3

#: The columns each schema version added, the last in their tables: a database of an
#: older version gets them (NULL in the rows it has) when it is opened.
ADDED_COLUMNS = {
    2: (("instances", "parent"), ("instances", "parent_jobid"), ("jobs", "uri")),
    5: (("jobs", "t_free"), ("job_nodes", "t_run"), ("job_nodes", "t_release")),
}
#: The version that added the spans of allocations: an older database's jobs get theirs
#: from their stored ``free`` entries.
SPANS_SINCE = 5

#: Indexes for the usual questions: a user's jobs, jobs by state, by time; events by time.
INDEXES = {
    "jobs_userid": ("jobs", ("instance", "userid", "t_submit")),
    "jobs_state": ("jobs", ("instance", "state")),
    "jobs_t_submit": ("jobs", ("instance", "t_submit")),
    "jobs_t_inactive": ("jobs", ("instance", "t_inactive")),
    "events_timestamp": ("events", ("instance", "timestamp")),
    # version 3: the orders of ``fluxjournal jobs``, newest inactive first, whole or
    # for one user, name or queue; the active jobs by state; the jobs of a node
    "jobs_by_state": ("jobs", ("state",)),
    "jobs_inactive_order": ("jobs", ("t_inactive", "id")),
    "jobs_user_order": ("jobs", ("userid", "t_inactive", "id")),
    "jobs_name_order": ("jobs", ("name", "t_inactive", "id")),
    "jobs_queue_order": ("jobs", ("queue", "t_inactive", "id")),
    "job_nodes_host": ("job_nodes", ("host",)),
    "job_nodes_rank": ("job_nodes", ("rank",)),
    # version 5: each rank's spans in time order, whole in the index (node-hours)
    "job_nodes_spans": ("job_nodes", ("instance", "rank", "t_run", "t_release")),
}
#: The indexes of the resource eventlog (version 4): kept while a history loads, unlike
#: :data:`INDEXES` (the table is small, and written by a thread of its own meanwhile).
RESOURCE_INDEXES = {
    "resource_events_timestamp": ("resource_events", ("instance", "timestamp")),
}
#: The index of the instances that ran as jobs of an instance, added in version 2.
CHILD_INDEX = "CREATE INDEX IF NOT EXISTS instances_parent ON instances (parent, parent_jobid)"

#: flux-accounting's ``jobs`` table (``id, userid, t_submit, t_run, t_inactive, ranks, R,
#: jobspec, project, bank, requested_duration, actual_duration``), for inactive jobs that
#: ran: the duration asked for in the jobspec and the time from start to inactive.
ACCOUNTING_VIEW = """CREATE VIEW accounting_jobs AS
SELECT id, userid, t_submit, t_run, t_inactive, ranks, R, jobspec, project, bank,
       duration AS requested_duration, t_inactive - t_run AS actual_duration
FROM jobs
WHERE state = 'INACTIVE' AND t_run IS NOT NULL"""

#: The key of PostgreSQL's advisory locks that fluxjournal takes: the first of the two
#: numbers, the second being the instance (a lease) or :data:`SCHEMA_LOCK_KEY`.
LOCK_CLASS = 0x464A  # "FJ"
#: The second number of the lock held while the schema is made or brought up to date.
SCHEMA_LOCK_KEY = -1


class Dialect(NamedTuple):
    """What differs between the stores' SQL: how kinds of values are declared, the mark of
    a parameter, the join that keeps its tables in the order written, and the tables a
    store keeps clustered on their primary key."""

    name: str
    types: dict[str, str]
    mark: str
    ordered_join: str
    clustered: tuple[str, ...] = ()
    #: the larger and the smaller of two values
    greatest: str = "GREATEST"
    least: str = "LEAST"
    #: the whole part of a number that is not negative, as an integer
    whole: str = "FLOOR({})"
    #: whether it has ``percentile_cont(...) WITHIN GROUP (ORDER BY ...)``
    ordered_set_aggregates: bool = False


SQLITE_DIALECT = Dialect(
    "sqlite",
    # JSON as text, booleans as 0/1; "serial": a rowid, numbered on insert
    {
        "int": "INTEGER",
        "real": "REAL",
        "text": "TEXT",
        "json": "TEXT",
        "bool": "INTEGER",
        "serial": "INTEGER",
    },
    "?",
    # SQLite's planner takes the tables of a CROSS JOIN in the order written
    "CROSS JOIN",
    # small rows, looked up by key
    ("events",),
    # scalar MAX and MIN of two values; CAST truncates, which is the floor of x >= 0 (the
    # math functions FLOOR is one of are not in every SQLite)
    "MAX",
    "MIN",
    "CAST({} AS INTEGER)",
)

POSTGRES_DIALECT = Dialect(
    "postgresql",
    # json keeps the text as written (jsonb would reorder it); names are left unquoted,
    # so that a query reads the same on both stores (PostgreSQL folds R to r)
    {
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
        "text": "TEXT",
        "json": "JSON",
        "bool": "BOOLEAN",
        "serial": "BIGINT GENERATED BY DEFAULT AS IDENTITY",
    },
    "%s",
    "JOIN",
    ordered_set_aggregates=True,
)


def _names(columns: tuple[Column, ...]) -> str:
    return ", ".join(c.name for c in columns)


class Statements:
    """Every statement of one store, made from the tables' description in its dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        m = dialect.mark
        self.insert_events = self._insert("events")
        self.upsert_jobs = self._upsert("jobs", self._insert("jobs"))
        self.insert_job_nodes = self._insert("job_nodes") + " ON CONFLICT DO NOTHING"
        #: The inactive jobs that ran, with their ranks and nodes: ``job_nodes`` filled in
        #: for a database of a version before it.
        self.jobs_that_ran = (
            f"SELECT instance, id, ranks, nodelist, t_run, {RELEASE} FROM jobs"
            " WHERE state = 'INACTIVE' AND ranks IS NOT NULL"
        )
        #: The spans of allocations for a database of a version before them: each job's
        #: ``free`` from its stored entries (the last, by position: the key's order), then
        #: each of its nodes' span.
        self.fill_spans = (
            "UPDATE jobs SET t_free = (SELECT e.timestamp FROM events e"
            " WHERE e.instance = jobs.instance AND e.jobid = jobs.id AND e.name = 'free'"
            " ORDER BY e.position DESC LIMIT 1) WHERE t_run IS NOT NULL",
            "UPDATE job_nodes SET"
            " t_run = (SELECT j.t_run FROM jobs j"
            " WHERE j.instance = job_nodes.instance AND j.id = job_nodes.jobid),"
            f" t_release = (SELECT {RELEASE} FROM jobs j"
            " WHERE j.instance = job_nodes.instance AND j.id = job_nodes.jobid)",
        )
        self.instance_by_name = f"SELECT instance FROM instances WHERE name = {m}"
        self.insert_instance = (
            "INSERT INTO instances (name, source, first_seen, parent, parent_jobid)"
            f" VALUES ({m}, {m}, {m}, {m}, {m}) RETURNING instance"
        )
        self.schema_version_of = "SELECT value FROM meta WHERE key = 'schema_version'"
        self.set_schema_version = (
            f"UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'"
        )
        #: What a restart needs of each stored job: how many eventlog entries are stored,
        #: whether it is over, its submit time (to tell a job from another instance's of
        #: the same id) and, for a job that is over, the time of its last entry (``clean``).
        self.job_cursors = (
            "SELECT id, nevents, state = 'INACTIVE', t_submit, t_inactive"
            f" FROM jobs WHERE instance = {m}"
        )
        #: The stored entries of the jobs that were not over when stored, in position
        #: order, and their jobspec and R: a restart takes these jobs up where they were.
        self.active_job_events = (
            "SELECT e.jobid, e.timestamp, e.name, e.context"
            f" FROM jobs j {dialect.ordered_join} events e"
            " ON e.instance = j.instance AND e.jobid = j.id"
            f" WHERE j.instance = {m} AND j.state != 'INACTIVE' ORDER BY e.jobid, e.position"
        )
        self.active_jobspecs_and_r = (
            f"SELECT id, jobspec, R FROM jobs WHERE instance = {m} AND state != 'INACTIVE'"
        )
        self.any_event = "SELECT 1 FROM events LIMIT 1"
        self.job_events = (
            "SELECT timestamp, name, context FROM events"
            f" WHERE instance = {m} AND jobid = {m} ORDER BY position"
        )
        self.job_jobspec_and_r = f"SELECT jobspec, R FROM jobs WHERE instance = {m} AND id = {m}"
        self.count_events = f"SELECT COUNT(*) FROM events WHERE instance = {m}"
        self.insert_resource_events = self._insert("resource_events")
        #: The last stored entry of an instance's resource eventlog: where a restart
        #: takes the journal up, and what the journal's entry there must be.
        self.last_resource_event = (
            "SELECT position, timestamp, name FROM resource_events"
            f" WHERE instance = {m} ORDER BY position DESC LIMIT 1"
        )
        self.count_resource_events = f"SELECT COUNT(*) FROM resource_events WHERE instance = {m}"
        self.count_jobs_by_state = (
            f"SELECT state, COUNT(*) FROM jobs WHERE instance = {m} GROUP BY state ORDER BY state"
        )

    def _insert(self, table: str) -> str:
        columns, _ = TABLES[table]
        marks = ", ".join(self.dialect.mark for _ in columns)
        return f"INSERT INTO {table} ({_names(columns)}) VALUES ({marks})"

    @staticmethod
    def _upsert(table: str, insert: str) -> str:
        columns, key = TABLES[table]
        updates = ", ".join(f"{c.name} = excluded.{c.name}" for c in columns if c.name not in key)
        return f"{insert} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"

    def create_table(self, table: str) -> str:
        columns, key = TABLES[table]
        types = self.dialect.types
        lines = [f"{c.name} {types[c.kind]}{' NOT NULL' if c.required else ''}" for c in columns]
        lines.append(f"PRIMARY KEY ({', '.join(key)})")
        suffix = " WITHOUT ROWID" if table in self.dialect.clustered else ""
        return f"CREATE TABLE {table} (\n  " + ",\n  ".join(lines) + "\n)" + suffix

    @staticmethod
    def create_index(index: str) -> str:
        """The statement that makes one of :data:`INDEXES` or :data:`RESOURCE_INDEXES` if it
        is missing."""
        table, columns = INDEXES[index] if index in INDEXES else RESOURCE_INDEXES[index]
        return f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({', '.join(columns)})"

    @staticmethod
    def drop_index(index: str) -> str:
        return f"DROP INDEX IF EXISTS {index}"

    def add_column(self, table: str, name: str) -> str:
        """The statement that adds one column of the description to an older database."""
        (column,) = (c for c in TABLES[table][0] if c.name == name)
        return f"ALTER TABLE {table} ADD COLUMN {name} {self.dialect.types[column.kind]}"

    def schema(self) -> list[str]:
        """The statements that make an empty database, in order."""
        statements = [self.create_table(table) for table in TABLES]
        statements += [self.create_index(index) for index in (*INDEXES, *RESOURCE_INDEXES)]
        statements.append("CREATE UNIQUE INDEX instances_name ON instances (name)")
        statements.append(CHILD_INDEX)
        statements.append(ACCOUNTING_VIEW)
        statements.append(
            f"INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')"
        )
        return statements

    def upgrade(self, version: int) -> list[str]:
        """The statements that bring a database of ``version`` up to :data:`SCHEMA_VERSION`."""
        # a table made here is made whole: only the tables the database has grow
        made = {
            table
            for since in range(version + 1, SCHEMA_VERSION + 1)
            for table in ADDED_TABLES.get(since, ())
        }
        statements = [
            self.add_column(table, name)
            for since in range(version + 1, SCHEMA_VERSION + 1)
            for table, name in ADDED_COLUMNS.get(since, ())
            if table not in made
        ]
        statements += [
            self.create_table(table)
            for since in range(version + 1, SCHEMA_VERSION + 1)
            for table in ADDED_TABLES.get(since, ())
        ]
        if version < SPANS_SINCE:
            statements += self.fill_spans
        statements.append(CHILD_INDEX)
        statements += [self.create_index(index) for index in (*INDEXES, *RESOURCE_INDEXES)]
        statements.append(self.set_schema_version)
        return statements


SQLITE = Statements(SQLITE_DIALECT)
POSTGRES = Statements(POSTGRES_DIALECT)

# -- what only SQLite runs --------------------------------------------------------------

#: Set on every connection: write-ahead logging (readers never block the writer), a commit
#: that is on disk when it returns, so that a power cut loses no committed batch, and a
#: page cache of 64 MiB (negative: KiB), so that a big batch is not spilled and read back.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA cache_size = -65536",
)
SQLITE_SCHEMA_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
#: The names of the indexes: a first load of a whole history drops them and builds them
#: once at its end (one sorted pass each) rather than row by row.
SQLITE_INDEX_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"
SQLITE_BEGIN_WRITE = "BEGIN IMMEDIATE"
#: A read transaction: its queries see one snapshot of the database.
SQLITE_BEGIN_READ = "BEGIN DEFERRED"
#: Set on a connection that only reads: SQLite refuses any write on it.
SQLITE_QUERY_ONLY = "PRAGMA query_only = ON"

# -- what only PostgreSQL runs ----------------------------------------------------------

#: Read from the catalog itself (a fresh snapshot per statement), not through to_regclass,
#: whose cache may not yet know the tables another process has just made.
POSTGRES_SCHEMA_EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
    " ON n.oid = c.relnamespace WHERE c.relname = 'meta' AND n.nspname = current_schema())"
)
POSTGRES_INDEX_EXISTS = (
    "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s"
)
POSTGRES_BEGIN_WRITE = "BEGIN"
#: The first statement of a read transaction whose queries see one snapshot.
POSTGRES_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
#: Set on a connection that only reads (``fluxjournal jobs``): the server refuses writes.
POSTGRES_READ_ONLY = "SET default_transaction_read_only = on"
#: Held to the end of the transaction that makes or upgrades the schema: two processes
#: that open a new database at once make it once.
POSTGRES_SCHEMA_LOCK = f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, {SCHEMA_LOCK_KEY})"
#: Taken first by a transaction that drops or makes indexes while others may write: the
#: tables in the order a batch writes them, so that neither waits for the other in turn.
POSTGRES_LOCK_TO_DROP_INDEXES = "LOCK TABLE events, jobs IN ACCESS EXCLUSIVE MODE"
POSTGRES_LOCK_TO_MAKE_INDEXES = "LOCK TABLE events, jobs IN SHARE MODE"
#: The lease of an instance: a lock of this session, which the server drops when the
#: session ends, however it ends.
POSTGRES_TRY_LEASE = f"SELECT pg_try_advisory_lock({LOCK_CLASS}, %s::int4)"
POSTGRES_RELEASE_LEASE = f"SELECT pg_advisory_unlock({LOCK_CLASS}, %s::int4)"
#: Who holds the lease of an instance: the session's process, program and client.
POSTGRES_LEASE_HOLDER = (
    "SELECT a.pid, a.application_name, a.client_addr FROM pg_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.pid"
    f" WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = {LOCK_CLASS}"
    " AND l.objid::bigint = %s AND l.objsubid = 2"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
#: Whether another session holds a lease here: another ingester is writing.
POSTGRES_OTHER_LEASES = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND classid::bigint = {LOCK_CLASS} AND objsubid = 2 AND pid != pg_backend_pid()"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)
#: Event rows go in by binary COPY; job rows by COPY into a table of this session's, then
#: one upsert: COPY cannot update a row.
POSTGRES_COPY_EVENTS = f"COPY events ({_names(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
POSTGRES_STAGED_JOBS = "staged_jobs"
POSTGRES_CREATE_STAGED_JOBS = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {POSTGRES_STAGED_JOBS} (LIKE jobs) ON COMMIT DELETE ROWS"
)
POSTGRES_COPY_JOBS = (
    f"COPY {POSTGRES_STAGED_JOBS} ({_names(JOB_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
)
POSTGRES_UPSERT_STAGED_JOBS = Statements._upsert(
    "jobs",
    f"INSERT INTO jobs ({_names(JOB_COLUMNS)})"
    # WHERE true: without it, PostgreSQL reads ON CONFLICT as the ON of a join
    f" SELECT {_names(JOB_COLUMNS)} FROM {POSTGRES_STAGED_JOBS} WHERE true",
)
#: The types of the COPY columns, in psycopg's names: JSON goes as the text it is (the
#: binary form of ``json`` is its text).
POSTGRES_COPY_TYPES = {
    "int": "int8",
    "serial": "int8",
    "real": "float8",
    "text": "text",
    "json": "text",
    "bool": "bool",
}
POSTGRES_EVENT_TYPES = tuple(POSTGRES_COPY_TYPES[c.kind] for c in EVENT_COLUMNS)
POSTGRES_JOB_TYPES = tuple(POSTGRES_COPY_TYPES[c.kind] for c in JOB_COLUMNS)
#: The stored cursors of some jobs: after a lost connection, whether a batch was
#: committed before it was lost.
POSTGRES_NEVENTS_OF = "SELECT id, nevents FROM jobs WHERE instance = %s AND id = ANY(%s)"
