"""``fluxjournal bench``: fluxjournal's consumer against its pure-Python twin and
flux-core's own, on the same SimulatedFlux payload bytes replayed through ReplayFlux.

Each implementation and mode runs in a fresh child process (:func:`harness.measure`), so
one implementation's heap never inflates another's peak memory; the child times the best
of ``--repeat`` runs and measures the peak RSS growth of the first. Ratios are computed
within one run, against flux-core's consumer through ``poll()`` (against the twin when
flux-core's bindings do not import). ``--chart`` draws events/s and memory against
history size.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fluxjournal.bench import harness
from fluxjournal.bench.harness import (
    APIS,
    CYTHON,
    FLUX_CORE,
    MIN_REFERENCE_MB,
    PYTHON,
    RECEIVE,
    STREAMS,
    Case,
    Measurement,
)
from fluxjournal.bench.payloads import (
    count_events,
    history_payloads,
    live_payloads,
    write_payloads,
)

#: The headline comparisons: (stream, api), run for every implementation that has the api.
HEADLINE = (
    ("history", "poll"),
    ("history", "batch"),
    ("history", "iter"),
    ("live", "poll"),
    ("live", "batch"),
)
DEFAULT_MODES = ",".join(f"{s}/{a}" for s, a in HEADLINE)


@dataclasses.dataclass
class Row:
    """One line of the table: a measurement at one history size, with its ratios."""

    jobs: int
    impl: str
    result: Measurement
    speedup: float | None = None
    memory_share: float | None = None

    @property
    def mode(self) -> str:
        return self.result.case.mode


def parse_modes(text: str) -> list[tuple[str, str]]:
    """``history/poll,live/batch`` as (stream, api) pairs; ValueError on an unknown one."""
    modes = []
    for part in text.split(","):
        stream, _, api = part.strip().partition("/")
        if stream not in STREAMS or api not in APIS:
            raise ValueError(f"unknown mode {part!r}: use history/<api> or live/<api>")
        modes.append((stream, api))
    return modes


def ratios(rows: list[Row], reference: str) -> None:
    """Speed-up and memory share of each row against the reference's poll() at its size."""
    refs = {
        (r.jobs, r.result.case.stream): r
        for r in rows
        if r.impl == reference and r.result.case.api == "poll"
    }
    for row in rows:
        ref = refs.get((row.jobs, row.result.case.stream))
        if ref is None:
            continue
        row.speedup = row.result.events_per_s / ref.result.events_per_s
        if ref.result.peak_mb >= MIN_REFERENCE_MB:
            row.memory_share = row.result.peak_mb / ref.result.peak_mb


HEADER = (
    "jobs",
    "implementation",
    "mode",
    "events",
    "seconds",
    "events/s",
    "us/event",
    "speed-up",
    "peak-MB",
    "mem/ref",
)


def format_table(rows: Sequence[Row]) -> str:
    """The plain-text table: one line per implementation and mode."""
    lines = [HEADER]
    for row in rows:
        m = row.result
        lines.append(
            (
                str(row.jobs),
                row.impl,
                row.mode,
                str(m.events),
                f"{m.seconds:.4g}",
                f"{m.events_per_s:.0f}",
                f"{1e6 * m.seconds / m.events:.2f}" if m.events else "-",
                "-" if row.speedup is None else f"{row.speedup:.1f}x",
                f"{m.peak_mb:.1f}",
                "-" if row.memory_share is None else f"{row.memory_share:.3f}",
            )
        )
    return harness.aligned(lines, {1, 2})


