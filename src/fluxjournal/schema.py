"""The database schema of ``fluxjournal ingest``, and every SQL statement it runs.

The tables are described once, as data (:data:`TABLES`, :data:`INDEXES`,
:data:`ACCOUNTING_VIEW`), and the SQL text is made from that description, so that every
store speaks of the same columns in the same order. Nothing else in fluxjournal writes SQL.

- ``meta``: the schema version (``schema_version``), checked on open.
- ``instances``: one row per Flux instance stored here, under a name that survives the
  instance's restarts; ``instance`` is the number the other tables use.
- ``events``: one row per eventlog entry: the entry's position in its job's eventlog, its
  exact timestamp, name and context (JSON text).
- ``jobs``: one row per job, as ``flux jobs -a --json`` reports it, kept up to date as its
  events arrive; ``nevents`` is how many of the job's eventlog entries ``events`` holds,
  written in the same transaction as those rows: it is the restart cursor.
- ``accounting_jobs``: a view with the columns of flux-accounting's ``jobs`` table, for
  the inactive jobs that ran.
"""

from __future__ import annotations

from typing import NamedTuple

#: Bumped whenever a table, column, index or view changes; a database with a higher
#: version was made by a newer fluxjournal and is refused.
SCHEMA_VERSION = 1


class Column(NamedTuple):
    """A column: its name, the kind of value it holds (a key of :data:`SQLITE_TYPES`), and
    whether it may be NULL (a job-list field that ``flux jobs`` leaves out is)."""

    name: str
    kind: str
    required: bool = False


#: How each kind of value is declared in SQLite. JSON is kept as text; booleans as 0/1.
SQLITE_TYPES = {
    "int": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "json": "TEXT",
    "bool": "INTEGER",
}

EVENT_COLUMNS = (
    Column("instance", "int", True),
    Column("jobid", "int", True),
    Column("position", "int", True),
    Column("timestamp", "real", True),
    Column("name", "text", True),
    Column("context", "json", True),
)

