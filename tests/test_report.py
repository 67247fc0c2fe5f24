"""``fluxjournal report`` against a plain reference (``report_reference.py``) computed from
the same journal's events: both cores, both stores, periods that cut jobs at both ends,
a job still running, jobs canceled before they ran."""

from __future__ import annotations

import json

import pytest
import report_reference as ref
from stores import Database

from fluxjournal.ingestion import engine
from fluxjournal.reading import report
from fluxjournal.storage.factory import open_archive, open_store
from fluxjournal.storage.queries import ReportFilter
from fluxjournal.testing import ReplayFlux, SimulatedFlux

JOBS, SEED = 1500, 7
PAYLOADS = list(SimulatedFlux(jobs=JOBS, seed=SEED).journal_payloads())
JOBS_OF = ref.jobs_of(PAYLOADS)
FIRST = min(job.t_submit for job in JOBS_OF.values())
LAST = max(job.t_clean or job.t_submit for job in JOBS_OF.values())
#: the present: after the history, so that the jobs still running hold to here
NOW = LAST + 30.0
#: periods: the middle third (jobs cut at both ends), everything to now, an empty one
PERIODS = {
    "middle": (FIRST + (LAST - FIRST) / 3, FIRST + 2 * (LAST - FIRST) / 3),
    "all": (FIRST - 10.0, NOW),
    "empty": (LAST + 5000.0, LAST + 6000.0),
}
_ARCHIVES: dict = {}
#: What sums of differences of timestamps may differ by when added in another order.
TIME_ROUNDING = 1e-4


@pytest.fixture(params=("sqlite", "postgres"))
def archive(request, impl, tmp_path_factory):
    key = (request.param, impl.__name__)
    if key not in _ARCHIVES:
        postgres = request.param == "postgres"
        cluster = request.getfixturevalue("postgres_cluster") if postgres else None
        db = Database.new(request.param, tmp_path_factory.mktemp("report"), cluster)
        with open_store(db.url) as store:
            instance = store.instance("simulated", "test")
            engine.run(ReplayFlux(PAYLOADS, ends=True), store, instance, once=True, core=impl)
        _ARCHIVES[key] = db
    with open_archive(_ARCHIVES[key].url) as opened:
        yield opened


def where(name: str, **filters) -> ReportFilter:
    start, end = PERIODS[name]
    return ReportFilter(1, start, end, NOW, **filters)


def test_the_history_has_what_the_edges_need():
    running = [job for job in JOBS_OF.values() if job.t_alloc and job.t_clean is None]
    never_ran = [job for job in JOBS_OF.values() if job.t_alloc is None and job.t_clean]
    start, end = PERIODS["middle"]
    cut = [j for j in JOBS_OF.values() if j.t_alloc and j.t_alloc < start < (j.t_free or NOW)]
    assert running and never_ran and cut


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_usage_by_user_equals_the_reference(archive, period):
    start, end = PERIODS[period]
    expected = ref.usage_by_user(JOBS_OF, start, end, NOW)
    lines = {line.group: line for line in report.usage(archive, where(period), "user")}
    assert set(lines) == set(expected)
    for user, want in expected.items():
        got = lines[user]
        assert (got.jobs, got.completed, got.failed, got.canceled, got.timeout) == (
            want["jobs"],
            want["COMPLETED"],
            want["FAILED"],
            want["CANCELED"],
            want["TIMEOUT"],
        )
        assert got.core_seconds == pytest.approx(want["core_seconds"], rel=1e-9, abs=1e-6)
        assert got.node_seconds == pytest.approx(want["node_seconds"], rel=1e-9, abs=1e-6)
        waits, runtimes = want["waits"], want["runtimes"]
        assert got.wait_median == pytest.approx(ref.quantile(waits, 0.5))
        assert got.wait_p95 == pytest.approx(ref.quantile(waits, 0.95))
        assert got.wait_mean == pytest.approx(sum(waits) / len(waits) if waits else None)
        assert got.runtime_median == pytest.approx(ref.quantile(runtimes, 0.5))
        mean = sum(runtimes) / len(runtimes) if runtimes else None
        assert got.runtime_mean == pytest.approx(mean)
    assert [line.core_seconds for line in lines.values()] == sorted(
        (line.core_seconds for line in lines.values()), reverse=True
    )


