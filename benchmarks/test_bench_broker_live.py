"""The real-broker groups of ``broker_bench.py``: consumers side by side on one live stream
(CPU seconds per event) and each alone on a history, against the C floor of libflux-core
and flux-python's bare receive loop, in the same run.

Opt-in like the ``broker`` group: ``--bench-broker-jobs N`` runs N live jobs and a history
of N jobs (``python benchmarks/broker_bench.py`` takes the sizes separately). The table is
printed, and kept in each test's ``extra_info``.
"""

from __future__ import annotations

from pathlib import Path

import broker_bench
import pytest

from fluxjournal.testing.broker import LocalBroker
from fluxjournal.wire import bindings


@pytest.fixture(scope="module")
def floor(tmp_path_factory):
    """The C floor, built against the flux-core on PATH; skipped without its headers."""
    if broker_bench.flux_prefix() is None:
        pytest.skip("needs `flux` on PATH with flux-core's C headers beside it")
    return broker_bench.build_floor(tmp_path_factory.mktemp("floor"))


def test_the_floor_builds_against_the_flux_core_found(floor):
    assert floor is not None and floor.exists()


def _broker_jobs(config) -> int:
    if config.broker_jobs <= 0:
        pytest.skip("real-broker group: pass --bench-broker-jobs N (e.g. 3000) to run it")
    if not bindings.find_bindings():
        pytest.skip("needs `flux` on PATH and flux-core's Python bindings")
    return config.broker_jobs


def _show(results, populate=None) -> str:
    text = broker_bench.table(results, populate or {})
    print("\n" + text)
    return text


@pytest.mark.benchmark(group="broker-live")
def test_broker_live_side_by_side(config, floor, tmp_path: Path, record_property):
    jobs = _broker_jobs(config)
    with LocalBroker(tmp_path) as broker:
        results = broker_bench.live_group(broker, jobs, broker_bench.LIVE_KINDS, floor)
    assert {r.kind for r in results} == set(broker_bench.LIVE_KINDS)
    assert all(r.responses >= jobs for r in results)
    record_property("table", _show(results))


@pytest.mark.benchmark(group="broker-history")
def test_broker_history_each_alone(config, floor, tmp_path: Path, record_property):
    jobs = _broker_jobs(config)
    with LocalBroker(tmp_path) as broker:
        broker.run("submit", f"--cc=1-{jobs}", "--quiet", "--wait", "true")
        results = broker_bench.history_group(
            broker, broker_bench.HISTORY_KINDS, config.rounds, floor
        )
    by_kind = {r.kind: r.responses for r in results}
    consumers = (broker_bench.FLUX_CORE, broker_bench.CYTHON, broker_bench.CYTHON_BATCH)
    assert len({by_kind[kind] for kind in consumers}) == 1  # the same events, each
    assert by_kind[broker_bench.FLUX_PYTHON] == jobs + 1  # a response a job, the sentinel
    record_property("table", _show(results))
