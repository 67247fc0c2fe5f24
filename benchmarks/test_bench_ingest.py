"""``fluxjournal ingest`` into SQLite, against what a site would write and the bare SQLite
cost, all on the same replayed history (``--bench-jobs``) and in one run:

- ``baseline``: flux-core's consumer (the pure-Python twin when flux-core is absent)
  polled to the sentinel, a row per event with ``json.dumps(context)``, executemany and a
  commit every ``fluxjournal.ingestion.engine.BATCH_EVENTS`` rows;
- ``floor``: executemany of exactly ingest's event rows, in ingest's transactions, built
  before the timing (``floor+jobs``: with ingest's job rows too);
- ``ingest``: ``engine.run(ReplayFlux(payloads), SQLiteStore(path), instance, once=True)``
  into a new database (events and the jobs table);
- ``restart``: the same again on the database that holds it all (writes nothing), against
  ``drain``, fluxjournal's consumer polled to the sentinel.

Every database is new, on the disk of the session's temporary directory, with ingest's
schema and pragmas. The ratios (targets: ingest >= 8x baseline, <= 1.5x floor, restart <=
1.5x drain, ingest peak memory <= 2x drain's) are printed at the end of the run, never
asserted; what is asserted is what each row wrote.
"""

from __future__ import annotations

import sqlite3

import pytest

from fluxjournal.bench import command, harness
from fluxjournal.bench import ingest as bench_ingest
from fluxjournal.bench.payloads import replay_handle
from fluxjournal.ingestion import engine
from fluxjournal.storage import schema

ROWS = {row.name: row for row in bench_ingest.ingest_rows()}


def _row(name: str, baseline: str | None = None) -> bench_ingest.IngestRow:
    if baseline is not None:
        return {row.name: row for row in bench_ingest.ingest_rows(baseline)}[name]
    return ROWS[name]


def _check_stored(rounds: list, events: int, jobs: int | None) -> None:
    """Every round's database held ``events`` event rows (and ``jobs`` job rows)."""
    for prepared in rounds:
        assert prepared.events_stored == events
        if jobs is not None:
            assert prepared.jobs_stored == jobs


@pytest.mark.benchmark(group="ingest")
@pytest.mark.parametrize("consumer", [harness.FLUX_CORE, harness.PYTHON])
def test_ingest_baseline(benchmark, require, run_ingest, payloads, consumer):
    """What a site would write: a journal consumer's poll() to the sentinel, one row per
    event, executemany per batch. flux-core's consumer when it imports, else the twin."""
    if consumer == harness.FLUX_CORE:
        require(harness.FLUX_CORE)
    elif harness.baseline_impl() == harness.FLUX_CORE:
        pytest.skip("flux-core's consumer is the baseline here (the twin is its fallback)")
    data = payloads.history()
    rounds = run_ingest(benchmark, _row("baseline", consumer), data)
    benchmark.extra_info["baseline_consumer"] = consumer
    _check_stored(rounds, data.events, 0)


@pytest.mark.benchmark(group="ingest")
@pytest.mark.parametrize("name", ["floor", "floor+jobs"])
def test_ingest_floor(benchmark, run_ingest, payloads, config, name):
    """executemany of ingest's own rows, in its transactions, built before the timing."""
    data = payloads.history()
    rounds = run_ingest(benchmark, _row(name), data)
    _check_stored(rounds, data.events, config.jobs if name == "floor+jobs" else 0)


@pytest.mark.benchmark(group="ingest")
def test_ingest_new_database(benchmark, run_ingest, payloads, config):
    """``engine.run(once=True)`` of the whole history into a new database."""
    data = payloads.history()
    rounds = run_ingest(benchmark, _row("ingest"), data)
    _check_stored(rounds, data.events, config.jobs)


@pytest.mark.benchmark(group="ingest")
def test_ingest_drain(benchmark, run_ingest, payloads):
    """fluxjournal's consumer polled to the sentinel: what a restart is compared with."""
    run_ingest(benchmark, _row("drain"), payloads.history())


