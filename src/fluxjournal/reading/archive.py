"""The jobs of an archive as ``flux jobs`` selects them: job-list's filters over the jobs table.

:class:`Selection` is what a listing asks for, in ``flux jobs``' terms (states and results,
a user, a name, queues, nodes or ranks, ``--since``, a count); :func:`select` reads those
jobs from an archive (:func:`fluxjournal.storage.factory.open_archive`) in job-list's order
(pending by priority then id, running by start time, newest first, inactive by the time
they ended, newest first) and gives them as :class:`~fluxjournal.reading.jobview.JobView`.
The SQL is :mod:`fluxjournal.storage.schema`'s; each group reads at most ``count + 1`` rows.
"""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from fluxjournal.jobid import JobID
from fluxjournal.joblist.hostlist import decode_idset, expand_hostlist
from fluxjournal.reading.jobview import JobView
from fluxjournal.storage import schema
from fluxjournal.storage.contract import ranks_and_hosts
from fluxjournal.storage.queries import LISTING_COLUMNS, JobFilter

#: The states of ``-f``, by the names flux jobs takes; the groups job-list lists them in.
PENDING_NAMES = {"depend": "DEPEND", "priority": "PRIORITY", "sched": "SCHED"}
RUNNING_NAMES = {"run": "RUN", "cleanup": "CLEANUP"}
STATE_WORDS = {
    **{word: (state,) for word, state in {**PENDING_NAMES, **RUNNING_NAMES}.items()},
    "inactive": ("INACTIVE",),
    "pending": tuple(PENDING_NAMES.values()),
    "running": tuple(RUNNING_NAMES.values()),
    "active": (*PENDING_NAMES.values(), *RUNNING_NAMES.values()),
}
RESULT_WORDS = {"completed": "COMPLETED", "failed": "FAILED", "canceled": "CANCELED"}
RESULT_WORDS["timeout"] = "TIMEOUT"
#: ``-u all``: every user.
ALL_USERS = "all"
#: The columns a job view takes in another form than the table's.
_BOOLEAN_COLUMNS = ("success", "exception_occurred")
#: What job-list reports of a job only once it is inactive.
_INACTIVE_ONLY = (
    "success",
    "exception_occurred",
    "exception_severity",
    "exception_type",
    "exception_note",
    "result",
)
#: Table columns that ``flux jobs`` computes itself (the view does too).
_COMPUTED_COLUMNS = ("runtime", "returncode")
#: The stored dependencies of a job that has none.
EMPTY_LIST = "[]"


class SelectionError(ValueError):
    """A filter that selects nothing sensible: its message is flux jobs' own."""


class Selection(NamedTuple):
    """What a listing asks for, as ``flux jobs`` takes it."""

    #: ``-f`` words (states and results), lower case; empty: pending and running
    filters: tuple[str, ...] = ()
    #: ``-u``: a user name, a uid, or ``all``
    user: str = ALL_USERS
    name: str | None = None
    queues: tuple[str, ...] = ()
    #: ``-i``: a hostlist or an idset of ranks
    include: str | None = None
    since: float = 0.0
    until: float | None = None
    #: the most jobs to list, 0: all
    count: int = 0
    #: the instances to read, by number; None: every one
    instances: tuple[int, ...] | None = None


def userid_of(user: str) -> int | None:
    """The uid ``-u`` names (None: every user), as job-list's client reads it."""
    if user == ALL_USERS:
        return None
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        try:
            return int(user)
        except ValueError:
            raise SelectionError(f"Invalid user {user} specified") from None


def _states_and_results(words: Iterable[str]) -> tuple[set[str], set[str]]:
    states: set[str] = set()
    results: set[str] = set()
    for word in words:
        word = word.lower()
        if word in STATE_WORDS:
            states.update(STATE_WORDS[word])
        elif word in RESULT_WORDS:
            results.add(RESULT_WORDS[word])
        else:
            raise SelectionError(f"Invalid filter specified: {word}")
    return states, results


