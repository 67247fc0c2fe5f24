"""The ``fluxjournal`` command line: it parses, then hands over to the command's module.

- ``fluxjournal`` (no command): read a whole journal and count what came through
  (:mod:`fluxjournal.commands.consume`);
- ``fluxjournal ingest``: store every job event in SQLite or PostgreSQL
  (:mod:`fluxjournal.commands.ingest`, over :mod:`fluxjournal.ingestion`);
- ``fluxjournal tail``: print events (:mod:`fluxjournal.commands.tail`);
- ``fluxjournal jobs``: list the stored jobs as ``flux jobs`` does
  (:mod:`fluxjournal.commands.jobs`, over :mod:`fluxjournal.reading`);
- ``fluxjournal report``: usage and utilization over a period
  (:mod:`fluxjournal.commands.report`, over :mod:`fluxjournal.reading`);
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
COMMANDS = ("ingest", "tail", "jobs", "report", "bench")
#: The simulated history of ``--simulate`` without a number.
DEFAULT_SIMULATED_JOBS = 2000
#: How many levels of nested instances ``--recursive`` follows by default.
DEFAULT_MAX_DEPTH = 3
#: How many jobs ``fluxjournal jobs`` lists without ``--count``, as flux jobs.
DEFAULT_JOBS_COUNT = 1000


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


def _color(text: str) -> str:
    if text not in ("auto", "always", "never"):
        raise argparse.ArgumentTypeError(f"Invalid argument to --color: '{text}'")
    return text


#: The options of ``fluxjournal jobs`` that are flux jobs' filters: given with job IDs,
#: they are ignored, with a warning.
JOBS_FILTER_OPTIONS = ("a", "A", "count", "filter", "since", "user", "name", "queue")


def _jobs_parser() -> argparse.ArgumentParser:
    """``fluxjournal jobs``: flux jobs' options, and the archive's own."""
    ap = argparse.ArgumentParser(
        prog="fluxjournal jobs",
        description="List the jobs an archive holds (the purged ones too), as `flux jobs` "
        "lists an instance's: the same options, the same text.",
        epilog="exit status: 0 done, 1 error (or, with --stats-only, no active job), 2 bad usage",
    )
    archive = ap.add_argument_group("the archive")
    archive.add_argument(
        "--db", type=_database, metavar="PATH|URL", help="the SQLite file or PostgreSQL database"
    )
    archive.add_argument(
        "--uri", help="the live instance (its active jobs; alone: flux jobs itself)"
    )
    archive.add_argument(
        "--instance",
        action="append",
        metavar="NAME",
        help="only this stored instance (again for several; default: every top-level one)",
    )
    archive.add_argument("--until", metavar="WHEN", help="only jobs submitted and over by WHEN")
    ap.add_argument("-a", action="store_true", help="list jobs in all states")
    ap.add_argument("-A", action="store_true", help="list the jobs of all users")
    ap.add_argument("-c", "--count", type=int, metavar="N", help="at most N jobs (default 1000)")
    ap.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="STATE|RESULT",
        help="jobs of these states or results",
    )
    ap.add_argument("--since", metavar="WHEN", help="jobs inactive since WHEN (implies -a)")
    ap.add_argument("-n", "--no-header", action="store_true", help="no header line")
    ap.add_argument(
        "--suppress-header", action="store_true", dest="no_header", help=argparse.SUPPRESS
    )
    ap.add_argument(
        "-u", "--user", metavar="USER|UID", help="this user's jobs (\"all\": every user's)"
    )
    ap.add_argument("--name", metavar="JOB-NAME", help="jobs of this name")
    ap.add_argument(
        "-q", "--queue", action="append", default=[], metavar="QUEUE,...", help="these queues"
    )
    ap.add_argument("-i", "--include", metavar="HOSTS|RANKS", help="jobs that ran there")
    ap.add_argument(
        "-o",
        "--format",
        default="default",
        metavar="FORMAT",
        help="a format string or a named format ('help' lists them)",
    )
    ap.add_argument("--sort", default="", metavar="KEY,...", help="sort by these keys")
    ap.add_argument(
        "-w",
        "--width",
        type=int,
        default=-1,
        const=0,
        nargs="?",
        metavar="N",
        help="cut lines at N columns (no N: the terminal's)",
    )
    ap.add_argument("--json", action="store_true", help="the jobs as JSON")
    ap.add_argument(
        "--color",
        type=_color,
        nargs="?",
        const="always",
        default="never" if os.environ.get("NO_COLOR") else "auto",
        metavar="WHEN",
        help="color: never, always or auto (default)",
    )
    ap.add_argument("-R", "--recursive", action="store_true", help="the nested instances too")
    ap.add_argument(
        "-L", "--level", type=int, default=9999, metavar="N", help="with -R, N levels at most"
    )
    ap.add_argument("--stats", action="store_true", help="job counts before the header")
    ap.add_argument("--stats-only", action="store_true", help="job counts only")
    ap.add_argument("jobids", metavar="JOBID", type=_jobid, nargs="*", help="these jobs")
    return ap


def jobs_defaults(args: argparse.Namespace) -> None:
    """What flux jobs sets beside its options: whether a filter or a user was given."""
    args.filtered = any(
        getattr(args, name) not in (None, False, []) for name in JOBS_FILTER_OPTIONS
    )
    args.filtered_user = args.user is not None
    if args.user is None:
        args.user = str(os.getuid())
    if args.count is None:
        args.count = DEFAULT_JOBS_COUNT
    args.queue_list = [queue for text in args.queue for queue in text.split(",")]


def _report_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of core counts: {text!r}") from None
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"core counts must rise from 1 or more: {text!r}")
    return sizes


def _report_parser() -> argparse.ArgumentParser:
    """``fluxjournal report``: usage and utilization over a period."""
    from fluxjournal.reading.report import DEFAULT_SIZES, groupings
    from fluxjournal.reading.reportout import UNITS

    ap = argparse.ArgumentParser(
        prog="fluxjournal report",
        description="Usage and utilization of the archived instances over a period "
        "(default: yesterday, midnight to midnight): cores and nodes allocated, down and "
        "idle; jobs, results, core- and node-hours, queue waits and runtimes by user, "
        "bank, project or queue; core-hours by job size; and --plot draws it.",
        epilog="exit status: 0 done, 1 error, 2 bad usage",
    )
    ap.add_argument("--db", required=True, type=_database, metavar="PATH|URL")
    ap.add_argument("--since", metavar="WHEN", help="the period's start (with no --until: to now)")
    ap.add_argument("--until", metavar="WHEN", help="the period's end")
    ap.add_argument("--instance", action="append", metavar="NAME", help="this instance only")
    ap.add_argument("-u", "--user", metavar="USER|UID", help="this user's jobs only")
    for flag, what in (("queue", "queues"), ("project", "projects"), ("bank", "banks")):
        ap.add_argument(
            f"--{flag}",
            action="extend",
            type=_names,
            default=[],
            metavar="NAMES",
            help=f"these {what} only (comma-separated)",
        )
    ap.add_argument(
        "--by",
        action="append",
        choices=groupings(),
        help="usage by this (again for several; default user)",
    )
    ap.add_argument("--top", type=_count, default=0, metavar="N", help="the N first of each --by")
    ap.add_argument(
        "--sizes",
        type=_report_sizes,
        default=list(DEFAULT_SIZES),
        metavar="N,N,...",
        help="job size bins, by core count (default %(default)s)",
    )
    ap.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ap.add_argument("--units", choices=UNITS, default="hours")
    ap.add_argument("--plot", metavar="FILE.png|FILE.svg", help="draw the report (matplotlib)")
    ap.add_argument("--bin", metavar="hour|day|week|SECONDS", help="the plot's bins")
    return ap


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
    ingest.add_argument(
        "--no-resources",
        action="store_true",
        help="do not follow the instances' resource journals (resource_events)",
    )
    ingest.add_argument(
        "--replay-resources",
        metavar="FILE",
        help="with --replay: the resource journal's recorded payloads, followed too",
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
    # jobs first: its -q (a queue) takes a value, the others' -q (quiet) none, and the
    # last parser's meaning of an option is what split_command reads
    return {
        "jobs": _jobs_parser(),
        "report": _report_parser(),
        None: report,
        "ingest": ingest,
        "tail": tail,
    }


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
    if getattr(args, "replay_resources", None) is not None:
        if args.replay is None:
            parser.error("--replay-resources goes with --replay")
        if args.no_resources:
            parser.error("--replay-resources and --no-resources say opposite things")
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
    if name == "report":
        from fluxjournal.commands.report import command as report_command

        if args.by is None:
            args.by = ["user"]
        if args.plot and not args.plot.endswith((".png", ".svg")):
            parser.error("--plot writes a .png or an .svg file")
        return report_command(args, sys.stdout, sys.stderr)
    if name == "jobs":
        from fluxjournal.commands.jobs import command as list_jobs

        jobs_defaults(args)
        return list_jobs(args, sys.stdout, sys.stderr, argv=rest)
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
