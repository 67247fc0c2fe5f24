"""What the read side asks of the archive: the SQL of ``fluxjournal jobs`` and
``fluxjournal report``, over the tables :mod:`fluxjournal.storage.schema` describes.

Made per store from its :class:`~fluxjournal.storage.schema.Dialect`, as the schema's
statements are (:data:`SQLITE`, :data:`POSTGRES`); every query returns its SQL and its
parameters. The listing's filters come as a :class:`JobFilter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from fluxjournal.storage.schema import JOB_FIELDS, POSTGRES_DIALECT, SQLITE_DIALECT, Dialect


class JobFilter(NamedTuple):
    """Which jobs a listing wants, as its SQL takes them: None is no filter."""

    #: the instance numbers to read
    instances: tuple[int, ...] | None = None
    userid: int | None = None
    name: str | None = None
    queues: tuple[str, ...] = ()
    #: the states of the pending and running groups to list (empty: none of the group)
    pending: tuple[str, ...] = ()
    running: tuple[str, ...] = ()
    #: whether inactive jobs are listed, and of which results (None: every result)
    inactive: bool = False
    results: tuple[str, ...] | None = None
    #: inactive jobs: only those that became inactive after ``since``
    since: float = 0.0
    #: only jobs submitted, and over, at or before ``until``
    until: float | None = None
    #: only jobs that ran on one of these nodes or ranks
    hosts: tuple[str, ...] | None = None
    ranks: tuple[int, ...] | None = None
    #: the most rows to read of each group; 0: all
    limit: int = 0


#: The columns ``fluxjournal jobs`` reads of a job, in this order (not its jobspec and R).
LISTING_COLUMNS = (
    "instance",
    "id",
    *(name for name in JOB_FIELDS if name not in ("jobspec", "R")),
    "uri",
)
#: The context of the job's ``alloc`` event: the annotations the scheduler gave it.
ALLOC_CONTEXT = (
    "SELECT e.context FROM events e WHERE e.instance = j.instance AND e.jobid = j.id"
    " AND e.name = 'alloc' ORDER BY e.position DESC LIMIT 1"
)


class Queries:
    """Every query of the read side, in one store's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: Every instance stored: its number, name, and the instance and job it ran as.
        self.all_instances = (
            "SELECT instance, name, parent, parent_jobid FROM instances ORDER BY instance"
        )

    # -- fluxjournal jobs --------------------------------------------------------------

    def listing(
        self, group: str, where: JobFilter, columns: Sequence[str], annotations: bool
    ) -> tuple[str, list]:
        """The query of one group of a listing (``pending``, ``running`` or ``inactive``:
        job-list's three lists, in its orders) and its parameters: ``columns`` (of
        :data:`LISTING_COLUMNS`), then with ``annotations`` the context of the job's
        ``alloc`` event (the annotations the scheduler gave its allocation)."""
        m = self.dialect.mark
        clauses, params = self._listing_filters(where, nodes=group == "inactive")
        if group == "inactive":
            clauses.append(f"j.t_inactive > {m}")
            params.append(where.since)
            if where.results is not None:
                clauses.append(f"j.result IN ({', '.join(m for _ in where.results)})")
                params += where.results
            order = "j.t_inactive DESC, j.id DESC"
        else:
            states = where.pending if group == "pending" else where.running
            clauses.append(f"j.state IN ({', '.join(m for _ in states)})")
            params += states
            order = (
                # job-list lists a job with no priority yet as of the lowest, 0
                "COALESCE(j.priority, 0) DESC, j.id"
                if group == "pending"
                else "COALESCE(j.t_run, 0) DESC, j.id"
            )
        sql = (
            f"SELECT {_listing_columns(columns, annotations)} FROM jobs j"
            f" WHERE {' AND '.join(clauses)} ORDER BY {order}"
        )
        if where.limit:
            sql += f" LIMIT {m}"
            params.append(where.limit)
        return sql, params

    def _listing_filters(self, where: JobFilter, nodes: bool) -> tuple[list[str], list]:
        """The clauses every group shares; ``nodes``: the nodes filter too (``job_nodes``
        holds the jobs that are over; the few active ones are matched by their reader)."""
        m = self.dialect.mark
        clauses: list[str] = []
        params: list = []
        if where.instances is not None:
            clauses.append(f"j.instance IN ({', '.join(m for _ in where.instances)})")
            params += where.instances
        if where.userid is not None:
            clauses.append(f"j.userid = {m}")
            params.append(where.userid)
        if where.name is not None:
            clauses.append(f"j.name = {m}")
            params.append(where.name)
        if where.queues:
            clauses.append(f"j.queue IN ({', '.join(m for _ in where.queues)})")
            params += where.queues
        if where.until is not None:
            clauses.append(f"j.t_submit <= {m} AND (j.t_inactive IS NULL OR j.t_inactive <= {m})")
            params += [where.until, where.until]
        for column, values in (("host", where.hosts), ("rank", where.ranks)):
            if values is not None and nodes:
                marks = ", ".join(m for _ in values)
                clauses.append(
                    "EXISTS (SELECT 1 FROM job_nodes n WHERE n.instance = j.instance"
                    f" AND n.jobid = j.id AND n.{column} IN ({marks}))"
                )
                params += values
        return clauses, params

    def listing_by_id(
        self, jobid: int, where: JobFilter, columns: Sequence[str], annotations: bool
    ) -> tuple[str, list]:
        """The query of the jobs of one job ID: one per instance that has it."""
        m = self.dialect.mark
        clauses, params = [f"j.id = {m}"], [jobid]
        if where.instances is not None:
            clauses.append(f"j.instance IN ({', '.join(m for _ in where.instances)})")
            params += where.instances
        sql = (
            f"SELECT {_listing_columns(columns, annotations)} FROM jobs j"
            f" WHERE {' AND '.join(clauses)}"
        )
        return sql + " ORDER BY j.instance", params

    def job_counts(self, where: JobFilter) -> tuple[str, list]:
        """How many jobs there are of each state and result (``--stats``), in the
        instances and queues of ``where``."""
        m = self.dialect.mark
        clauses, params = ["1 = 1"], []
        if where.instances is not None:
            clauses.append(f"instance IN ({', '.join(m for _ in where.instances)})")
            params += where.instances
        if where.queues:
            clauses.append(f"queue IN ({', '.join(m for _ in where.queues)})")
            params += where.queues
        sql = (
            f"SELECT state, result, COUNT(*) FROM jobs WHERE {' AND '.join(clauses)}"
            " GROUP BY state, result"
        )
        return sql, params


def _listing_columns(columns: Sequence[str], annotations: bool) -> str:
    unknown = set(columns) - set(LISTING_COLUMNS)
    if unknown:
        raise ValueError(f"not a column of a listing: {', '.join(sorted(unknown))}")
    text = ", ".join(f"j.{name}" for name in columns)
    return text + f", ({ALLOC_CONTEXT})" if annotations else text


SQLITE = Queries(SQLITE_DIALECT)
POSTGRES = Queries(POSTGRES_DIALECT)
