"""No leaks over many drains and a long live stream, on both cores, on a release Python.

Each test warms up first (caches, free lists and the allocator's arenas reach their size),
samples, does more of the same work, and samples again: what may grow is bounded by a small
absolute figure, far below what one object kept per event (or per drain) would add. What is
compared, none of it needing a debug build (``sys.gettotalrefcount`` does):

- tracemalloc's traced Python memory, the C heap in use (glibc's ``mallinfo2``, which sees
  what the compiled core mallocs) and RSS;
- the objects the collector tracks, counted by type (``gc.get_objects()``), and the
  interpreter's allocated blocks;
- ``sys.getrefcount`` of the objects every event shares: the sentinel, interned key and
  name strings, cached JobIDs, the protocol's constants, the event classes.

The full-size runs (1,000 drains, 10 million live events) are ``fluxjournal bench --long``
and ``benchmarks/test_bench_long.py``.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import tracemalloc
from collections import Counter

import pytest
from conftest import DATA

from fluxjournal.bench import long as bench_long
from fluxjournal.ingestion import engine
from fluxjournal.jobid import JobID
from fluxjournal.storage.factory import open_store
from fluxjournal.testing import ReplayFlux, SimulatedFlux
from fluxjournal.wire import jsontext, protocol

#: Drains of every capture before measuring, and measured.
WARMUP_DRAINS = 10
DRAINS = 100
#: Live events before measuring, and measured (a tenth of a per-event leak's worth is
#: already far past the bounds below).
LIVE_WARMUP = 20_000
LIVE_EVENTS = 100_000
#: What may grow between the samples. One 32-byte object kept per event would add
#: about 3 MB over the drains and the live stream; one kept per drain, 100 objects.
TRACED_GROWTH = 64 * 1024
C_HEAP_GROWTH = 256 * 1024
RSS_GROWTH = 4 * 1024 * 1024
BLOCKS_GROWTH = 2_000
OBJECTS_PER_TYPE_GROWTH = 10
#: The same over a live stream: the simulation's active jobs and the consumer's bounded
#: caches (256 recent JobIDs) are not in the same state at the two samples.
LIVE_OBJECTS_PER_TYPE_GROWTH = 1_000
LIVE_BLOCKS_GROWTH = 20_000
#: The ingest run: events before measuring and measured, and the bound on its growth
#: (the SQLite page cache lives outside the Python heap and is bounded by its pragma).
INGEST_WARMUP = 10_000
INGEST_EVENTS = 60_000
INGEST_TRACED_GROWTH = 256 * 1024
#: A sanitizer run (README, "Sanitizers") hands memory to ASan's allocator: freed blocks
#: wait in its quarantine (RSS grows), mallinfo2 reads nothing and, with
#: PYTHONMALLOC=malloc, pymalloc counts no blocks. The allocator's figures are then not
#: checked; the interpreter's (objects by type, reference counts, tracemalloc) still are.
ALLOCATOR_FIGURES = not (
    "asan" in os.environ.get("LD_PRELOAD", "") or os.environ.get("PYTHONMALLOC") == "malloc"
)


def check_allocator_growth(growth: dict, blocks_bound: int) -> None:
    """RSS, the C heap and pymalloc's blocks grew by no more than their bounds."""
    if not ALLOCATOR_FIGURES:
        return
    assert growth["blocks"] <= blocks_bound
    if growth["c_heap"] is not None:
        assert growth["c_heap"] <= C_HEAP_GROWTH
    if growth["rss"] is not None:
        assert growth["rss"] <= RSS_GROWTH


def object_counts() -> Counter:
    """The objects the collector tracks, by type name, after a full collection."""
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def grown_types(
    before: Counter, after: Counter, bound: int = OBJECTS_PER_TYPE_GROWTH
) -> dict[str, int]:
    """The types whose count grew by more than ``bound``."""
    return {
        name: after[name] - before[name] for name in after if after[name] - before[name] > bound
    }


def shared_objects(impl, events) -> dict[str, object]:
    """The objects that delivered events share with every other event, by a label."""
    shared: dict[str, object] = {
        "SENTINEL_EVENT": impl.SENTINEL_EVENT,
        "JournalConsumer.SENTINEL_EVENT": impl.JournalConsumer.SENTINEL_EVENT,
        "JOB_KIND": protocol.JOB_KIND,
        "RESOURCE_KIND": protocol.RESOURCE_KIND,
        "JOB_TOPIC": protocol.JOB_TOPIC,
        "RESOURCE_TOPIC": protocol.RESOURCE_TOPIC,
        "EMPTY_CONTEXT_TEXT": jsontext.EMPTY_CONTEXT_TEXT,
        "JournalEvent": impl.JournalEvent,
        "ResourceJournalEvent": impl.ResourceJournalEvent,
        "JobID": JobID,
    }
    for event in events:
        for key in event:
            shared.setdefault(f"key {key!r} #{id(key)}", key)
        name = event.get("name")
        if name is not None:
            shared.setdefault(f"name {name!r} #{id(name)}", name)
        jobid = getattr(event, "jobid", None)
        if jobid is not None:
            shared.setdefault(f"jobid {int(jobid)} #{id(jobid)}", jobid)
    return shared


def refcounts(objects: dict[str, object]) -> dict[str, int]:
    gc.collect()
    return {label: sys.getrefcount(obj) for label, obj in objects.items()}


