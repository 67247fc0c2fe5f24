"""What every benchmark group shares: the implementations, the consumer cases, the rows a
site would write, the child-process measurement and the tables.

Each group (``consumer``, ``ingest``, ``long``, ``postgres``) imports this module and
:mod:`fluxjournal.bench.payloads`, never another group, so that none loads the others.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from fluxjournal.bench.payloads import read_payloads, replay_handle
from fluxjournal.wire import bindings
from fluxjournal.wire.protocol import FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING, JOB_TOPIC

CYTHON = "cython"
PYTHON = "python"
FLUX_CORE = "flux-core"
RECEIVE = "receive"
"""The bare receive loop (``wait_for``, ``get_str``, ``reset``; no decoding): the floor."""

CONSUMERS = (FLUX_CORE, PYTHON, CYTHON)
APIS = ("poll", "batch", "iter", "callback")
#: The streams of a consumer case: the history to the sentinel, or live events after it.
STREAMS = ("history", "live")
#: The batch size of the batch modes: ``poll_batch()``'s default.
BATCH_LIMIT = 64
#: Below this peak growth (a live stream keeps next to nothing) a memory ratio means nothing.
MIN_REFERENCE_MB = 1.0


# -- implementations ----------------------------------------------------------------------


def flux_core_version() -> str | None:
    """flux-core's version string, as libflux reports it; None without the bindings."""
    if not bindings.find_bindings():
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
    found = [FLUX_CORE] if bindings.find_bindings() else []
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


def core_module(impl: str) -> Any:
    """fluxjournal's core module of ``impl``: ``_core`` (cython) or ``_pycore`` (python)."""
    if impl == CYTHON:
        from fluxjournal import _core

        return _core
    if impl == PYTHON:
        from fluxjournal import _pycore

        return _pycore
    raise ValueError(f"not one of fluxjournal's cores: {impl!r}")


def consumer_class(impl: str) -> type:
    """The job journal consumer class of ``impl``: cython, python (the twin) or flux-core."""
    if impl == FLUX_CORE:
        if not bindings.find_bindings():
            raise RuntimeError("flux-core's Python bindings do not import")
        from flux.job.journal import JournalConsumer

        return JournalConsumer
    if impl not in (CYTHON, PYTHON):
        raise ValueError(f"unknown implementation {impl!r}")
    return core_module(impl).JournalConsumer


def baseline_impl() -> str:
    """The consumer a site would use: flux-core's when its bindings import, else the twin."""
    return FLUX_CORE if bindings.find_bindings() else PYTHON


# -- consumer cases -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One scenario: which consumer, through which API, on which kind of stream.

    ``stream`` is "history" (drain to the sentinel) or "live" (an empty history, then count
    ``events`` live events); the ingest group adds its own. ``since`` is passed to the
    consumer; with ``read`` every event's jobspec and R are looked at; with ``gc`` False
    the collector is off while it runs.
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
    does not decode). :meth:`close` cancels the request and drains it (needed on a
    broker); with ``must_close`` it is needed after every run (it removes a database).
    """

    def __init__(
        self, run: Callable[[], int | None], close: Callable[[], None], must_close: bool = False
    ) -> None:
        self._run = run
        self.close = close
        self.must_close = must_close

    def __call__(self) -> int | None:
        return self._run()


#: What prepares a case: ``prepare(case, payloads, events, handle, directory)``.
Preparer = Callable[..., Prepared]


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
    ``directory`` is for the preparers that write (the ingest group's); a consumer case
    writes nothing.
    """
    if case.stream not in STREAMS:
        raise ValueError(f"not a consumer case: {case.stream!r} (see fluxjournal.bench.ingest)")
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


# -- the rows of the ingest groups (SQLite and PostgreSQL) -------------------------------

#: The instance name ``engine.run()`` stores under; the others write instance number 1.
INGEST_INSTANCE_NAME = "bench"
INGEST_INSTANCE = 1


