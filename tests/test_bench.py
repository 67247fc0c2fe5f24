"""``fluxjournal.bench``: the bench command runs end to end and prints a well-formed table.

No timing is asserted: only that every available implementation has its rows, that the
numbers parse and that the events counted agree.
"""

from __future__ import annotations

import pytest

from fluxjournal import bench


def _table(out: str) -> list[dict[str, str]]:
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    header = lines[0].split()
    assert header[:3] == ["jobs", "implementation", "mode"], lines[0]
    rows = [dict(zip(header, line.split())) for line in lines[1:]]
    assert all(len(row) == len(header) for row in rows)
    return rows


def test_bench_prints_a_row_per_implementation_and_mode(capsys):
    assert bench.main(["--jobs", "200", "--repeat", "1"]) == 0
    rows = _table(capsys.readouterr().out)
    impls = bench.implementations()
    seen = {(row["implementation"], row["mode"]) for row in rows}
    for impl in impls:
        assert (impl, "history/poll") in seen
        assert (impl, "live/poll") in seen
    for impl in (bench.PYTHON, bench.CYTHON):
        if impl in impls:
            for mode in ("history/batch", "history/iter", "live/batch"):
                assert (impl, mode) in seen
    assert (bench.RECEIVE, "history/poll") in seen
    history = {int(row["events"]) for row in rows if row["mode"].startswith("history")}
    assert len(history) == 1 and history.pop() > 0  # every implementation, the same events
    assert {int(row["events"]) for row in rows if row["mode"].startswith("live")} == {400}
    for row in rows:
        assert int(row["jobs"]) == 200
        assert float(row["seconds"]) > 0
        assert float(row["events/s"]) > 0
        assert float(row["peak-MB"]) >= 0
        assert row["speed-up"].endswith("x")
        assert float(row["speed-up"][:-1]) > 0
    reference = bench.FLUX_CORE if bench.FLUX_CORE in impls else bench.PYTHON
    for row in rows:
        if row["implementation"] == reference and row["mode"].endswith("/poll"):
            assert row["speed-up"] == "1.0x"


def test_bench_chart_and_sizes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "bench.png"
    argv = ["--sizes", "50,100", "--repeat", "1", "--modes", "history/poll", "--chart", str(chart)]
    assert bench.main(argv) == 0
    rows = _table(capsys.readouterr().out)
    assert {int(row["jobs"]) for row in rows} == {50, 100}
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_rejects_an_unknown_mode(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--modes", "history/nope"])
    assert exc.value.code == 2


def test_bench_runs_only_the_implementations_asked_for(capsys):
    argv = ["--jobs", "50", "--repeat", "1", "--modes", "history/poll", "--impls", "python"]
    assert bench.main(argv) == 0
    rows = _table(capsys.readouterr().out)
    assert {row["implementation"] for row in rows} == {bench.PYTHON}


def test_bench_rejects_an_unknown_implementation(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--impls", "pypy"])
    assert exc.value.code == 2
    assert "pypy" in capsys.readouterr().err
