"""The ``fluxjournal`` command: consume a job journal and report what came through.

Without arguments it reads the journal of the Flux instance named by ``FLUX_URI`` when
flux-core's Python bindings are importable, and otherwise that of a simulated instance
(``fluxjournal.testing.SimulatedFlux``), so it works on any machine. ``fluxjournal bench``
runs the benchmark comparisons (see ``fluxjournal.bench``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import fluxjournal
from fluxjournal.journal import JournalConsumer


def open_source(args: argparse.Namespace) -> tuple[Any, str, bool]:
    """The handle to read, a description of it, and whether it is a live instance."""
    if args.replay:
        from fluxjournal.testing import ReplayFlux

        return ReplayFlux.from_file(args.replay), f"replay of {args.replay}", False
    uri = args.uri or os.environ.get("FLUX_URI")
    if uri and not args.simulate:
        try:
            import flux
        except ImportError:
            print(
                "fluxjournal: FLUX_URI is set but flux-core's Python bindings do not import;"
                " using a simulated instance",
                file=sys.stderr,
            )
        else:
            return flux.Flux(uri), f"Flux instance {uri}", True
    from fluxjournal.testing import SimulatedFlux

    handle = SimulatedFlux(jobs=args.jobs, seed=args.seed, live=args.live)
    described = (
        f"simulated instance ({args.jobs} jobs, {args.live} live events;"
        " times include simulating it)"
    )
    return handle, described, False


def consume(args: argparse.Namespace) -> int:
    """Read the history and the live events, then report what came through.

    The history ends at the sentinel. After it, a simulated or replayed source is read until
    it has been quiet for ``--idle`` seconds, a live instance until the sentinel (or for ever
    with ``--follow``); then the request is cancelled and what is in flight is read too.
    """
    handle, described, live_instance = open_source(args)
    consumer = JournalConsumer(
        handle, full=not args.active_only, since=args.since, include_sentinel=True
    )
    follow = live_instance and args.follow
    names: Counter = Counter()
    jobs: set = set()
    history = None
    in_history = consumer.full
    stopped = False
    started = time.perf_counter()
    consumer.start()
    while True:
        try:
            timeout = -1.0 if in_history or follow or stopped else args.idle
            batch = consumer.poll_batch(256, timeout)
        except TimeoutError:
            consumer.stop()  # what is already in flight still comes, then the end
            stopped = True
            continue
        if not batch:
            break
        for event in batch:
            if event.is_empty():
                in_history = False
                history = (sum(names.values()), time.perf_counter() - started)
                if live_instance and not follow:
                    consumer.stop()
                    stopped = True
                continue
            names[event.name] += 1
            jobs.add(event.jobid)
            if args.print:
                print(event)
    elapsed = time.perf_counter() - started
    report = sys.stderr if args.print else sys.stdout
    print(f"source: {described}; core: {fluxjournal.IMPLEMENTATION}", file=report)
    if history is not None:
        count, seconds = history
        rate = f"{count / seconds:,.0f}" if seconds else "inf"
        print(f"history: {count} events in {seconds:.3f} s ({rate} events/s)", file=report)
    total = sum(names.values())
    print(f"total: {total} events of {len(jobs)} jobs in {elapsed:.3f} s", file=report)
    for name, count in names.most_common():
        print(f"  {name:20s} {count}", file=report)
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="fluxjournal",
        description="Consume a Flux job-manager journal with fluxjournal and report on it. "
        "`fluxjournal bench --help` for the benchmark comparisons.",
    )
    ap.add_argument("--uri", help="the Flux instance to read (default: $FLUX_URI)")
    ap.add_argument("--simulate", action="store_true", help="use a simulated instance")
    ap.add_argument("--replay", metavar="FILE", help="replay a .jsonl capture of responses")
    ap.add_argument("--jobs", type=int, default=20000, help="simulated history size")
    ap.add_argument("--live", type=int, default=2000, help="simulated live events")
    ap.add_argument("--seed", type=int, default=0, help="simulation seed")
    ap.add_argument("--since", type=float, default=0.0, help="skip events up to this time")
    ap.add_argument(
        "--active-only", action="store_true", help="no history of inactive jobs (full=False)"
    )
    ap.add_argument(
        "--follow", action="store_true", help="on a live instance, keep reading after the history"
    )
    ap.add_argument(
        "--idle", type=float, default=0.5, help="seconds of quiet that end a non-live source"
    )
    ap.add_argument("--print", action="store_true", help="print every event")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from fluxjournal import bench

        return bench.main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return consume(args)
    except BrokenPipeError:  # the reader (head, less) has gone; that is not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
