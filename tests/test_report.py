"""``fluxjournal report`` against a plain reference (``report_reference.py``) computed from
the same journal's events: both cores, both stores, periods that cut jobs at both ends,
a job still running, jobs canceled before they ran."""

from __future__ import annotations

import json
import os

import pytest
import report_reference as ref
from stores import Database

from fluxjournal.ingestion import engine, resources
from fluxjournal.reading import report
from fluxjournal.storage.factory import open_archive, open_store
from fluxjournal.storage.queries import ReportFilter
from fluxjournal.testing import ReplayFlux, SimulatedFlux

JOBS, SEED = 1500, 7
#: resource changes over the history: drains, nodes offline and online, restarts
RESOURCE_CHANGES = 40


def simulated() -> SimulatedFlux:
    return SimulatedFlux(
        jobs=JOBS, seed=SEED, resource_live=RESOURCE_CHANGES, resource_posted=RESOURCE_CHANGES
    )


PAYLOADS = list(simulated().journal_payloads())
RESOURCE_EVENTS = [
    {**entry, "R": response.get("R")}
    for response in map(json.loads, simulated().resource_payloads())
    for entry in response["events"]
]
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
            resources.run(simulated(), store, instance, once=True)
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
    _, got = report.summary(archive, where(period), "user", bounds)
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


def test_the_resources_change_under_the_jobs():
    names = {event["name"] for event in RESOURCE_EVENTS}
    assert {"drain", "undrain", "offline", "online", "restart", "resource-define"} <= names
    down, _, _ = ref.down_intervals(RESOURCE_EVENTS, NOW)
    drained_under_a_job = [
        (rank, a, b)
        for rank, spans in down.items()
        for a, b in spans
        for job in JOBS_OF.values()
        if rank in job.cores and job.span(a, b, NOW)
    ]
    assert drained_under_a_job


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_utilization_equals_the_reference(archive, period):
    start, end = PERIODS[period]
    got = report.utilization(archive, where(period))
    want = ref.utilization(JOBS_OF, RESOURCE_EVENTS, start, end, NOW)
    assert (got.cores, got.nodes) == (16, 4)
    for kind, seconds in (("cores", got.core_seconds), ("nodes", got.node_seconds)):
        for part in ("capacity", "allocated", "down", "idle"):
            assert seconds[part] == pytest.approx(want[kind][part], rel=1e-9, abs=TIME_ROUNDING), (
                kind,
                part,
            )


def test_binned_series_add_up_and_equal_the_reference(archive):
    start, end = PERIODS["all"]
    width = (end - start) / 7
    series = report.series(archive, where("all"), width)
    assert len(series.starts) == 7
    assert sum(series.allocated) == pytest.approx(ref.allocated(JOBS_OF, start, end, NOW))
    whole = ref.utilization(JOBS_OF, RESOURCE_EVENTS, start, end, NOW)["cores"]
    assert sum(series.capacity) == pytest.approx(whole["capacity"])
    assert sum(series.down) == pytest.approx(whole["down"])
    assert sum(series.down) > 0
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
    lines, sizes = report.summary(archive, where("all"), "user", (1, 8))
    made = report.Report("x", start, end, None, {"user": lines}, sizes)
    data = json.loads(json.dumps(as_dict(made)))
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


# -- the command: table, CSV, JSON, plots, errors --------------------------------------


def run_report(url: str, *args: str) -> tuple[str, str, int]:
    import io

    from fluxjournal.commands import main as cli
    from fluxjournal.commands.report import command

    parsed = cli.parsers()["report"].parse_args(["--db", url, *args])
    parsed.by = parsed.by or ["user"]
    out, err = io.StringIO(), io.StringIO()
    status = command(parsed, out, err, now=NOW)
    return out.getvalue(), err.getvalue(), status


def _url(archive) -> str:
    return getattr(archive, "path", None) or next(
        db.url for db in _ARCHIVES.values() if db.kind == "postgres"
    )