@pytest.mark.benchmark(group="ingest")
def test_ingest_restart(benchmark, run_ingest, payloads, config):
    """``engine.run(once=True)`` again on the database that holds the whole history: it
    must write nothing (stored_events == 0) and leave the database as it was."""
    data = payloads.history()
    rounds = run_ingest(benchmark, _row("restart"), data)
    assert rounds and all(prepared.written == 0 for prepared in rounds)
    _check_stored(rounds, data.events, config.jobs)


# -- the harness itself (untimed) ------------------------------------------------------


def test_floor_writes_exactly_what_ingest_writes(payloads, config, tmp_path):
    """The floor's rows are ingest's: same event rows, same job rows, same transactions."""
    from fluxjournal.storage.sqlite import SQLiteStore

    data = payloads.history(min(config.jobs, 300))
    batches = harness.ingest_batches(data.payloads)
    assert sum(len(events) for events, _ in batches) == data.events
    assert all(len(events) >= engine.BATCH_EVENTS for events, _ in batches[:-1])
    with SQLiteStore(tmp_path / "ingest.db") as store:
        instance = store.instance(harness.INGEST_INSTANCE_NAME, "ReplayFlux")
        assert instance == harness.INGEST_INSTANCE
        engine.run(replay_handle(data.payloads), store, instance, once=True)
    db = sqlite3.connect(tmp_path / "ingest.db")
    try:
        events = db.execute(f"SELECT {_names(schema.EVENT_COLUMNS)} FROM events").fetchall()
        jobs = db.execute(f"SELECT {_names(schema.JOB_COLUMNS)} FROM jobs").fetchall()
    finally:
        db.close()
    assert sorted(events) == sorted(row for batch, _ in batches for row in batch)
    assert sorted(jobs, key=_jobid) == sorted((r for _, b in batches for r in b), key=_jobid)


def test_baseline_writes_the_same_events(payloads, config, tmp_path):
    """The baseline's rows are the same entries as ingest's (the context as json.dumps
    writes it): same jobs, positions, timestamps and names."""
    data = payloads.history(min(config.jobs, 300))
    db = bench_ingest.new_database(tmp_path / "baseline.db")
    consumer = harness.consumer_class(harness.baseline_impl())(
        replay_handle(data.payloads), include_sentinel=True
    )
    consumer.start()
    try:
        written = harness.baseline_ingest(
            consumer, db, harness.INGEST_INSTANCE, 1000, bench_ingest.write_batch
        )
        assert written == data.events
        stored = db.execute("SELECT instance, jobid, position, timestamp, name FROM events")
        stored = sorted(stored.fetchall())
    finally:
        db.close()
    batches = harness.ingest_batches(data.payloads)
    expected = sorted(row[:5] for batch, _ in batches for row in batch)
    assert stored == expected


def test_bench_command_ingest_table(capsys, tmp_path):
    """``fluxjournal bench --ingest`` prints a row per case and the ratios (not judged)."""
    argv = ["--ingest", "--jobs", "50", "--repeat", "1", "--db-dir", str(tmp_path)]
    assert command.main(argv) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    table_end = next(i for i, line in enumerate(lines) if line.split()[:2] == ["jobs", "ratio"])
    header, *rows = (line.split() for line in lines[:table_end])
    assert header[:4] == ["jobs", "row", "events", "written"]
    assert [row[1] for row in rows] == [row.name for row in bench_ingest.ingest_rows()]
    events = {row[2] for row in rows}
    assert len(events) == 1 and int(events.pop()) > 0
    written = {row[1]: row[3] for row in rows}
    assert written["restart"] == "0" and written["drain"] == "-"
    writers = ("baseline", "floor", "floor+jobs", "ingest")
    assert {written[name] for name in writers} == {rows[0][2]}  # every event, once each
    ratios = lines[table_end + 1 :]
    assert len(ratios) == len(bench_ingest.INGEST_TARGETS)
    assert list(tmp_path.iterdir()) == []  # every database removed


def test_bench_command_ingest_refuses_chart(capsys):
    with pytest.raises(SystemExit) as exc:
        command.main(["--ingest", "--chart", "x.png"])
    assert exc.value.code == 2


def _names(columns) -> str:
    return ", ".join(column.name for column in columns)


def _jobid(row: tuple) -> int:
    return row[1]
