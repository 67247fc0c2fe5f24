"""``fluxjournal bench --long``: memory over long runs, in a fresh child per consumer.

Two runs per implementation, each measured after a warm-up (so that caches, the
interpreter's free lists and the allocator's arenas are already at their size) and again
at the end:

- ``drains``: every recorded capture shipped in the package (``--long-captures``: another
  folder) replayed through ``ReplayFlux`` and drained to its end, ``--long-drains`` times
  (a new consumer and handle each time);
- ``live``: one ``SimulatedFlux`` stream of ``--long-events`` live events (after a small
  history), read with ``poll_batch()`` (flux-core's consumer: ``poll()``).

What is sampled (:func:`sample`), after a full collection: the process's RSS, the C heap
in use (glibc's ``mallinfo2``: what the compiled core mallocs, which tracemalloc does
not see), the interpreter's allocated blocks (``sys.getallocatedblocks()``) and the
objects the collector tracks. None of these needs a debug build of Python. The live
run's events/s include the simulation, which makes the events as they are read.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fluxjournal.bench import harness
from fluxjournal.bench.harness import BATCH_LIMIT, FLUX_CORE, consumer_class, core_module
from fluxjournal.testing.recorded import capture_dir, capture_lines
from fluxjournal.wire import bindings

#: The live run's size by default, and how many of its events warm up before measuring.
LONG_EVENTS = 10_000_000
LIVE_WARMUP = 100_000
#: The drains run's size by default, and its warm-up drains.
LONG_DRAINS = 1000
DRAINS_WARMUP = 20
#: The live stream's simulated instance: its history (jobs) and seed.
LIVE_JOBS = 100
LIVE_SEED = 1
DRAINS = "drains"
LIVE = "live"
RUNS = (DRAINS, LIVE)
KIB = 1024
MIB = 1024 * 1024


# -- sampling memory -----------------------------------------------------------------------


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc 2.33 on): sizes in bytes."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> Any:
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function


_MALLINFO2 = _mallinfo2()


def c_heap_bytes() -> int | None:
    """Bytes of the C heap in use (small chunks and mmapped ones); None without glibc."""
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return int(info.uordblks + info.hblkhd)


def rss_bytes() -> int | None:
    """The process's resident set size now; None where /proc does not tell it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * KIB
    except OSError:
        pass
    return None


@dataclasses.dataclass(frozen=True)
class Sample:
    """The process's memory at one moment, after a full collection."""

    rss: int | None
    c_heap: int | None
    blocks: int
    objects: int

    def growth_to(self, later: Sample) -> dict[str, int | None]:
        """What each figure grew by from this sample to ``later``."""
        out: dict[str, int | None] = {}
        for field in dataclasses.fields(self):
            before, after = getattr(self, field.name), getattr(later, field.name)
            out[field.name] = None if before is None or after is None else after - before
        return out


def sample() -> Sample:
    """Collect, then sample RSS, the C heap, allocated blocks and tracked objects."""
    gc.collect()
    return Sample(rss_bytes(), c_heap_bytes(), sys.getallocatedblocks(), len(gc.get_objects()))


# -- the two runs ----------------------------------------------------------------------------


def captures(directory: str | os.PathLike[str] | None = None) -> list[tuple[str, list[bytes]]]:
    """Each recorded capture (``*.jsonl``) in ``directory`` (default: the shipped ones):
    its name and its payloads."""
    folder = Path(directory) if directory is not None else capture_dir()
    return [(p.name, capture_lines(p)) for p in sorted(folder.glob("*.jsonl"))]


def drain_captures(core: Any, recorded: Sequence[tuple[str, list[bytes]]]) -> int:
    """Replay and drain every capture once, each with a new consumer; events delivered.

    ``core`` is a module with the consumer classes (``_core`` or ``_pycore``); resource
    captures go to its ResourceJournalConsumer.
    """
    from fluxjournal.testing import ReplayFlux

    events = 0
    for name, lines in recorded:
        resource = name.startswith("resource")
        cls = core.ResourceJournalConsumer if resource else core.JournalConsumer
        consumer = cls(ReplayFlux(lines, ends=True), include_sentinel=True)
        for _ in consumer:
            events += 1
    return events


@dataclasses.dataclass
class LongRun:
    """One long run of one implementation: its size and memory after warm-up and at the end."""

    impl: str
    run: str
    count: int
    events: int
    seconds: float
    start: Sample
    end: Sample

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LongRun:
        data = dict(data)
        data["start"] = Sample(**data["start"])
        data["end"] = Sample(**data["end"])
        return cls(**data)


def long_drains(
    impl: str,
    drains: int,
    warmup: int = DRAINS_WARMUP,
    directory: str | os.PathLike[str] | None = None,
) -> LongRun:
    """``warmup`` drains of every capture in ``directory`` (default: the shipped ones), a
    sample, ``drains`` more, a sample."""
    core = core_module(impl)
    recorded = captures(directory)
    if not recorded:
        raise RuntimeError(f"no captures (*.jsonl) in {directory or capture_dir()}")
    for _ in range(warmup):
        drain_captures(core, recorded)
    sample()  # the first sample allocates what later ones reuse
    start = sample()
    events = 0
    t0 = time.perf_counter()
    for _ in range(drains):
        events += drain_captures(core, recorded)
    seconds = time.perf_counter() - t0
    return LongRun(impl, DRAINS, drains, events, seconds, start, sample())


