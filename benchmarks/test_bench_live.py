"""A live stream of one-event responses after an empty history: the cost per response."""

from __future__ import annotations

import pytest

from fluxjournal.bench import harness


@pytest.mark.benchmark(group="live-stream")
@pytest.mark.parametrize("api", ["poll", "batch", "callback"])
def test_live_stream(benchmark, run_case, payloads, impl, api):
    """``--bench-live`` live events, one per response, through poll(), poll_batch() or a
    callback from reactor_run()."""
    if not harness.supports(impl, api):
        pytest.skip(f"{impl}'s consumer has no {api} API")
    data = payloads.live()
    run_case(benchmark, harness.Case(impl, api, "live"), data)
    _per_event(benchmark, data.events)


@pytest.mark.benchmark(group="live-stream")
def test_live_receive_floor(benchmark, run_case, payloads):
    """The bare receive loop on the same responses: the floor per response."""
    data = payloads.live()
    run_case(benchmark, harness.Case(harness.RECEIVE, "poll", "live"), data, memory=False)
    _per_event(benchmark, data.events)


def _per_event(benchmark, events: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and events:
        benchmark.extra_info["us_per_event"] = round(1e6 * stats.stats.min / events, 3)
