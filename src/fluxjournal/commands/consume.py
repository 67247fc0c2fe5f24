"""``fluxjournal`` with no command: read a whole journal and count what came through.

It reads the Flux instance of ``--uri`` or ``FLUX_URI``; with neither (and no other source
named) it reads a simulated instance and says so on its first line. A response that cannot
be decoded is reported (with its line, for a replay) and skipped; the exit status is then 1.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from typing import IO, Any

import fluxjournal
from fluxjournal.errors import MalformedResponse
from fluxjournal.ingestion.sources import Counted, opened_source
from fluxjournal.journal import JournalConsumer

log = logging.getLogger("fluxjournal.consume")


def command(args: Any, out: IO[str], err: IO[str]) -> int:
    """Read the history and the live events, then report what came through.

    The history ends at the sentinel. After it, a simulated or replayed source is read until
    it has been quiet for ``--idle`` seconds, a live instance until the sentinel (or for ever
    with ``--follow``); then the request is cancelled and what is in flight is read too.
    """
    demo = args.uri is None and args.replay is None and args.simulate is None
    if demo and not os.environ.get("FLUX_URI"):
        args.simulate = args.jobs
        err.write("fluxjournal: no Flux instance (FLUX_URI is not set): reading a simulated one\n")
    with opened_source(args) as source:
        return _consume(args, source, out, err)


def _consume(args: Any, source: Any, out: IO[str], err: IO[str]) -> int:
    counted = Counted(source)
    consumer = JournalConsumer(
        counted.handle,
        full=not args.active_only,
        since=args.since,
        include_sentinel=True,
    )
    follow = source.live and args.follow
    names: Counter = Counter()
    jobs: set = set()
    history = None
    in_history = consumer.full
    stopped = False
    bad = 0
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
        except MalformedResponse as exc:
            bad += 1
            log.warning("%s: %s", counted.last_response(), exc)
            continue
        if not batch:
            break
        for event in batch:
            if event.is_empty():
                in_history = False
                history = (sum(names.values()), time.perf_counter() - started)
                if source.live and not follow:
                    consumer.stop()
                    stopped = True
                continue
            names[event.name] += 1
            jobs.add(event.jobid)
            if args.print:
                out.write(f"{event}\n")
    elapsed = time.perf_counter() - started
    report = err if args.print else out
    report.write(f"source: {source.description}; core: {fluxjournal.IMPLEMENTATION}\n")
    if history is not None:
        count, seconds = history
        rate = f"{count / seconds:,.0f}" if seconds else "inf"
        report.write(f"history: {count} events in {seconds:.3f} s ({rate} events/s)\n")
    total = sum(names.values())
    report.write(f"total: {total} events of {len(jobs)} jobs in {elapsed:.3f} s\n")
    for name, count in names.most_common():
        report.write(f"  {name:20s} {count}\n")
    if bad:
        report.write(f"bad responses skipped: {bad}\n")
    return 1 if bad else 0