def include_targets(include: str) -> tuple[tuple[str, ...] | None, tuple[int, ...] | None]:
    """``-i``: ranks when it reads as an idset, else hosts."""
    try:
        return None, tuple(decode_idset(include))
    except ValueError:
        pass
    try:
        hosts = tuple(expand_hostlist(include))
    except ValueError:
        hosts = ()
    if not hosts or any(not host or "[" in host or "]" in host for host in hosts):
        raise SelectionError(f"-i/--include: invalid targets: {include}")
    return hosts, None


def job_filter(selection: Selection) -> JobFilter:
    """The SQL's filter of a selection."""
    states, results = _states_and_results(selection.filters or ("pending", "running"))
    hosts, ranks = include_targets(selection.include) if selection.include else (None, None)
    return JobFilter(
        instances=selection.instances,
        userid=userid_of(selection.user),
        name=selection.name,
        queues=tuple(selection.queues),
        pending=tuple(s for s in PENDING_NAMES.values() if s in states),
        running=tuple(s for s in RUNNING_NAMES.values() if s in states),
        inactive="INACTIVE" in states or bool(results),
        results=None if "INACTIVE" in states else tuple(sorted(results)),
        since=selection.since,
        until=selection.until,
        hosts=hosts,
        ranks=ranks,
        limit=selection.count + 1 if selection.count > 0 else 0,
    )


def job_view(row: Sequence[Any], columns: Sequence[str], now: float) -> JobView:
    """A listing row (``columns``, then maybe the alloc context) as the job ``flux jobs``
    shows."""
    fields = {name: value for name, value in zip(columns, row) if value is not None}
    fields["id"] = JobID(fields["id"])
    fields["instance_number"] = fields.pop("instance")
    if fields["state"] != "INACTIVE":
        for column in _INACTIVE_ONLY:
            fields.pop(column, None)
    for column in _BOOLEAN_COLUMNS:
        if column in fields:
            fields[column] = bool(fields[column])
    dependencies = fields.pop("dependencies", None)
    if dependencies and dependencies != EMPTY_LIST:
        fields["stored_dependencies"] = _json(dependencies)
    if len(row) > len(columns) and row[-1]:
        fields["alloc_annotations"] = _json(row[-1]).get("annotations") or {}
    for column in _COMPUTED_COLUMNS:
        fields.pop(column, None)
    return JobView(fields, now)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def select(
    archive: Any,
    selection: Selection,
    now: float,
    columns: Sequence[str] = LISTING_COLUMNS,
    annotations: bool = False,
) -> list[JobView]:
    """The jobs of ``selection``, in job-list's order; ``count + 1`` of them at most when
    there is a count, so that the caller sees whether the listing was cut. ``columns``:
    what to read of each (of :data:`LISTING_COLUMNS`); ``annotations``: also what
    the scheduler annotated each allocation with."""
    where = job_filter(selection)
    if (where.hosts is not None or where.ranks is not None) and archive.version < (
        schema.JOB_NODES_SINCE
    ):
        raise SelectionError(
            f"{archive.location} was made by an older fluxjournal and has no table of the "
            "nodes each job ran on: run fluxjournal ingest on it once to bring it up to date"
        )
    groups = []
    if where.pending:
        groups.append("pending")
    if where.running:
        groups.append("running")
    if where.inactive:
        groups.append("inactive")
    queries = archive.queries
    jobs: list[JobView] = []
    by_nodes = where.hosts is not None or where.ranks is not None
    if by_nodes:
        columns = _with(columns, ("ranks", "nodelist"))
    for group in groups:
        limit = where.limit - len(jobs) if where.limit else 0
        if where.limit and limit <= 0:
            break
        active = group != "inactive"
        asked = where._replace(limit=0 if active and by_nodes else limit)
        sql, params = queries.listing(group, asked, columns, annotations)
        rows = archive.rows(sql, params)
        if active and by_nodes:
            at = (columns.index("ranks"), columns.index("nodelist"))
            rows = [row for row in rows if _ran_on(row, at, where)][: limit or None]
        jobs += (job_view(row, columns, now) for row in rows)
    return jobs


