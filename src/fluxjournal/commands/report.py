"""``fluxjournal report``: usage and utilization of the archived instances over a period,
as a table, CSV or JSON, and drawn (``--plot``)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta
from typing import Any, TextIO

from fluxjournal.reading import archive as archived
from fluxjournal.reading import plots, report, reportout
from fluxjournal.reading.timewords import parse_when
from fluxjournal.storage.contract import StoreError
from fluxjournal.storage.factory import open_archive
from fluxjournal.storage.queries import ReportFilter

EXIT_ERROR = 1
PROGRAM = "fluxjournal report"
#: ``--bin`` words, and the bin chosen for a period up to a length.
BIN_WORDS = {"hour": 3600.0, "day": 86400.0, "week": 604800.0}
BIN_FOR_PERIOD = ((2 * 86400.0, "hour"), (62 * 86400.0, "day"))
#: Most bins a plot draws: a smaller --bin is refused.
MOST_BINS = 2000


def last_full_day(now: float) -> tuple[float, float]:
    """Yesterday, midnight to midnight (local time): sreport's default period."""
    today = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=1)).timestamp(), today.timestamp()


def period(args: argparse.Namespace, now: float) -> tuple[float, float]:
    """The period ``--since``/``--until`` name (a missing end: the last full day's)."""
    start, end = last_full_day(now)
    if args.since is not None:
        start = _moment("--since", args.since, now)
        end = now
    if args.until is not None:
        end = _moment("--until", args.until, now)
    if end <= start:
        raise ValueError(f"the period ends before it starts ({args.since} to {args.until})")
    return start, end


def _moment(option: str, text: str, now: float) -> float:
    try:
        return parse_when(text, now)
    except ValueError:
        raise ValueError(
            f"{option} {text}: not a moment (now, -6h, +1d, a date, or seconds since the epoch)"
        ) from None


def bin_width(args: argparse.Namespace, start: float, end: float) -> float:
    """``--bin``, or hours for up to two days, days for up to two months, else weeks."""
    if args.bin is not None:
        width = BIN_WORDS.get(args.bin)
        if width is None:
            width = float(args.bin)
    else:
        length = end - start
        word = next((w for limit, w in BIN_FOR_PERIOD if length <= limit), "week")
        width = BIN_WORDS[word]
    if width <= 0 or (end - start) / width > MOST_BINS:
        raise ValueError(f"--bin {args.bin}: at most {MOST_BINS} bins a plot")
    return width


def _report(store: Any, args: argparse.Namespace, where: ReportFilter) -> tuple:
    """Utilization, usage by each grouping and the sizes: one summary per grouping (the
    first gives the sizes, and, with no filter, the core-seconds every job held)."""
    by: dict[str, list[report.Usage]] = {}
    sizes = held = None
    for grouping in args.by:
        lines, binned = report.summary(store, where, grouping, args.sizes)
        by[grouping] = lines[: args.top or None]
        if sizes is None:
            sizes = binned
            held = sum(line.core_seconds for line in lines)
    unfiltered = where.userid is None and not (where.queues or where.projects or where.banks)
    return report.utilization(store, where, held if unfiltered else None), by, sizes


def command(args: argparse.Namespace, out: TextIO, err: TextIO, now: float | None = None) -> int:
    """Run ``fluxjournal report``; ``now`` is the present (the clock's when None)."""
    now = time.time() if now is None else now
    try:
        start, end = period(args, now)
        width = bin_width(args, start, end) if args.plot else None
        with open_archive(args.db) as store, store.snapshot():
            report.check_version(store)
            chosen = archived.chosen_instances(store, args.instance)
            if not chosen:
                raise StoreError(f"{store.location} holds no instance")
            if args.plot and len(chosen) > 1:
                raise ValueError("--plot draws one instance: name it with --instance")
            userid = archived.userid_of(args.user) if args.user else None
            reports = []
            for instance in chosen:
                where = ReportFilter(
                    instance.number,
                    start,
                    end,
                    now,
                    userid,
                    tuple(args.queue),
                    tuple(args.project),
                    tuple(args.bank),
                )
                util, by, sizes = _report(store, args, where)
                reports.append(report.Report(instance.name, start, end, util, by, sizes))
                if args.plot:
                    series = report.series(store, where, width)
                    users = by.get("user") or report.usage(store, where, "user")
                    data = plots.figure_data(series, users)
                    plots.draw(args.plot, data, instance.name, start, end)
    except (StoreError, ValueError, archived.SelectionError, plots.PlotUnavailable) as exc:
        err.write(f"{PROGRAM}: ERROR: {exc}\n")
        return EXIT_ERROR
    if args.format == "json":
        objects = [reportout.as_dict(one) for one in reports]
        out.write(json.dumps(objects[0] if len(objects) == 1 else objects, indent=1) + "\n")
        return 0
    for one in reports:
        sections = reportout.tables(one, args.units)
        if args.format == "csv":
            out.write(reportout.csv_text(sections))
        else:
            out.write(reportout.text(one, sections))
    if args.plot:
        err.write(f"{PROGRAM}: wrote {args.plot}\n")
    return 0
