"""Consumers on a real flux-core broker, against the floor of libflux-core itself.

Two groups, each on a fresh ``flux start`` instance (``fluxjournal.testing.broker.LocalBroker``):

- **live**: every consumer reads the same live stream at the same time, one process each,
  while ``--live-jobs`` jobs run (about eleven events a job). Each counts its own CPU
  seconds (user + system) from its request to the last job's ``clean`` event: CPU per event
  is what a service that follows the journal for ever pays.
- **history**: an instance with ``--history-jobs`` finished jobs; each consumer in turn, in a
  fresh process, reads from its request to the sentinel (best of ``--repeat``, wall time).

The references run in the same instance and the same run: ``floor``, a C program of this
suite (``floor.c``, built here with ``cc`` against the flux-core found on PATH, only when
its headers are there) that takes each response with ``flux_rpc_get_raw`` and
``flux_future_reset`` and decodes nothing, from a then-callback under the reactor
(``floor-then``) or a ``flux_future_wait_for`` loop (``floor-wait``, and the history);
``flux-python``, the bare loop of flux-core's bindings (``wait_for``, ``get_str``,
``reset``); and ``flux-core``, flux-core's own ``JournalConsumer``.

    PATH=/opt/flux/bin:$PATH python benchmarks/broker_bench.py --live-jobs 4000 \\
        --history-jobs 30000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FLOOR_SOURCE = HERE / "floor.c"
CLEAN = "clean"

FLOOR_THEN = "floor-then"
FLOOR_WAIT = "floor-wait"
FLOOR = "floor"
FLUX_PYTHON = "flux-python"
FLUX_CORE = "flux-core"
CYTHON = "cython"
CYTHON_CALLBACK = "cython-callback"
CYTHON_BATCH = "cython-batch"
PYTHON = "python"

LIVE_KINDS = (FLOOR_THEN, FLOOR_WAIT, FLUX_PYTHON, FLUX_CORE, CYTHON, CYTHON_CALLBACK)
HISTORY_KINDS = (FLOOR, FLUX_PYTHON, FLUX_CORE, CYTHON, CYTHON_BATCH)
FLOORS = (FLOOR, FLOOR_THEN, FLOOR_WAIT)

#: Targets of the issue this group was written for, checked (and printed) per run.
LIVE_TARGETS = ((CYTHON, FLOOR_THEN, 2.0, "<="), (CYTHON, FLUX_CORE, 1 / 3, "<="))
HISTORY_TARGETS = ((CYTHON, FLOOR, 1.25, "<="), (FLUX_CORE, CYTHON, 4.5, ">="))


# -- the C floor --------------------------------------------------------------------------


def flux_prefix() -> Path | None:
    """The installation prefix of the ``flux`` on PATH, when its C headers are there."""
    flux = shutil.which("flux")
    if flux is None:
        return None
    prefix = Path(flux).resolve().parent.parent
    if not (prefix / "include" / "flux" / "core.h").exists():
        return None
    return prefix


def build_floor(directory: Path) -> Path | None:
    """Compile floor.c against the found flux-core; None when there is none or no ``cc``."""
    prefix = flux_prefix()
    cc = shutil.which(os.environ.get("CC", "cc"))
    if prefix is None or cc is None:
        return None
    libdir = prefix / "lib"
    binary = directory / "floor"
    subprocess.run(
        [
            cc,
            "-O2",
            "-o",
            str(binary),
            str(FLOOR_SOURCE),
            f"-I{prefix / 'include'}",
            f"-L{libdir}",
            f"-Wl,-rpath,{libdir}",
            "-lflux-core",
        ],
        check=True,
    )
    return binary


# -- the children: one consumer each ----------------------------------------------------------


def _report(events: int, cpu0: float, wall0: float, cpu1: float, wall1: float) -> None:
    print(json.dumps({"responses": events, "cpu": cpu1 - cpu0, "wall": wall1 - wall0}))
    sys.stdout.flush()


def _ready() -> None:
    print("ready")
    sys.stdout.flush()


def child(kind: str, mode: str, cleans: int) -> int:
    """Read the journal as ``kind`` does; print one JSON line (see _report)."""
    from fluxjournal.wire import bindings
    from fluxjournal.wire.protocol import FLUX_RPC_STREAMING, JOB_TOPIC

    bindings.find_bindings()
    import flux

    if kind == FLUX_CORE:
        from flux.job.journal import JournalConsumer
    elif kind in (CYTHON, CYTHON_CALLBACK, CYTHON_BATCH):
        from fluxjournal._core import JournalConsumer
    elif kind == PYTHON:
        from fluxjournal._pycore import JournalConsumer
    elif kind != FLUX_PYTHON:
        raise SystemExit(f"unknown consumer {kind!r}")
    handle = flux.Flux()
    live = mode == "live"
    count = 0
    seen = 0
    # imports and the connection are not counted: from the request on, as floor.c does
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if kind == FLUX_PYTHON:
        rpc = handle.rpc(JOB_TOPIC, {"full": not live}, 0, FLUX_RPC_STREAMING)
        if live:
            _ready()
        while True:
            rpc.wait_for(-1)
            text = rpc.get_str()
            rpc.reset()
            count += 1
            if live:
                if f'"name":"{CLEAN}"' in text:
                    seen += 1
                    if seen >= cleans:
                        break
            elif text.startswith('{"id":-1'):
                break
        _report(count, cpu0, wall0, time.process_time(), time.perf_counter())
        return 0
    consumer = JournalConsumer(handle, full=not live, include_sentinel=not live)
    if kind == CYTHON_CALLBACK:
        done: list[float] = []

        def on_event(event: Any) -> None:
            nonlocal count, seen
            count += 1
            if event.name == CLEAN:
                seen += 1
                if seen == cleans:
                    done.extend((time.process_time(), time.perf_counter()))
                    consumer.stop()

        consumer.set_callback(on_event).start()
        _ready()
        handle.reactor_run()
        _report(count, cpu0, wall0, *done)
        return 0
    consumer.start()
    if live:
        _ready()
        poll = consumer.poll
        while seen < cleans:
            event = poll()
            count += 1
            if event.name == CLEAN:
                seen += 1
    elif kind == CYTHON_BATCH:
        while True:
            batch = consumer.poll_batch(64)
            if batch[-1].is_empty():
                count += len(batch) - 1
                break
            count += len(batch)
    else:
        while not consumer.poll().is_empty():
            count += 1
    _report(count, cpu0, wall0, time.process_time(), time.perf_counter())
    consumer.stop()
    return 0


# -- the driver ----------------------------------------------------------------------------------


@dataclass
class Result:
    group: str
    kind: str
    responses: int
    cpu: float
    wall: float


def _command(kind: str, mode: str, cleans: int, floor: Path | None) -> list[str]:
    if kind in FLOORS:
        if floor is None:
            raise RuntimeError("the C floor was not built")
        sub = {FLOOR: "history", FLOOR_THEN: "live-then", FLOOR_WAIT: "live-wait"}[kind]
        return [str(floor), sub, str(cleans)]
    return [sys.executable, str(Path(__file__).resolve()), "child", kind, mode, str(cleans)]


def live_group(broker: Any, jobs: int, kinds: tuple[str, ...], floor: Path | None) -> list:
    """All of ``kinds`` on one live stream while ``jobs`` jobs run; one Result each."""
    env = dict(os.environ, FLUX_URI=broker.uri)
    processes = {
        kind: subprocess.Popen(
            _command(kind, "live", jobs, floor), stdout=subprocess.PIPE, text=True, env=env
        )
        for kind in kinds
    }
    for kind, process in processes.items():
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} did not start")
    broker.run("submit", f"--cc=1-{jobs}", "--quiet", "--wait", "true")
    results = []
    for kind, process in processes.items():
        out, _ = process.communicate(timeout=600)
        found = json.loads(out.strip().splitlines()[-1])
        results.append(Result("live", kind, found["responses"], found["cpu"], found["wall"]))
    return results


def history_group(broker: Any, kinds: tuple[str, ...], repeat: int, floor: Path | None) -> list:
    """Each of ``kinds`` from its request to the sentinel, best wall time of ``repeat``."""
    env = dict(os.environ, FLUX_URI=broker.uri)
    results = []
    for kind in kinds:
        best = None
        for _ in range(repeat):
            out = subprocess.run(
                _command(kind, "history", 0, floor),
                capture_output=True,
                text=True,
                env=env,
                check=True,
                timeout=1800,
            ).stdout
            found = json.loads(out.strip().splitlines()[-1])
            if best is None or found["wall"] < best.wall:
                best = Result("history", kind, found["responses"], found["cpu"], found["wall"])
        results.append(best)
    return results


@dataclass
class Running:
    """An instance started elsewhere, named by its URI."""

    uri: str


def table(results: list, populate: dict[str, float]) -> str:
    lines = [
        f"{'group':8} {'consumer':16} {'items':>8} {'cpu-s':>8} {'wall-s':>8} {'cpu-us/item':>12}"
    ]
    for r in results:
        lines.append(
            f"{r.group:8} {r.kind:16} {r.responses:>8} {r.cpu:>8.3f} {r.wall:>8.3f} "
            f"{1e6 * r.cpu / max(r.responses, 1):>12.2f}"
        )
    lines.append(
        "(items: responses for floor and flux-python, events for the consumers; live, one "
        "event a response, they are the same)"
    )
    lines.append("")
    by = {(r.group, r.kind): r for r in results}
    checks = [("live", a, b, t, op, "cpu/event") for a, b, t, op in LIVE_TARGETS]
    checks += [("history", a, b, t, op, "wall") for a, b, t, op in HISTORY_TARGETS]
    for group, a, b, target, op, what in checks:
        if (group, a) not in by or (group, b) not in by:
            continue
        ra, rb = by[(group, a)], by[(group, b)]
        if what == "wall":
            ratio = ra.wall / rb.wall
        else:
            ratio = (ra.cpu / max(ra.responses, 1)) / (rb.cpu / max(rb.responses, 1))
        met = ratio <= target if op == "<=" else ratio >= target
        lines.append(
            f"{group:8} {what} {a} / {b} = {ratio:.2f}x   target {op} {target:.2f}x   "
            f"{'met' if met else 'MISSED'}"
        )
    for name, seconds in populate.items():
        lines.append(f"{name}: {seconds:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live-jobs", type=int, default=1000)
    parser.add_argument("--history-jobs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--groups", default="live,history")
    parser.add_argument(
        "--history-uri",
        help="read the history of this running instance instead of populating a new one "
        "(a 30k-job history takes some 20 minutes to populate on a 2-core machine)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from fluxjournal.testing.broker import LocalBroker
    from fluxjournal.wire import bindings

    if not bindings.find_bindings():
        print("needs `flux` on PATH and flux-core's Python bindings", file=sys.stderr)
        return 2
    groups = set(args.groups.split(","))
    results: list[Result] = []
    populate: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        floor = build_floor(Path(tmp))
        live_kinds = LIVE_KINDS if floor else tuple(k for k in LIVE_KINDS if k not in FLOORS)
        history_kinds = HISTORY_KINDS if floor else tuple(k for k in HISTORY_KINDS if k != FLOOR)
        for name in ("live", "history"):
            (Path(tmp) / name).mkdir()
        if "live" in groups:
            with LocalBroker(Path(tmp) / "live") as broker:
                results += live_group(broker, args.live_jobs, live_kinds, floor)
        if "history" in groups and args.history_uri:
            results += history_group(Running(args.history_uri), history_kinds, args.repeat, floor)
        elif "history" in groups:
            with LocalBroker(Path(tmp) / "history") as broker:
                started = time.perf_counter()
                broker.run("submit", f"--cc=1-{args.history_jobs}", "--quiet", "--wait", "true")
                populate[f"populating {args.history_jobs} jobs took"] = (
                    time.perf_counter() - started
                )
                results += history_group(broker, history_kinds, args.repeat, floor)
    print(table(results, populate))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        sys.exit(child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit(main())
