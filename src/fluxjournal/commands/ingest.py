"""``fluxjournal ingest``: open the sources and the database, follow, store, report.

The engine (the per-job cursor, :mod:`fluxjournal.ingestion.engine`) and the follower of
many instances (:mod:`fluxjournal.ingestion.follow`) do the work; this module turns the
parsed command line into them and their outcomes into lines and an exit status.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import IO, Any

from fluxjournal.ingestion.follow import Fleet, Target
from fluxjournal.ingestion.sources import SourceError, open_source, recording, source_from
from fluxjournal.ingestion.stopping import StopRequest
from fluxjournal.storage.factory import is_postgres, open_store


class _ProgressLine:
    """The progress line on a terminal, cleared before a log message or the end: as a
    logging filter, it clears itself for every record."""

    def __init__(self, err: IO[str]) -> None:
        self.err = err
        self.shown = False

    def show(self, text: str) -> None:
        self.err.write(f"\r\x1b[K{text}")
        self.err.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.err.write("\r\x1b[K")
            self.shown = False

    def filter(self, record: logging.LogRecord) -> bool:
        self.clear()
        return True


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _targets(args: Any) -> list[Any]:
    """What the command line names to follow, opened: each ``--uri``, or the one other
    source (a source that cannot be had stops the command before anything is made)."""
    if args.simulate is not None or args.replay is not None or not args.uri:
        sources = [source_from(args)]
    else:
        sources = [open_source(uri=uri) for uri in args.uri]
    return [
        Target(lambda source=source: source, source.description, args.instance)
        for source in sources
    ]


def command(args: Any, out: IO[str], err: IO[str]) -> int:
    """``fluxjournal ingest``: open the sources and the database, store, report."""
    if (
        args.record is not None
        and not is_postgres(args.db)
        and any(_same_file(args.record, args.db + suffix) for suffix in ("", "-wal", "-shm"))
    ):
        raise SourceError(f"--record {args.record} would write over the database {args.db}")
    # the sources, then the database, then the record file: nothing is made on disk for a
    # source that cannot be had, and a database that cannot be used leaves --record alone
    targets = _targets(args)
    open_store(args.db).close()  # made or brought up to date once, before the followers
    single = len(targets) == 1 and not args.recursive
    # the progress line of one instance's history, on a terminal
    line = _ProgressLine(err) if single and not args.quiet and err.isatty() else None
    handlers = logging.getLogger("fluxjournal").handlers if line is not None else []
    with contextlib.ExitStack() as stack:
        record = None
        if args.record is not None:
            record = stack.enter_context(recording(args.record))
        for handler in handlers:
            handler.addFilter(line)
        try:
            with StopRequest() as stop:
                fleet = Fleet(
                    args.db,
                    once=args.once,
                    wait=args.wait,
                    max_depth=args.max_depth if args.recursive else 0,
                    stop_requested=stop,
                    progress=None if line is None else line.show,
                    wrap_source=None if record is None else record,
                    follow_resources=not args.no_resources,
                )
                for target in targets:
                    fleet.add(target)
                outcomes = fleet.join()
        finally:
            for handler in handlers:
                handler.removeFilter(line)
            if line is not None:
                line.clear()
    return _report(outcomes, stop, args, out, err, single)


def _report(
    outcomes: list[Any], stop: StopRequest, args: Any, out: IO[str], err: IO[str], single: bool
) -> int:
    """The lines of what each instance came to; the exit status."""
    top = [outcome for outcome in outcomes if outcome.target.depth == 0]
    if single and top and top[0].error is not None:
        raise top[0].error  # one instance: its error is the command's
    status = 0
    for outcome in sorted(outcomes, key=lambda o: (o.target.depth, o.name or "")):
        result = outcome.result
        if outcome.error is not None:
            if outcome.target.depth == 0:
                err.write(f"fluxjournal: {outcome.target.label}: {outcome.error}\n")
                status = 1
            continue
        if result is None:
            continue  # waited for a lease until stopped
        if result.bad_responses and outcome.target.depth == 0:
            status = 1
        if args.quiet:
            continue
        skipped = f"; {result.bad_responses} bad responses skipped" if result.bad_responses else ""
        resources = result.stored_resource_events
        also = f" and {resources:,} resource events" if resources else ""
        out.write(
            f"stored {result.stored_events:,} new events of {result.stored_jobs:,} jobs{also} "
            f"from {outcome.description} in {outcome.elapsed:.2f} s{skipped}\n"
        )
        out.write(outcome.summary + "\n")
    if stop.signal is not None:
        return stop.exit_status
    return status
