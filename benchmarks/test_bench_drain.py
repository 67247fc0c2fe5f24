"""Draining a history to the sentinel through each API, on a ReplayFlux of the same bytes:
fluxjournal's extension, its pure-Python twin and flux-core's consumer; a restart with
``since``; the collector on and off."""

from __future__ import annotations

import pytest

from fluxjournal.bench import harness
from fluxjournal.bench.payloads import median_timestamp


@pytest.mark.benchmark(group="history-drain")
@pytest.mark.parametrize("api", ["poll", "iter", "batch", "callback"])
def test_history_drain(benchmark, run_case, payloads, impl, api):
    """Every event of the history, in time order, through poll(), the iterator,
    poll_batch() or a callback from reactor_run()."""
    if not harness.supports(impl, api):
        pytest.skip(f"{impl}'s consumer has no {api} API")
    run_case(benchmark, harness.Case(impl, api), payloads.history())


@pytest.mark.benchmark(group="history-drain")
def test_history_receive_floor(benchmark, run_case, payloads):
    """The bare receive loop (wait_for, get_str, reset; no decoding): the floor."""
    run_case(benchmark, harness.Case(harness.RECEIVE), payloads.history())


@pytest.mark.benchmark(group="restart-since")
@pytest.mark.parametrize("api", ["poll", "batch"])
def test_restart_since(benchmark, run_case, payloads, impl, api):
    """A restart that passes the timestamp in the middle of the history as ``since``:
    the whole history comes again and half of it is dropped."""
    if not harness.supports(impl, api):
        pytest.skip(f"{impl}'s consumer has no {api} API")
    data = payloads.history()
    since = _median(data)
    run_case(benchmark, harness.Case(impl, api, since=since), data)


_medians: dict[str, float] = {}


def _median(data) -> float:
    if data.name not in _medians:
        _medians[data.name] = median_timestamp(data.payloads)
    return _medians[data.name]


@pytest.mark.benchmark(group="gc-drain")
@pytest.mark.parametrize("gc_enabled", [True, False], ids=["gc-on", "gc-off"])
@pytest.mark.parametrize("name", ["cython-poll", "cython-batch", "python-poll", "flux-core-poll"])
def test_history_drain_gc(benchmark, require, run_case, payloads, name, gc_enabled):
    """History drain with the collector on and off: how much of the cost is the GC scanning
    retained objects (flux-core's history is millions of them)."""
    impl, _, api = name.rpartition("-")
    require(impl)
    case = harness.Case(impl, api, gc=gc_enabled)
    run_case(benchmark, case, payloads.history(), memory=False)
