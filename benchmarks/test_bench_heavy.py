"""Histories whose every R is that of a 1,000-node allocation: the cost of a large R must
be paid only by the consumers that read it."""

from __future__ import annotations

import pytest

from fluxjournal.bench import harness
from fluxjournal.bench.payloads import big_R


@pytest.mark.benchmark(group="heavy-R")
@pytest.mark.parametrize("read", [False, True], ids=["R-unread", "R-read"])
@pytest.mark.parametrize("api", ["poll", "batch"])
def test_heavy_R(benchmark, run_case, payloads, impl, api, read):
    """Drain the history; with R-read, look at the jobspec and R of every event that has
    one (each alloc's 1,000-node R, each submit's jobspec)."""
    if not harness.supports(impl, api):
        pytest.skip(f"{impl}'s consumer has no {api} API")
    data = payloads.heavy()
    run_case(benchmark, harness.Case(impl, api, read=read), data)
    benchmark.extra_info["R_bytes"] = len(big_R(1000))
