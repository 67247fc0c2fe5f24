"""The ``fluxjournal`` command line: it parses, then hands over to the command's module.

- ``fluxjournal`` (no command): read a whole journal and count what came through
  (:mod:`fluxjournal.commands.consume`);
- ``fluxjournal ingest``: store every job event in SQLite or PostgreSQL
  (:mod:`fluxjournal.commands.ingest`, over :mod:`fluxjournal.ingestion`);
- ``fluxjournal tail``: print events (:mod:`fluxjournal.commands.tail`);
- ``fluxjournal bench``: the benchmark comparisons (:mod:`fluxjournal.bench`).

Options may stand before or after the command name. Exit status: 0 done, 1 error, 2 bad
usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from fluxjournal.ingestion.engine import IngestError
from fluxjournal.ingestion.sources import SourceError
from fluxjournal.ingestion.stopping import EXIT_INTERRUPTED
from fluxjournal.jobid import JobID
from fluxjournal.storage.contract import StoreError
from fluxjournal.storage.factory import is_postgres

EXIT_ERROR = 1
EXIT_STATUSES = "exit status: 0 done (a stop by SIGTERM too), 1 error, 2 bad usage, 130 SIGINT"
COMMANDS = ("ingest", "tail", "bench")
#: The simulated history of ``--simulate`` without a number.
DEFAULT_SIMULATED_JOBS = 2000
#: How many levels of nested instances ``--recursive`` follows by default.
DEFAULT_MAX_DEPTH = 3


def _number(text: str, kind: Callable[[str], float]) -> float:
    """``kind(text)``, with argparse's message when it is not a number at all."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _count(text: str) -> int:
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _rate(text: str) -> float:
    value = _number(text, float)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _finite(text: str) -> float:
    value = _number(text, float)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def _database(text: str) -> str:
    if is_postgres(text):
        return text
    if not text or text == ":memory:" or text.startswith("file:"):
        raise argparse.ArgumentTypeError(
            f"must name a database file or a postgresql:// URL, not {text!r}"
        )
    return text


def _names(text: str) -> list[str]:
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError("needs at least one event name")
    return names


def _jobid(text: str) -> JobID:
    try:
        return JobID(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"not a job ID: {text!r}") from None


def _add_source_options(ap: argparse.ArgumentParser, many: bool = False) -> None:
    """The options that name the journal's source; ``many``: ``--uri`` may be repeated."""
    group = ap.add_argument_group("source (one of; default: the instance of $FLUX_URI)")
    which = group.add_mutually_exclusive_group()
    if many:
        which.add_argument(
            "--uri", action="append", help="a Flux instance to read (again for several)"
        )
    else:
        which.add_argument("--uri", help="the Flux instance to read")
    which.add_argument(
        "--simulate",
        metavar="JOBS",
        nargs="?",
        const=DEFAULT_SIMULATED_JOBS,
        type=_count,
        help=f"a simulated instance with JOBS jobs of history (default {DEFAULT_SIMULATED_JOBS})",
    )
    which.add_argument("--replay", metavar="FILE", help="recorded payloads, one per line")
    group.add_argument("--record", metavar="FILE", help="also write the payloads to FILE")
    group.add_argument("--seed", type=int, default=0, help="simulation seed")
    group.add_argument(
        "--live", type=_count, default=0, help="live events the simulation posts after its history"
    )
    group.add_argument("--rate", type=_rate, help="simulated live events per second")
    group.add_argument(
        "--posted",
        type=_count,
        default=0,
        help="ask the simulation after this many of its live events were posted",
    )


def _add_output_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    ap.add_argument("-v", "--verbose", action="store_true", help="log more")


