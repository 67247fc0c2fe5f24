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
        """The clauses every group shares; ``nodes``: the inactive group, whose order an
        index of the filter's column serves, and whose nodes filter is ``job_nodes``'s.
        In the active groups (``nodes`` False) the filters' columns are written as
        expressions (``col + 0``, ``col || ''``): an index of them is then not taken, so
        that the state's index leads (the active jobs are few, one user's or queue's jobs
        ever may be millions)."""
        m = self.dialect.mark

        def column(name: str) -> str:
            if nodes:
                return f"j.{name}"
            return f"(j.{name} + 0)" if name in ("instance", "userid") else f"(j.{name} || '')"

        clauses: list[str] = []
        params: list = []
        if where.instances is not None:
            marks = ", ".join(m for _ in where.instances)
            clauses.append(f"{column('instance')} IN ({marks})")
            params += where.instances
        if where.userid is not None:
            clauses.append(f"{column('userid')} = {m}")
            params.append(where.userid)
        if where.name is not None:
            clauses.append(f"{column('name')} = {m}")
            params.append(where.name)
        if where.queues:
            marks = ", ".join(m for _ in where.queues)
            clauses.append(f"{column('queue')} IN ({marks})")
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


# -- fluxjournal report ------------------------------------------------------------------


class ReportFilter(NamedTuple):
    """Which jobs a report counts (None: no filter) and the period it covers."""

    instance: int
    start: float
    end: float
    #: the present: where the allocation of a job still running ends
    now: float
    userid: int | None = None
    queues: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    banks: tuple[str, ...] = ()


#: What ``fluxjournal report --by`` groups by, and the column that holds it.
GROUPINGS = {"user": "userid", "bank": "bank", "project": "project", "queue": "queue"}
#: The states of a job that holds an allocation and is not over.
HOLDING_STATES = ("RUN", "CLEANUP")
#: The base of every report query: the jobs that may have held resources in the period or
#: ended in it, with where their allocation started and ended (``s``, ``e``: alloc to
#: free, or clean, or the present, clipped to the period), and the period (``p``).
_REPORT_COLUMNS = (
    "instance",
    "id",
    "userid",
    "queue",
    "project",
    "bank",
    "ncores",
    "nnodes",
    "ranks",
    "result",
    "t_submit",
    "t_run",
    "t_cleanup",
    "t_inactive",
    "t_free",
)
#: The percentiles of the waits and runtimes.
MEDIAN, P95 = 0.5, 0.95


