"""What ``fluxjournal jobs`` costs: as the archive grows, and against ``flux jobs``.

**scaling** (the default): two archives of simulated instances (``--sizes``, default
10,000 and 1,000,000 jobs; SQLite files in ``--db-dir``, kept there and used again by a
later run with the same size and seed, or with ``--postgres URL`` schemas of that
database), then each listing run in this process on both, best of ``--repeat``:

- ``-a -A -c 20``: the newest twenty jobs;
- ``-a -u USER -c 20``: one user's newest twenty;
- ``-a -i HOST -c 20``: the newest twenty that ran on one node;
- ``-a -A -c 0``: every job (reported, not compared: it grows with the archive).

The target: a ``-c 20`` listing on the big archive within 1.5x of the same on the small.

**against flux jobs** (``--uri URI`` of a running instance with a history): the
instance's journal ingested into a new SQLite archive, then ``flux jobs -a -A -c 0`` on
the instance and ``fluxjournal jobs -a -A -c 0`` on the archive, whole processes, taken
in turn ``--repeat`` times; the outputs must be the same. The target: 10x.

    python benchmarks/listing_bench.py --db-dir /var/tmp --repeat 5
    python benchmarks/listing_bench.py --postgres postgresql:///bench
    PATH=/opt/flux/bin:$PATH python benchmarks/listing_bench.py --uri "$FLUX_URI"
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fluxjournal.bench.harness import aligned, print_header
from fluxjournal.commands.jobs import command
from fluxjournal.commands.main import jobs_defaults, parsers
from fluxjournal.ingestion import engine
from fluxjournal.storage.factory import open_store
from fluxjournal.testing import SimulatedFlux

DEFAULT_SIZES = (10_000, 1_000_000)
#: The jobs still pending or running in both archives: what a busy instance has at once
#: (the archive grows with the jobs that are over, not with the load).
ACTIVE_JOBS = 500
#: A user and a node of the simulated instances.
USER, HOST = "1001", "node2"
LISTINGS = (
    ("newest 20", ["-a", "-A", "-c", "20"]),
    ("a user's newest 20", ["-a", "-u", USER, "-c", "20"]),
    ("a node's newest 20", ["-a", "-i", HOST, "-c", "20"]),
    ("every job", ["-a", "-A", "-c", "0"]),
)
#: Listings compared between the archives, and the bound of big / small.
SCALING_BOUND = 1.5
COMPARED = LISTINGS[:3]
INSTANCE_NAME = "bench-listing"


def build(url: str, jobs: int, seed: int) -> None:
    """Ingest a simulated instance of ``jobs`` jobs into the archive at ``url``."""
    with open_store(url) as store:
        instance = store.instance(INSTANCE_NAME, "bench")
        simulated = SimulatedFlux(jobs=jobs, active=ACTIVE_JOBS, seed=seed)
        engine.run(simulated, store, instance, once=True)


def sqlite_archive(folder: Path, jobs: int, seed: int) -> str:
    """The SQLite archive of ``jobs`` jobs in ``folder``, built when it is not there."""
    path = folder / f"listing-{jobs}-{ACTIVE_JOBS}-{seed}.db"
    if not path.exists():
        partial = folder / f"listing-{jobs}-{ACTIVE_JOBS}-{seed}.partial.db"
        for stale in folder.glob(partial.name + "*"):
            stale.unlink()
        build(str(partial), jobs, seed)
        os.replace(partial, path)
    return str(path)


def postgres_archive(url: str, jobs: int, seed: int) -> str:
    """A schema of the PostgreSQL database holding ``jobs`` jobs, built when missing."""
    import psycopg
    import psycopg.conninfo

    schema = f"fluxjournal_listing_{jobs}_{ACTIVE_JOBS}_{seed}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        made = admin.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'jobs'", (schema,)
        ).fetchone()
    target = psycopg.conninfo.make_conninfo(url, options=f"-c search_path={schema}")
    if made is None:
        build(target, jobs, seed)
    return target


def timed(url: str, args: list[str], repeat: int) -> tuple[float, int]:
    """The best time of ``fluxjournal jobs --db url ARGS`` in this process, and its lines."""
    parser = parsers()["jobs"]
    best, lines = float("inf"), 0
    for _ in range(repeat):
        parsed = parser.parse_args(["--db", url, *args])
        jobs_defaults(parsed)
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        status = command(parsed, out, err)
        best = min(best, time.perf_counter() - started)
        if status != 0:
            raise RuntimeError(f"jobs {' '.join(args)} failed: {err.getvalue().strip()}")
        lines = out.getvalue().count("\n")
    return best, lines


def scaling(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """Build (or find) the archives, time the listings, print the table and the ratios."""
    sizes = sorted(args.sizes)
    print_header(argv)
    folder = Path(args.db_dir or tempfile.gettempdir())
    archives = {}
    for size in sizes:
        started = time.perf_counter()
        if args.postgres:
            archives[size] = postgres_archive(args.postgres, size, args.seed)
        else:
            archives[size] = sqlite_archive(folder, size, args.seed)
        print(f"archive of {size:,} jobs ready in {time.perf_counter() - started:.1f} s")
    rows = [("listing", *(f"{size:,} jobs" for size in sizes), "big/small", "target")]
    failed = False
    for label, listing in LISTINGS:
        times = [timed(archives[size], listing, args.repeat) for size in sizes]
        ratio = times[1][0] / times[0][0]
        compared = (label, listing) in COMPARED
        ok = ratio <= SCALING_BOUND
        failed |= compared and not ok
        target = (f"<= {SCALING_BOUND} " + ("ok" if ok else "MISSED")) if compared else "-"
        cells = [f"{seconds * 1000:.1f} ms ({lines - 1} jobs)" for seconds, lines in times]
        rows.append((f"jobs {' '.join(listing)}", *cells, f"{ratio:.2f}x", target))
    print(aligned(rows, {0}))
    return 1 if failed else 0


#: ``flux jobs`` is this many times slower than ``fluxjournal jobs`` at least.
AGAINST_FLUX_BOUND = 10.0
EVERY_JOB = ["-a", "-A", "-c", "0"]


def against_flux(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """Whole processes: flux jobs on the instance, fluxjournal jobs on its archive."""
    print_header(argv)
    flux = shutil.which("flux")
    if flux is None:
        print("needs `flux` on PATH")
        return 2
    env = dict(os.environ, FLUX_URI=args.uri)
    with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
        db = str(Path(folder) / "archive.db")
        ours = [sys.executable, "-m", "fluxjournal"]
        ingest = [*ours, "ingest", "--uri", args.uri, "--db", db, "--once", "-q"]
        subprocess.run(ingest, env=env, check=True)
        commands = {
            "flux jobs": [flux, "jobs", *EVERY_JOB],
            "fluxjournal jobs": [*ours, "jobs", "--db", db, *EVERY_JOB],
        }
        best = {name: float("inf") for name in commands}
        outputs = {}
        for _ in range(args.repeat):
            for name, argv_ in commands.items():
                started = time.perf_counter()
                done = subprocess.run(argv_, env=env, capture_output=True, check=True)
                best[name] = min(best[name], time.perf_counter() - started)
                outputs[name] = done.stdout
    same = outputs["flux jobs"] == outputs["fluxjournal jobs"]
    jobs = outputs["flux jobs"].count(b"\n") - 1
    ratio = best["flux jobs"] / best["fluxjournal jobs"]
    rows = [("command", "best of " + str(args.repeat), "per job")]
    for name, seconds in best.items():
        rows.append(
            (f"{name} {' '.join(EVERY_JOB)}", f"{seconds:.3f} s", f"{seconds / jobs * 1e6:.1f} us")
        )
    print(aligned(rows, {0}))
    ok = same and ratio >= AGAINST_FLUX_BOUND
    print(
        f"{jobs:,} jobs; the same output: {'yes' if same else 'NO'}; flux jobs / fluxjournal "
        f"jobs = {ratio:.1f}x (target >= {AGAINST_FLUX_BOUND:.0f}x: {'ok' if ok else 'MISSED'})"
    )
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(DEFAULT_SIZES),
        help="small,big archive sizes in jobs (default 10000,1000000)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-dir", help="where the SQLite archives are kept")
    parser.add_argument("--postgres", metavar="URL", help="build the archives there")
    parser.add_argument("--uri", help="compare against flux jobs on this instance")
    args = parser.parse_args(argv)
    if args.uri:
        return against_flux(args, argv)
    if len(args.sizes) != 2:
        parser.error("--sizes takes two sizes: small,big")
    return scaling(args, argv)


if __name__ == "__main__":
    sys.exit(main())