def parsers() -> dict[str | None, argparse.ArgumentParser]:
    """The parser of each command; None is the command-less report."""
    report = argparse.ArgumentParser(
        prog="fluxjournal",
        description="Read a Flux job-manager journal and report what came through. "
        "Commands: ingest (store it in SQLite or PostgreSQL), tail (print events), bench "
        "(benchmarks); `fluxjournal COMMAND --help` for each.",
        epilog=EXIT_STATUSES,
    )
    _add_source_options(report)
    report.add_argument("--jobs", type=_count, default=20000, help="simulated history size")
    report.add_argument("--since", type=_finite, default=0.0, help="skip events up to this time")
    report.add_argument(
        "--active-only", action="store_true", help="no history of inactive jobs (full=False)"
    )
    report.add_argument(
        "--follow", action="store_true", help="on a live instance, keep reading after the history"
    )
    report.add_argument(
        "--idle", type=_rate, default=0.5, help="seconds of quiet that end a non-live source"
    )
    report.add_argument("--print", action="store_true", help="print every event")

    ingest = argparse.ArgumentParser(
        prog="fluxjournal ingest",
        description="Store every job event of Flux instances in an SQLite or PostgreSQL "
        "database, exactly once across any stop, with a jobs table as `flux jobs -a --json` "
        "reports it. Runs until stopped (SIGINT, SIGTERM) or, with --once, until the "
        "history is stored.",
        epilog=EXIT_STATUSES,
    )
    ingest.add_argument(
        "--db",
        required=True,
        type=_database,
        metavar="PATH|URL",
        help="an SQLite database file, or a PostgreSQL database (postgresql://...)",
    )
    ingest.add_argument("--once", action="store_true", help="stop once the history is stored")
    ingest.add_argument(
        "--instance", metavar="NAME", help="store the jobs under this instance name"
    )
    ingest.add_argument(
        "--wait",
        action="store_true",
        help="when another ingester holds an instance, wait for it to stop (not exit)",
    )
    ingest.add_argument(
        "--recursive",
        action="store_true",
        help="also follow the instances that run as jobs (flux batch, flux alloc)",
    )
    ingest.add_argument(
        "--max-depth",
        type=_count,
        default=DEFAULT_MAX_DEPTH,
        metavar="N",
        help=f"with --recursive, how many levels of instances below (default {DEFAULT_MAX_DEPTH})",
    )
    _add_source_options(ingest, many=True)
    _add_output_options(ingest)

    tail = argparse.ArgumentParser(
        prog="fluxjournal tail",
        description="Print a journal's events, the history in time order, as flux-core's "
        "JournalEvent prints them, or as JSON Lines.",
        epilog=EXIT_STATUSES,
    )
    tail.add_argument("--format", choices=("text", "json"), default="text")
    tail.add_argument("--follow", action="store_true", help="go on with live events")
    tail.add_argument("--since", type=_finite, default=0.0, help="only events after this time")
    tail.add_argument(
        "--allow", type=_names, action="extend", metavar="NAMES", help="only these event names"
    )
    tail.add_argument(
        "--deny", type=_names, action="extend", metavar="NAMES", help="not these event names"
    )
    tail.add_argument(
        "--job", type=_jobid, action="append", default=[], metavar="ID", help="only this job"
    )
    _add_source_options(tail)
    _add_output_options(tail)
    return {None: report, "ingest": ingest, "tail": tail}


def _option_nargs(flag: str, takes: dict[str, Any]) -> Any:
    """The ``nargs`` of the option ``flag`` names, whole or as an unambiguous prefix (as
    argparse allows); 0 for one that names none: it is then left to the parser."""
    if flag in takes:
        return takes[flag]
    if flag.startswith("--"):
        kinds = {nargs for name, nargs in takes.items() if name.startswith(flag)}
        if len(kinds) == 1:
            return kinds.pop()
    return 0


def split_command(argv: Sequence[str], known: dict) -> tuple[str | None, list[str]]:
    """Find the command name wherever it stands among the options; return it and the rest."""
    takes: dict[str, Any] = {}
    for parser in known.values():
        for action in parser._actions:
            for flag in action.option_strings:
                takes[flag] = action.nargs
    args = list(argv)
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break
        if token.startswith("-") and "=" not in token:
            nargs = _option_nargs(token, takes)
            if nargs is None:
                i += 1  # its value follows
            elif nargs == "?" and i + 1 < len(args):
                following = args[i + 1]
                if following not in COMMANDS and not following.startswith("-"):
                    i += 1
        elif token in COMMANDS:
            return token, args[:i] + args[i + 1 :]
        i += 1
    return None, args


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What no single option's type can check: exits with a usage error."""
    if getattr(args, "follow", False) and args.replay is not None:
        parser.error("--follow does not apply to --replay: a replay ends with its file")
    if args.posted > args.live:
        parser.error(f"--posted {args.posted} is more than the --live events ({args.live})")
    uris = getattr(args, "uri", None)
    if isinstance(uris, list) and len(uris) > 1:
        if args.instance is not None:
            parser.error("--instance names one instance: give one --uri with it")
        if args.record is not None:
            parser.error("--record writes one journal: give one --uri with it")


def _setup_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fluxjournal: %(message)s"))
    logger = logging.getLogger("fluxjournal")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    known = parsers()
    name, rest = split_command(argv, known)
    if name == "bench":
        from fluxjournal.bench import command

        return command.main(rest)
    parser = known[name]
    args = parser.parse_args(rest)
    _check(parser, args)
    _setup_logging(getattr(args, "quiet", False), getattr(args, "verbose", False))
    if name == "ingest":
        from fluxjournal.commands.ingest import command
    elif name == "tail":
        from fluxjournal.commands.tail import command
    else:
        from fluxjournal.commands.consume import command
    try:
        return command(args, sys.stdout, sys.stderr)
    except (SourceError, StoreError, IngestError) as exc:
        print(f"fluxjournal: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"fluxjournal: the journal stream failed: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def run() -> int:
    """The console script: :func:`main`, quiet when the reader of stdout goes away."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (head, less) has gone: that is not an error; keep Python from
        # complaining while it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    return status
