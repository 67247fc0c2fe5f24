"""Long runs: memory after a warm-up and after many drains or a long live stream.

The same runs as ``fluxjournal bench --long`` (:mod:`fluxjournal.bench.long`), one per
implementation, in this process: ``--bench-long-drains`` drains of every capture and a
SimulatedFlux live stream of ``--bench-long-events`` events. The smoke defaults are small;
the full run is ``--bench-long-drains 1000 --bench-long-events 10000000``. RSS at the start
and the end, the growth of the C heap, allocated blocks and tracked objects, and events/s
go into ``extra_info``; the growth is checked against the same kind of bound the leak tests
use, scaled to nothing: it must not grow with the run.
"""

from __future__ import annotations

import pytest
from conftest import DATA

from fluxjournal.bench import long as bench_long
from fluxjournal.bench.harness import FLUX_CORE

#: What may grow between the samples, however long the run: far below one object kept
#: per event (10 million events) or per drain.
C_HEAP_GROWTH = 1024 * 1024
RSS_GROWTH = 8 * 1024 * 1024
LIVE_OBJECTS_GROWTH = 5_000
DRAIN_OBJECTS_GROWTH = 100


def _record(benchmark, result: bench_long.LongRun) -> dict:
    growth = result.start.growth_to(result.end)
    benchmark.extra_info.update(
        implementation=result.impl,
        run=result.run,
        events=result.events,
        events_per_s=round(result.events_per_s),
        rss_start_mb=None if result.start.rss is None else round(result.start.rss / 2**20, 1),
        rss_end_mb=None if result.end.rss is None else round(result.end.rss / 2**20, 1),
        growth=growth,
    )
    return growth


def _check(growth: dict, objects_bound: int) -> None:
    assert growth["objects"] <= objects_bound
    if growth["c_heap"] is not None:
        assert growth["c_heap"] <= C_HEAP_GROWTH
    if growth["rss"] is not None:
        assert growth["rss"] <= RSS_GROWTH


@pytest.mark.benchmark(group="long")
def test_long_drains(benchmark, config, impl):
    """``--bench-long-drains`` drains of every capture, after a warm-up."""
    if impl == FLUX_CORE:
        pytest.skip("the drains run is fluxjournal's cores'")
    drains = config.long_drains
    result = benchmark.pedantic(
        bench_long.long_drains, args=(impl, drains, bench_long.DRAINS_WARMUP, DATA), rounds=1
    )
    assert result.events > 0
    _check(_record(benchmark, result), DRAIN_OBJECTS_GROWTH)


@pytest.mark.benchmark(group="long")
def test_long_live_stream(benchmark, config, impl):
    """One live stream of ``--bench-long-events`` events after a warm-up."""
    events = config.long_events
    warmup = min(bench_long.LIVE_WARMUP, events)
    result = benchmark.pedantic(bench_long.long_live, args=(impl, events, warmup), rounds=1)
    assert result.events == events
    _check(_record(benchmark, result), LIVE_OBJECTS_GROWTH)
