"""Benchmark fluxjournal's consumer against its pure-Python twin and flux-core's own.

``python -m fluxjournal.bench`` (``fluxjournal bench``) replays the same SimulatedFlux payload
bytes through ReplayFlux for every implementation. Each implementation and mode runs in a
fresh child process, so one implementation's heap never inflates another's peak memory; the
child times the best of ``--repeat`` runs and measures the peak RSS growth of the first.
Ratios are computed within one run, against flux-core's consumer through ``poll()`` (against
the twin when flux-core's bindings do not import). ``--chart`` draws events/s and memory
against history size. The pytest-benchmark suite in ``benchmarks/`` uses the same scenarios
(:class:`Case`, :func:`prepare`, :func:`measure`).

``--ingest`` runs the ingest group instead (:func:`ingest_rows`, :func:`prepare_ingest`):
``fluxjournal ingest`` into new SQLite files against flux-core's consumer feeding
``executemany`` (the baseline), ``executemany`` of ingest's own rows (the floor), and, for a
restart on a full database, against a bare drain; then the ratios with their targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable

from fluxjournal import fluxcore

CYTHON = "cython"
PYTHON = "python"
FLUX_CORE = "flux-core"
RECEIVE = "receive"
"""The bare receive loop (``wait_for``, ``get_str``, ``reset``; no decoding): the floor."""

CONSUMERS = (FLUX_CORE, PYTHON, CYTHON)
APIS = ("poll", "batch", "iter", "callback")
JOB_TOPIC = "job-manager.events-journal"
JOB_SENTINEL = b'{"id":-1,"events":[]}'
FLUX_RPC_NORESPONSE = 1
FLUX_RPC_STREAMING = 2
#: The batch size of the batch modes: ``poll_batch()``'s default.
BATCH_LIMIT = 64
#: Below this peak growth (a live stream keeps next to nothing) a memory ratio means nothing.
MIN_REFERENCE_MB = 1.0

#: The headline comparisons: (stream, api), run for every implementation that has the api.
HEADLINE = (
    ("history", "poll"),
    ("history", "batch"),
    ("history", "iter"),
    ("live", "poll"),
    ("live", "batch"),
)


# -- implementations ----------------------------------------------------------------------


def flux_core_version() -> str | None:
    """flux-core's version string, as libflux reports it; None without the bindings."""
    if not fluxcore.find_bindings():
        return None
    try:
        from flux.core.inner import ffi, lib

        return ffi.string(lib.flux_core_version_string()).decode()
    except (ImportError, AttributeError):
        return "unknown"


def has_extension() -> bool:
    """True when the compiled core ``fluxjournal._core`` imports."""
    try:
        from fluxjournal import _core  # noqa: F401
    except ImportError:
        return False
    return True


def implementations() -> list[str]:
    """The consumers this machine can run, the reference (flux-core, else the twin) first."""
    found = [FLUX_CORE] if fluxcore.find_bindings() else []
    found.append(PYTHON)
    if has_extension():
        found.append(CYTHON)
    return found


def supports(impl: str, api: str) -> bool:
    """flux-core's consumer has poll() and callbacks only; the bare loop is a poll loop."""
    if impl == FLUX_CORE:
        return api in ("poll", "callback")
    if impl == RECEIVE:
        return api == "poll"
    return api in APIS


def consumer_class(impl: str) -> type:
    """The job journal consumer class of ``impl``: cython, python (the twin) or flux-core."""
    if impl == FLUX_CORE:
        if not fluxcore.find_bindings():
            raise RuntimeError("flux-core's Python bindings do not import")
        from flux.job.journal import JournalConsumer

        return JournalConsumer
    if impl == CYTHON:
        from fluxjournal import _core as core
    elif impl == PYTHON:
        from fluxjournal import _pycore as core
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    return core.JournalConsumer


# -- payloads -----------------------------------------------------------------------------


def history_payloads(jobs: int, seed: int = 1) -> list[bytes]:
    """The job journal history of a simulated instance with ``jobs`` jobs, then the sentinel."""
    from fluxjournal.testing import SimulatedFlux

    return list(SimulatedFlux(jobs=jobs, seed=seed).journal_payloads())


def live_payloads(events: int, seed: int = 1) -> list[bytes]:
    """The sentinel (an empty history), then ``events`` live one-event responses."""
    from fluxjournal.testing import SimulatedFlux

    payloads = SimulatedFlux(jobs=100, seed=seed, live=events).journal_payloads()
    for payload in payloads:
        if payload == JOB_SENTINEL:
            break
    return [JOB_SENTINEL, *payloads]


def big_R(nodes: int = 1000, cores: int = 48, gpus: int = 4) -> bytes:
    """The R of a ``nodes``-node allocation whose nodes differ (partly allocated ones), so
    that R_lite holds one entry per rank, as for an allocation that is not uniform."""
    entries = []
    for rank in range(nodes):
        first = rank % 7
        children: dict[str, str] = {"core": f"{first}-{cores - 1 - rank % 5}"}
        if rank % 3:
            children["gpu"] = f"0-{gpus - 1 - rank % 2}"
        entries.append({"rank": str(rank), "children": children})
    R = {
        "version": 1,
        "execution": {
            "R_lite": entries,
            "starttime": 1795837788.8382528,
            "expiration": 1795841388.8382528,
            "nodelist": [f"node{rank:04d}" for rank in range(nodes)],
            "properties": {"pbatch": ",".join(str(r) for r in range(0, nodes, 2))},
        },
    }
    return json.dumps(R, separators=(",", ":")).encode()


def with_R(payloads: Iterable[bytes], R: bytes) -> list[bytes]:
    """The payloads with every ``R`` replaced by ``R`` (SimulatedFlux writes it last)."""
    out = []
    for payload in payloads:
        at = payload.rfind(b',"R":{')
        if at >= 0 and payload.endswith(b"}}"):
            payload = payload[:at] + b',"R":' + R + b"}"
        out.append(payload)
    return out


def count_events(payloads: Iterable[bytes], since: float = 0.0) -> int:
    """How many events the payloads hold after ``since`` (counted outside any timing)."""
    from fluxjournal import decode_response

    total = 0
    for payload in payloads:
        stamps = decode_response(payload).timestamps()
        total += len(stamps) if since <= 0 else sum(1 for t in stamps if t > since)
    return total


