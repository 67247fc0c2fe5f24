"""``fluxjournal bench --ingest``: ``fluxjournal ingest`` into SQLite against what a site
would write itself and against the bare SQLite cost.

Every case replays the same payloads (fresh copies, through ReplayFlux) into a new SQLite
file with ingest's schema and pragmas (:mod:`fluxjournal.storage.schema`), made before the
timing; the timed part is the consuming and the writing, commits included. The rows:
flux-core's consumer feeding ``executemany`` (the baseline), ``executemany`` of ingest's
own rows (the floors), ingest itself, a bare drain, and a restart on a full database;
then the ratios with their targets. Nothing in fluxjournal's ingest path imports this.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from fluxjournal.bench import harness
from fluxjournal.bench.harness import (
    CONSUMERS,
    CYTHON,
    FLUX_CORE,
    INGEST_INSTANCE,
    INGEST_INSTANCE_NAME,
    MIN_REFERENCE_MB,
    Case,
    Measurement,
    Prepared,
    baseline_impl,
    baseline_ingest,
    consumer_class,
    ingest_batches,
)
from fluxjournal.bench.payloads import count_events, history_payloads, replay_handle, write_payloads

INGEST = "ingest"
"""Stream of an ingest case: the history into a new database."""
RESTART = "restart"
"""Stream of an ingest case: the history again, into the database that already holds it."""
INGEST_STREAMS = (INGEST, RESTART)
FLOOR = "floor"
"""Implementation of the floor cases: executemany of ingest's own rows, built beforehand."""
FLUXJOURNAL = "fluxjournal"
"""Implementation of the ``engine.run()`` cases."""
#: api of the baseline: the consumer's poll(), a row per event, executemany per batch.
BASELINE_API = "executemany"
#: api of the floor cases: the event rows alone, or the event rows and the job rows.
FLOOR_EVENTS = "events"
FLOOR_JOBS = "events+jobs"
#: api of the floor case through SQLite's C API: ingest's event and job rows, held in C
#: beforehand (``PrebuiltRows``), bound and stepped by the compiled core's writer.
FLOOR_C = "c-api"
#: api of the ``engine.run()`` cases.
RUN_API = "run"


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
    from fluxjournal._switch import core

    baseline = baseline or baseline_impl()
    rows = [
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
        IngestRow(
            "floor-c",
            Case(FLOOR, FLOOR_C, INGEST),
            "the same rows held in C, bound and stepped through SQLite's C API",
        ),
        IngestRow("ingest", Case(FLUXJOURNAL, RUN_API, INGEST), "ingest.run(once=True), new db"),
        IngestRow("drain", Case(CYTHON, "poll", "history"), "cython poll() to the sentinel"),
        IngestRow("restart", Case(FLUXJOURNAL, RUN_API, RESTART), "ingest.run(once=True) again"),
    ]
    if not hasattr(core, "PrebuiltRows"):  # the C floor needs the compiled core
        rows = [row for row in rows if row.case.api != FLOOR_C]
    return rows


# -- preparing a row ----------------------------------------------------------------------


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
        self.path: Path | None = path
        self.instance = instance
        self.before = before
        self.written: int | None = None
        self.events_stored: int | None = None
        self.jobs_stored: int | None = None
        self._finish = finish

        def counted() -> int:
            self.written = run()
            return self.written

        super().__init__(counted, self._close, must_close=True)

    def _close(self) -> None:
        if self.path is None:
            return
        try:
            self._finish()
            self.events_stored, self.jobs_stored = count_rows(self.path, self.instance)
        finally:
            shutil.rmtree(self.path.parent, ignore_errors=True)
            self.path = None
        if self.written is not None and self.events_stored != self.before + self.written:
            raise RuntimeError(
                f"the database holds {self.events_stored} events: {self.before} before the "
                f"run and {self.written} written by it were expected"
            )


def count_rows(path: Path, instance: int) -> tuple[int, int]:
    """How many event rows and job rows of ``instance`` the database at ``path`` holds."""
    from fluxjournal.storage import schema

    db = sqlite3.connect(os.fspath(path))
    try:
        (events,) = db.execute(schema.SQLITE.count_events, (instance,)).fetchone()
        jobs = sum(n for _, n in db.execute(schema.SQLITE.count_jobs_by_state, (instance,)))
    finally:
        db.close()
    return events, jobs


