"""``fluxjournal bench`` (and ``python -m fluxjournal.bench``): the options, then the group
they ask for. The only module of the package that imports the groups."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fluxjournal.bench import consumer, ingest, long, postgres
from fluxjournal.bench.harness import CONSUMERS, RECEIVE, implementations


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


def _modes(text: str) -> list[tuple[str, str]]:
    try:
        return consumer.parse_modes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


INGEST_HELP = (
    "--ingest runs `fluxjournal ingest` against what a site would write, instead of the "
    "consumer comparison, on the same history (--jobs or --sizes; --repeat, --seed, --json "
    "apply; --modes, --impls, --live and --chart do not). Each row runs in a fresh child "
    "process and writes a new SQLite database with ingest's schema and pragmas (WAL, "
    "synchronous=FULL): baseline = flux-core's JournalConsumer (the pure-Python twin when "
    "flux-core's bindings do not import) polled to the sentinel, one row per event with "
    "json.dumps(context), executemany and a commit every "
    "fluxjournal.ingestion.engine.BATCH_EVENTS rows; floor = executemany of exactly "
    "ingest's event rows in ingest's transactions, built before the timing; floor+jobs = "
    "the same with ingest's job rows; ingest = ingest.run(once=True) into a new database "
    "(events and the jobs table); drain = fluxjournal's consumer poll() to the sentinel; "
    "restart = ingest.run(once=True) again on the database that holds it all (must write "
    "nothing). Then the ratios with their targets: ingest speed-up over baseline >= 8x, "
    "ingest/floor <= 1.5x, restart/drain <= 1.5x, ingest peak memory/drain peak memory <= "
    "2x (reported, never enforced: the exit status is 1 only when a row wrote the wrong "
    "number of rows)."
)


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
        type=_modes,
        default=consumer.DEFAULT_MODES,
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
    group = parser.add_argument_group("ingest group", INGEST_HELP)
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
        "simulated instances at once against one (see fluxjournal.bench.postgres).",
    )
    group.add_argument("--postgres", metavar="URL", help="run the PostgreSQL group there")
    group.add_argument(
        "--instances", type=_positive, default=10, help="instances at once (default 10)"
    )
    group = parser.add_argument_group(
        "long runs",
        "--long measures memory over long runs instead, each implementation (--impls) in a "
        "fresh child: --long-drains drains of every capture in --long-captures, and one "
        "SimulatedFlux live stream of --long-events events; RSS, C heap, allocated blocks "
        "and tracked objects after a warm-up and at the end (see fluxjournal.bench.long).",
    )
    group.add_argument("--long", action="store_true", help="run the long runs (see above)")
    group.add_argument(
        "--long-events",
        type=_positive,
        default=long.LONG_EVENTS,
        help=f"live events of the long live run (default {long.LONG_EVENTS:,})",
    )
    group.add_argument(
        "--long-drains",
        type=_positive,
        default=long.LONG_DRAINS,
        help=f"drains of the captures (default {long.LONG_DRAINS:,})",
    )
    group.add_argument(
        "--long-captures",
        metavar="DIR",
        help="the folder of the captures (*.jsonl) to drain (default: those shipped in the "
        "package, fluxjournal/testing/captures)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the group it asks for; its exit status (2 on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    groups = [name for name in ("long", "postgres", "ingest") if getattr(args, name)]
    if len(groups) > 1:
        parser.error(f"choose one group: {', '.join('--' + name for name in groups)}")
    if args.postgres:
        return postgres.main(args, argv)
    if args.ingest:
        if args.chart or args.impls is not None:
            parser.error("--chart and --impls apply to the consumer comparison, not to --ingest")
        return ingest.main(args, argv)
    if args.db_dir is not None:
        parser.error("--db-dir applies to --ingest")
    if args.impls is not None:
        missing = [name for name in args.impls if name not in (RECEIVE, *implementations())]
        if missing:
            parser.error(f"not available on this machine: {', '.join(missing)}")
    if args.long:
        return long.main(args, argv)
    return consumer.main(args, argv)


if __name__ == "__main__":
    sys.exit(main())
