"""``fluxjournal ingest``: every job event of an instance in a database, exactly once.

What names an entry is its job, its timestamp and its name: the job manager stamps each
event when it posts it, so no job has two entries alike. The database holds, per job, how
many entries it has stored (``jobs.nevents``, written in the same transaction as them), and
the journal's backlog holds each job's whole eventlog so far, in order, with the job's live
events following in order. So on a restart:

- a job stored as over whose backlog holds as many entries as are stored is done (nearly
  every job of a big history: a restart with nothing new writes nothing);
- a new job's entries are stored from position 0;
- any other stored job has its stored entries read back, and what the journal sends of it
  is stored unless it is among them: that covers the backlog, which repeats what is
  stored, and entries that were stored but are not in the eventlog (a volatile memo, or
  what an instance lost in a crash and sends again), so that nothing is lost or stored
  twice.

Live responses are not in timestamp order across jobs, which is why no timestamp can serve
as the cursor. ``position`` is the order of storing within the job: the entry's index in
the eventlog, but for entries the eventlog does not keep. Entries the job manager never
commits to the eventlog and that are of no lasting use (:data:`JOURNAL_ONLY`) are not
stored.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import operator
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from fluxjournal._switch import core as active_core
from fluxjournal.errors import MalformedResponse
from fluxjournal.ingestion.sources import response_number
from fluxjournal.ingestion.stream import JournalStream
from fluxjournal.jobid import JobID
from fluxjournal.joblist.memo import MEMO, instance_uri
from fluxjournal.storage.contract import JobCursor, Store, StoredJob, StoreError, Summary

if TYPE_CHECKING:  # both cores' JobRecord has the API the stub describes
    from fluxjournal._core import JobRecord

#: Loggers are named by the command whose lines they carry, not by module: users filter them.
log = logging.getLogger("fluxjournal.ingest")

#: Names the job manager posts to the journal and never keeps in the eventlog: the
#: scheduler's annotations, which change while a job waits.
JOURNAL_ONLY = frozenset({"annotations"})

#: Most event rows held before they are written, during the history.
BATCH_EVENTS = 50_000
#: Longest a live event waits before it is committed.
COMMIT_INTERVAL = 0.5
#: Longest a wait for the next response lasts, so that a stop request is seen.
WAKE_INTERVAL = 1.0

#: Where a row of ``Response.rows()`` keeps its values, after its (instance, jobid) prefix.
_JOBID, _POSITION, _TIMESTAMP, _NAME, _CONTEXT = 1, 2, 3, 4, 5


class IngestError(Exception):
    """The journal and the database disagree in a way that storing cannot settle."""


class IngestResult(NamedTuple):
    """What one run did."""

    responses: int
    stored_events: int
    stored_jobs: int
    history_events: int
    bad_responses: int
    ended: bool
    #: the rows its resource journal's follower wrote (see ``ingestion.resources``)
    stored_resource_events: int = 0


#: The largest job id: FLUIDs are 64-bit, the stores' integers signed 64-bit.
MAX_JOBID = (1 << 63) - 1


def _first_jobid(rows: Any) -> int:
    return rows[0][_JOBID] if type(rows) is list else rows.jobid


def _last_timestamp(rows: Any) -> float:
    return rows[-1][_TIMESTAMP] if type(rows) is list else rows.last_timestamp


def _holds_name(rows: Any, name: str) -> bool:
    if type(rows) is list:
        return name in map(_name_of, rows)  # looked for in C: no Python loop
    return rows.holds_name(name)


def _key(row: tuple) -> tuple[float, str]:
    return (row[_TIMESTAMP], row[_NAME])


def _renumber(rows: list[tuple], first: int) -> list[tuple]:
    """The rows with positions ``first``, ``first + 1``, ... (after some were left out)."""
    return [(*row[:_POSITION], first + k, *row[_POSITION + 1 :]) for k, row in enumerate(rows)]


_name_of = operator.itemgetter(_NAME)


def _check_names(rows: list[tuple]) -> None:
    """Refuse a name a store cannot take as text: a lone surrogate or a NUL, which JSON
    allows and neither SQLite (the first) nor PostgreSQL (the second) stores."""
    names = list(map(_name_of, rows))
    joined = "".join(names)
    if joined.isascii() and "\0" not in joined:
        return  # all but always: looked at in C, no Python loop
    for name in names:
        if "\0" in name:
            raise MalformedResponse(f"event name {name!r} holds a NUL character")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedResponse(f"event name {name!r} is not valid Unicode") from None


class InstanceJobs(Protocol):
    """Told of the jobs that are Flux instances (their ``uri`` memo), as they run and end:
    ``--recursive`` follows their journals."""

    def running(self, jobid: int, uri: str) -> None: ...
    def over(self, jobid: int) -> None: ...


class Ingest:
    """The per-job cursor of one instance and the rows waiting to be written.

    A job's record (``JobRecord``) always holds exactly its stored entries and those
    waiting to be written, so its row is that of all of them.

    Rows wait as a list per response: tuples (``Response.rows()``), or, when the store
    writes through the compiled core (``store.writes_chunks``) and the core makes them,
    the ``EventSpan`` of a new job's history response (its rows as offsets into the
    payload, written from C: no Python object per row).
    """

    def __init__(
        self,
        store: Store,
        instance: int,
        core: Any = active_core,
        instance_jobs: InstanceJobs | None = None,
    ) -> None:
        self.store = store
        self.instance = instance
        self.core = core
        self.instance_jobs = instance_jobs
        #: the URI of each job this run knows to be a Flux instance
        self.uris: dict[int, str] = {}
        #: the jobs ``instance_jobs`` was told of as running
        self.announced: set[int] = set()
        #: the rows wait as the store's writer takes them (see the class)
        self.chunked = bool(getattr(store, "writes_chunks", False))
        self.spans = self.chunked and hasattr(core, "EventSpan")
        self.cursors: dict[int, JobCursor] = store.job_cursors(instance)
        #: the jobs that were active when last stored, taken up from their stored entries
        #: when the journal first sends them
        self.stored_active: dict[int, StoredJob] = store.active_jobs(instance)
        #: the (timestamp, name) of the stored entries of each job whose entries the
        #: journal may send again: what it sends is stored unless it is among them
        self.stored_keys: dict[int, set] = {}
        #: the jobs this run follows (not over): their live events change their row
        self.records: dict[int, JobRecord] = {}
        #: the jobs of this backlog, so that a live event is not taken for history
        self.history_jobs: set[int] = set()
        #: rows waiting to be written, a chunk per response: one job's, in position order
        #: (a list of tuples, or an ``EventSpan``)
        self.pending_events: list[Any] = []
        self.pending_rows = 0
        self.pending_jobs: dict[int, JobRecord] = {}
        self.stored_events = 0
        #: the jobs whose rows this run wrote (but those forgotten, which are counted)
        self.jobs_written: set[int] = set()
        self.history_events = 0
        #: Once the history is stored, a job that is over is forgotten as soon as it is
        #: written: its cursor is let go of, so that a long live stream does not keep one
        #: per job for ever. The job manager sends nothing of a job once it is over; should
        #: a live event come for one all the same, its cursor is read back from the store
        #: (:meth:`_recall`).
        self.forgetting = False
        #: the largest id of a forgotten job: a job above it was never forgotten
        self.forgotten_up_to = -1
        #: the jobs written by this run and forgotten since
        self.forgotten_written = 0

    # -- the history: one response per job, its whole eventlog so far ------------------

    def history(self, response: Any) -> None:
        """Take one backlog response: store the entries of its job the database lacks."""
        jobid = response.id
        count = len(response)
        self.history_jobs.add(jobid)
        self.history_events += count
        cursor = self.cursors.get(jobid)
        if cursor is not None and count:
            stamps = response.timestamps()
            if cursor.t_submit is not None:
                self._check_same_job(jobid, stamps[0], cursor.t_submit)
            if cursor.inactive and count == cursor.nevents and stamps[-1] == cursor.t_last:
                return  # over, and every entry is stored: the common case on a restart
        if self.spans and cursor is None:
            # a new job, every entry stored: its names are plain ASCII (no NUL, nothing
            # a store refuses), so there is nothing to check
            span = response.span(self.instance)
            if span is not None:
                self._take(jobid, self.core.JobRecord(jobid), span, response)
                return
        rows = response.rows((self.instance, jobid))
        _check_names(rows)
        record = self._record(jobid, cursor)
        self._take(jobid, record, rows, response)

    def _check_same_job(self, jobid: int, first: float, t_submit: float) -> None:
        if first != t_submit:
            raise IngestError(
                f"job {JobID(jobid).f58} of this instance was submitted at {first!r}, the "
                f"database's job {JobID(jobid).f58} at {t_submit!r}: the database holds "
                "another instance under this name (choose another with --instance)"
            )

    # -- live: one event per response ------------------------------------------------

    def live(self, response: Any) -> None:
        """Take one live response: its entries follow what is stored of its job."""
        jobid = response.id
        cursor = self.cursors.get(jobid)
        if cursor is None and jobid <= self.forgotten_up_to:
            cursor = self._recall(jobid)
        stored = cursor.nevents if cursor is not None else 0
        rows = response.rows((self.instance, jobid), 0, stored)
        if any(row[_NAME] in JOURNAL_ONLY for row in rows):
            rows = _renumber([row for row in rows if row[_NAME] not in JOURNAL_ONLY], stored)
            if not rows:
                return
        _check_names(rows)
        record = self.records.get(jobid)
        if record is None:
            record = self._record(jobid, cursor)
        self._take(jobid, record, rows, response)

    # -- forgetting the jobs that are over -----------------------------------------------

    def forget_finished(self) -> None:
        """The history is stored: from now on forget each job once it is over and written,
        and forget those that already are (every stored job the journal will not send
        again). Called right after a flush, so that nothing of theirs waits."""
        self.forgetting = True
        self.history_jobs = set()
        over = [jobid for jobid, cursor in self.cursors.items() if cursor.inactive]
        for jobid in over:
            self._forget(jobid)

    def _forget(self, jobid: int) -> None:
        self.cursors.pop(jobid, None)
        if jobid in self.jobs_written:
            self.jobs_written.discard(jobid)
            self.forgotten_written += 1
        self.forgotten_up_to = max(self.forgotten_up_to, jobid)

    def _recall(self, jobid: int) -> JobCursor | None:
        """The cursor of a job that may have been forgotten, from what the store holds of
        it; None for a job the store does not know."""
        stored = self.store.job(self.instance, jobid)
        if not stored.entries:
            return None
        record = self.core.JobRecord(jobid)
        record.apply(stored.entries, stored.jobspec, stored.R)
        cursor = JobCursor(
            len(stored.entries), record.inactive, record.t_submit, stored.entries[-1][0]
        )
        self.cursors[jobid] = cursor
        return cursor

    @property
    def stored_jobs(self) -> int:
        """How many jobs this run wrote rows of (a job forgotten, then recalled and written
        again, counts twice: the job manager never sends one)."""
        return len(self.jobs_written) + self.forgotten_written

    # -- what both have in common ------------------------------------------------------

    def _record(self, jobid: int, cursor: JobCursor | None) -> JobRecord:
        """A record for a job this run does not follow yet: new, or taken up."""
        return self.core.JobRecord(jobid) if cursor is None else self._resume(jobid)

    def _resume(self, jobid: int) -> JobRecord:
        """The record of a stored job this run does not follow yet, built from its stored
        entries; from now on what the journal sends of it is stored unless it is among
        them (the backlog repeats what is stored; an instance that lost what it had sent
        in a crash sends it again)."""
        if jobid in self.pending_jobs:
            self.flush()  # what is read back must include what waits to be written
        stored = self.stored_active.pop(jobid, None)
        if stored is None:
            log.debug("job %s: taken up from the database", JobID(jobid).f58)
            stored = self.store.job(self.instance, jobid)
        record = self.core.JobRecord(jobid)
        record.apply(stored.entries, stored.jobspec, stored.R)
        self.stored_keys[jobid] = {(timestamp, name) for timestamp, name, _ in stored.entries}
        uri = instance_uri((name, context) for _, name, context in stored.entries)
        if uri is not None:
            self.uris[jobid] = uri
        return record

    def _take(self, jobid: int, record: JobRecord, rows: Any, response: Any) -> None:
        """Keep the rows the database lacks, and the job's record while it is active.
        ``rows``: a list of tuples, or an ``EventSpan`` (of a job with no stored keys)."""
        cursor = self.cursors.get(jobid)
        stored = cursor.nevents if cursor is not None else 0
        keys = self.stored_keys.get(jobid)
        if keys is not None:
            rows = _renumber([row for row in rows if _key(row) not in keys], stored)
        if len(rows):
            record.apply(rows, response.jobspec_text, response.R_text)
            if keys is not None:
                keys.update(_key(row) for row in rows)
            if _holds_name(rows, MEMO):
                listed = rows if type(rows) is list else rows.as_rows()
                pairs = ((row[_NAME], row[_CONTEXT]) for row in listed)
                uri = instance_uri(pairs, self.uris.get(jobid))
                if uri is not None:
                    self.uris[jobid] = uri
            self.cursors[jobid] = JobCursor(
                stored + len(rows), record.inactive, record.t_submit, _last_timestamp(rows)
            )
            self.pending_jobs[jobid] = record
            self.pending_events.append(rows)
            self.pending_rows += len(rows)
        if record.inactive:
            self.records.pop(jobid, None)
            self.stored_keys.pop(jobid, None)
        else:
            self.records[jobid] = record
        if self.instance_jobs is not None and jobid in self.uris:
            self._tell(jobid, record)

    def _tell(self, jobid: int, record: JobRecord) -> None:
        """Tell ``instance_jobs`` of a job that is a Flux instance: once as it runs, once
        when it is over."""
        assert self.instance_jobs is not None
        if record.inactive:
            if jobid in self.announced:
                self.announced.discard(jobid)
                self.instance_jobs.over(jobid)
        elif jobid not in self.announced:
            self.announced.add(jobid)
            self.instance_jobs.running(jobid, self.uris[jobid])

    # -- writing -----------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is waiting, in one transaction. It is handed over first: rows whose
        write failed or was interrupted are never written again by this run (the next
        run finds them in the journal), so that nothing is written twice."""
        if not self.pending_events and not self.pending_jobs:
            return
        chunks, records, count = self.pending_events, self.pending_jobs, self.pending_rows
        self.pending_events, self.pending_rows, self.pending_jobs = [], 0, {}
        uris = self.uris
        cursors = self.cursors
        if self.chunked:  # the job rows are made by the store's writer, in C
            jobs = [
                (jobid, cursors[jobid].nevents, record, uris.get(jobid))
                for jobid, record in records.items()
            ]
        else:
            jobs = [
                (
                    self.instance,
                    jobid,
                    cursors[jobid].nevents,
                    *record.fields(),
                    uris.get(jobid),
                    record.t_free,
                )
                for jobid, record in records.items()
            ]
        if uris:
            for jobid, record in records.items():
                if record.inactive:
                    uris.pop(jobid, None)
        # in key order (a stable sort by job keeps each job's positions in order), the
        # B-tree takes the rows page by page instead of all over
        chunks.sort(key=_first_jobid)
        if self.chunked:
            self.store.write_chunks(self.instance, chunks, jobs)  # type: ignore[attr-defined]
        else:
            self.store.write(list(itertools.chain.from_iterable(chunks)), jobs)
        self.stored_events += count
        self.jobs_written.update(records)
        if self.forgetting:
            for jobid, record in records.items():
                if record.inactive:
                    self._forget(jobid)