def baseline_ingest(
    consumer: Any, db: Any, instance: int, batch: int, write: Callable[[Any, list], None]
) -> int:
    """What a site would write with a journal consumer: poll() to the sentinel, a row per
    event (instance, jobid, position in its job's eventlog, timestamp, name, the context
    as ``json.dumps`` writes it), ``write(db, rows)`` (executemany, commit) every ``batch``
    rows. Returns the rows written."""
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
    """Stands in for a store: an empty database that keeps every write asked of it, so
    that a floor writes exactly ingest's rows, in ingest's batches."""

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
    """The (event rows, job rows) of each transaction ``engine.run()`` writes into a new
    database from ``payloads``: what the floors write."""
    from fluxjournal.ingestion import engine

    store = _CapturingStore()
    engine.run(replay_handle(payloads), store, instance, once=True)  # type: ignore[arg-type]
    return store.batches


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
    prepare: Preparer = prepare,
) -> dict[str, Any]:
    """Run ``case`` ``repeat`` times in this process: best time, peak growth of the first run.

    Meant for a fresh process (see :func:`measure`): then nothing else inflates the peak.
    ``prepare`` makes each run (:func:`prepare` for a consumer case); a run that writes
    under ``directory`` is closed after each run, which checks and removes what it wrote.
    """
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
        if handle is not None or prepared.must_close:
            prepared.close()
        del prepared
        gc.collect()
    if peak is None:  # tracemalloc slows the run down: measure an extra one, untimed
        prepared = prepare(case, payloads, events, handle, directory)
        gc.collect()
        meter.start()
        prepared()
        peak = meter.stop()
        if handle is not None or prepared.must_close:
            prepared.close()
    return {
        "times": times,
        "peak_mb": peak,
        "memory_method": meter.method,
        "delivered": delivered,
    }


def child_main() -> int:
    """The child's side of :func:`measure`: a JSON request on stdin, a JSON result on stdout."""
    spec = json.loads(sys.stdin.read())
    for part in spec.get("sys_path", []):
        if part not in sys.path:
            sys.path.append(part)
    module, _, name = spec["prepare"].partition(":")
    preparer = getattr(importlib.import_module(module), name)
    case = Case(**spec["case"])
    payloads = read_payloads(spec["payloads"]) if spec.get("payloads") else None
    factory = None
    if spec.get("uri"):
        import flux

        uri = spec["uri"]

        def factory() -> Any:
            return flux.Flux(uri)

    result = run_case(
        case, payloads, spec["events"], spec["repeat"], factory, spec.get("directory"), preparer
    )
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


def package_paths() -> list[str]:
    """What a child's ``sys.path`` needs: fluxjournal's folder and flux-core's bindings."""
    import fluxjournal

    return [str(Path(fluxjournal.__file__).resolve().parent.parent), *bindings.added_paths]


def measure(
    case: Case,
    payload_file: str | os.PathLike[str] | None,
    events: int,
    repeat: int = 1,
    uri: str | None = None,
    timeout: float | None = None,
    directory: str | os.PathLike[str] | None = None,
    prepare: Preparer = prepare,
) -> Measurement:
    """Run ``case`` in a fresh Python process: best of ``repeat`` and the peak RSS growth.

    The child reads the payloads from ``payload_file`` (or connects to the broker at
    ``uri``), so that every implementation sees the same bytes and none shares a heap.
    ``prepare`` (a module-level function, imported again by the child) makes each run; an
    ingest case writes its databases under ``directory`` (default: the system's
    temporary directory).
    """
    if "<" in prepare.__qualname__:
        raise ValueError(f"a child cannot import {prepare.__qualname__}: use a module function")
    if case.impl == FLUX_CORE:
        bindings.find_bindings()
    spec = {
        "case": dataclasses.asdict(case),
        "prepare": f"{prepare.__module__}:{prepare.__qualname__}",
        "payloads": None if payload_file is None else str(payload_file),
        "uri": uri,
        "events": events,
        "repeat": repeat,
        "directory": None if directory is None else os.fspath(directory),
        "sys_path": package_paths(),
    }
    code = "import sys\nfrom fluxjournal.bench.harness import child_main\nsys.exit(child_main())\n"
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


# -- output -------------------------------------------------------------------------------


def aligned(lines: Sequence[tuple[str, ...]], left: set[int]) -> str:
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


def environment() -> str:
    """Python, fluxjournal and flux-core versions and the machine, on one line."""
    import fluxjournal

    parts = [
        f"python {platform.python_version()}",
        f"fluxjournal {fluxjournal.__version__}",
        f"flux-core {flux_core_version() or 'absent'}",
        f"{platform.machine()}, {os.cpu_count()} CPUs",
    ]
    return "; ".join(parts)


def print_header(argv: Sequence[str] | None) -> None:
    """The two comment lines every group's output starts with: where and what was run."""
    print(f"# {environment()}")
    print(f"# command: fluxjournal bench {' '.join(argv if argv is not None else sys.argv[1:])}")