def long_live(impl: str, events: int, warmup: int = LIVE_WARMUP) -> LongRun:
    """One simulated live stream of ``warmup + events`` events; samples after the warm-up
    and at the end, the time between them."""
    from fluxjournal.testing import SimulatedFlux

    handle = SimulatedFlux(jobs=LIVE_JOBS, live=warmup + events, seed=LIVE_SEED, ends=True)
    consumer = consumer_class(impl)(handle)
    consumer.start()
    batched = hasattr(consumer, "poll_batch")

    def take(until: int) -> int:
        """Read until ``until`` events are taken (or the stream ends); events taken."""
        got = 0
        left = until
        while left > 0:
            if batched:
                batch = consumer.poll_batch(min(BATCH_LIMIT, left))
                if not batch:
                    break
                got += len(batch)
                left -= len(batch)
            else:
                if consumer.poll() is None:
                    break
                got += 1
                left -= 1
        return got

    taken = take(warmup)  # the history, then the warm-up's live events
    sample()
    start = sample()
    t0 = time.perf_counter()
    delivered = take(events)
    seconds = time.perf_counter() - t0
    end = sample()
    if taken + delivered < warmup + events:
        raise RuntimeError(f"{impl}: the stream ended after {taken + delivered} events")
    return LongRun(impl, LIVE, events, delivered, seconds, start, end)


# -- children and the table ---------------------------------------------------------------


def child_main() -> int:
    """A child's side of :func:`measure`: a JSON request on stdin, the LongRun on stdout."""
    spec = json.loads(sys.stdin.read())
    for part in spec.get("sys_path", []):
        if part not in sys.path:
            sys.path.append(part)
    if spec["run"] == DRAINS:
        result = long_drains(spec["impl"], spec["count"], directory=spec["captures"])
    else:
        result = long_live(spec["impl"], spec["count"])
    sys.stdout.write("\n" + json.dumps(result.to_json()) + "\n")
    return 0


def measure(
    impl: str, run: str, count: int, directory: str | os.PathLike[str] | None = None
) -> LongRun:
    """Run one long run in a fresh Python process, so that no other run shares its heap."""
    if impl == FLUX_CORE:
        bindings.find_bindings()
    folder = Path(directory) if directory is not None else capture_dir()
    spec = {
        "impl": impl,
        "run": run,
        "count": count,
        "captures": str(folder.resolve()),
        "sys_path": harness.package_paths(),
    }
    code = "import sys\nfrom fluxjournal.bench.long import child_main\nsys.exit(child_main())\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(spec), capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"long run child for {impl} {run} failed:\n{proc.stderr.strip()}")
    return LongRun.from_json(json.loads(proc.stdout.strip().splitlines()[-1]))


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / MIB:.1f}"


def _kb(value: int | None) -> str:
    return "-" if value is None else f"{value / KIB:+.0f}"


HEADER = (
    "implementation",
    "run",
    "events",
    "events/s",
    "RSS start MB",
    "RSS end MB",
    "RSS growth KB",
    "C heap growth KB",
    "blocks growth",
    "objects growth",
)


def format_table(rows: Sequence[LongRun]) -> str:
    """The plain-text table: one line per implementation and run."""
    lines = [HEADER]
    for r in rows:
        growth = r.start.growth_to(r.end)
        what = f"{r.count} drains" if r.run == DRAINS else "live stream"
        lines.append(
            (
                r.impl,
                what,
                str(r.events),
                f"{r.events_per_s:.0f}",
                _mb(r.start.rss),
                _mb(r.end.rss),
                _kb(growth["rss"]),
                _kb(growth["c_heap"]),
                f"{growth['blocks']:+d}",
                f"{growth['objects']:+d}",
            )
        )
    return harness.aligned(lines, {0, 1})


def main(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """``fluxjournal bench --long``: both runs for each implementation, then the table."""
    impls = [impl for impl in harness.implementations() if args.impls is None or impl in args.impls]
    folder = Path(args.long_captures) if args.long_captures else capture_dir()
    if any(impl != FLUX_CORE for impl in impls) and not captures(folder):
        print(
            f"fluxjournal bench: --long needs recorded captures (*.jsonl), none in {folder}; "
            "name a folder of them with --long-captures",
            file=sys.stderr,
        )
        return 2
    harness.print_header(argv)
    rows: list[LongRun] = []
    started = time.perf_counter()
    for impl in impls:
        for run, count in ((DRAINS, args.long_drains), (LIVE, args.long_events)):
            if run == DRAINS and impl == FLUX_CORE:
                continue  # ReplayFlux's drains of fluxjournal's cores only
            print(f"#   {impl} {run} ({count}) ...", file=sys.stderr, flush=True)
            rows.append(measure(impl, run, count, folder))
    print(
        f"# each row in a fresh child; start = after the warm-up ({DRAINS_WARMUP} drains of "
        f"every capture, or the history and {LIVE_WARMUP} live events), end = after the "
        "events counted; events/s of the live run include SimulatedFlux making the stream. "
        f"Total {time.perf_counter() - started:.0f} s"
    )
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.to_json() for r in rows], indent=1) + "\n", encoding="utf-8"
        )
    return 0