class Progress:
    """Counts shown while the history loads: on a terminal only, at most twice a second."""

    def __init__(self, show: Callable[[str], None] | None) -> None:
        self.show = show
        self.started = time.monotonic()
        self.next_at = self.started + 0.5

    def tick(self, ingest: Ingest) -> None:
        if self.show is None:
            return
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + 0.5
        rate = ingest.history_events / max(now - self.started, 1e-9)
        self.show(
            f"history: {ingest.history_events:,} events, {len(ingest.history_jobs):,} jobs, "
            f"{rate:,.0f} events/s"
        )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a history load makes hundreds of thousands of
    short-lived rows and no cycles, and the collector would walk them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Reader:
    """The stream's responses, decoded and checked; bad ones logged, counted, skipped."""

    def __init__(self, stream: JournalStream, core: Any, describe: Callable[[int], str]):
        self.stream = stream
        self.core = core
        self.describe = describe
        self.responses = 0
        self.bad = 0

    def next(self, timeout: float) -> Any:
        """The next good response; None at the end of the stream; TimeoutError."""
        while True:
            payload = self.stream.next(timeout)
            if payload is None:
                return None
            self.responses += 1
            try:
                return self._checked(self.core.decode_response(payload), payload)
            except MalformedResponse as exc:
                self.skipped(exc)

    def skipped(self, exc: MalformedResponse) -> None:
        """Count and report a response that cannot be stored."""
        self.bad += 1
        log.warning("%s: %s", self.describe(self.responses), exc)

    def _checked(self, response: Any, payload: bytes) -> Any:
        jobid = response.id
        if jobid is None or not -1 <= jobid <= MAX_JOBID:
            raise MalformedResponse("no job id in the range of job ids", payload)
        return response