#: The jobs table: the instance and job id, the restart cursor, then job-list's fields in
#: the names and forms of ``flux jobs -a --json`` (absent there: NULL here).
JOB_COLUMNS = (
    Column("instance", "int", True),
    Column("id", "int", True),
    Column("nevents", "int", True),
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

#: The names of the jobs columns a job row carries after ``instance``, ``id``, ``nevents``.
JOB_FIELDS = tuple(column.name for column in JOB_COLUMNS[3:])

INSTANCE_COLUMNS = (
    Column("instance", "int", True),
    Column("name", "text", True),
    Column("source", "text"),
    Column("first_seen", "real"),
)

META_COLUMNS = (Column("key", "text", True), Column("value", "text", True))

TABLES = {
    "meta": (META_COLUMNS, ("key",)),
    "instances": (INSTANCE_COLUMNS, ("instance",)),
    "events": (EVENT_COLUMNS, ("instance", "jobid", "position")),
    "jobs": (JOB_COLUMNS, ("instance", "id")),
}

#: Tables SQLite keeps clustered on their primary key: small rows, looked up by key.
SQLITE_WITHOUT_ROWID = ("events",)

#: Indexes for the usual questions: a user's jobs, jobs by state, by time; events by time.
INDEXES = {
    "jobs_userid": ("jobs", ("instance", "userid", "t_submit")),
    "jobs_state": ("jobs", ("instance", "state")),
    "jobs_t_submit": ("jobs", ("instance", "t_submit")),
    "jobs_t_inactive": ("jobs", ("instance", "t_inactive")),
    "events_timestamp": ("events", ("instance", "timestamp")),
}

#: The names of the indexes in sqlite_master: a first load of a whole history drops them
#: and builds them once at its end (one sorted pass each) rather than row by row.
INDEX_NAMES = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?"

#: flux-accounting's ``jobs`` table (``id, userid, t_submit, t_run, t_inactive, ranks, R,
#: jobspec, project, bank, requested_duration, actual_duration``), for inactive jobs that
#: ran: the duration asked for in the jobspec and the time from start to inactive.
ACCOUNTING_VIEW = """CREATE VIEW accounting_jobs AS
SELECT id, userid, t_submit, t_run, t_inactive, ranks, R, jobspec, project, bank,
       duration AS requested_duration, t_inactive - t_run AS actual_duration
FROM jobs
WHERE state = 'INACTIVE' AND t_run IS NOT NULL"""


def _create_table(name: str, types: dict[str, str], suffix: str = "") -> str:
    columns, key = TABLES[name]
    lines = [f"{c.name} {types[c.kind]}{' NOT NULL' if c.required else ''}" for c in columns]
    lines.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE {name} (\n  " + ",\n  ".join(lines) + "\n)" + suffix


def _insert(name: str, columns: tuple[Column, ...]) -> str:
    names = ", ".join(c.name for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {name} ({names}) VALUES ({marks})"


def _upsert(name: str) -> str:
    columns, key = TABLES[name]
    updates = ", ".join(f"{c.name} = excluded.{c.name}" for c in columns if c.name not in key)
    return f"{_insert(name, columns)} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


def create_index(index: str) -> str:
    """The statement that makes one of :data:`INDEXES` if it is missing."""
    table, columns = INDEXES[index]
    return f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({', '.join(columns)})"


def drop_index(index: str) -> str:
    return f"DROP INDEX IF EXISTS {index}"


def sqlite_schema() -> list[str]:
    """The statements that create an empty database, in order."""
    statements = [
        _create_table(name, SQLITE_TYPES, " WITHOUT ROWID" if name in SQLITE_WITHOUT_ROWID else "")
        for name in TABLES
    ]
    statements += [create_index(index) for index in INDEXES]
    statements.append("CREATE UNIQUE INDEX instances_name ON instances (name)")
    statements.append(ACCOUNTING_VIEW)
    statements.append(
        f"INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')"
    )
    return statements


#: Set on every connection: write-ahead logging (readers never block the writer), a commit
#: that is on disk when it returns, so that a power cut loses no committed batch, and a
#: page cache of 64 MiB (negative: KiB), so that a big batch is not spilled and read back.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA cache_size = -65536",
)

SCHEMA_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
SCHEMA_VERSION_OF = "SELECT value FROM meta WHERE key = 'schema_version'"

BEGIN_WRITE = "BEGIN IMMEDIATE"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
INSERT_EVENTS = _insert("events", EVENT_COLUMNS)
UPSERT_JOBS = _upsert("jobs")

INSTANCE_BY_NAME = "SELECT instance FROM instances WHERE name = ?"
INSERT_INSTANCE = "INSERT INTO instances (name, source, first_seen) VALUES (?, ?, ?)"

#: What a restart needs of each stored job: how many eventlog entries are stored, whether
#: it is over, its submit time (to tell a job from another instance's of the same id) and,
#: for a job that is over, the time of its last entry (``clean``).
JOB_CURSORS = (
    "SELECT id, nevents, state = 'INACTIVE', t_submit, t_inactive FROM jobs WHERE instance = ?"
)

#: The stored entries of the jobs that were not over when stored, in position order, and
#: their jobspec and R: a restart takes these jobs up where they were.
ACTIVE_JOB_EVENTS = (
    "SELECT e.jobid, e.timestamp, e.name, e.context FROM jobs j CROSS JOIN events e"
    " ON e.instance = j.instance AND e.jobid = j.id"
    " WHERE j.instance = ? AND j.state != 'INACTIVE' ORDER BY e.jobid, e.position"
)
ACTIVE_JOBSPECS_AND_R = "SELECT id, jobspec, R FROM jobs WHERE instance = ? AND state != 'INACTIVE'"
ANY_EVENT = "SELECT 1 FROM events LIMIT 1"
JOB_EVENTS = (
    "SELECT timestamp, name, context FROM events WHERE instance = ? AND jobid = ? ORDER BY position"
)
JOB_JOBSPEC_AND_R = "SELECT jobspec, R FROM jobs WHERE instance = ? AND id = ?"

COUNT_EVENTS = "SELECT COUNT(*) FROM events WHERE instance = ?"
COUNT_JOBS_BY_STATE = (
    "SELECT state, COUNT(*) FROM jobs WHERE instance = ? GROUP BY state ORDER BY state"
)