def write_chart(rows: Sequence[Row], path: str | os.PathLike[str]) -> None:
    """Events/s and peak memory against history size, one line per implementation and API."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {FLUX_CORE: "tab:red", PYTHON: "tab:blue", CYTHON: "tab:green", RECEIVE: "gray"}
    styles = {"poll": "-", "batch": "--", "iter": ":", "callback": "-."}
    series: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.result.case.stream == "history":
            series.setdefault((row.impl, row.result.case.api), []).append(row)
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(12, 4.8))
    for (impl, api), points in series.items():
        points.sort(key=lambda r: r.result.events)
        x = [r.result.events for r in points]
        look = {
            "color": colors.get(impl),
            "linestyle": styles.get(api, "-"),
            "marker": "o",
            "label": f"{impl} {api}",
        }
        speed.plot(x, [r.result.events_per_s for r in points], **look)
        if impl != RECEIVE:  # it keeps nothing
            memory.plot(x, [r.result.peak_mb for r in points], **look)
    speed.set(
        xscale="log",
        yscale="log",
        xlabel="history events",
        ylabel="events/s",
        title="History drain throughput",
    )
    memory.set(
        xscale="log",
        yscale="log",
        xlabel="history events",
        ylabel="peak RSS growth (MB)",
        title="History drain peak memory",
    )
    for ax in (speed, memory):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("fluxjournal vs flux-core's JournalConsumer (SimulatedFlux via ReplayFlux)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run the comparisons ``args`` asks for (``args.modes`` parsed by :func:`parse_modes`,
    ``args.impls`` checked against :func:`harness.implementations`), print the table."""
    if args.chart:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(
                "fluxjournal bench: --chart needs matplotlib (pip install matplotlib)",
                file=sys.stderr,
            )
            return 2
    sizes = args.sizes or [args.jobs]
    impls = harness.implementations()
    if args.impls is not None:
        impls = [name for name in impls if name in args.impls]
    reference = FLUX_CORE if FLUX_CORE in impls else PYTHON
    harness.print_header(argv)
    if FLUX_CORE not in impls and args.impls is None:
        print("# flux-core's bindings do not import: ratios are against the pure-Python twin")
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fluxjournal-bench-") as tmp:
        with_receive = args.impls is None or RECEIVE in args.impls
        for jobs in sizes:
            rows += run_size(jobs, args, args.modes, impls, Path(tmp), with_receive)
    ratios(rows, reference)
    print(
        f"# best of {args.repeat}; speed-up = events/s over {reference}'s poll() on the same "
        "payloads in this run; peak-MB = peak RSS growth of a fresh child during the first "
        f"run; mem/ref = peak-MB over {reference}'s. Total {time.perf_counter() - started:.0f} s"
    )
    print(format_table(rows))
    for row in rows:
        m = row.result
        if m.delivered is not None and m.delivered != m.events:
            print(
                f"warning: {row.impl} {row.mode} delivered {m.delivered} events, "
                f"expected {m.events}",
                file=sys.stderr,
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps([row_json(r) for r in rows], indent=1) + "\n", encoding="utf-8"
        )
    if args.chart:
        write_chart(rows, args.chart)
        print(f"# chart written to {args.chart}")
    return 0


def row_json(row: Row) -> dict[str, Any]:
    """One row of ``--json``."""
    m = row.result
    return {
        "jobs": row.jobs,
        "implementation": row.impl,
        "mode": row.mode,
        "case": dataclasses.asdict(m.case),
        "events": m.events,
        "seconds": m.seconds,
        "times": m.times,
        "events_per_s": m.events_per_s,
        "speedup": row.speedup,
        "peak_mb": m.peak_mb,
        "memory_share": row.memory_share,
        "memory_method": m.memory_method,
    }


def run_size(
    jobs: int,
    args: argparse.Namespace,
    modes: list[tuple[str, str]],
    impls: list[str],
    tmp: Path,
    with_receive: bool = True,
) -> list[Row]:
    """Every mode and implementation on one history size (payloads generated once)."""
    history = history_payloads(jobs, args.seed)
    history_events = count_events(history)
    live_count = args.live or 2 * jobs
    files = {"history": write_payloads(history, tmp / f"history-{jobs}.jsonl")}
    megabytes = sum(map(len, history)) / 1e6
    del history
    notes = f"history of {jobs} jobs: {history_events} events ({megabytes:.1f} MB)"
    if any(stream == "live" for stream, _ in modes):
        files["live"] = write_payloads(
            live_payloads(live_count, args.seed), tmp / f"live-{jobs}.jsonl"
        )
        notes += f"; live: {live_count} one-event responses"
    print(f"# {notes}", flush=True)
    rows = []
    for stream, api in modes:
        candidates = ([RECEIVE] if api == "poll" and with_receive else []) + impls
        for impl in candidates:
            if not harness.supports(impl, api):
                continue
            case = Case(impl, api, stream)
            events = history_events if stream == "history" else live_count
            print(f"#   {jobs} jobs: {impl} {case.mode} ...", file=sys.stderr, flush=True)
            result = harness.measure(case, files[stream], events, args.repeat)
            rows.append(Row(jobs, impl, result))
    return rows