class ReportQueries:
    """The SQL of ``fluxjournal report`` in one store's dialect: each query's text and
    its parameters, for one :class:`ReportFilter`."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def _base(self, where: ReportFilter, filtered: bool) -> tuple[str, list]:
        """The ``p``, ``base`` and ``spans`` of every report query."""
        d = self.dialect
        m = d.mark
        real = d.types["real"]
        columns = ", ".join(f"j.{name}" for name in _REPORT_COLUMNS)
        clauses = ["j.instance = " + m]
        params: list = [where.instance]
        if filtered:
            for column, values in (
                ("queue", where.queues),
                ("project", where.projects),
                ("bank", where.banks),
            ):
                if values:
                    clauses.append(f"j.{column} IN ({', '.join(m for _ in values)})")
                    params += values
            if where.userid is not None:
                clauses.append(f"j.userid = {m}")
                params.append(where.userid)
        shared = " AND ".join(clauses)
        holding = ", ".join(f"'{state}'" for state in HOLDING_STATES)
        # jobs over after the start (an index range), and the few still holding resources
        base = (
            f"SELECT {columns} FROM jobs j WHERE {shared} AND j.t_inactive > {m}"
            f" UNION ALL SELECT {columns} FROM jobs j WHERE {shared} AND j.state IN ({holding})"
        )
        period = "SELECT " + ", ".join(
            f"CAST({m} AS {real}) AS {name}" for name in ("s0", "e0", "now0")
        )
        spans = (
            "SELECT b.*, p.s0, p.e0,"
            f" CASE WHEN b.t_run IS NULL THEN NULL ELSE {d.greatest}(b.t_run, p.s0) END AS s,"
            f" {d.least}(COALESCE(b.t_free, b.t_inactive, p.now0), p.e0) AS e"
            " FROM base b CROSS JOIN p"
        )
        sql = f"WITH p AS ({period}), base AS ({base}), spans AS ({spans}) "
        return sql, [where.start, where.end, where.now, *params, where.start, *params]

    def usage(self, where: ReportFilter, grouping: str, bounds: Sequence[int]) -> tuple[str, list]:
        """Per group and per job size (bin i: ``bounds[i] <= ncores < bounds[i + 1]``,
        -1 below the first; one pass gives the usage and the sizes): the jobs over in
        the period and their results, the core- and node-seconds held in it, the jobs
        that held resources in it, the sum and count of the waits of the jobs started
        in it and of the runtimes of those over in it."""
        key = GROUPINGS[grouping]
        sql, params = self._base(where, filtered=True)
        size = " ".join(
            f"WHEN ncores < {int(bound)} THEN {index - 1}" for index, bound in enumerate(bounds)
        )
        over = "t_inactive >= s0 AND t_inactive < e0"
        started = "t_run >= s0 AND t_run < e0"
        results = ", ".join(
            f"SUM(CASE WHEN {over} AND result = '{result}' THEN 1 ELSE 0 END)"
            for result in ("COMPLETED", "FAILED", "CANCELED", "TIMEOUT")
        )
        ran = f"{over} AND t_run IS NOT NULL"
        sql += (
            f"SELECT {key}, CASE {size} ELSE {len(bounds) - 1} END,"
            f" SUM(CASE WHEN {over} THEN 1 ELSE 0 END), {results},"
            " SUM(CASE WHEN e > s THEN ncores * (e - s) ELSE 0 END),"
            " SUM(CASE WHEN e > s THEN nnodes * (e - s) ELSE 0 END),"
            " SUM(CASE WHEN e > s THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {started} THEN t_run - t_submit END),"
            f" SUM(CASE WHEN {started} THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {ran} THEN t_cleanup - t_run END),"
            f" SUM(CASE WHEN {ran} THEN 1 ELSE 0 END)"
            " FROM spans GROUP BY 1, 2"
        )
        return sql, params

    def percentiles(
        self, where: ReportFilter, grouping: str | None, bin_width: float | None
    ) -> tuple[str, list]:
        """The median and 95th percentile, linear between ranks (numpy's default), of
        ``wait`` (submit to alloc) of the jobs started in the period, per group, and of
        ``runtime`` of those over in it; or, per bin of ``bin_width`` seconds, of the
        waits of the jobs started in each: rows (measure, group or bin, median, p95)."""
        sql, params = self._base(where, filtered=True)
        started = "t_run >= s0 AND t_run < e0"
        measures = [("wait", started, "t_run - t_submit")]
        if bin_width is not None:
            key = self.dialect.whole.format(f"(t_run - s0) / {float(bin_width)!r}")
        else:
            key = GROUPINGS[grouping] if grouping else "0"
            over = "t_inactive >= s0 AND t_inactive < e0 AND t_run IS NOT NULL"
            measures.append(("runtime", over, "t_cleanup - t_run"))
        if self.dialect.ordered_set_aggregates:
            return sql + self._percentiles_aggregated(key, measures), params
        return sql + self._percentiles_numbered(key, measures), params

    @staticmethod
    def _percentiles_aggregated(key: str, measures: Sequence[tuple[str, str, str]]) -> str:
        """With an ordered-set aggregate (PostgreSQL): one pass, each group's values sorted
        once."""
        fractions = f"ARRAY[{MEDIAN!r}, {P95!r}]"
        aggregates = ", ".join(
            f"percentile_cont({fractions}) WITHIN GROUP (ORDER BY {value})"
            f" FILTER (WHERE {chosen}) AS {name}"
            for name, chosen, value in measures
        )
        pairs = ", ".join(f"('{name}', {name})" for name, _, _ in measures)
        return (
            f"SELECT m, k, q[1], q[2] FROM (SELECT {key} AS k, {aggregates} FROM spans"
            f" GROUP BY 1) grouped CROSS JOIN LATERAL (VALUES {pairs}) AS measured (m, q)"
            " WHERE q IS NOT NULL"
        )

    def _percentiles_numbered(self, key: str, measures: Sequence[tuple[str, str, str]]) -> str:
        """Without such an aggregate (SQLite): each job's measures side by side, numbered
        in their group's order; the rows at and after each percentile's rank are kept,
        and interpolated between."""
        whole = self.dialect.whole
        which = " UNION ALL ".join(f"SELECT {i} AS m" for i in range(len(measures)))
        names = " ".join(f"WHEN {i} THEN '{name}'" for i, (name, _, _) in enumerate(measures))
        values = " ".join(f"WHEN {i} THEN {value}" for i, (_, _, value) in enumerate(measures))
        chosen = " OR ".join(f"(w.m = {i} AND {c})" for i, (_, c, _) in enumerate(measures))
        both = (
            f"SELECT CASE w.m {names} END AS m, {key} AS k, CASE w.m {values} END AS v"
            f" FROM spans CROSS JOIN ({which}) w WHERE {chosen}"
        )
        numbered = (
            "SELECT m, k, v, ROW_NUMBER() OVER (PARTITION BY m, k ORDER BY v) - 1 AS rn,"
            f" COUNT(*) OVER (PARTITION BY m, k) AS n FROM ({both}) chosen"
        )
        ranks = [(fraction, whole.format(f"{fraction!r} * (n - 1)")) for fraction in (MEDIAN, P95)]
        at = ", ".join(
            f"MAX(CASE WHEN rn = {rank} THEN v END) AS low{i},"
            f" MAX(CASE WHEN rn = {rank} + 1 THEN v END) AS high{i},"
            f" {fraction!r} * (n - 1) - {rank} AS part{i}"
            for i, (fraction, rank) in enumerate(ranks)
        )
        kept = " OR ".join(f"rn = {rank} OR rn = {rank} + 1" for _, rank in ranks)
        value = "low{0} + (COALESCE(high{0}, low{0}) - low{0}) * part{0}"
        return (
            f"SELECT m, k, {value.format(0)}, {value.format(1)} FROM (SELECT m, k, {at}"
            f" FROM ({numbered}) numbered WHERE {kept} GROUP BY m, k) around"
        )

    def allocated(self, where: ReportFilter) -> tuple[str, list]:
        """Core-seconds held by every job in the period."""
        sql, params = self._base(where, filtered=False)
        sql += "SELECT SUM(ncores * (e - s)), COUNT(*) FROM spans WHERE e > s"
        return sql, params

    def running(self, where: ReportFilter) -> tuple[str, list]:
        """The jobs still holding resources that held some in the period: id, ranks,
        start, end (few: what a machine runs at once)."""
        sql, params = self._base(where, filtered=False)
        sql += "SELECT id, ranks, s, e FROM spans WHERE e > s AND t_inactive IS NULL"
        return sql, params

    def held_on(self, where: ReportFilter, rank: int, start: float, end: float) -> tuple:
        """The jobs over that held ``rank`` between ``start`` and ``end`` (within the
        period): id, start, end."""
        d = self.dialect
        m = d.mark
        return (
            f"SELECT jobid, {d.greatest}(t_run, {m}), {d.least}(t_release, {m}) FROM job_nodes"
            f" WHERE instance = {m} AND rank = {m} AND t_run < {m} AND t_release > {m}",
            [where.start, where.end, where.instance, rank, end, start],
        )

    def node_union(self, where: ReportFilter) -> tuple[str, list]:
        """Per rank, the seconds of the period it was held by at least one job that is
        over: the length of the union of their spans on it, one ordered read of
        ``job_nodes``' spans index (clipping keeps the order of the starts)."""
        d = self.dialect
        m = d.mark
        e = f"{d.least}(t_release, {m})"
        ordered = (
            f"SELECT rank, {d.greatest}(t_run, {m}) AS s, {e} AS e, MAX({e}) OVER"
            " (PARTITION BY rank ORDER BY t_run, t_release"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM job_nodes"
            f" WHERE instance = {m} AND t_run < {m} AND t_release > {m}"
        )
        return (
            "SELECT rank, SUM(CASE WHEN before IS NULL OR before <= s THEN e - s"
            f" WHEN e > before THEN e - before ELSE 0 END) FROM ({ordered}) spans GROUP BY rank",
            [where.start, where.end, where.end, where.instance, where.end, where.start],
        )

    def job_r(self, instance: int, jobids: Sequence[int]) -> tuple[str, list]:
        """The R of some jobs (their cores on each rank)."""
        m = self.dialect.mark
        marks = ", ".join(m for _ in jobids)
        return f"SELECT id, R FROM jobs WHERE instance = {m} AND id IN ({marks})", [
            instance,
            *jobids,
        ]

    def binned(self, where: ReportFilter, bin_width: float) -> tuple[str, list]:
        """Per bin of ``bin_width`` seconds from the start: the core-seconds held by the
        jobs whose span lies in that bin alone (the others come by :meth:`spanning`)."""
        sql, params = self._base(where, filtered=False)
        w = float(bin_width)
        first = self.dialect.whole.format(f"(s - s0) / {w!r}")
        last = self.dialect.whole.format(f"(e - s0) / {w!r}")
        sql += (
            f"SELECT {first}, SUM(ncores * (e - s)) FROM spans WHERE e > s AND {first} = {last}"
            " GROUP BY 1"
        )
        return sql, params

    def spanning(self, where: ReportFilter, bin_width: float) -> tuple[str, list]:
        """The jobs whose span in the period crosses a bin's edge: cores, start, end."""
        sql, params = self._base(where, filtered=False)
        w = float(bin_width)
        first = self.dialect.whole.format(f"(s - s0) / {w!r}")
        last = self.dialect.whole.format(f"(e - s0) / {w!r}")
        sql += f"SELECT ncores, s, e FROM spans WHERE e > s AND {first} < {last}"
        return sql, params

    def endings(self, where: ReportFilter, bin_width: float) -> tuple[str, list]:
        """Per bin: how many jobs ended with each result."""
        sql, params = self._base(where, filtered=True)
        key = self.dialect.whole.format(f"(t_inactive - s0) / {float(bin_width)!r}")
        sql += (
            f"SELECT {key}, result, COUNT(*) FROM spans"
            " WHERE t_inactive >= s0 AND t_inactive < e0 GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return sql, params

    def resource_events(self, instance: int) -> tuple[str, list]:
        """The instance's resource eventlog, in order, with the R of each definition."""
        m = self.dialect.mark
        return (
            "SELECT timestamp, name, context, R FROM resource_events"
            f" WHERE instance = {m} ORDER BY position",
            [instance],
        )


SQLITE_REPORT = ReportQueries(SQLITE_DIALECT)
POSTGRES_REPORT = ReportQueries(POSTGRES_DIALECT)
