"""What ``fluxjournal report`` costs on a big archive, against one aggregate scan.

An archive of a simulated instance of ``--jobs`` jobs (default 1,000,000) spread over
some 40 days (SQLite in ``--db-dir``, kept and used again; or ``--postgres URL``, a
schema of that database), then, best of ``--repeat``, in this process:

- ``report``: the last 30 days' utilization, usage by user and job sizes (what
  ``fluxjournal report --since -30d`` computes);
- ``scan``: one aggregate over the jobs of the same 30 days,
  ``SELECT SUM(ncores * (t_cleanup - t_run)) FROM jobs WHERE ... t_inactive in it``.

The target: report within 3x of the scan.

    python benchmarks/report_bench.py --db-dir /var/tmp --repeat 3
    python benchmarks/report_bench.py --postgres postgresql:///bench
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fluxjournal.bench.harness import aligned, print_header
from fluxjournal.ingestion import engine, resources
from fluxjournal.reading import report
from fluxjournal.storage.factory import open_archive, open_store
from fluxjournal.storage.queries import ReportFilter
from fluxjournal.testing import SimulatedFlux

DEFAULT_JOBS = 1_000_000
ACTIVE_JOBS = 500
#: Mean seconds between bursts of submissions: a million jobs over about 40 days.
INTERVAL = 10.0
PERIOD_DAYS = 30
BOUND = 3.0
INSTANCE = "bench-report"


def build(url: str, jobs: int, seed: int) -> None:
    with open_store(url) as store:
        instance = store.instance(INSTANCE, "bench")
        simulated = SimulatedFlux(jobs=jobs, active=ACTIVE_JOBS, seed=seed, interval=INTERVAL)
        engine.run(simulated, store, instance, once=True)
        resources.run(simulated, store, instance, once=True)


def archive_url(args: argparse.Namespace) -> str:
    name = f"report-{args.jobs}-{ACTIVE_JOBS}-{args.seed}"
    if args.postgres:
        import psycopg
        import psycopg.conninfo

        schema = name.replace("-", "_")
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            made = admin.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'jobs'",
                (schema,),
            ).fetchone()
        url = psycopg.conninfo.make_conninfo(args.postgres, options=f"-c search_path={schema}")
        if made is None:
            build(url, args.jobs, args.seed)
        return url
    folder = Path(args.db_dir or tempfile.gettempdir())
    path = folder / f"{name}.db"
    if not path.exists():
        partial = folder / f"{name}.partial.db"
        for stale in folder.glob(partial.name + "*"):
            stale.unlink()
        build(str(partial), args.jobs, args.seed)
        os.replace(partial, path)
    return str(path)


def best(repeat: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-dir")
    parser.add_argument("--postgres", metavar="URL")
    args = parser.parse_args(argv)
    print_header(argv)
    started = time.perf_counter()
    url = archive_url(args)
    print(f"archive of {args.jobs:,} jobs ready in {time.perf_counter() - started:.1f} s")
    with open_archive(url) as store:
        ((first, last),) = store.rows("SELECT MIN(t_submit), MAX(t_inactive) FROM jobs")
        end = last
        start = end - PERIOD_DAYS * 86400.0
        where = ReportFilter(1, start, end, last)
        m = store.queries.dialect.mark
        in_period = f"FROM jobs WHERE instance = 1 AND t_inactive >= {m} AND t_inactive < {m}"
        scan_sql = f"SELECT SUM(ncores * (t_cleanup - t_run)) {in_period}"
        ((jobs_in_period,),) = store.rows(f"SELECT COUNT(*) {in_period}", (start, end))
        if report.utilization(store, where) is None:
            sys.exit(f"{url}: no resource eventlog stored (an archive of an older bench?)")

        def whole_report() -> None:
            lines, _ = report.summary(store, where, "user", report.DEFAULT_SIZES)
            report.utilization(store, where, sum(line.core_seconds for line in lines))

        queries = store.report_queries
        # the report's parts, each on its own: what keeps the whole where it is
        parts = {
            "sums by user and job size": queries.usage(where, "user", report.DEFAULT_SIZES),
            "medians and 95th percentiles by user": queries.percentiles(where, "user", None),
            "node-hours (each node's union of spans)": queries.node_union(where),
        }
        scan = best(args.repeat, lambda: store.rows(scan_sql, (start, end)))
        full = best(args.repeat, whole_report)
        timed = {name: best(args.repeat, lambda q=q: store.rows(*q)) for name, q in parts.items()}
    ratio = full / scan
    rows = [
        ("what", "best of " + str(args.repeat), "/ scan"),
        (
            f"scan: one aggregate over the {jobs_in_period:,} jobs over in the period",
            f"{scan:.3f} s",
            "1.00x",
        ),
        ("report: utilization, usage by user, sizes", f"{full:.3f} s", f"{ratio:.2f}x"),
    ]
    rows += [(f"  of which {name}", f"{t:.3f} s", f"{t / scan:.2f}x") for name, t in timed.items()]
    print(f"{(last - first) / 86400:.1f} days of history; the last {PERIOD_DAYS} days reported")
    print(aligned(rows, {0}))
    ok = ratio <= BOUND
    print(f"report / scan = {ratio:.2f}x (target <= {BOUND}x: {'ok' if ok else 'MISSED'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