def new_database(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A new SQLite database at ``path`` as ingest makes one: its pragmas, then its schema
    (one transaction); an autocommit connection, as ingest's store keeps."""
    from fluxjournal.storage import schema

    db = sqlite3.connect(os.fspath(path), isolation_level=None)
    for pragma in schema.SQLITE_PRAGMAS:
        db.execute(pragma)
    db.execute(schema.SQLITE_BEGIN_WRITE)
    for statement in schema.SQLITE.schema():
        db.execute(statement)
    db.execute("COMMIT")
    return db


def write_batch(db: Any, events: Sequence[tuple], jobs: Sequence[tuple] = ()) -> None:
    """One SQLite transaction: executemany of the event rows (and job rows), the commit."""
    from fluxjournal.storage import schema

    db.execute(schema.SQLITE_BEGIN_WRITE)
    db.executemany(schema.SQLITE.insert_events, events)
    if jobs:
        db.executemany(schema.SQLITE.upsert_jobs, jobs)
    db.execute("COMMIT")


def prepare(
    case: Case,
    payloads: Sequence[bytes] | None = None,
    events: int = 0,
    handle: Any = None,
    directory: str | os.PathLike[str] | None = None,
) -> Prepared:
    """Prepare a row of the group: an ingest case (:func:`prepare_ingest`) or the drain
    (:func:`harness.prepare`); the preparer of :func:`harness.measure` for this group."""
    if case.stream not in INGEST_STREAMS:
        return harness.prepare(case, payloads, events, handle)
    if handle is not None or payloads is None:
        raise ValueError("an ingest case replays payloads: give them, not a handle")
    return prepare_ingest(case, payloads, directory)


def prepare_ingest(
    case: Case, payloads: Sequence[bytes], directory: str | os.PathLike[str] | None = None
) -> PreparedIngest:
    """Prepare an ingest case: its database (under a new directory in ``directory``), its
    replay handle, and what it needs built beforehand; the timed part is what remains."""
    work = Path(tempfile.mkdtemp(prefix=f"fluxjournal-{case.impl}-{case.stream}-", dir=directory))
    try:
        return _prepare_ingest(case, payloads, work / "journal.db")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _prepare_ingest(case: Case, payloads: Sequence[bytes], path: Path) -> PreparedIngest:
    from fluxjournal.ingestion import engine
    from fluxjournal.storage.sqlite import SQLiteStore

    if case.impl == FLUXJOURNAL and case.api == RUN_API:
        before = 0
        if case.stream == RESTART:  # the first run, then a restarted process's store
            with SQLiteStore(path) as store:
                instance = store.instance(INGEST_INSTANCE_NAME, "ReplayFlux")
                first = engine.run(replay_handle(payloads), store, instance, once=True)
                before = first.stored_events
        store = SQLiteStore(path)
        instance = store.instance(INGEST_INSTANCE_NAME, "ReplayFlux")
        handle = replay_handle(payloads)

        def run() -> int:
            return engine.run(handle, store, instance, once=True).stored_events

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
                write_batch(db, events, jobs)
                written += len(events)
            return written

        return PreparedIngest(run, path, INGEST_INSTANCE, db.close)
    if case.impl == FLOOR and case.api == FLOOR_C:
        return _prepare_c_floor(payloads, path)
    if case.impl in CONSUMERS and case.api == BASELINE_API:
        consumer = consumer_class(case.impl)(replay_handle(payloads), include_sentinel=True)
        consumer.start()
        db = new_database(path)

        def run() -> int:
            return baseline_ingest(consumer, db, INGEST_INSTANCE, engine.BATCH_EVENTS, write_batch)

        return PreparedIngest(run, path, INGEST_INSTANCE, db.close)
    raise ValueError(f"unknown ingest case {case.impl} {case.mode}")


def _prepare_c_floor(payloads: Sequence[bytes], path: Path) -> PreparedIngest:
    """What SQLite itself costs: ingest's rows, prebuilt in C, inserted through the C API
    (the compiled core's writer) in ingest's transactions, into the same schema."""
    from fluxjournal._switch import core
    from fluxjournal.storage import schema

    if not hasattr(core, "PrebuiltRows"):
        raise ValueError("the C floor needs the compiled core")
    batches = [
        (core.PrebuiltRows(events), core.PrebuiltRows(jobs, jobs=True))
        for events, jobs in ingest_batches(payloads)
    ]
    db = new_database(path)
    writer = core.SQLiteWriter.open(
        db, os.fspath(path), schema.SQLITE.insert_events, schema.SQLITE.upsert_jobs
    )

    def run() -> int:
        written = 0
        for events, jobs in batches:
            db.execute(schema.SQLITE_BEGIN_WRITE)
            written += writer.insert_prebuilt(events)
            writer.insert_prebuilt(jobs)
            db.execute("COMMIT")
        return written

    def finish() -> None:
        writer.close()
        db.close()

    return PreparedIngest(run, path, INGEST_INSTANCE, finish)


def measure(
    case: Case,
    payload_file: str | os.PathLike[str],
    events: int,
    repeat: int = 1,
    directory: str | os.PathLike[str] | None = None,
) -> Measurement:
    """One row in a fresh child (:func:`harness.measure` with this group's :func:`prepare`)."""
    return harness.measure(case, payload_file, events, repeat, directory=directory, prepare=prepare)


# -- the table and the ratios -------------------------------------------------------------

#: The targets of the ingest group: (label, numerator row, denominator row, measure,
#: comparison, bound). A None bound is reported without a target.
INGEST_TARGETS = (
    ("ingest speed-up over baseline", "baseline", "ingest", "seconds", ">=", 8.0),
    ("ingest time / floor", "ingest", "floor", "seconds", "<=", 1.5),
    ("ingest time / floor+jobs", "ingest", "floor+jobs", "seconds", "<=", None),
    ("ingest time / (floor-c + drain)", "ingest", "floor-c+drain", "seconds", "<=", 1.3),
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
        for label, top, bottom, figure, op, bound in INGEST_TARGETS:
            parts = bottom.split("+drain") if bottom.endswith("+drain") else [bottom]
            if len(parts) > 1:
                parts = [parts[0], "drain"]
            if top not in at or any(part not in at for part in parts):
                continue
            a = getattr(at[top], figure)
            if len(parts) > 1:  # a row plus the drain: the sum of their times
                values = [getattr(at[part], figure) for part in parts]
                b = None if None in values else sum(values)
            else:
                b = getattr(at[bottom], figure)
            if a is None or b is None:  # not measured (memory off in the benchmark suite)
                continue
            if figure == "peak_mb" and b < MIN_REFERENCE_MB:
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
    return harness.aligned(lines, {1, 8})


def format_ingest_ratios(ratios: Sequence[dict[str, Any]]) -> str:
    """The ratios and their targets, one line each."""
    lines = [("jobs", "ratio", "value", "target", "")]
    for r in ratios:
        target = "-" if r["target"] is None else f"{r['op']} {r['target']:g}x"
        verdict = "" if r["met"] is None else "met" if r["met"] else "MISSED"
        value = "-" if r["value"] is None else f"{r['value']:.2f}x"
        lines.append((str(r["jobs"]), r["ratio"], value, target, verdict))
    return harness.aligned(lines, {1, 4})


def filesystem(path: str | os.PathLike[str]) -> str | None:
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


# -- the command --------------------------------------------------------------------------


def main(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """``fluxjournal bench --ingest``: the table and the ratios; 1 when a row wrote the
    wrong number of rows, 2 when ``--db-dir`` is not a directory."""
    from fluxjournal.ingestion import engine

    if args.db_dir is not None and not os.path.isdir(args.db_dir):
        print(f"fluxjournal bench: --db-dir {args.db_dir}: no such directory", file=sys.stderr)
        return 2
    sizes = args.sizes or [args.jobs]
    baseline = baseline_impl()
    harness.print_header(argv)
    if baseline != FLUX_CORE:
        print(
            "# flux-core's bindings do not import: the baseline consumer is fluxjournal's "
            "pure-Python twin (put flux-core's `flux` on PATH for flux-core's own)"
        )
    rows: list[IngestMeasurement] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fluxjournal-bench-") as tmp:
        db_dir = args.db_dir or tmp
        print(f"# databases under {db_dir} ({filesystem(db_dir) or 'file system unknown'})")
        for jobs in sizes:
            rows += run_size(jobs, args, Path(tmp), db_dir, baseline)
    print(
        f"# best of {args.repeat}, each row in a fresh child process; a commit every "
        f"{engine.BATCH_EVENTS} event rows (fluxjournal.ingestion.engine.BATCH_EVENTS); "
        "written = event rows the run added to its database (checked against the database); "
        "peak-MB = peak RSS growth during the first run. ingest and floor+jobs also write "
        "the jobs table, baseline and floor do not; floor-c writes both through SQLite's C API. "
        f"Total {time.perf_counter() - started:.0f} s"
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
            json.dumps({"rows": [row_json(r) for r in rows], "ratios": ratios}, indent=1) + "\n",
            encoding="utf-8",
        )
    return 1 if problems else 0


def row_json(r: IngestMeasurement) -> dict[str, Any]:
    """One row of ``--json``."""
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


def run_size(
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