def test_table_csv_and_json_tell_the_same(archive):
    start, end = PERIODS["middle"]
    period = ("--since", repr(start), "--until", repr(end))
    url = _url(archive)
    text, err, status = run_report(url, *period, "--by", "user", "--units", "seconds")
    assert (err, status) == ("", 0)
    data = json.loads(run_report(url, *period, "--format", "json")[0])
    for line in data["by"]:
        row = next(r for r in text.splitlines() if r.split() and r.split()[0] == line["user"])
        assert float(row.split()[6]) == pytest.approx(line["core_hours"] * 3600, abs=0.01)
    rows = run_report(url, *period, "--format", "csv")[0].splitlines()
    assert rows[0].startswith("# ") and any(r.startswith("user,jobs,") for r in rows)
    assert data["period"] == {"start": start, "end": end}


#: matplotlib's font module throws C++ exceptions, which the AddressSanitizer runtime of a
#: sanitizer run (preloaded before libstdc++) cannot intercept: it aborts there.
under_sanitizer = pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="matplotlib's C++ does not run under the AddressSanitizer preload",
)


@under_sanitizer
def test_the_plot_is_written_and_draws_the_report(archive, tmp_path):
    pytest.importorskip("matplotlib")
    from fluxjournal.reading import plots

    start, end = PERIODS["all"]
    for name in ("week.png", "week.svg"):
        path = tmp_path / name
        _, err, status = run_report(
            _url(archive), "--since", repr(start), "--until", repr(end), "--plot", str(path)
        )
        assert status == 0, err
        head = path.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if name.endswith("png") else b"<svg" in head
    series = report.series(archive, where("all"), (end - start) / 6)
    data = plots.figure_data(series, report.usage(archive, where("all"), "user"))
    assert sum(data["allocated"]) == pytest.approx(ref.allocated(JOBS_OF, start, end, NOW) / 3600)
    ended = sum(1 for job in JOBS_OF.values() if job.t_clean and start <= job.t_clean < end)
    assert sum(sum(counts) for counts in data["endings"].values()) == ended
    users = ref.usage_by_user(JOBS_OF, start, end, NOW)
    top = max(users, key=lambda user: users[user]["core_seconds"])
    assert data["top_users"][0][1] == pytest.approx(users[top]["core_seconds"] / 3600)


def test_without_matplotlib_one_line_says_how_to_install(archive, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _, err, status = run_report(_url(archive), "--since=-1d", "--plot", str(tmp_path / "x.png"))
    assert status == 1
    assert (
        err
        == "fluxjournal report: ERROR: --plot needs matplotlib: pip install 'fluxjournal[plot]'\n"
    )


def test_errors_are_one_line(tmp_path):
    _, err, status = run_report(str(tmp_path / "none.db"), "--since=-1d")
    assert (
        status == 1 and err == f"fluxjournal report: ERROR: no database at {tmp_path / 'none.db'}\n"
    )


def test_an_archive_older_than_the_spans_is_refused_until_brought_up_to_date(database):
    with open_store(database.url) as store:
        instance = store.instance("simulated", "test")
        engine.run(ReplayFlux(PAYLOADS, ends=True), store, instance, once=True)
    database.as_version(4)
    _, err, status = run_report(database.url, "--since=-1d")
    assert status == 1
    assert err.startswith("fluxjournal report: ERROR: ") and err.count("\n") == 1
    assert "schema version 4; a report needs version 5: run fluxjournal ingest" in err
    open_store(database.url).close()
    out, err, status = run_report(database.url, "--since=-1d")
    assert (status, err) == (0, "") and "core-hours" in out


def test_a_period_that_ends_before_it_starts_is_refused(archive):
    _, err, status = run_report(_url(archive), "--since=-1h", "--until=-2h")
    assert status == 1 and "ends before it starts" in err
