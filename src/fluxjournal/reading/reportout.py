"""A report as people and scripts read it: an aligned table, CSV, or JSON.

The JSON object (its keys are documented in README, for scripts and dashboards)::

    {"instance", "period": {"start", "end"},
     "utilization": {"cores", "nodes", "core_hours": {"capacity", "allocated", "down",
                     "idle"}, "node_hours": {...}, "percent": {...}, "node_percent": {...}},
     "by": [{"user" (or the grouping's name), "jobs", "completed", "failed", "canceled",
             "timeout", "core_hours", "node_hours", "wait": {"mean", "median", "p95"},
             "runtime": {"mean", "median"}}],
     "sizes": [{"cores": [low, high], "jobs", "core_hours"}]}

Hours are hours whatever ``--units`` says (JSON is for programs); waits and runtimes are
seconds. The table and CSV show core and node figures in ``--units`` (hours, minutes,
seconds, or percent: of the capacity for utilization, of the period's allocated total for
usage and sizes).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from fluxjournal.reading.report import Report, group_name

SECONDS_PER = {"hours": 3600.0, "minutes": 60.0, "seconds": 1.0}
UNITS = (*SECONDS_PER, "percent")
PARTS = ("capacity", "allocated", "down", "idle")


def _hours(seconds: float) -> float:
    return seconds / SECONDS_PER["hours"]


def _percent(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def as_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON object above."""
    instance, start, end, util, by, sizes = report
    out: dict[str, Any] = {"instance": instance, "period": {"start": start, "end": end}}
    if util is not None:
        out["utilization"] = {
            "cores": util.cores,
            "nodes": util.nodes,
            "core_hours": {k: _hours(v) for k, v in util.core_seconds.items()},
            "node_hours": {k: _hours(v) for k, v in util.node_seconds.items()},
            "percent": {
                k: _percent(util.core_seconds[k], util.core_seconds["capacity"]) for k in PARTS[1:]
            },
            "node_percent": {
                k: _percent(util.node_seconds[k], util.node_seconds["capacity"]) for k in PARTS[1:]
            },
        }
    else:
        out["utilization"] = None
    out["by"] = []
    for grouping, lines in by.items():
        for line in lines:
            out["by"].append(
                {
                    grouping: group_name(grouping, line.group),
                    "jobs": line.jobs,
                    "completed": line.completed,
                    "failed": line.failed,
                    "canceled": line.canceled,
                    "timeout": line.timeout,
                    "core_hours": _hours(line.core_seconds),
                    "node_hours": _hours(line.node_seconds),
                    "wait": {
                        "mean": line.wait_mean,
                        "median": line.wait_median,
                        "p95": line.wait_p95,
                    },
                    "runtime": {"mean": line.runtime_mean, "median": line.runtime_median},
                }
            )
    if sizes is not None:
        out["sizes"] = [
            {"cores": b["cores"], "jobs": b["jobs"], "core_hours": _hours(b["core_seconds"])}
            for b in sizes
        ]
    return out


def _amount(seconds: float, units: str, whole: float) -> str:
    if units == "percent":
        share = _percent(seconds, whole)
        return "-" if share is None else f"{share:.2f}%"
    return f"{seconds / SECONDS_PER[units]:.2f}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    )


def tables(report: Report, units: str) -> list[tuple[str, list[list[str]]]]:
    """The report's sections: a title and the rows (the first a heading) of each."""
    _, _, _, util, by, sizes = report
    unit_name = "%" if units == "percent" else units
    sections: list[tuple[str, list[list[str]]]] = []
    if util is None:
        sections.append(("Utilization: no resource eventlog stored for this instance", []))
    else:
        rows = [["resource", "total", *PARTS]]
        for name, total, seconds in (
            ("cores", util.cores, util.core_seconds),
            ("nodes", util.nodes, util.node_seconds),
        ):
            capacity = seconds["capacity"]
            rows.append([name, str(total), *(_amount(seconds[p], units, capacity) for p in PARTS)])
        of = "capacity" if units == "percent" else "resource"
        sections.append((f"Utilization ({unit_name} of {of})", rows))
    for grouping, lines in by.items():
        total = sum(line.core_seconds for line in lines)
        nodes_total = sum(line.node_seconds for line in lines)
        rows = [
            [
                grouping,
                "jobs",
                *RESULTS_SHORT,
                f"core-{unit_name}",
                f"node-{unit_name}",
                "wait-mean",
                "wait-median",
                "wait-p95",
                "run-mean",
                "run-median",
            ]
        ]
        for line in lines:
            rows.append(
                [
                    str(group_name(grouping, line.group)),
                    str(line.jobs),
                    str(line.completed),
                    str(line.failed),
                    str(line.canceled),
                    str(line.timeout),
                    _amount(line.core_seconds, units, total),
                    _amount(line.node_seconds, units, nodes_total),
                    _duration(line.wait_mean),
                    _duration(line.wait_median),
                    _duration(line.wait_p95),
                    _duration(line.runtime_mean),
                    _duration(line.runtime_median),
                ]
            )
        sections.append((f"Usage by {grouping} (waits and runtimes in seconds)", rows))
    if sizes is not None:
        total = sum(b["core_seconds"] for b in sizes)
        rows = [["cores", "jobs", f"core-{unit_name}"]]
        for b in sizes:
            low, high = b["cores"]
            label = f"{low}+" if high is None else (f"{low}" if low == high else f"{low}-{high}")
            rows.append([label, str(b["jobs"]), _amount(b["core_seconds"], units, total)])
        sections.append(("Job sizes", rows))
    return sections


RESULTS_SHORT = ("CD", "F", "CA", "TO")


def text(report: Report, sections: list) -> str:
    """The aligned table."""
    out = [f"Instance {report.instance}, {_when(report.start)} to {_when(report.end)}"]
    for title, rows in sections:
        out.append("")
        out.append(title)
        if rows:
            out.append(_aligned(rows))
    return "\n".join(out) + "\n"


def csv_text(sections: list) -> str:
    """CSV: each section's rows after a line naming it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for title, rows in sections:
        writer.writerow([f"# {title}"])
        writer.writerows(rows)
    return buffer.getvalue()