def test_capture_drains_leave_no_trace(impl):
    """DRAINS drains of every capture after WARMUP_DRAINS: memory, objects and the
    shared objects' reference counts are where the warm-up left them."""
    recorded = bench_long.captures(DATA)
    assert recorded, f"no captures in {DATA}"
    events_seen: list = []
    for name, lines in recorded:  # one drain kept whole, for its shared objects
        cls = impl.ResourceJournalConsumer if name.startswith("resource") else impl.JournalConsumer
        events_seen.extend(cls(ReplayFlux(lines, ends=True), include_sentinel=True))
    shared = shared_objects(impl, events_seen)
    assert any(label.startswith("jobid") for label in shared)
    del events_seen
    for _ in range(WARMUP_DRAINS):
        bench_long.drain_captures(impl, recorded)

    bench_long.sample(), object_counts(), refcounts(shared)  # what sampling itself makes
    before, counts_before, refs_before = bench_long.sample(), object_counts(), refcounts(shared)
    delivered = sum(bench_long.drain_captures(impl, recorded) for _ in range(DRAINS))
    after, counts_after, refs_after = bench_long.sample(), object_counts(), refcounts(shared)
    assert delivered > DRAINS * 100  # the drains did deliver

    growth = before.growth_to(after)
    assert grown_types(counts_before, counts_after) == {}
    check_allocator_growth(growth, BLOCKS_GROWTH)
    # A shared object may lose the reference of a cache slot it was pushed out of, but
    # never gain one per drain.
    gained = {label: refs_after[label] - refs_before[label] for label in shared}
    assert {label: n for label, n in gained.items() if n > 0} == {}
    for label in ("SENTINEL_EVENT", "JOB_KIND", "JournalEvent", "JobID"):
        assert gained[label] == 0, label

    tracemalloc.start()
    try:
        traced_before = tracemalloc.get_traced_memory()[0]
        for _ in range(DRAINS):
            bench_long.drain_captures(impl, recorded)
        gc.collect()
        traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
    finally:
        tracemalloc.stop()
    assert traced_growth <= TRACED_GROWTH


def read_live(consumer, count: int) -> int:
    """Take ``count`` events with poll_batch (fewer only if the stream ends)."""
    taken = 0
    while taken < count:
        batch = consumer.poll_batch(min(64, count - taken))
        if not batch:
            break
        taken += len(batch)
    return taken


def test_long_live_stream_memory_is_flat(impl):
    """LIVE_EVENTS live events after LIVE_WARMUP: memory and objects stay put."""
    handle = SimulatedFlux(jobs=100, live=LIVE_WARMUP + LIVE_EVENTS, seed=3, ends=True)
    consumer = impl.JournalConsumer(handle).start()
    read_live(consumer, LIVE_WARMUP)
    bench_long.sample(), object_counts()  # what sampling itself makes
    before, counts_before = bench_long.sample(), object_counts()
    sentinel_refs = sys.getrefcount(impl.SENTINEL_EVENT)
    assert read_live(consumer, LIVE_EVENTS) == LIVE_EVENTS
    after, counts_after = bench_long.sample(), object_counts()
    growth = before.growth_to(after)
    assert grown_types(counts_before, counts_after, LIVE_OBJECTS_PER_TYPE_GROWTH) == {}
    check_allocator_growth(growth, LIVE_BLOCKS_GROWTH)
    sentinel_refs_after = sys.getrefcount(impl.SENTINEL_EVENT)  # not inside the assert:
    assert sentinel_refs_after == sentinel_refs  # pytest's rewriting holds what it names


def test_ingest_of_a_long_live_stream_keeps_python_memory_flat(impl, monkeypatch):
    """engine.run on a simulated live stream into SQLite: once warm, what the run keeps
    in Python does not grow with the jobs that come and go."""
    samples: list[tuple[int, int]] = []
    flush = engine.Ingest.flush

    def measured_flush(self):
        flush(self)
        gc.collect()
        samples.append((self.stored_events, tracemalloc.get_traced_memory()[0]))

    monkeypatch.setattr(engine.Ingest, "flush", measured_flush)
    monkeypatch.setattr(engine, "BATCH_EVENTS", 5_000)  # a flush, and a sample, that often
    handle = SimulatedFlux(jobs=100, live=INGEST_WARMUP + INGEST_EVENTS, seed=5, ends=True)
    with tempfile.TemporaryDirectory() as tmp, open_store(os.path.join(tmp, "db")) as store:
        instance = store.instance("long", "test")
        tracemalloc.start()
        try:
            result = engine.run(handle, store, instance, core=impl)
        finally:
            tracemalloc.stop()
    assert result.ended
    warm = [traced for stored, traced in samples if stored >= INGEST_WARMUP]
    assert len(warm) >= 5, samples
    assert max(warm) - warm[0] <= INGEST_TRACED_GROWTH, samples


@pytest.mark.parametrize("run", bench_long.RUNS)
def test_long_run_reports_both_samples(run):
    """The benchmark's own runs (small here) report a start and an end sample."""
    result = (
        bench_long.long_drains("python", 2, warmup=1, directory=DATA)
        if run == bench_long.DRAINS
        else bench_long.long_live("python", 2_000, warmup=500)
    )
    assert result.events > 0 and result.seconds > 0
    assert result.end.objects > 0
    assert result.start.blocks > 0 or not ALLOCATOR_FIGURES
    assert bench_long.LongRun.from_json(result.to_json()) == result
    assert "events/s" in bench_long.format_table([result])
