"""``fluxjournal jobs``: the jobs an archive holds, listed as ``flux jobs`` lists them.

The same options, the same selection and order, the same text byte for byte (or the same
``--json``), over the jobs that ``fluxjournal ingest`` stored, the purged ones too. With
``--uri`` (or ``FLUX_URI``) and no ``--db`` it is ``flux jobs`` itself; with both, the
instance's active jobs and the archive's others, in one listing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any, TextIO

from fluxjournal.reading import archive as archived
from fluxjournal.reading import live
from fluxjournal.reading.jobformats import (
    COLOR_COLUMNS,
    FormatListed,
    columns_of,
    format_string,
    jobs_format,
)
from fluxjournal.reading.jobview import JobView
from fluxjournal.reading.textformat import FormatError, OutputFormat
from fluxjournal.reading.timewords import parse_when
from fluxjournal.storage.contract import StoreError
from fluxjournal.storage.factory import open_archive
from fluxjournal.storage.queries import LISTING_COLUMNS

EXIT_ERROR = 1
#: How a message of this command starts, as flux jobs starts its own.
PROGRAM = "fluxjournal jobs"
#: The color of a line by the job's result (an instance still running: blue), and the
#: reset written after it.
RESULT_COLORS = {
    "COMPLETED": "\033[01;32m",
    "FAILED": "\033[01;31m",
    "CANCELED": "\033[37m",
    "TIMEOUT": "\033[01;31m",
}
INSTANCE_COLOR = "\033[01;34m"
COLOR_RESET = "\033[0;0m"
#: Fields whose value needs what the scheduler annotated a job with.
ANNOTATION_FIELDS = ("annotations", "sched", "user")


class JobsError(Exception):
    """An error of the listing, as flux jobs words it."""


def _error(err: TextIO, message: str) -> int:
    err.write(f"{PROGRAM}: ERROR: {message}\n")
    return EXIT_ERROR


def _warn(err: TextIO, message: str) -> None:
    err.write(f"{PROGRAM}: WARNING: {message}\n")


def _columns(args: argparse.Namespace, form: OutputFormat, out: TextIO) -> tuple[str, ...]:
    """What a listing reads of each job: all of it for JSON, else what its format, sort
    keys and colors are made of."""
    if args.json:
        return LISTING_COLUMNS
    wanted = columns_of(form.fields, LISTING_COLUMNS)
    if _color_enabled(args.color, out) or args.recursive:
        wanted.update(COLOR_COLUMNS)
    return archived.listing_columns(wanted)


def _needs_annotations(fields: Sequence[str], json_output: bool) -> bool:
    return json_output or any(
        field == name or field.startswith(name + ".")
        for field in fields
        for name in ANNOTATION_FIELDS
    )


def _selection(args: argparse.Namespace, now: float, err: TextIO) -> archived.Selection:
    """The jobs asked for, read as flux jobs reads its options (its warnings included)."""
    filters = list(args.filter)
    user = args.user
    if args.A:
        user = archived.ALL_USERS
    since = 0.0
    listed_all = args.a
    if args.since is not None:
        if not filters:
            listed_all = True
        since = parse_when(args.since, now)
        if since > now:
            raise JobsError(f"--since={args.since} appears to be in the future")
    until = parse_when(args.until, now) if args.until is not None else None
    if listed_all:
        if filters:
            _warn(err, "Both -a and --filter specified, ignoring -a")
        else:
            filters = ["pending", "running", "inactive"]
    if args.include and not args.filtered_user:
        user = archived.ALL_USERS
    if args.count < 0:
        raise JobsError("invalid payload: max_entries < 0 not allowed")
    return archived.Selection(
        filters=tuple(word for text in filters for word in text.split(",")),
        user=user,
        name=args.name,
        queues=tuple(args.queue_list),
        include=args.include,
        since=since,
        until=until,
        count=args.count,
    )


def _children(store: Any, parent: tuple[int, ...] | None) -> dict[int, int]:
    """The nested instances of the listed ones: their number by the job they ran as."""
    return {
        i.parent_jobid: i.number
        for i in archived.instances(store)
        if i.parent is not None
        and i.parent_jobid is not None
        and (parent is None or i.parent in parent)
    }


class Printer:
    """Prints a listing as flux jobs prints it: the header, the lines in their colors,
    cut to the width."""

    def __init__(self, args: argparse.Namespace, out: TextIO, columns: tuple[str, ...]) -> None:
        self.args = args
        self.out = out
        #: what is read of each job (the nested instances' too)
        self.columns = columns
        self.color = _color_enabled(args.color, out)
        self.width = _width(args.width)

    def lines(self, form: OutputFormat, jobs: list[JobView]) -> None:
        """Each job's line, sorted by the format's keys; a blank line is left out."""
        form.sort(jobs)
        line = form.compile()
        write = self.out.write
        width = self.width
        for job in jobs:
            text = line(job)
            if not text or text.isspace():
                continue
            if 0 < width < len(text):
                text = text[: width - 1] + "+"
            color = _color_of(job) if self.color else None
            if color:
                write(color)
            write(text + "\n")
            if color:
                write(COLOR_RESET)

    def header(self, form: OutputFormat) -> None:
        text = form.header()
        if 0 < self.width < len(text):
            text = text[: self.width - 1] + "+"
        self.out.write(text + "\n")


def _color_of(job: JobView) -> str | None:
    if job.result:
        return RESULT_COLORS.get(job.result)
    if job.__dict__.get("uri"):
        return INSTANCE_COLOR
    return None


def _color_enabled(when: str, out: TextIO) -> bool:
    if when == "always":
        return True
    if when == "never":
        return False
    return out.isatty()


def _width(width: int) -> int:
    if width == 0:
        try:
            return os.get_terminal_size().columns
        except OSError:
            return -1
    return width


#: The options of this command that flux jobs does not have (each takes a value).
ARCHIVE_OPTIONS = ("--uri", "--db", "--instance", "--until")


def _flux_options(argv: Sequence[str]) -> list[str]:
    """``argv`` without the options flux jobs does not have."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ARCHIVE_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in ARCHIVE_OPTIONS)):
            kept.append(arg)
    return kept