def _store_history(
    reader: _Reader, ingest: Ingest, stop_requested: Callable[[], bool], shown: Progress
) -> tuple[bool, Any]:
    """Store the backlog. Returns whether it was read to its end, and the response that
    came after it when that was not the sentinel: a second response for a job of the
    backlog is a live one, so the sentinel was lost (a bad response) and the history is
    over anyway."""
    with _collector_paused():
        while not stop_requested():
            try:
                response = reader.next(WAKE_INTERVAL)
            except TimeoutError:
                continue
            if response is None:
                return False, None
            if response.id == -1:
                return True, None
            if response.id in ingest.history_jobs:
                log.warning("the history ended without its sentinel")
                return True, response
            try:
                ingest.history(response)
            except MalformedResponse as exc:
                reader.skipped(exc)
            shown.tick(ingest)
            if ingest.pending_rows >= BATCH_EVENTS:
                ingest.flush()
    return False, None


def _store_live(reader: _Reader, ingest: Ingest, stop_requested: Callable[[], bool]) -> None:
    """Store live events until the stream ends or a stop is asked; an event waits at most
    COMMIT_INTERVAL before its transaction commits."""
    commit_by = math.inf
    while not stop_requested():
        now = time.monotonic()
        if ingest.pending_rows and now >= commit_by:
            ingest.flush()
            commit_by = math.inf
        wait = WAKE_INTERVAL if math.isinf(commit_by) else max(commit_by - now, 0.0)
        try:
            response = reader.next(wait)
        except TimeoutError:
            continue
        if response is None:
            return
        _store_live_response(reader, ingest, response)
        if ingest.pending_rows >= BATCH_EVENTS:
            ingest.flush()
        elif ingest.pending_rows and math.isinf(commit_by):
            commit_by = time.monotonic() + COMMIT_INTERVAL


