"""``fluxjournal bench`` (:mod:`fluxjournal.bench.command`) runs end to end and prints a
well-formed table; each group of the package loads without the others.

No timing is asserted: only that every available implementation has its rows, that the
numbers parse and that the events counted agree.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from fluxjournal.bench import command, harness


def _table(out: str) -> list[dict[str, str]]:
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    header = lines[0].split()
    assert header[:3] == ["jobs", "implementation", "mode"], lines[0]
    rows = [dict(zip(header, line.split())) for line in lines[1:]]
    assert all(len(row) == len(header) for row in rows)
    return rows


def test_bench_prints_a_row_per_implementation_and_mode(capsys):
    assert command.main(["--jobs", "200", "--repeat", "1"]) == 0
    rows = _table(capsys.readouterr().out)
    impls = harness.implementations()
    seen = {(row["implementation"], row["mode"]) for row in rows}
    for impl in impls:
        assert (impl, "history/poll") in seen
        assert (impl, "live/poll") in seen
    for impl in (harness.PYTHON, harness.CYTHON):
        if impl in impls:
            for mode in ("history/batch", "history/iter", "live/batch"):
                assert (impl, mode) in seen
    assert (harness.RECEIVE, "history/poll") in seen
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
    reference = harness.FLUX_CORE if harness.FLUX_CORE in impls else harness.PYTHON
    for row in rows:
        if row["implementation"] == reference and row["mode"].endswith("/poll"):
            assert row["speed-up"] == "1.0x"


def test_bench_chart_and_sizes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "bench.png"
    argv = ["--sizes", "50,100", "--repeat", "1", "--modes", "history/poll", "--chart", str(chart)]
    assert command.main(argv) == 0
    rows = _table(capsys.readouterr().out)
    assert {int(row["jobs"]) for row in rows} == {50, 100}
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_rejects_an_unknown_mode(capsys):
    with pytest.raises(SystemExit) as exc:
        command.main(["--modes", "history/nope"])
    assert exc.value.code == 2


def test_bench_runs_only_the_implementations_asked_for(capsys):
    argv = ["--jobs", "50", "--repeat", "1", "--modes", "history/poll", "--impls", "python"]
    assert command.main(argv) == 0
    rows = _table(capsys.readouterr().out)
    assert {row["implementation"] for row in rows} == {harness.PYTHON}


def test_bench_rejects_an_unknown_implementation(capsys):
    with pytest.raises(SystemExit) as exc:
        command.main(["--impls", "pypy"])
    assert exc.value.code == 2
    assert "pypy" in capsys.readouterr().err


def test_bench_long_without_captures_says_what_it_needs(tmp_path, capsys):
    argv = ["--long", "--long-captures", str(tmp_path), "--impls", "python"]
    assert command.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and "--long-captures" in captured.err


@pytest.mark.parametrize("group", ["consumer", "ingest", "long", "postgres"])
def test_each_group_loads_without_the_others(group):
    """A group imports the shared harness and payloads, never another group or the command."""
    code = (
        f"import sys, fluxjournal.bench.{group}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('fluxjournal.bench'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    shared = {"fluxjournal.bench", "fluxjournal.bench.harness", "fluxjournal.bench.payloads"}
    assert set(out) == shared | {f"fluxjournal.bench.{group}"}


def test_bench_runs_one_group_at_a_time(capsys):
    with pytest.raises(SystemExit) as exc:
        command.main(["--long", "--ingest"])
    assert exc.value.code == 2
    assert "choose one group" in capsys.readouterr().err