def _live_listing(args: argparse.Namespace, argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """No archive, an instance: ``flux jobs`` itself, with these options."""
    flux = shutil.which("flux")
    if flux is None:
        return _error(err, "no --db, and no flux command to list the instance's jobs with")
    env = dict(os.environ)
    if args.uri:
        env["FLUX_URI"] = args.uri
    result = subprocess.run([flux, "jobs", *_flux_options(argv)], env=env, stdout=subprocess.PIPE)
    out.write(result.stdout.decode("utf-8", "surrogateescape"))
    return result.returncode


def command(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    now: float | None = None,
    argv: Sequence[str] = (),
) -> int:
    """Run ``fluxjournal jobs``; ``now`` is the moment the listing is taken at (the
    runtime of a running job, relative ``--since``), the clock's when None."""
    now = time.time() if now is None else now
    if args.db is None:
        if args.uri is None and not os.environ.get("FLUX_URI"):
            return _error(err, "no --db to read (and no --uri or FLUX_URI of an instance)")
        return _live_listing(args, argv, out, err)
    if args.json and (args.stats or args.stats_only):
        return _error(err, "--json incompatible with --stats or --stats-only")
    if args.jobids and args.filtered and not args.recursive:
        _warn(err, "Filtering options ignored with jobid list")
    try:
        try:
            text = format_string(args.format, out)
        except FormatListed:
            return 0
        try:
            form = jobs_format(text)
        except ValueError as exc:
            if isinstance(exc, FormatError) and str(exc).startswith("--format"):
                raise
            raise FormatError(f"Error in user format: {exc}") from None
        with open_archive(args.db) as store, store.snapshot():
            return _list(store, args, form, out, err, now)
    except (JobsError, archived.SelectionError, StoreError, live.LiveError, ValueError) as exc:
        return _error(err, str(exc))
    except (AttributeError, TypeError, KeyError) as exc:
        # a format that names a field of a value that has none ({uri.local} of a job
        # that is no instance), or a spec its value does not take: flux jobs' own errors
        return _error(err, str(exc))


def _live_instance(
    store: Any, uri: str, args: argparse.Namespace, instances: tuple[int, ...] | None
) -> tuple[Any, tuple[int, ...] | None]:
    """The instance at ``uri`` and its number in the archive, when the archive holds it:
    its active jobs then come from it. An instance of ``FLUX_URI`` that cannot be asked,
    or that the archive does not hold, leaves the archive alone; one of ``--uri`` is an
    error."""
    try:
        handle, name = live.instance_of(uri)
    except live.LiveError:
        if args.uri:
            raise
        return None, instances
    number = {i.name: i.number for i in archived.instances(store)}.get(name)
    if number is None or (args.instance and number not in (instances or ())):
        if args.uri:
            raise JobsError(f"{store.location} holds no jobs of the instance at {uri} ({name})")
        return None, instances
    return handle, (number,)


def _with_active(
    store: Any,
    handle: Any,
    selection: archived.Selection,
    now: float,
    columns: Sequence[str],
    annotations: bool,
) -> list[JobView]:
    """The instance's active jobs, then the archive's jobs that are over (a job once)."""
    (number,) = selection.instances or (None,)
    userid = archived.userid_of(selection.user)
    jobs = live.active_jobs(handle, selection, userid, number, now)
    words = live.over_words(selection)
    if not words:
        return jobs
    active = {int(job.id) for job in jobs}
    rest = selection._replace(
        filters=tuple(words),
        count=max(selection.count - len(jobs), 0) + len(active) if selection.count else 0,
    )
    over = archived.select(store, rest, now, columns, annotations)
    return jobs + [job for job in over if int(job.id) not in active]


def _list(
    store: Any,
    args: argparse.Namespace,
    form: OutputFormat,
    out: TextIO,
    err: TextIO,
    now: float,
) -> int:
    instances = tuple(i.number for i in archived.chosen_instances(store, args.instance)) or None
    handle = None
    uri = args.uri or os.environ.get("FLUX_URI")
    if uri and not args.jobids:
        handle, instances = _live_instance(store, uri, args, instances)
    if args.stats or args.stats_only:
        counts = archived.counts(store, instances, args.queue_list)
        out.write(counts.line() + "\n")
        if args.stats_only:
            return 0 if counts.active else 1
    if args.sort:
        form.set_sort_keys(args.sort)
    selection = _selection(args, now, err)._replace(instances=instances)
    annotations = _needs_annotations(form.fields, args.json)
    columns = _columns(args, form, out)
    truncated = False
    if args.jobids:
        jobs, unknown = archived.select_ids(
            store, args.jobids, instances, now, columns, annotations
        )
        for message in unknown:
            err.write(message + "\n")
        if not jobs:
            return EXIT_ERROR
    elif handle is not None:
        jobs = _with_active(store, handle, selection, now, columns, annotations)
        if args.count > 0 and len(jobs) > args.count:
            jobs = jobs[: args.count]
            truncated = True
    else:
        jobs = archived.select(store, selection, now, columns, annotations)
        if args.count > 0 and len(jobs) > args.count:
            jobs = jobs[:-1]
            truncated = True
    printer = Printer(args, out, columns)
    if args.json:
        _print_json(store, args, selection, jobs, now, out)
    else:
        fitted = form.fit(jobs, no_header=args.no_header)
        if not args.no_header:
            printer.header(fitted)
        printer.lines(fitted, jobs)
        if args.recursive:
            _print_nested(store, args, selection, fitted, printer, jobs, instances, now, "", 0)
    if not args.no_header and truncated:
        err.write(f"warning: output truncated at {args.count} jobs.\n")
        err.write("Use --count to increase returned results or use filters to alter results.\n")
    return 0


def _print_json(
    store: Any,
    args: argparse.Namespace,
    selection: archived.Selection,
    jobs: list[JobView],
    now: float,
    out: TextIO,
) -> None:
    objects = [_with_nested(store, args, selection, job, now, 0) for job in jobs]
    if args.jobids and len(args.jobids) == 1:
        if objects:
            out.write(json.dumps(objects[0]) + "\n")
    else:
        out.write(json.dumps({"jobs": objects}) + "\n")


def _with_nested(
    store: Any,
    args: argparse.Namespace,
    selection: archived.Selection,
    job: JobView,
    now: float,
    level: int,
) -> dict[str, Any]:
    data = job.to_dict()
    if args.recursive and level < args.level:
        nested = _children(store, (job.instance_number,)).get(int(job.id))
        if nested is not None:
            inner = archived.select(
                store, selection._replace(instances=(nested,)), now, LISTING_COLUMNS, True
            )
            data["jobs"] = [_with_nested(store, args, selection, j, now, level + 1) for j in inner]
    return data


def _print_nested(
    store: Any,
    args: argparse.Namespace,
    selection: archived.Selection,
    form: OutputFormat,
    printer: Printer,
    jobs: list[JobView],
    instances: tuple[int, ...] | None,
    now: float,
    path: str,
    level: int,
) -> None:
    """``-R``: after a listing, the jobs of each nested instance it lists, under its path
    (``ƒA/ƒB:``), as flux jobs -R prints them."""
    if level >= args.level:
        return
    children = _children(store, instances)
    for job in jobs:
        nested = children.get(int(job.id))
        if nested is None or job.instance_number not in (instances or (job.instance_number,)):
            continue
        inner = archived.select(
            store, selection._replace(instances=(nested,)), now, printer.columns, False
        )
        here = f"{path}/{job.id.f58}" if path else job.id.f58
        printer.out.write(f"\n{here}:\n")
        if args.stats:
            printer.out.write(archived.counts(store, (nested,), ()).short_line() + "\n")
        printer.lines(form, inner)
        _print_nested(store, args, selection, form, printer, inner, (nested,), now, here, level + 1)