def test_a_user_filter_keeps_that_user_alone(archive):
    user = next(iter(JOBS_OF.values())).userid
    lines = report.usage(archive, where("all", userid=user), "user")
    assert [line.group for line in lines] == [user]
    everyone = {line.group: line for line in report.usage(archive, where("all"), "user")}
    assert lines[0] == everyone[user]


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_sizes_equal_the_reference(archive, period):
    start, end = PERIODS[period]
    bounds = (1, 2, 4)
    expected = ref.sizes(JOBS_OF, start, end, NOW, bounds)
    got = report.sizes(archive, where(period), bounds)
    assert [b["jobs"] for b in got] == [jobs for jobs, _ in expected]
    for found, (_, seconds) in zip(got, expected):
        assert found["core_seconds"] == pytest.approx(seconds, rel=1e-9, abs=1e-6)
    assert [b["cores"] for b in got] == [[1, 1], [2, 3], [4, None]]


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_allocated_and_node_hours_equal_the_reference(archive, period):
    start, end = PERIODS[period]
    queries = archive.report_queries
    ((core_seconds, _),) = archive.rows(*queries.allocated(where(period)))
    assert (core_seconds or 0.0) == pytest.approx(
        ref.allocated(JOBS_OF, start, end, NOW), rel=1e-9, abs=1e-6
    )
    running = list(archive.rows(*queries.running(where(period))))
    assert report.node_seconds_held(archive, where(period), running) == pytest.approx(
        ref.node_seconds_held(JOBS_OF, start, end, NOW), rel=1e-9, abs=1e-6
    )


def test_binned_series_add_up_and_equal_the_reference(archive):
    start, end = PERIODS["all"]
    width = (end - start) / 7
    series = report.series(archive, where("all"), width)
    assert len(series.starts) == 7
    assert sum(series.allocated) == pytest.approx(ref.allocated(JOBS_OF, start, end, NOW))
    for index, bin_start in enumerate(series.starts):
        bin_end = min(bin_start + width, end)
        # timestamps near 1.8e9 carry about 2e-7 s: a job split at a bin's edge differs
        # from the reference by that much per piece
        assert series.allocated[index] == pytest.approx(
            ref.allocated(JOBS_OF, bin_start, bin_end, NOW), rel=1e-9, abs=TIME_ROUNDING
        )
        ended = [j for j in JOBS_OF.values() if j.t_clean and bin_start <= j.t_clean < bin_end]
        for result in report.RESULTS:
            expected = sum(1 for j in ended if j.result == result.upper())
            assert series.endings[result][index] == expected
        waits = [
            j.t_alloc - j.t_submit
            for j in JOBS_OF.values()
            if j.t_alloc is not None and bin_start <= j.t_alloc < bin_end
        ]
        assert series.wait_median[index] == pytest.approx(ref.quantile(waits, 0.5))
        assert series.wait_p95[index] == pytest.approx(ref.quantile(waits, 0.95))


def test_json_has_the_documented_keys(archive):
    from fluxjournal.reading.reportout import as_dict

    start, end = PERIODS["all"]
    by = {"user": report.usage(archive, where("all"), "user")}
    data = json.loads(
        json.dumps(as_dict("x", start, end, None, by, report.sizes(archive, where("all"), (1, 8))))
    )
    assert set(data) == {"instance", "period", "utilization", "by", "sizes"}
    assert set(data["period"]) == {"start", "end"}
    assert set(data["by"][0]) == {
        "user",
        "jobs",
        "completed",
        "failed",
        "canceled",
        "timeout",
        "core_hours",
        "node_hours",
        "wait",
        "runtime",
    }
    assert set(data["by"][0]["wait"]) == {"mean", "median", "p95"}
    assert set(data["by"][0]["runtime"]) == {"mean", "median"}
    total = sum(line["core_hours"] for line in data["by"])
    assert total == pytest.approx(ref.allocated(JOBS_OF, start, end, NOW) / 3600)
