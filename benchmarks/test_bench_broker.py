"""A real broker's full history (``--bench-broker-jobs N`` jobs run on a fresh instance):
our consumer against flux-core's and against the bare receive loop on the same instance."""

from __future__ import annotations

import pytest

from fluxjournal.bench import harness

CASES = [
    (harness.RECEIVE, "poll"),
    (harness.FLUX_CORE, "poll"),
    (harness.PYTHON, "poll"),
    (harness.CYTHON, "poll"),
    (harness.CYTHON, "batch"),
]


@pytest.mark.benchmark(group="broker")
@pytest.mark.parametrize(("impl", "api"), CASES, ids=[f"{i}-{a}" for i, a in CASES])
def test_broker_history(benchmark, require, run_case, broker_history, impl, api):
    """From the request to the sentinel, each round on a new request of the same handle."""
    if impl != harness.RECEIVE:
        require(impl)
    handle = broker_history.broker.handle()
    run_case(
        benchmark,
        harness.Case(impl, api),
        broker_history.data,
        handle_factory=lambda: handle,
        uri=broker_history.broker.uri,
    )