def median_timestamp(payloads: Iterable[bytes]) -> float:
    """The timestamp in the middle of the history: the ``since`` of a restart benchmark."""
    from fluxjournal import decode_response

    stamps = sorted(t for p in payloads for t in decode_response(p).timestamps())
    return stamps[len(stamps) // 2] if stamps else 0.0


def write_payloads(payloads: Sequence[bytes], path: str | os.PathLike[str]) -> Path:
    """Write payloads one per line (compact JSON has no raw newline) for a child to read."""
    path = Path(path)
    path.write_bytes(b"\n".join(payloads))
    return path


def read_payloads(path: str | os.PathLike[str]) -> tuple[bytes, ...]:
    """The payloads written by :func:`write_payloads`.

    A tuple: once the collector has seen that it holds only bytes it stops tracking it,
    so a big recording does not slow every full collection of the run it feeds.
    """
    return tuple(Path(path).read_bytes().split(b"\n"))


_replay: type | None = None


def _replay_class() -> type:
    global _replay
    if _replay is not None:
        return _replay
    from fluxjournal.testing import ReplayFlux

    class FreshCopies(ReplayFlux):
        """ReplayFlux whose futures hand out a new copy of each payload, as a broker's do:
        a consumer that keeps payloads then pays for them, as it would on a real broker."""

        def rpc(self, *args: Any, **kwargs: Any) -> Any:
            future = super().rpc(*args, **kwargs)
            get_bytes = future.get_bytes
            future.get_bytes = lambda: bytes(memoryview(get_bytes()))
            return future

    _replay = FreshCopies
    return FreshCopies


def replay_handle(payloads: Sequence[bytes]) -> Any:
    """A ReplayFlux handle serving ``payloads``, a fresh copy of each per response."""
    return _replay_class()(payloads)


# -- scenarios ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One scenario: which consumer, through which API, on which kind of stream.

    ``stream`` is "history" (drain to the sentinel) or "live" (an empty history, then count
    ``events`` live events). ``since`` is passed to the consumer; with ``read`` every event's
    jobspec and R are looked at; with ``gc`` False the collector is off while it runs.
    """

    impl: str
    api: str = "poll"
    stream: str = "history"
    since: float = 0.0
    read: bool = False
    gc: bool = True

    @property
    def mode(self) -> str:
        """The short name used in tables: ``history/poll``, ``live/batch``..."""
        extra = "+read" if self.read else ""
        extra += "+since" if self.since else ""
        extra += "" if self.gc else "+nogc"
        return f"{self.stream}/{self.api}{extra}"


class Prepared:
    """A started consumer ready to run a case; calling it runs the timed part.

    Calling returns the number of events delivered (None for the bare receive loop, which
    does not decode). :meth:`close` cancels the request and drains it (needed on a broker).
    """

    def __init__(self, run: Callable[[], int | None], close: Callable[[], None]) -> None:
        self._run = run
        self.close = close

    def __call__(self) -> int | None:
        return self._run()


def _read(event: Any) -> None:
    """Look at an event's jobspec and R, as a consumer that uses them does."""
    jobspec = event.jobspec
    if jobspec is not None:
        jobspec.get("version")
    R = event.R
    if R is not None:
        R.get("execution")


def prepare(
    case: Case,
    payloads: Sequence[bytes] | None = None,
    events: int = 0,
    handle: Any = None,
    directory: str | os.PathLike[str] | None = None,
) -> Prepared:
    """Start ``case``'s consumer on ``handle`` (default: a ReplayFlux of ``payloads``).

    Everything but the receiving and delivering of events happens here, outside the timed
    region. ``events`` is how many live events to wait for when ``case.stream`` is "live".
    An ingest case (``case.stream`` in :data:`INGEST_STREAMS`) writes its database in a new
    temporary directory under ``directory`` (see :func:`prepare_ingest`).
    """
    if case.stream in INGEST_STREAMS:
        if handle is not None or payloads is None:
            raise ValueError("an ingest case replays payloads: give them, not a handle")
        return prepare_ingest(case, payloads, directory)
    if not supports(case.impl, case.api):
        raise ValueError(f"{case.impl} has no {case.api} API")
    if handle is None:
        if payloads is None:
            raise ValueError("prepare() needs payloads or a handle")
        handle = replay_handle(payloads)
    live = case.stream == "live"
    if live and events <= 0:
        raise ValueError("a live case needs the number of events to wait for")
    if case.impl == RECEIVE:
        return _prepare_receive(handle, events if live else 0)
    cls = consumer_class(case.impl)
    consumer = cls(handle, since=case.since, include_sentinel=not live)
    touch = _read if case.read else None
    sentinel = consumer.SENTINEL_EVENT
    if case.api == "callback":
        run = _callback_runner(consumer, handle, sentinel, touch, events if live else 0)
    else:
        consumer.start()
        drain = _LIVE[case.api] if live else _HISTORY[case.api]

        def run() -> int:
            return drain(consumer, sentinel, touch, events)

    def close() -> None:
        consumer.stop()
        if case.api == "callback":
            handle.reactor_run()
        else:
            while consumer.poll() is not None:
                pass

    return Prepared(_with_gc(case.gc, run), close)


def _with_gc(enabled: bool, run: Callable[[], Any]) -> Callable[[], Any]:
    if enabled:
        return run

    def without_gc() -> Any:
        gc.disable()
        try:
            return run()
        finally:
            gc.enable()

    return without_gc


def _history_poll(consumer: Any, sentinel: Any, touch: Any, events: int) -> int:
    poll = consumer.poll
    n = 0
    while True:
        event = poll()
        if event is sentinel or event is None:
            return n
        if touch is not None:
            touch(event)
        n += 1


def _history_batch(consumer: Any, sentinel: Any, touch: Any, events: int) -> int:
    poll_batch = consumer.poll_batch
    n = 0
    while True:
        batch = poll_batch(BATCH_LIMIT)
        if not batch:
            return n
        for event in batch:
            if event is sentinel:
                return n
            if touch is not None:
                touch(event)
            n += 1


def _history_iter(consumer: Any, sentinel: Any, touch: Any, events: int) -> int:
    n = 0
    for event in consumer:
        if event is sentinel:
            break
        if touch is not None:
            touch(event)
        n += 1
    return n


def _live_poll(consumer: Any, sentinel: Any, touch: Any, events: int) -> int:
    poll = consumer.poll
    n = 0
    while n < events:
        event = poll()
        if event is None:
            break
        if touch is not None:
            touch(event)
        n += 1
    return n


def _live_batch(consumer: Any, sentinel: Any, touch: Any, events: int) -> int:
    poll_batch = consumer.poll_batch
    n = 0
    while n < events:
        batch = poll_batch(BATCH_LIMIT)
        if not batch:
            break
        for event in batch:
            if touch is not None:
                touch(event)
            n += 1
    return n


def _live_iter(consumer: Any, sentinel: Any, touch: Any, events: int) -> int:
    n = 0
    for event in consumer:
        if touch is not None:
            touch(event)
        n += 1
        if n == events:
            break
    return n


_HISTORY = {"poll": _history_poll, "batch": _history_batch, "iter": _history_iter}
_LIVE = {"poll": _live_poll, "batch": _live_batch, "iter": _live_iter}


def _callback_runner(
    consumer: Any, handle: Any, sentinel: Any, touch: Any, events: int
) -> Callable[[], int]:
    """Events handed to a callback from the reactor, which stops at the sentinel (history)
    or at the ``events``-th event (live)."""
    count = [0]

    def on_event(event: Any) -> None:
        if event is sentinel or event is None:
            handle.reactor_stop()
            return
        if touch is not None:
            touch(event)
        count[0] += 1
        if count[0] == events:
            handle.reactor_stop()

    consumer.set_callback(on_event)
    consumer.start()

    def run() -> int:
        handle.reactor_run()
        return count[0]

    return run


def _prepare_receive(handle: Any, events: int = 0) -> Prepared:
    """flux-python's own calls with no decoding: the floor of any consumer. It reads to the
    sentinel, or with ``events`` that many responses after it (one event each, live)."""
    rpc = handle.rpc(JOB_TOPIC, {"full": True}, 0, FLUX_RPC_STREAMING)

    def run() -> None:
        wait_for, get_str, reset = rpc.wait_for, rpc.get_str, rpc.reset
        while True:
            wait_for()
            payload = get_str()
            reset()
            if len(payload) < 40 and '"id":-1' in payload:
                break
        for _ in range(events):
            wait_for()
            get_str()
            reset()
        return None

    def close() -> None:
        handle.rpc(
            f"{JOB_TOPIC}-cancel", {"matchtag": rpc.pimpl.get_matchtag()}, 0, FLUX_RPC_NORESPONSE
        )
        while True:
            try:
                rpc.wait_for()
                rpc.get_str()
            except OSError as exc:
                if exc.errno == errno.ENODATA:
                    return
                raise
            rpc.reset()

    return Prepared(run, close)


# -- the ingest group ---------------------------------------------------------------------
#
# ``fluxjournal ingest`` against what a site would write itself and against the bare
# SQLite cost. Every case replays the same payloads (fresh copies, through ReplayFlux)
# into a new SQLite file with ingest's schema and pragmas (:mod:`fluxjournal.schema`),
# made before the timing; the timed part is the consuming and the writing, commits
# included. Nothing in fluxjournal's ingest path imports this module.

INGEST = "ingest"
"""Stream of an ingest case: the history into a new database."""
RESTART = "restart"
"""Stream of an ingest case: the history again, into the database that already holds it."""
INGEST_STREAMS = (INGEST, RESTART)
FLOOR = "floor"
"""Implementation of the floor cases: executemany of ingest's own rows, built beforehand."""
FLUXJOURNAL = "fluxjournal"
"""Implementation of the ``ingest.run()`` cases."""
#: The instance name ``ingest.run()`` stores under; the others write instance number 1.
INGEST_INSTANCE_NAME = "bench"
INGEST_INSTANCE = 1
#: api of the baseline: the consumer's poll(), a row per event, executemany per batch.
BASELINE_API = "executemany"
#: api of the floor cases: the event rows alone, or the event rows and the job rows.
FLOOR_EVENTS = "events"
FLOOR_JOBS = "events+jobs"
#: api of the ``ingest.run()`` cases.
RUN_API = "run"


def baseline_impl() -> str:
    """The consumer of the baseline: flux-core's when its bindings import, else the twin."""
    return FLUX_CORE if fluxcore.find_bindings() else PYTHON


@dataclasses.dataclass(frozen=True)
class IngestRow:
    """One row of the ingest group: its name in the tables, its case, what it writes."""

    name: str
    case: Case
    what: str

    @property
    def writes(self) -> bool:
        """False for the drain, which has no database."""
        return self.case.stream in INGEST_STREAMS

    def expected(self, events: int) -> int:
        """What a run must return on a history of ``events`` events: the event rows it
        writes (none on a restart), or the events the drain delivers."""
        return 0 if self.case.stream == RESTART else events


def ingest_rows(baseline: str | None = None) -> list[IngestRow]:
    """The rows of the ingest group, in table order (``baseline``: its consumer)."""
    baseline = baseline or baseline_impl()
    return [
        IngestRow(
            "baseline",
            Case(baseline, BASELINE_API, INGEST),
            f"{baseline} poll() to the sentinel, json.dumps, executemany per batch",
        ),
        IngestRow("floor", Case(FLOOR, FLOOR_EVENTS, INGEST), "executemany of ingest's rows"),
        IngestRow(
            "floor+jobs",
            Case(FLOOR, FLOOR_JOBS, INGEST),
            "the same, and ingest's job rows (upsert)",
        ),
        IngestRow("ingest", Case(FLUXJOURNAL, RUN_API, INGEST), "ingest.run(once=True), new db"),
        IngestRow("drain", Case(CYTHON, "poll", "history"), "cython poll() to the sentinel"),
        IngestRow("restart", Case(FLUXJOURNAL, RUN_API, RESTART), "ingest.run(once=True) again"),
    ]


class PreparedIngest(Prepared):
    """A prepared ingest case: calling it returns the event rows it wrote.

    :meth:`close` closes the database, counts what it holds (:attr:`events_stored`,
    :attr:`jobs_stored`), removes it, and raises RuntimeError unless the database gained
    exactly the rows the run says it wrote.
    """

    def __init__(
        self,
        run: Callable[[], int],
        path: Path,
        instance: int,
        finish: Callable[[], None],
        before: int = 0,
    ) -> None:
        self.path = path
        self.instance = instance
        self.before = before
        self.written: int | None = None
        self.events_stored: int | None = None
        self.jobs_stored: int | None = None
        self._finish = finish

        def counted() -> int:
            self.written = run()
            return self.written

        super().__init__(counted, self._close)

    def _close(self) -> None:
        import shutil

        if self.path is None:
            return
        try:
            self._finish()
            self.events_stored, self.jobs_stored = _count_rows(self.path, self.instance)
        finally:
            shutil.rmtree(self.path.parent, ignore_errors=True)
            self.path = None
        if self.written is not None and self.events_stored != self.before + self.written:
            raise RuntimeError(
                f"the database holds {self.events_stored} events: {self.before} before the "
                f"run and {self.written} written by it were expected"
            )


def _count_rows(path: Path, instance: int) -> tuple[int, int]:
    """How many event rows and job rows of ``instance`` the database at ``path`` holds."""
    import sqlite3

    from fluxjournal import schema

    db = sqlite3.connect(os.fspath(path))
    try:
        (events,) = db.execute(schema.SQLITE.count_events, (instance,)).fetchone()
        jobs = sum(n for _, n in db.execute(schema.SQLITE.count_jobs_by_state, (instance,)))
    finally:
        db.close()
    return events, jobs


def new_database(path: str | os.PathLike[str]) -> Any:
    """A new SQLite database at ``path`` as ingest makes one: its pragmas, then its schema
    (one transaction); an autocommit ``sqlite3.Connection``, as ingest's store keeps."""
    import sqlite3

    from fluxjournal import schema

    db = sqlite3.connect(os.fspath(path), isolation_level=None)
    for pragma in schema.SQLITE_PRAGMAS:
        db.execute(pragma)
    db.execute(schema.SQLITE_BEGIN_WRITE)
    for statement in schema.SQLITE.schema():
        db.execute(statement)
    db.execute("COMMIT")
    return db


def _write_batch(db: Any, events: Sequence[tuple], jobs: Sequence[tuple] = ()) -> None:
    """One transaction: executemany of the event rows (and job rows), then the commit."""
    from fluxjournal import schema

    db.execute(schema.SQLITE_BEGIN_WRITE)
    db.executemany(schema.SQLITE.insert_events, events)
    if jobs:
        db.executemany(schema.SQLITE.upsert_jobs, jobs)
    db.execute("COMMIT")


def baseline_ingest(
    consumer: Any, db: Any, instance: int, batch: int, write: Callable[..., None] | None = None
) -> int:
    """What a site would write with a journal consumer: poll() to the sentinel, a row per
    event (instance, jobid, position in its job's eventlog, timestamp, name, the context
    as ``json.dumps`` writes it), executemany and a commit every ``batch`` rows
    (``write(db, rows)``; SQLite's when not given)."""
    write = write or _write_batch
    poll = consumer.poll
    sentinel = consumer.SENTINEL_EVENT
    dumps = json.dumps
    positions: dict[int, int] = {}
    rows: list[tuple] = []
    written = 0
    while True:
        event = poll()
        if event is None or event is sentinel:
            break
        jobid = int(event.jobid)
        position = positions.get(jobid, 0)
        positions[jobid] = position + 1
        rows.append((instance, jobid, position, event.timestamp, event.name, dumps(event.context)))
        if len(rows) >= batch:
            write(db, rows)
            written += len(rows)
            rows = []
    if rows:
        write(db, rows)
        written += len(rows)
    return written


class _CapturingStore:
    """Stands in for ``SQLiteStore``: an empty database that keeps every write asked of it,
    so that the floor writes exactly ingest's rows, in ingest's batches."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[tuple], list[tuple]]] = []

    def job_cursors(self, instance: int) -> dict:
        return {}

    def active_jobs(self, instance: int) -> dict:
        return {}

    def defer_indexes(self) -> bool:
        return False

    def build_indexes(self) -> None:
        pass

    def write(self, events: Sequence[tuple], jobs: Sequence[tuple]) -> None:
        self.batches.append((list(events), list(jobs)))


def ingest_batches(payloads: Sequence[bytes], instance: int = INGEST_INSTANCE) -> list:
    """The (event rows, job rows) of each transaction ``ingest.run()`` writes into a new
    database from ``payloads``: what the floor cases write."""
    from fluxjournal import ingest

    store = _CapturingStore()
    ingest.run(replay_handle(payloads), store, instance, once=True)  # type: ignore[arg-type]
    return store.batches


def prepare_ingest(
    case: Case, payloads: Sequence[bytes], directory: str | os.PathLike[str] | None = None
) -> PreparedIngest:
    """Prepare an ingest case: its database (under a new directory in ``directory``), its
    replay handle, and what it needs built beforehand; the timed part is what remains."""
    work = Path(tempfile.mkdtemp(prefix=f"fluxjournal-{case.impl}-{case.stream}-", dir=directory))
    path = work / "journal.db"
    try:
        return _prepare_ingest(case, payloads, path)
    except BaseException:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        raise


def _prepare_ingest(case: Case, payloads: Sequence[bytes], path: Path) -> PreparedIngest:
    from fluxjournal import ingest
    from fluxjournal.sqlite_store import SQLiteStore

    if case.impl == FLUXJOURNAL and case.api == RUN_API:
        before = 0
        if case.stream == RESTART:  # the first run, then a restarted process's store
            with SQLiteStore(path) as store:
                instance = store.instance(INGEST_INSTANCE_NAME, "ReplayFlux")
                first = ingest.run(replay_handle(payloads), store, instance, once=True)
                before = first.stored_events
        store = SQLiteStore(path)
        instance = store.instance(INGEST_INSTANCE_NAME, "ReplayFlux")
        handle = replay_handle(payloads)

        def run() -> int:
            return ingest.run(handle, store, instance, once=True).stored_events

        return PreparedIngest(run, path, instance, store.close, before)
    if case.stream != INGEST:
        raise ValueError(f"no {case.stream} case for {case.impl}")
    if case.impl == FLOOR and case.api in (FLOOR_EVENTS, FLOOR_JOBS):
        batches = ingest_batches(payloads)
        if case.api == FLOOR_EVENTS:
            batches = [(events, []) for events, _ in batches]
        db = new_database(path)

        def run() -> int:
            written = 0
            for events, jobs in batches:
                _write_batch(db, events, jobs)
                written += len(events)
            return written

        return PreparedIngest(run, path, INGEST_INSTANCE, db.close)
    if case.impl in CONSUMERS and case.api == BASELINE_API:
        consumer = consumer_class(case.impl)(replay_handle(payloads), include_sentinel=True)
        consumer.start()
        db = new_database(path)

        def run() -> int:
            return baseline_ingest(consumer, db, INGEST_INSTANCE, ingest.BATCH_EVENTS)

        return PreparedIngest(run, path, INGEST_INSTANCE, db.close)
    raise ValueError(f"unknown ingest case {case.impl} {case.mode}")


# -- measuring, in a child process --------------------------------------------------------


class PeakMeter:
    """Peak RSS growth of this process from :meth:`start` to :meth:`stop`, in MB.

    On Linux, writing 5 to /proc/self/clear_refs resets the peak (VmHWM), so the growth of one
    run is exact whatever the process did before. Elsewhere, :attr:`method` is "tracemalloc"
    and the caller measures a separate, untimed run under tracemalloc.
    """

    def __init__(self) -> None:
        self.method = "rss" if self._resettable() else "tracemalloc"
        self.base = 0

    @staticmethod
    def _resettable() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return PeakMeter._status_kb("VmHWM") > 0
        except (OSError, ValueError):
            return False

    @staticmethod
    def _status_kb(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise ValueError(field)

    def start(self) -> None:
        """Reset the peak and take the current RSS as the base."""
        if self.method == "rss":
            _malloc_trim()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = self._status_kb("VmRSS")
        else:
            import tracemalloc

            tracemalloc.start()
            self.base = tracemalloc.get_traced_memory()[0]

    def stop(self) -> float:
        """The peak growth since :meth:`start`, in MB."""
        if self.method == "rss":
            return max(0, self._status_kb("VmHWM") - self.base) / 1024
        import tracemalloc

        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return max(0, peak - self.base) / 1024 / 1024


def _malloc_trim() -> None:
    """Give the C heap's free pages back to the system (glibc), so that memory freed before a
    run is not silently reused by it: the RSS growth then counts every page the run needs."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclasses.dataclass
class Measurement:
    """What a child reports for one case: best time, every time, events, peak growth."""

    case: Case
    events: int
    seconds: float
    times: list[float]
    peak_mb: float
    memory_method: str
    delivered: int | None

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else math.inf


def run_case(
    case: Case,
    payloads: Sequence[bytes] | None,
    events: int,
    repeat: int = 1,
    handle_factory: Callable[[], Any] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run ``case`` ``repeat`` times in this process: best time, peak growth of the first run.

    Meant for a fresh process (see :func:`measure`): then nothing else inflates the peak.
    An ingest case's database is made under ``directory``, checked and removed after
    each run (:meth:`PreparedIngest.close`).
    """
    closes = handle_factory is not None or case.stream in INGEST_STREAMS
    meter = PeakMeter()
    times: list[float] = []
    peak: float | None = None
    delivered: int | None = None
    handle = handle_factory() if handle_factory is not None else None
    for i in range(max(1, repeat)):
        prepared = prepare(case, payloads, events, handle, directory)
        gc.collect()
        if i == 0 and meter.method == "rss":
            meter.start()
        t0 = time.perf_counter()
        delivered = prepared()
        times.append(time.perf_counter() - t0)
        if i == 0 and meter.method == "rss":
            peak = meter.stop()
        if closes:
            prepared.close()
        del prepared
        gc.collect()
    if peak is None:  # tracemalloc slows the run down: measure an extra one, untimed
        prepared = prepare(case, payloads, events, handle, directory)
        gc.collect()
        meter.start()
        prepared()
        peak = meter.stop()
        if closes:
            prepared.close()
    return {
        "times": times,
        "peak_mb": peak,
        "memory_method": meter.method,
        "delivered": delivered,
    }


def _child_main() -> int:
    """The child's side of :func:`measure`: a JSON request on stdin, a JSON result on stdout."""
    spec = json.loads(sys.stdin.read())
    for part in spec.get("sys_path", []):
        if part not in sys.path:
            sys.path.append(part)
    case = Case(**spec["case"])
    payloads = read_payloads(spec["payloads"]) if spec.get("payloads") else None
    factory = None
    if spec.get("uri"):
        import flux

        uri = spec["uri"]

        def factory() -> Any:
            return flux.Flux(uri)

    result = run_case(
        case, payloads, spec["events"], spec["repeat"], factory, spec.get("directory")
    )
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


def measure(
    case: Case,
    payload_file: str | os.PathLike[str] | None,
    events: int,
    repeat: int = 1,
    uri: str | None = None,
    timeout: float | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> Measurement:
    """Run ``case`` in a fresh Python process: best of ``repeat`` and the peak RSS growth.

    The child reads the payloads from ``payload_file`` (or connects to the broker at
    ``uri``), so that every implementation sees the same bytes and none shares a heap.
    An ingest case writes its databases under ``directory`` (default: the system's
    temporary directory).
    """
    if case.impl == FLUX_CORE:
        fluxcore.find_bindings()
    import fluxjournal

    spec = {
        "case": dataclasses.asdict(case),
        "payloads": None if payload_file is None else str(payload_file),
        "uri": uri,
        "events": events,
        "repeat": repeat,
        "directory": None if directory is None else os.fspath(directory),
        "sys_path": [
            str(Path(fluxjournal.__file__).resolve().parent.parent),
            *fluxcore.added_paths,
        ],
    }
    code = "import sys\nfrom fluxjournal.bench import _child_main\nsys.exit(_child_main())\n"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark child for {case.impl} {case.mode} failed:\n{proc.stderr.strip()}"
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return Measurement(
        case=case,
        events=events,
        seconds=min(result["times"]),
        times=result["times"],
        peak_mb=result["peak_mb"],
        memory_method=result["memory_method"],
        delivered=result["delivered"],
    )


# -- the bench command --------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One line of the table: a measurement at one history size, with its ratios."""

    jobs: int
    impl: str
    result: Measurement
    speedup: float | None = None
    memory_share: float | None = None

    @property
    def mode(self) -> str:
        return self.result.case.mode


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def _impls(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in (RECEIVE, *CONSUMERS)]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown implementation(s) {', '.join(unknown) or text!r}: "
            f"choose from {RECEIVE}, {', '.join(CONSUMERS)}"
        )
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The options of ``fluxjournal bench``."""
    parser = argparse.ArgumentParser(
        prog="fluxjournal bench",
        description=(
            "Compare fluxjournal's compiled consumer, its pure-Python twin and flux-core's "
            "consumer (when its bindings import) on the same SimulatedFlux payloads replayed "
            "through ReplayFlux: history drain via poll(), poll_batch() and the iterator, and "
            "a live stream of one-event responses. Each implementation runs in a fresh child "
            "process: best-of-R time and peak RSS growth."
        ),
    )
    parser.add_argument(
        "--jobs", type=_positive, default=30000, help="jobs in the history (default 30000)"
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help="comma-separated history sizes in jobs, e.g. 1000,10000,30000 (overrides --jobs)",
    )
    parser.add_argument(
        "--live",
        type=_positive,
        help="live one-event responses (default: twice the number of jobs)",
    )
    parser.add_argument("--repeat", type=_positive, default=3, help="best of R runs (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="SimulatedFlux seed (default 1)")
    parser.add_argument(
        "--modes",
        default=",".join(f"{s}/{a}" for s, a in HEADLINE),
        help="comma-separated modes to run (default: %(default)s)",
    )
    parser.add_argument(
        "--impls",
        type=_impls,
        help=(
            "comma-separated subset of receive,flux-core,python,cython to run (default: all "
            "that this machine has); large --sizes are quicker without flux-core and python"
        ),
    )
    parser.add_argument("--chart", metavar="PATH.png", help="write a PNG chart (needs matplotlib)")
    parser.add_argument("--json", metavar="PATH", help="write every measurement as JSON")
    group = parser.add_argument_group(
        "ingest group",
        "--ingest runs `fluxjournal ingest` against what a site would write, instead of the "
        "consumer comparison, on the same history (--jobs or --sizes; --repeat, --seed, "
        "--json apply; --modes, --impls, --live and --chart do not). Each row runs in a "
        "fresh child process and writes a new SQLite database with ingest's schema and "
        "pragmas (WAL, synchronous=FULL): baseline = flux-core's JournalConsumer (the "
        "pure-Python twin when flux-core's bindings do not import) polled to the sentinel, "
        "one row per event with json.dumps(context), executemany and a commit every "
        "fluxjournal.ingest.BATCH_EVENTS rows; floor = executemany of exactly ingest's "
        "event rows in ingest's transactions, built before the timing; floor+jobs = the "
        "same with ingest's job rows; ingest = ingest.run(once=True) into a new database "
        "(events and the jobs table); drain = fluxjournal's consumer poll() to the "
        "sentinel; restart = ingest.run(once=True) again on the database that holds it all "
        "(must write nothing). Then the ratios with their targets: ingest speed-up over "
        "baseline >= 8x, ingest/floor <= 1.5x, restart/drain <= 1.5x, ingest peak memory/"
        "drain peak memory <= 2x (reported, never enforced: the exit status is 1 only when "
        "a row wrote the wrong number of rows).",
    )
    group.add_argument("--ingest", action="store_true", help="run the ingest group (see above)")
    group.add_argument(
        "--db-dir",
        metavar="DIR",
        help="where the ingest group's databases are written, each in a new temporary "
        "directory (default: the system's temporary directory, beside the payload files); "
        "put it on the disk a site would use: on tmpfs commits cost nothing",
    )
    group = parser.add_argument_group(
        "PostgreSQL group",
        "--postgres URL runs ingest into PostgreSQL against a baseline of the consumer with "
        "psycopg's executemany and against COPY of ingest's rows, then --instances "
        "simulated instances at once against one (see fluxjournal.bench_postgres).",
    )
    group.add_argument("--postgres", metavar="URL", help="run the PostgreSQL group there")
    group.add_argument(
        "--instances", type=_positive, default=10, help="instances at once (default 10)"
    )
    from fluxjournal import bench_long

    group = parser.add_argument_group(
        "long runs",
        "--long measures memory over long runs instead, each implementation (--impls) in a "
        "fresh child: --long-drains drains of every capture in --long-captures, and one "
        "SimulatedFlux live stream of --long-events events; RSS, C heap, allocated blocks "
        "and tracked objects after a warm-up and at the end (see fluxjournal.bench_long).",
    )
    group.add_argument("--long", action="store_true", help="run the long runs (see above)")
    group.add_argument(
        "--long-events",
        type=_positive,
        default=bench_long.LONG_EVENTS,
        help=f"live events of the long live run (default {bench_long.LONG_EVENTS:,})",
    )
    group.add_argument(
        "--long-drains",
        type=_positive,
        default=bench_long.LONG_DRAINS,
        help=f"drains of the captures (default {bench_long.LONG_DRAINS:,})",
    )
    group.add_argument(
        "--long-captures",
        metavar="DIR",
        default=bench_long.CAPTURES,
        help=f"the folder of the captures (*.jsonl) to drain (default {bench_long.CAPTURES})",
    )
    return parser


def _parse_modes(text: str) -> list[tuple[str, str]]:
    modes = []
    for part in text.split(","):
        stream, _, api = part.strip().partition("/")
        if stream not in ("history", "live") or api not in APIS:
            raise ValueError(f"unknown mode {part!r}: use history/<api> or live/<api>")
        modes.append((stream, api))
    return modes


def _ratios(rows: list[Row], reference: str) -> None:
    """Speed-up and memory share of each row against the reference's poll() at its size."""
    refs = {
        (r.jobs, r.result.case.stream): r
        for r in rows
        if r.impl == reference and r.result.case.api == "poll"
    }
    for row in rows:
        ref = refs.get((row.jobs, row.result.case.stream))
        if ref is None:
            continue
        row.speedup = row.result.events_per_s / ref.result.events_per_s
        if ref.result.peak_mb >= MIN_REFERENCE_MB:
            row.memory_share = row.result.peak_mb / ref.result.peak_mb


HEADER = (
    "jobs",
    "implementation",
    "mode",
    "events",
    "seconds",
    "events/s",
    "us/event",
    "speed-up",
    "peak-MB",
    "mem/ref",
)


def format_table(rows: Sequence[Row]) -> str:
    """The plain-text table: one line per implementation and mode."""
    lines = [HEADER]
    for row in rows:
        m = row.result
        lines.append(
            (
                str(row.jobs),
                row.impl,
                row.mode,
                str(m.events),
                f"{m.seconds:.4g}",
                f"{m.events_per_s:.0f}",
                f"{1e6 * m.seconds / m.events:.2f}" if m.events else "-",
                "-" if row.speedup is None else f"{row.speedup:.1f}x",
                f"{m.peak_mb:.1f}",
                "-" if row.memory_share is None else f"{row.memory_share:.3f}",
            )
        )
    return _aligned(lines, {1, 2})


def write_chart(rows: Sequence[Row], path: str | os.PathLike[str]) -> None:
    """Events/s and peak memory against history size, one line per implementation and API."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {FLUX_CORE: "tab:red", PYTHON: "tab:blue", CYTHON: "tab:green", RECEIVE: "gray"}
    styles = {"poll": "-", "batch": "--", "iter": ":", "callback": "-."}
    series: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.result.case.stream == "history":
            series.setdefault((row.impl, row.result.case.api), []).append(row)
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(12, 4.8))
    for (impl, api), points in series.items():
        points.sort(key=lambda r: r.result.events)
        x = [r.result.events for r in points]
        look = {
            "color": colors.get(impl),
            "linestyle": styles.get(api, "-"),
            "marker": "o",
            "label": f"{impl} {api}",
        }
        speed.plot(x, [r.result.events_per_s for r in points], **look)
        if impl != RECEIVE:  # it keeps nothing
            memory.plot(x, [r.result.peak_mb for r in points], **look)
    speed.set(
        xscale="log",
        yscale="log",
        xlabel="history events",
        ylabel="events/s",
        title="History drain throughput",
    )
    memory.set(
        xscale="log",
        yscale="log",
        xlabel="history events",
        ylabel="peak RSS growth (MB)",
        title="History drain peak memory",
    )
    for ax in (speed, memory):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("fluxjournal vs flux-core's JournalConsumer (SimulatedFlux via ReplayFlux)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _environment() -> str:
    import fluxjournal

    parts = [
        f"python {platform.python_version()}",
        f"fluxjournal {fluxjournal.__version__}",
        f"flux-core {flux_core_version() or 'absent'}",
        f"{platform.machine()}, {os.cpu_count()} CPUs",
    ]
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the headline comparisons, print the table; 0 on success, 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.long:
        from fluxjournal import bench_long

        return bench_long.main(args, argv)
    if args.postgres:
        from fluxjournal import bench_postgres

        return bench_postgres.main(args, argv)
    if args.ingest:
        if args.chart or args.impls is not None:
            parser.error("--chart and --impls apply to the consumer comparison, not to --ingest")
        return ingest_main(args, argv)
    if args.db_dir is not None:
        parser.error("--db-dir applies to --ingest")
    try:
        modes = _parse_modes(args.modes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.chart:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(
                "fluxjournal bench: --chart needs matplotlib (pip install matplotlib)",
                file=sys.stderr,
            )
            return 2
    sizes = args.sizes or [args.jobs]
    impls = implementations()
    if args.impls is not None:
        missing = [name for name in args.impls if name not in (RECEIVE, *impls)]
        if missing:
            parser.error(f"not available on this machine: {', '.join(missing)}")
        impls = [name for name in impls if name in args.impls]
    reference = FLUX_CORE if FLUX_CORE in impls else PYTHON
    print(f"# {_environment()}")
    print(f"# command: fluxjournal bench {' '.join(argv if argv is not None else sys.argv[1:])}")
    if FLUX_CORE not in impls and args.impls is None:
        print("# flux-core's bindings do not import: ratios are against the pure-Python twin")
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fluxjournal-bench-") as tmp:
        with_receive = args.impls is None or RECEIVE in args.impls
        for jobs in sizes:
            rows += _run_size(jobs, args, modes, impls, Path(tmp), with_receive)
    _ratios(rows, reference)
    print(
        f"# best of {args.repeat}; speed-up = events/s over {reference}'s poll() on the same "
        "payloads in this run; peak-MB = peak RSS growth of a fresh child during the first "
        f"run; mem/ref = peak-MB over {reference}'s. Total {time.perf_counter() - started:.0f} s"
    )
    print(format_table(rows))
    for row in rows:
        m = row.result
        if m.delivered is not None and m.delivered != m.events:
            print(
                f"warning: {row.impl} {row.mode} delivered {m.delivered} events, "
                f"expected {m.events}",
                file=sys.stderr,
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps([_row_json(r) for r in rows], indent=1) + "\n", encoding="utf-8"
        )
    if args.chart:
        write_chart(rows, args.chart)
        print(f"# chart written to {args.chart}")
    return 0


def _row_json(row: Row) -> dict[str, Any]:
    m = row.result
    return {
        "jobs": row.jobs,
        "implementation": row.impl,
        "mode": row.mode,
        "case": dataclasses.asdict(m.case),
        "events": m.events,
        "seconds": m.seconds,
        "times": m.times,
        "events_per_s": m.events_per_s,
        "speedup": row.speedup,
        "peak_mb": m.peak_mb,
        "memory_share": row.memory_share,
        "memory_method": m.memory_method,
    }


def _run_size(
    jobs: int,
    args: argparse.Namespace,
    modes: list[tuple[str, str]],
    impls: list[str],
    tmp: Path,
    with_receive: bool = True,
) -> list[Row]:
    """Every mode and implementation on one history size (payloads generated once)."""
    history = history_payloads(jobs, args.seed)
    history_events = count_events(history)
    live_count = args.live or 2 * jobs
    files = {"history": write_payloads(history, tmp / f"history-{jobs}.jsonl")}
    megabytes = sum(map(len, history)) / 1e6
    del history
    notes = f"history of {jobs} jobs: {history_events} events ({megabytes:.1f} MB)"
    if any(stream == "live" for stream, _ in modes):
        files["live"] = write_payloads(
            live_payloads(live_count, args.seed), tmp / f"live-{jobs}.jsonl"
        )
        notes += f"; live: {live_count} one-event responses"
    print(f"# {notes}", flush=True)
    rows = []
    for stream, api in modes:
        candidates = ([RECEIVE] if api == "poll" and with_receive else []) + impls
        for impl in candidates:
            if not supports(impl, api):
                continue
            case = Case(impl, api, stream)
            events = history_events if stream == "history" else live_count
            print(f"#   {jobs} jobs: {impl} {case.mode} ...", file=sys.stderr, flush=True)
            result = measure(case, files[stream], events, args.repeat)
            rows.append(Row(jobs, impl, result))
    return rows


# -- the ingest group's command -----------------------------------------------------------

#: The targets of the ingest group: (label, numerator row, denominator row, measure,
#: comparison, bound). A None bound is reported without a target.
INGEST_TARGETS = (
    ("ingest speed-up over baseline", "baseline", "ingest", "seconds", ">=", 8.0),
    ("ingest time / floor", "ingest", "floor", "seconds", "<=", 1.5),
    ("ingest time / floor+jobs", "ingest", "floor+jobs", "seconds", "<=", None),
    ("restart time / drain", "restart", "drain", "seconds", "<=", 1.5),
    ("ingest peak memory / drain peak", "ingest", "drain", "peak_mb", "<=", 2.0),
)


@dataclasses.dataclass
class IngestMeasurement:
    """One row of the ingest table: a measurement at one history size."""

    jobs: int
    row: IngestRow
    result: Measurement

    @property
    def problem(self) -> str | None:
        """Why the row's run was wrong (wrong number of rows written), or None."""
        expected = self.row.expected(self.result.events)
        if self.result.delivered != expected:
            kind = "wrote" if self.row.writes else "delivered"
            return (
                f"{self.row.name} ({self.jobs} jobs) {kind} {self.result.delivered} rows, "
                f"expected {expected}"
            )
        return None


def ingest_ratios(rows: Sequence[IngestMeasurement]) -> list[dict[str, Any]]:
    """The ratios of :data:`INGEST_TARGETS` at each size, with whether each is met."""
    out = []
    for jobs in dict.fromkeys(r.jobs for r in rows):
        at = {r.row.name: r.result for r in rows if r.jobs == jobs}
        for label, top, bottom, measure_, op, bound in INGEST_TARGETS:
            if top not in at or bottom not in at:
                continue
            a, b = getattr(at[top], measure_), getattr(at[bottom], measure_)
            if a is None or b is None:  # not measured (memory off in the benchmark suite)
                continue
            if measure_ == "peak_mb" and b < MIN_REFERENCE_MB:
                value = met = None  # the drain keeps next to nothing: no meaningful ratio
            else:
                value = a / b if b > 0 else math.inf
                met = None if bound is None else value >= bound if op == ">=" else value <= bound
            out.append(
                {
                    "jobs": jobs,
                    "ratio": label,
                    "value": value,
                    "op": op,
                    "target": bound,
                    "met": met,
                }
            )
    return out


def _aligned(lines: list[tuple[str, ...]], left: set[int]) -> str:
    """The lines as a table: columns as wide as their widest cell, those in ``left``
    aligned left, the others right."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for line in lines:
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def format_ingest_table(rows: Sequence[IngestMeasurement]) -> str:
    """The ingest group's table: one line per row and size."""
    lines = [
        (
            "jobs",
            "row",
            "events",
            "written",
            "seconds",
            "events/s",
            "us/event",
            "peak-MB",
            "what",
        )
    ]
    for r in rows:
        m = r.result
        lines.append(
            (
                str(r.jobs),
                r.row.name,
                str(m.events),
                str(m.delivered) if r.row.writes else "-",
                f"{m.seconds:.4g}",
                f"{m.events_per_s:.0f}",
                f"{1e6 * m.seconds / m.events:.2f}" if m.events else "-",
                f"{m.peak_mb:.1f}",
                r.row.what,
            )
        )
    return _aligned(lines, {1, 8})


def format_ingest_ratios(ratios: Sequence[dict[str, Any]]) -> str:
    """The ratios and their targets, one line each."""
    lines = [("jobs", "ratio", "value", "target", "")]
    for r in ratios:
        target = "-" if r["target"] is None else f"{r['op']} {r['target']:g}x"
        verdict = "" if r["met"] is None else "met" if r["met"] else "MISSED"
        value = "-" if r["value"] is None else f"{r['value']:.2f}x"
        lines.append((str(r["jobs"]), r["ratio"], value, target, verdict))
    return _aligned(lines, {1, 4})


def _filesystem(path: str | os.PathLike[str]) -> str | None:
    """The type of the file system ``path`` is on (Linux: /proc/self/mounts), or None."""
    target = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1].replace("\\040", " ")
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, parts[2]
    except OSError:
        return None
    return kind


def ingest_main(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """``fluxjournal bench --ingest``: the ingest group's table and ratios."""
    from fluxjournal import ingest

    sizes = args.sizes or [args.jobs]
    baseline = baseline_impl()
    print(f"# {_environment()}")
    print(f"# command: fluxjournal bench {' '.join(argv if argv is not None else sys.argv[1:])}")
    if baseline != FLUX_CORE:
        print(
            "# flux-core's bindings do not import: the baseline consumer is fluxjournal's "
            "pure-Python twin (put flux-core's `flux` on PATH for flux-core's own)"
        )
    if args.db_dir is not None and not os.path.isdir(args.db_dir):
        print(f"fluxjournal bench: --db-dir {args.db_dir}: no such directory", file=sys.stderr)
        return 2
    rows: list[IngestMeasurement] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fluxjournal-bench-") as tmp:
        db_dir = args.db_dir or tmp
        print(f"# databases under {db_dir} ({_filesystem(db_dir) or 'file system unknown'})")
        for jobs in sizes:
            rows += _run_ingest_size(jobs, args, Path(tmp), db_dir, baseline)
    print(
        f"# best of {args.repeat}, each row in a fresh child process; a commit every "
        f"{ingest.BATCH_EVENTS} event rows (fluxjournal.ingest.BATCH_EVENTS); written = event "
        "rows the run added to its database (checked against the database); peak-MB = peak "
        "RSS growth during the first run. ingest and floor+jobs also write the jobs table, "
        f"baseline and floor do not. Total {time.perf_counter() - started:.0f} s"
    )
    print(format_ingest_table(rows))
    ratios = ingest_ratios(rows)
    print()
    print(format_ingest_ratios(ratios))
    problems = [r.problem for r in rows if r.problem]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": [_ingest_row_json(r) for r in rows], "ratios": ratios}, indent=1)
            + "\n",
            encoding="utf-8",
        )
    return 1 if problems else 0


def _ingest_row_json(r: IngestMeasurement) -> dict[str, Any]:
    m = r.result
    return {
        "jobs": r.jobs,
        "row": r.row.name,
        "what": r.row.what,
        "case": dataclasses.asdict(m.case),
        "events": m.events,
        "written": m.delivered if r.row.writes else None,
        "seconds": m.seconds,
        "times": m.times,
        "events_per_s": m.events_per_s,
        "peak_mb": m.peak_mb,
        "memory_method": m.memory_method,
    }


def _run_ingest_size(
    jobs: int,
    args: argparse.Namespace,
    tmp: Path,
    db_dir: str | os.PathLike[str],
    baseline: str,
) -> list[IngestMeasurement]:
    """Every row of the ingest group on one history size (payloads generated once)."""
    history = history_payloads(jobs, args.seed)
    events = count_events(history)
    payload_file = write_payloads(history, tmp / f"history-{jobs}.jsonl")
    megabytes = sum(map(len, history)) / 1e6
    del history
    print(f"# history of {jobs} jobs: {events} events ({megabytes:.1f} MB)", flush=True)
    out = []
    for row in ingest_rows(baseline):
        print(f"#   {jobs} jobs: {row.name} ...", file=sys.stderr, flush=True)
        result = measure(row.case, payload_file, events, args.repeat, directory=db_dir)
        out.append(IngestMeasurement(jobs, row, result))
    return out


if __name__ == "__main__":
    sys.exit(main())
