"""``fluxjournal bench --postgres URL``: ingest into PostgreSQL against what a site would
write, and many instances at once against one alone.

Every row runs in this process, one after the other, into a schema of its own in the
database ``URL`` names (made before the timing, dropped after), so that each starts
empty:

- ``baseline``: flux-core's ``JournalConsumer`` (the pure-Python twin when flux-core's
  bindings do not import) polled to the sentinel, a row per event with
  ``json.dumps(context)``, psycopg's ``executemany`` and a commit every
  ``fluxjournal.ingestion.engine.BATCH_EVENTS`` rows (events only);
- ``copy``: the store's binary ``COPY`` of exactly ingest's rows (events and jobs) in
  ingest's transactions, built before the timing, indexes deferred as ingest defers them;
- ``ingest``: ``engine.run(once=True)`` into the empty schema;
- ``one``, ``many``: a simulated instance with a live stream that ends, alone, then
  ``--instances`` of them at once (one thread, handle and connection each, as
  ``--uri A --uri B`` runs them), as total events stored per second.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from fluxjournal.bench import harness
from fluxjournal.bench.harness import (
    INGEST_INSTANCE,
    INGEST_INSTANCE_NAME,
    baseline_impl,
    baseline_ingest,
    consumer_class,
    ingest_batches,
)
from fluxjournal.bench.payloads import history_payloads, replay_handle
from fluxjournal.ingestion import engine
from fluxjournal.storage.factory import open_store

#: The ratios and their targets: (label, numerator row, denominator row, figure, op,
#: bound); the figure is the rows' seconds or their events per second.
TARGETS = (
    ("ingest speed-up over baseline", "baseline", "ingest", "seconds", ">=", 5.0),
    ("ingest time / copy", "ingest", "copy", "seconds", "<=", 2.0),
    ("many instances' throughput / one's", "many", "one", "rate", ">=", 0.7),
)
SCHEMA_PREFIX = "fluxjournal_bench_"


class Row(NamedTuple):
    name: str
    events: int
    seconds: float
    times: list[float]
    what: str

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _in_schema(url: str, schema: str) -> str:
    import psycopg.conninfo

    return psycopg.conninfo.make_conninfo(url, options=f"-c search_path={schema}")


@contextlib.contextmanager
def fresh_schema(url: str, number: int) -> Iterator[str]:
    """The URL of a new, empty schema of the database, dropped at the end."""
    import psycopg

    name = f"{SCHEMA_PREFIX}{number}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield _in_schema(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _timed(url: str, repeat: int, prepare: Callable[[str], Callable[[], int]]) -> tuple:
    """Median seconds of ``repeat`` runs, each in a new schema (``prepare(url)`` makes the
    run, untimed), and the events the runs wrote."""
    times, written = [], 0
    for number in range(repeat):
        with fresh_schema(url, number) as schema_url:
            run = prepare(schema_url)
            started = time.perf_counter()
            written = run()
            times.append(time.perf_counter() - started)
    return statistics.median(times), times, written


def _baseline(payloads: Sequence[bytes], impl: str) -> Callable[[str], Callable[[], int]]:
    from fluxjournal.storage import schema

    def prepare(url: str) -> Callable[[], int]:
        import psycopg

        open_store(url).close()  # the schema, as ingest makes it
        db = psycopg.connect(url)
        consumer = consumer_class(impl)(replay_handle(payloads), include_sentinel=True)
        consumer.start()
        insert = schema.POSTGRES.insert_events

        def write(db: Any, rows: list[tuple]) -> None:
            with db.cursor() as cursor:
                cursor.executemany(insert, rows)
            db.commit()

        def run() -> int:
            written = baseline_ingest(consumer, db, INGEST_INSTANCE, engine.BATCH_EVENTS, write)
            db.close()
            return written

        return run

    return prepare


def _copy(batches: list) -> Callable[[str], Callable[[], int]]:
    def prepare(url: str) -> Callable[[], int]:
        store = open_store(url)

        def run() -> int:
            deferred = store.defer_indexes()
            for events, jobs in batches:
                store.write(events, jobs)
            if deferred:
                store.build_indexes()
            store.close()
            return sum(len(events) for events, _ in batches)

        return run

    return prepare


def _ingest(payloads: Sequence[bytes]) -> Callable[[str], Callable[[], int]]:
    def prepare(url: str) -> Callable[[], int]:
        store = open_store(url)
        instance = store.instance(INGEST_INSTANCE_NAME, "ReplayFlux")
        handle = replay_handle(payloads)

        def run() -> int:
            result = engine.run(handle, store, instance, once=True)
            store.close()
            return result.stored_events

        return run

    return prepare


def _instances(count: int, jobs: int, live: int) -> Callable[[str], Callable[[], int]]:
    from fluxjournal.ingestion.follow import Fleet, Target
    from fluxjournal.ingestion.sources import open_source
    from fluxjournal.testing import SimulatedFlux

    uris = [SimulatedFlux(jobs=jobs, seed=seed, live=live, ends=True).uri for seed in range(count)]

    def prepare(url: str) -> Callable[[], int]:
        open_store(url).close()
        sources = [open_source(uri=uri) for uri in uris]

        def run() -> int:
            fleet = Fleet(url)
            for source in sources:
                fleet.add(Target(lambda source=source: source, source.description))
            outcomes = fleet.join()
            failed = [o.error for o in outcomes if o.error is not None]
            if failed:
                raise failed[0]
            return sum(o.result.stored_events for o in outcomes)

        return run

    return prepare


def cases(
    payloads: Sequence[bytes], jobs: int, instances: int
) -> list[tuple[str, Callable[[str], Callable[[], int]], str]]:
    """Every row as (name, how to prepare its run in a schema's URL, what it is)."""
    impl = baseline_impl()
    per_instance = max(jobs // instances, 1)
    return [
        ("baseline", _baseline(payloads, impl), f"{impl} poll() + executemany"),
        ("copy", _copy(ingest_batches(payloads)), "COPY of ingest's rows, built beforehand"),
        ("ingest", _ingest(payloads), "engine.run(once=True), empty schema"),
        ("one", _instances(1, per_instance, per_instance), "one simulated instance"),
        (
            "many",
            _instances(instances, per_instance, per_instance),
            f"{instances} simulated instances at once",
        ),
    ]


def measure(args: argparse.Namespace) -> list[Row]:
    """Every row, in order."""
    payloads = history_payloads(args.jobs, args.seed)
    rows = []
    for name, prepare, what in cases(payloads, args.jobs, args.instances):
        print(f"#   {name} ...", file=sys.stderr, flush=True)
        seconds, times, written = _timed(args.postgres, args.repeat, prepare)
        rows.append(Row(name, written, seconds, times, what))
    return rows


def ratios(rows: Sequence[Row]) -> list[tuple[str, float, str, bool]]:
    """Each target's ratio, its bound and whether it is met."""
    by_name = {row.name: row for row in rows}
    out = []
    for label, top, bottom, figure, op, bound in TARGETS:
        value = getattr(by_name[top], figure) / getattr(by_name[bottom], figure)
        met = value >= bound if op == ">=" else value <= bound
        out.append((label, value, f"{op} {bound:g}x", met))
    return out


def _unreachable(url: str) -> str | None:
    """Why the database ``url`` names cannot be reached (first line of the error), or None."""
    import psycopg

    try:
        psycopg.connect(url).close()
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return None


def main(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run the PostgreSQL group and print its table and ratios."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        print(
            "fluxjournal bench: --postgres needs psycopg: pip install 'fluxjournal[postgres]'",
            file=sys.stderr,
        )
        return 2
    problem = _unreachable(args.postgres)
    if problem is not None:
        print(f"fluxjournal bench: --postgres: cannot connect: {problem}", file=sys.stderr)
        return 2
    harness.print_header(argv)
    print(
        f"# history of {args.jobs} jobs (seed {args.seed}); median of {args.repeat}, each "
        f"run in a new schema; one/many: {max(args.jobs // args.instances, 1)} jobs and as "
        "many live events per instance"
    )
    rows = measure(args)
    lines = [("row", "events", "seconds", "events/s", "what")]
    lines += [(r.name, str(r.events), f"{r.seconds:.3f}", f"{r.rate:,.0f}", r.what) for r in rows]
    print(harness.aligned(lines, {0, 4}))
    print()
    for label, value, target, met in ratios(rows):
        print(f"{label}: {value:.2f}x (target {target}) {'met' if met else 'MISSED'}")
    return 0
