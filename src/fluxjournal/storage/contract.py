"""What every store of ``fluxjournal ingest`` offers: the contract both backends keep.

A store is one database: SQLite (:mod:`fluxjournal.storage.sqlite`, a file path, the
embedded default) or PostgreSQL (:mod:`fluxjournal.storage.postgres`, a ``postgresql://``
URL or libpq key/value string). Both hold the same tables (:mod:`fluxjournal.storage.schema`) and
keep the same rule: every write is one transaction holding event rows, the job rows they
change and so the restart cursor (``jobs.nevents``), so after any stop the database holds
whole batches only; resource eventlog rows go in transactions of their own, their cursor
being the rows themselves (``resource_events.position``). Each instance is written by one
ingester at a time, the holder of its lease.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, Protocol

from fluxjournal.joblist.hostlist import decode_idset, expand_hostlist
from fluxjournal.storage import schema
from fluxjournal.storage.schema import SCHEMA_VERSION

#: How often a wait for a lease asks again.
LEASE_POLL_INTERVAL = 1.0


class StoreError(Exception):
    """A database that cannot be used: one line that says which and why."""


class StoreBusy(StoreError):
    """Another connection held the database's write lock for longer than a write waits:
    nothing was written, and the same write may be tried again."""


class LeaseHeld(StoreError):
    """Another ingester is writing this instance."""


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


class ResourceCursor(NamedTuple):
    """The last stored entry of an instance's resource eventlog: its position (so
    ``position + 1`` entries are stored), timestamp and name."""

    position: int
    timestamp: float
    name: str


class Summary(NamedTuple):
    """What one instance's part of the database holds."""

    events: int
    jobs_by_state: list[tuple[str, int]]
    resource_events: int = 0


class Store(Protocol):
    """One database of ingested journals: what :mod:`fluxjournal.ingestion.engine` asks of it."""

    #: the database as messages name it (a path, or a URL without its password)
    location: str

    def instance(
        self, name: str, source: str, parent: int | None = None, parent_jobid: int | None = None
    ) -> int: ...
    def try_lease(self, instance: int) -> str | None: ...
    def release_lease(self, instance: int) -> None: ...
    def job_cursors(self, instance: int) -> dict[int, JobCursor]: ...
    def active_jobs(self, instance: int) -> dict[int, StoredJob]: ...
    def job(self, instance: int, jobid: int) -> StoredJob: ...
    def write(self, events: Sequence[tuple], jobs: Sequence[tuple]) -> None: ...
    def resource_cursor(self, instance: int) -> ResourceCursor | None: ...
    def write_resource_events(self, rows: Sequence[tuple]) -> None: ...
    def defer_indexes(self) -> bool: ...
    def build_indexes(self) -> None: ...
    def summary(self, instance: int) -> Summary: ...
    def close(self) -> None: ...


def ranks_and_hosts(ranks: str | None, nodelist: str | None) -> list[tuple[int, str | None]]:
    """The ranks of an allocation, each with its node's name (R lists them in the same
    order); none for a job that had no allocation, no name where R does not pair ranks
    with names."""
    if not ranks:
        return []
    try:
        ids = decode_idset(ranks)
        hosts = expand_hostlist(nodelist) if nodelist else []
    except ValueError:
        return []
    if len(hosts) != len(ids):
        hosts = [None] * len(ids)
    return list(zip(ids, hosts))


def node_rows(
    instance: int,
    jobid: int,
    ranks: str | None,
    nodelist: str | None,
    t_run: float | None,
    t_release: float | None,
) -> list[tuple]:
    """The ``job_nodes`` rows of one job: (instance, jobid, rank, host, t_run, t_release)
    for each rank of its allocation."""
    return [
        (instance, jobid, rank, host, t_run, t_release)
        for rank, host in ranks_and_hosts(ranks, nodelist)
    ]


def _released(t_free: float | None, t_inactive: float | None) -> float | None:
    """Where a job's allocation ended: its ``free`` entry, or its ``clean`` without one
    (:data:`schema.RELEASE` in SQL)."""
    return t_free if t_free is not None else t_inactive


def finished_job_nodes(jobs: Sequence[tuple]) -> list[tuple]:
    """The ``job_nodes`` rows of the job rows (of :data:`schema.JOB_COLUMNS`) that are
    over: a job's nodes are written once, with its last row."""
    rows: list[tuple] = []
    for job in jobs:
        if job[schema.JOB_ROW_STATE] == "INACTIVE" and job[schema.JOB_ROW_RANKS]:
            rows += node_rows(
                job[schema.JOB_ROW_INSTANCE],
                job[schema.JOB_ROW_ID],
                job[schema.JOB_ROW_RANKS],
                job[schema.JOB_ROW_NODELIST],
                job[schema.JOB_ROW_T_RUN],
                _released(job[schema.JOB_ROW_T_FREE], job[schema.JOB_ROW_T_INACTIVE]),
            )
    return rows


def finished_record_nodes(instance: int, jobs: Sequence[tuple]) -> list[tuple]:
    """:func:`finished_job_nodes` of job rows as the compiled core's writer takes them:
    (jobid, nevents, record, uri)."""
    rows: list[tuple] = []
    for jobid, _, record, _ in jobs:
        if record.inactive:
            fields = record.fields()
            rows += node_rows(
                instance,
                jobid,
                fields[schema.FIELD_RANKS],
                fields[schema.FIELD_NODELIST],
                fields[schema.FIELD_T_RUN],
                _released(record.t_free, fields[schema.FIELD_T_INACTIVE]),
            )
    return rows


def job_nodes_of(jobs: Sequence[tuple]) -> list[tuple]:
    """The ``job_nodes`` rows of (instance, id, ranks, nodelist, t_run, t_release) rows:
    what a database of a version before ``job_nodes`` gets when it is brought up to date."""
    return [row for job in jobs for row in node_rows(*job)]


def checked_version(version: int, location: str) -> int:
    """``version``, the schema version a database holds; refused when a newer fluxjournal
    made it (this one cannot know what its tables mean)."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{location} has schema version {version}, made by a newer fluxjournal; this one "
            f"knows version {SCHEMA_VERSION}: upgrade fluxjournal"
        )
    return version


@contextlib.contextmanager
def leased(
    store: Store,
    instance: int,
    name: str,
    *,
    wait: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
) -> Iterator[bool]:
    """Hold the lease of ``instance`` inside: only its holder writes the instance. Raises
    :class:`LeaseHeld` naming the holder when another has it, or with ``wait`` waits for
    it until a stop is requested (then yields False: nothing is to be written)."""
    holder = store.try_lease(instance)
    while holder is not None:
        if not wait:
            raise LeaseHeld(
                f"{store.location}: instance {name} is being ingested by {holder}; "
                "stop that one first, or use --wait to take over when it stops"
            )
        if stop_requested():
            yield False
            return
        time.sleep(LEASE_POLL_INTERVAL)
        holder = store.try_lease(instance)
    try:
        yield True
    finally:
        store.release_lease(instance)