def _store_live_response(reader: _Reader, ingest: Ingest, response: Any) -> None:
    try:
        ingest.live(response)
    except MalformedResponse as exc:
        reader.skipped(exc)


def run(
    handle: Any,
    store: Store,
    instance: int,
    *,
    once: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
    progress: Callable[[str], None] | None = None,
    describe_response: Callable[[int], str] = response_number,
    core: Any = active_core,
    instance_jobs: InstanceJobs | None = None,
) -> IngestResult:
    """Store the journal of ``handle`` until the stream ends, a stop is requested, or
    (with ``once``) the history is stored. Bad responses are logged and skipped; the jobs
    that are Flux instances are told to ``instance_jobs``."""
    ingest = Ingest(store, instance, core, instance_jobs)
    deferred = store.defer_indexes()
    stream = JournalStream(handle)
    reader = _Reader(stream, core, describe_response)
    try:
        done, carried = _store_history(reader, ingest, stop_requested, Progress(progress))
        if done:
            ingest.flush()
            if deferred:
                store.build_indexes()
                deferred = False
            if not once:
                ingest.forget_finished()
                if carried is not None:
                    _store_live_response(reader, ingest, carried)
                _store_live(reader, ingest, stop_requested)
        ingest.flush()
    except StoreError:
        deferred = False  # the database failed: leave the indexes to the next run
        raise
    except Exception:
        ingest.flush()  # what was taken before the failure is good: keep it
        raise
    finally:
        if deferred:
            store.build_indexes()
        if not stream.ended:
            stream.cancel()
    return IngestResult(
        reader.responses,
        ingest.stored_events,
        ingest.stored_jobs,
        ingest.history_events,
        reader.bad,
        stream.ended,
    )


def format_summary(path: str, name: str, summary: Summary) -> str:
    """One line on what the database holds for an instance: jobs per state, events, and
    resource eventlog entries when it holds any."""
    jobs = sum(count for _, count in summary.jobs_by_state)
    states = ", ".join(f"{state} {count:,}" for state, count in summary.jobs_by_state)
    line = f"{path}, instance {name}: {jobs:,} jobs ({states or 'none'}); {summary.events:,} events"
    if summary.resource_events:
        line += f", {summary.resource_events:,} resource events"
    return line
