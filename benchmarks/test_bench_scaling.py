"""Time and memory against history size: both should grow linearly with the events."""

from __future__ import annotations

import pytest

from fluxjournal.bench import harness


@pytest.mark.benchmark(group="scaling")
@pytest.mark.parametrize("fraction", [0.1, 0.3, 1.0], ids=["jobs/10", "jobs/3", "jobs"])
@pytest.mark.parametrize("api", ["poll", "batch"])
def test_scaling(benchmark, require, run_case, payloads, config, api, fraction):
    """fluxjournal's extension on histories of a tenth, a third and all of --bench-jobs;
    compare us_per_event and kb_per_event in extra_info (or run ``fluxjournal bench
    --sizes``, which also charts them)."""
    require(harness.CYTHON)
    data = payloads.history(max(1, int(config.jobs * fraction)))
    run_case(benchmark, harness.Case(harness.CYTHON, api), data)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and data.events:
        benchmark.extra_info["us_per_event"] = round(1e6 * stats.stats.min / data.events, 3)