def _with(columns: Sequence[str], more: Sequence[str]) -> tuple[str, ...]:
    """``columns`` and ``more``, in the order of :data:`LISTING_COLUMNS`."""
    wanted = set(columns) | set(more)
    return tuple(name for name in LISTING_COLUMNS if name in wanted)


def listing_columns(wanted: Iterable[str]) -> tuple[str, ...]:
    """The listing columns of ``wanted``, in the table's order."""
    return _with((), tuple(wanted))


def _ran_on(row: Sequence[Any], at: tuple[int, int], where: JobFilter) -> bool:
    """Whether an active job's allocation holds one of the nodes or ranks asked for."""
    nodes = ranks_and_hosts(row[at[0]], row[at[1]])
    if where.ranks is not None:
        return any(rank in where.ranks for rank, _ in nodes)
    return any(host in (where.hosts or ()) for _, host in nodes)


def select_ids(
    archive: Any,
    jobids: Sequence[JobID],
    instances: tuple[int, ...] | None,
    now: float,
    columns: Sequence[str] = LISTING_COLUMNS,
    annotations: bool = False,
) -> tuple[list[JobView], list[str]]:
    """The jobs of these IDs, in the order given (an ID several instances have: each of
    theirs), and a message for each ID the archive does not have."""
    where = JobFilter(instances=instances)
    jobs: list[JobView] = []
    unknown: list[str] = []
    for jobid in jobids:
        sql, params = archive.queries.listing_by_id(int(jobid), where, columns, annotations)
        rows = archive.rows(sql, params)
        if not rows:
            unknown.append(f"JobID {jobid.orig} unknown")
        jobs += (job_view(row, columns, now) for row in rows)
    return jobs, unknown


class Counts(NamedTuple):
    """``flux jobs --stats``: job-list's counts of one or more instances."""

    pending: int
    running: int
    successful: int
    failed: int
    inactive_purged: int

    @property
    def active(self) -> int:
        return self.pending + self.running

    def short_line(self) -> str:
        """The counts as ``flux jobs -R --stats`` heads a nested instance's jobs."""
        return (
            f"{self.running} running, {self.successful} completed, {self.failed} failed, "
            f"{self.pending} pending"
        )

    def line(self) -> str:
        """The line of ``flux jobs --stats``."""
        return f"{self.short_line()}, {self.inactive_purged} inactive purged"


def counts(archive: Any, instances: tuple[int, ...] | None, queues: Sequence[str]) -> Counts:
    """The counts of ``--stats`` as job-list keeps them: a job that did not succeed is
    failed, canceled or timed out by its exception. The archive purges nothing."""
    where = JobFilter(instances=instances, queues=tuple(queues))
    sql, params = archive.queries.job_counts(where)
    pending = running = successful = failed = 0
    for state, result, number in archive.rows(sql, params):
        if state in PENDING_NAMES.values():
            pending += number
        elif state in RUNNING_NAMES.values():
            running += number
        elif state == "INACTIVE":
            if result == "COMPLETED":
                successful += number
            else:
                failed += number
    return Counts(pending, running, successful, failed, 0)


class Instance(NamedTuple):
    number: int
    name: str
    parent: int | None
    parent_jobid: int | None


def instances(archive: Any) -> list[Instance]:
    """Every instance the archive holds."""
    return [Instance(*row) for row in archive.rows(archive.queries.all_instances)]


def chosen_instances(archive: Any, names: Sequence[str] | None) -> list[Instance]:
    """The instances ``--instance`` names, or, with none named, every one that is not a
    job of another; SelectionError names one the archive does not hold."""
    known = instances(archive)
    if not names:
        return [i for i in known if i.parent is None]
    by_name = {i.name: i for i in known}
    for name in names:
        if name not in by_name:
            held = ", ".join(sorted(by_name)) or "none"
            raise SelectionError(f"{archive.location} holds no instance {name} (it holds: {held})")
    return [by_name[name] for name in names]
