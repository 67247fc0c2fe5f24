"""The ``fluxjournal`` command line, end to end: help, option order, errors, ``--record``,
the bare report command, and ``fluxjournal ingest`` stopped by a signal.

Most tests run ``python -m fluxjournal`` as a user would, with a timeout so that a hang
fails; the expectations come from the recorded captures, not from fluxjournal's own
event objects. ``fluxjournal tail`` has its own file, tests/test_tail.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from conftest import DATA, HAVE_FLUX

from fluxjournal.commands import main as cli
from fluxjournal.ingestion.sources import TappedFuture
from fluxjournal.storage import schema
from fluxjournal.storage import sqlite as sqlite_store
from fluxjournal.testing import FLUX_RPC_STREAMING, ReplayFlux
from fluxjournal.wire.payload import GenericReader, flux_cffi, reader_for

FULL_LIVE = DATA / "job-journal-full-live.jsonl"
MIX = DATA / "job-journal-mix.jsonl"
SENTINEL = '{"id":-1,"events":[]}'
#: Long enough for any command here; reached only when one hangs.
TIMEOUT = 60


# -- helpers ----------------------------------------------------------------------------


def environment(**changes: str | None) -> dict[str, str]:
    """This process's environment without FLUX_URI and PYTHONUNBUFFERED (a piped stdout
    buffered, as a user has it), with ``changes`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FLUX_URI", "PYTHONUNBUFFERED")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def fluxjournal(*args: str | Path, cwd: Path, env: dict | None = None):
    """Run ``python -m fluxjournal ARGS`` to its end; the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "fluxjournal", *map(str, args)],
        cwd=cwd,
        env=environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def assert_one_error(proc, status: int = 1) -> str:
    """The run failed with ``status`` and exactly one ``fluxjournal:`` line on stderr."""
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fluxjournal: "), lines[0]
    return lines[0]


def assert_usage_error(proc, option: str) -> None:
    """argparse refused the command line (exit 2), naming ``option``, with no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    last = proc.stderr.splitlines()[-1]
    assert re.match(r"^fluxjournal( \w+)?: error: ", last), last
    assert option in last


def capture_docs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def history_keys(docs: list[dict]) -> set[tuple[int, float, str]]:
    """(jobid, timestamp, name) of every entry of the responses before the sentinel."""
    keys = set()
    for doc in docs:
        if doc["id"] == -1:
            break
        keys.update((doc["id"], e["timestamp"], e["name"]) for e in doc["events"])
    return keys


def db_rows(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def event_keys(path: Path) -> set[tuple[int, float, str]]:
    return set(db_rows(path, "SELECT jobid, timestamp, name FROM events"))


def events_table(path: Path) -> list[tuple]:
    return db_rows(
        path,
        "SELECT jobid, position, timestamp, name, context FROM events ORDER BY jobid, position",
    )


def jobs_table(path: Path) -> list[tuple]:
    """The jobs rows without the instance number."""
    columns = ", ".join(c.name for c in schema.JOB_COLUMNS[1:])
    return db_rows(path, f"SELECT {columns} FROM jobs ORDER BY id")


def assert_consistent(path: Path) -> None:
    """No event stored twice, and every job's nevents is its number of event rows."""
    (count,) = db_rows(path, "SELECT COUNT(*) FROM events")[0]
    (distinct,) = db_rows(
        path, "SELECT COUNT(*) FROM (SELECT DISTINCT jobid, timestamp, name FROM events)"
    )[0]
    assert count == distinct
    mismatched = db_rows(
        path,
        "SELECT j.id, j.nevents, COUNT(e.jobid) FROM jobs j LEFT JOIN events e"
        " ON e.instance = j.instance AND e.jobid = j.id"
        " GROUP BY j.instance, j.id HAVING j.nevents != COUNT(e.jobid)",
    )
    assert mismatched == []


# -- 1. help ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, options",
    [
        ((), ("--simulate", "--replay", "--uri", "--print", "--idle")),
        (("ingest",), ("--db", "--once", "--instance", "--record")),
        (("tail",), ("--format", "--follow", "--since", "--allow", "--deny", "--job")),
    ],
    ids=["fluxjournal", "ingest", "tail"],
)
def test_help_prints_usage_and_exits_0(tmp_path, command, options):
    proc = fluxjournal(*command, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stderr == ""
    prog = " ".join(("fluxjournal", *command))
    assert proc.stdout.startswith(f"usage: {prog} ")
    for option in options:
        assert option in proc.stdout


def test_the_report_help_names_the_commands(tmp_path):
    out = fluxjournal("--help", cwd=tmp_path).stdout
    for name in ("ingest", "tail", "bench"):
        assert name in out


# -- 2. options before or after the command name ---------------------------------------


def test_ingest_options_in_any_order_make_the_same_database(tmp_path):
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    a = fluxjournal("--db", first, "ingest", "--replay", FULL_LIVE, "--once", cwd=tmp_path)
    b = fluxjournal("ingest", "--once", "--replay", FULL_LIVE, "--db", second, cwd=tmp_path)
    assert (a.returncode, b.returncode) == (0, 0), a.stderr + b.stderr
    assert events_table(first) == events_table(second)
    assert jobs_table(first) == jobs_table(second)
    instances = "SELECT instance, name, source FROM instances"
    assert db_rows(first, instances) == db_rows(second, instances)
    # and what was stored is the capture's history
    assert event_keys(first) == history_keys(capture_docs(FULL_LIVE))


def test_an_optional_value_before_the_command_is_not_taken_for_it(tmp_path):
    # --simulate's JOBS is optional: the command name after it is not its value
    db = tmp_path / "default.db"
    proc = fluxjournal("--simulate", "ingest", "--db", db, "--once", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (jobs,) = db_rows(db, "SELECT COUNT(*) FROM jobs")[0]
    assert jobs == cli.DEFAULT_SIMULATED_JOBS


def test_an_abbreviated_option_before_the_command_works_as_after_it(tmp_path):
    # argparse accepts a unique prefix; the command is found past one too
    before = fluxjournal("--onc", "ingest", "--db", "a.db", "--simulate", "3", cwd=tmp_path)
    after = fluxjournal("ingest", "--onc", "--db", "b.db", "--simulate", "3", cwd=tmp_path)
    assert (before.returncode, after.returncode) == (0, 0), before.stderr
    assert events_table(tmp_path / "a.db") == events_table(tmp_path / "b.db") != []


def test_split_command_finds_the_command_among_options():
    known = cli.parsers()
    split = cli.split_command
    assert split(["--db", "x", "ingest", "--once"], known) == ("ingest", ["--db", "x", "--once"])
    assert split(["--simulate", "tail"], known) == ("tail", ["--simulate"])
    assert split(["--simulate", "5", "tail"], known) == ("tail", ["--simulate", "5"])
    # a value that happens to be a command name stays a value
    assert split(["--db", "tail", "ingest"], known) == ("ingest", ["--db", "tail"])
    assert split(["--replay=tail", "--print"], known) == (None, ["--replay=tail", "--print"])
    assert split(["--", "ingest"], known) == (None, ["--", "ingest"])


# -- 3. errors: one line, no traceback, no hang ----------------------------------------


@pytest.mark.parametrize("command", [("ingest", "--db", "x.db"), ("tail",)], ids=["ingest", "tail"])
def test_no_instance_says_what_to_do(tmp_path, command):
    proc = fluxjournal(*command, cwd=tmp_path)
    line = assert_one_error(proc)
    assert "FLUX_URI" in line and "--simulate" in line
    assert proc.stdout == ""
    assert not (tmp_path / "x.db").exists()


@pytest.mark.skipif(HAVE_FLUX, reason="flux-core's bindings import here")
@pytest.mark.parametrize(
    "command",
    [("ingest", "--db", "x.db"), ("tail",), ("--jobs", "5", "--idle", "0.05")],
    ids=["ingest", "tail", "report"],
)
@pytest.mark.parametrize("how", ["FLUX_URI", "--uri"])
def test_an_instance_without_bindings_is_an_error_not_a_simulation(tmp_path, command, how):
    uri = f"local://{tmp_path}/no-broker"
    if how == "--uri":
        proc = fluxjournal(*command, "--uri", uri, cwd=tmp_path)
    else:
        proc = fluxjournal(*command, cwd=tmp_path, env=environment(FLUX_URI=uri))
    line = assert_one_error(proc)
    assert "bindings" in line
    assert proc.stdout == ""
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "command", [("ingest", "--db", "x.db"), ("tail",), ()], ids=["ingest", "tail", "report"]
)
def test_replay_of_a_missing_file(tmp_path, command):
    line = assert_one_error(fluxjournal(*command, "--replay", "missing.jsonl", cwd=tmp_path))
    assert "missing.jsonl" in line and "No such file" in line
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("command", [("ingest", "--db", "x.db"), ("tail",)], ids=["ingest", "tail"])
def test_replay_of_a_directory(tmp_path, command):
    (tmp_path / "captures").mkdir()
    line = assert_one_error(fluxjournal(*command, "--replay", "captures", cwd=tmp_path))
    assert "captures" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
@pytest.mark.parametrize("command", [("ingest", "--db", "x.db"), ("tail",)], ids=["ingest", "tail"])
def test_replay_of_an_unreadable_file(tmp_path, command):
    capture = tmp_path / "secret.jsonl"
    capture.write_bytes(FULL_LIVE.read_bytes())
    capture.chmod(0)
    line = assert_one_error(fluxjournal(*command, "--replay", capture, cwd=tmp_path))
    assert "Permission denied" in line


def write_capture_with_bad_lines(path: Path) -> tuple[list[dict], list[int]]:
    """The first responses of the full-live capture with blank lines and two bad ones among
    them, then the sentinel; the good responses and the 1-based lines of the bad ones."""
    lines = FULL_LIVE.read_text(encoding="utf-8").splitlines()
    history = lines[:12]
    text = [*history[:3], "", "not json {", *history[3:7], "", "", '{"id":5}', *history[7:]]
    text.append(SENTINEL)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    bad = [n for n, line in enumerate(text, 1) if line in ("not json {", '{"id":5}')]
    return [json.loads(line) for line in history], bad


def test_ingest_stores_the_good_lines_of_a_replay_and_names_the_bad_ones(tmp_path):
    good, bad_lines = write_capture_with_bad_lines(tmp_path / "bad.jsonl")
    assert bad_lines == [5, 12]
    db = tmp_path / "bad.db"
    proc = fluxjournal("ingest", "--db", db, "--replay", "bad.jsonl", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = proc.stderr.splitlines()
    assert len(errors) == 2
    for line, number in zip(errors, bad_lines):
        assert line.startswith(f"fluxjournal: bad.jsonl, line {number}: "), line
    assert event_keys(db) == history_keys(good)
    assert_consistent(db)


def test_ingest_once_stores_the_good_lines_too(tmp_path):
    good, _ = write_capture_with_bad_lines(tmp_path / "bad.jsonl")
    db = tmp_path / "bad.db"
    proc = fluxjournal("ingest", "--once", "--db", db, "--replay", "bad.jsonl", cwd=tmp_path)
    assert proc.returncode == 1
    assert event_keys(db) == history_keys(good)


def test_the_report_skips_bad_lines_and_counts_the_rest(tmp_path):
    good, bad_lines = write_capture_with_bad_lines(tmp_path / "bad.jsonl")
    proc = fluxjournal("--replay", "bad.jsonl", "--idle", "0.05", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = proc.stderr.splitlines()
    assert [re.search(r", line (\d+): ", line).group(1) for line in errors] == [
        str(n) for n in bad_lines
    ]
    total = sum(len(doc["events"]) for doc in good)
    assert re.search(rf"^total: {total} events of {len(good)} jobs", proc.stdout, re.M)


@pytest.mark.parametrize("content", ["", "\n\n", None], ids=["empty", "blank", "no-sentinel"])
def test_ingest_of_a_replay_without_sentinel_ends(tmp_path, content):
    capture = tmp_path / "capture.jsonl"
    lines = FULL_LIVE.read_text(encoding="utf-8").splitlines()[:5]
    capture.write_text("\n".join(lines) + "\n" if content is None else content)
    db = tmp_path / "x.db"
    proc = fluxjournal("ingest", "--db", db, "--replay", capture, cwd=tmp_path)  # no --once
    assert proc.returncode == 0, proc.stderr
    expected = history_keys([json.loads(line) for line in lines]) if content is None else set()
    assert event_keys(db) == expected


@pytest.mark.parametrize("content", ["", None], ids=["empty", "no-sentinel"])
def test_the_report_on_a_replay_without_sentinel_ends(tmp_path, content):
    capture = tmp_path / "capture.jsonl"
    lines = FULL_LIVE.read_text(encoding="utf-8").splitlines()[:5]
    capture.write_text("\n".join(lines) + "\n" if content is None else content)
    proc = fluxjournal("--replay", capture, cwd=tmp_path)  # the default --idle
    assert proc.returncode == 0, proc.stderr
    total = 0 if content is not None else sum(len(json.loads(x)["events"]) for x in lines)
    assert re.search(rf"^total: {total} events", proc.stdout, re.M)


def test_db_in_a_missing_directory(tmp_path):
    line = assert_one_error(
        fluxjournal("ingest", "--db", "no/such/x.db", "--simulate", "5", "--once", cwd=tmp_path)
    )
    assert "no/such/x.db" in line
    assert not (tmp_path / "no").exists()


def test_db_that_is_a_directory(tmp_path):
    (tmp_path / "x.db").mkdir()
    assert_one_error(
        fluxjournal("ingest", "--db", "x.db", "--simulate", "5", "--once", cwd=tmp_path)
    )


@pytest.mark.parametrize("garbage", [b"this is not a database\n" * 100, bytes(range(256)) * 16])
def test_db_that_is_not_sqlite_is_refused_and_left_alone(tmp_path, garbage):
    db = tmp_path / "x.db"
    db.write_bytes(garbage)
    line = assert_one_error(
        fluxjournal("ingest", "--db", db, "--simulate", "5", "--once", cwd=tmp_path)
    )
    assert "not an SQLite database" in line
    assert db.read_bytes() == garbage


def test_db_made_by_a_newer_fluxjournal_is_refused(tmp_path):
    db = tmp_path / "x.db"
    first = fluxjournal("ingest", "--db", db, "--simulate", "5", "--once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = events_table(db)
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'",
            (str(schema.SCHEMA_VERSION + 1),),
        )
    connection.close()
    proc = fluxjournal("ingest", "--db", db, "--simulate", "7", "--once", cwd=tmp_path)
    line = assert_one_error(proc)
    assert "newer fluxjournal" in line
    assert events_table(db) == before


def exclusive_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
def test_db_locked_by_another_connection(tmp_path, monkeypatch, capsys, existing):
    monkeypatch.setattr(sqlite_store, "LOCK_TIMEOUT", 0.05)
    monkeypatch.delenv("FLUX_URI", raising=False)
    db = tmp_path / "x.db"
    args = ["ingest", "--db", str(db), "--simulate", "5", "--once"]
    if existing:
        assert cli.main(args) == 0
        before = events_table(db)
    capsys.readouterr()
    holder = exclusive_lock(db)
    try:
        assert cli.main([*args[:-2], "8", "--once"]) == 1
    finally:
        holder.close()
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fluxjournal: ")
    assert "locked" in lines[0]
    assert captured.out == ""
    if existing:
        assert events_table(db) == before
    assert cli.main(args) == 0  # once the other lets go


@pytest.mark.parametrize(
    "argv, option",
    [
        (("ingest", "--db", "x.db", "--simulate", "-5"), "--simulate"),
        (("tail", "--simulate", "-5"), "--simulate"),
        (("--simulate", "-5"), "--simulate"),
        (("tail", "--simulate", "lots"), "--simulate"),
        (("ingest", "--db", "x.db", "--simulate", "5", "--live", "-1"), "--live"),
        (("tail", "--simulate", "5", "--live", "-1"), "--live"),
        (("tail", "--simulate", "5", "--since", "nan"), "--since"),
        (("tail", "--simulate", "5", "--since", "inf"), "--since"),
        (("tail", "--simulate", "5", "--since", "-inf"), "--since"),
        (("--since", "nan"), "--since"),
        (("--since", "inf"), "--since"),
        (("tail", "--simulate", "5", "--since", "yesterday"), "--since"),
        (("tail", "--simulate", "5", "--rate", "0"), "--rate"),
        (("ingest", "--db", "x.db", "--simulate", "5", "--rate", "0"), "--rate"),
        (("tail", "--simulate", "5", "--rate", "nan"), "--rate"),
        (("--idle", "0"), "--idle"),
        (("tail", "--follow", "--replay", str(FULL_LIVE)), "--follow"),
        (("--follow", "--replay", str(FULL_LIVE)), "--follow"),
        (("tail", "--simulate", "5", "--job", "notajob"), "--job"),
        (("tail", "--simulate", "5", "--allow", ","), "--allow"),
        (("tail", "--simulate", "5", "--live", "3", "--posted", "4"), "--posted"),
        (("ingest", "--db", "x.db", "--simulate", "5", "--posted", "1"), "--posted"),
        (("tail", "--simulate", "5", "--replay", str(FULL_LIVE)), "--replay"),
        (("ingest", "--simulate", "5"), "--db"),
        (("ingest", "--simulate", "5", "--db", ""), "--db"),
        (("ingest", "--simulate", "5", "--db", ":memory:"), "--db"),
        (("tail", "--format", "xml", "--simulate", "5"), "--format"),
    ],
)
def test_bad_option_values_are_usage_errors(tmp_path, argv, option):
    assert_usage_error(fluxjournal(*argv, cwd=tmp_path), option)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("command", [("ingest", "--db", "x.db", "--once"), ("tail",)])
def test_record_into_a_missing_directory(tmp_path, command):
    proc = fluxjournal(*command, "--simulate", "5", "--record", "no/r.jsonl", cwd=tmp_path)
    line = assert_one_error(proc)
    assert "no/r.jsonl" in line
    assert proc.stdout == ""


# -- 5. --record, then --replay ----------------------------------------------------------


def test_ingest_record_replays_into_the_same_events(tmp_path):
    record = tmp_path / "record.jsonl"
    original, replayed = tmp_path / "original.db", tmp_path / "replayed.db"
    proc = fluxjournal(
        "ingest", "--simulate", "50", "--once", "--record", record, "--db", original, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in record.read_bytes().splitlines()]
    assert all(isinstance(doc, dict) and isinstance(doc["events"], list) for doc in docs)
    assert docs[-1] == {"id": -1, "events": []}  # --once: the history, then the sentinel
    assert len(docs) == 51
    proc = fluxjournal("ingest", "--replay", record, "--db", replayed, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert events_table(replayed) == events_table(original) != []
    assert jobs_table(replayed) == jobs_table(original)
    assert event_keys(original) == history_keys(docs)


def test_record_of_a_replay_holds_its_payloads(tmp_path):
    # a record of a replay is the replay's lines, blank lines left out
    capture = tmp_path / "capture.jsonl"
    lines = MIX.read_text(encoding="utf-8").splitlines()
    capture.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    record = tmp_path / "record.jsonl"
    proc = fluxjournal(
        "ingest", "--replay", capture, "--record", record, "--db", "x.db", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert record.read_text(encoding="utf-8").splitlines() == lines


class _FakeFFI:
    """Enough of cffi's FFI for :func:`fluxjournal.wire.payload.flux_cffi` to recognise a
    flux-python future."""

    class CData:
        pass

    def typeof(self, thing):
        return "flux_future_t *"

    def new(self, kind):
        return [None]


def test_a_tapped_flux_python_future_is_not_read_past_the_tap(monkeypatch):
    # flux-python's futures are read through libflux's C functions when their pimpl holds
    # a flux_future_t *; the tap's future must not offer that pointer, or the recording
    # and the response count would see nothing
    ffi = _FakeFFI()
    names = ("flux_future_is_ready", "flux_future_reset", "flux_rpc_get_raw")
    lib = types.SimpleNamespace(**{name: lambda *a: 0 for name in names})
    inner = types.ModuleType("flux.core.inner")
    inner.ffi, inner.lib = ffi, lib
    for name, module in (
        ("flux", types.ModuleType("flux")),
        ("flux.core", types.ModuleType("flux.core")),
        ("flux.core.inner", inner),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    future = types.SimpleNamespace(
        pimpl=types.SimpleNamespace(handle=ffi.CData(), get_matchtag=lambda: 7),
        wait_for=lambda timeout=-1.0: None,
    )
    assert flux_cffi(future) is not None  # the fake is taken for flux-python's
    tapped = TappedFuture(future, lambda payload: None)
    assert flux_cffi(tapped) is None
    assert isinstance(reader_for(tapped), GenericReader)
    assert tapped.pimpl.get_matchtag() == 7


def test_a_tapped_future_hands_every_payload_to_the_tap():
    seen = []
    handle = ReplayFlux([b'{"id":1,"events":[]}', SENTINEL], ends=True)
    future = TappedFuture(
        handle.rpc("job-manager.events-journal", {"full": True}, 0, FLUX_RPC_STREAMING), seen.append
    )
    reader = reader_for(future)
    payloads = []
    for _ in range(2):
        reader.wait(5)
        payloads.append(reader.take())
        reader.reset()
    assert payloads == seen == [b'{"id":1,"events":[]}', SENTINEL.encode()]


# -- 6. the bare command ---------------------------------------------------------------


def test_bare_command_without_instance_reads_a_simulation_and_says_so(tmp_path):
    proc = fluxjournal("--jobs", "50", "--idle", "0.05", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("fluxjournal: ") and "simulated" in first
    assert "simulated instance (50 jobs" in proc.stdout


def test_simulated_default_source(capsys, monkeypatch):
    monkeypatch.delenv("FLUX_URI", raising=False)
    assert cli.main(["--jobs", "300", "--live", "40", "--idle", "0.05"]) == 0
    captured = capsys.readouterr()
    assert "simulated" in captured.err.splitlines()[0]
    assert "simulated instance (300 jobs" in captured.out
    submitted = int(re.search(r"^  submit +(\d+)$", captured.out, re.M).group(1))
    assert submitted >= 300


def test_replay_reports_every_event(capsys):
    docs = capture_docs(FULL_LIVE)
    names: dict = {}
    for doc in docs:
        for entry in doc["events"]:
            names[entry["name"]] = names.get(entry["name"], 0) + 1
    sentinel_at = next(i for i, doc in enumerate(docs) if doc["id"] == -1)
    history = sum(len(doc["events"]) for doc in docs[:sentinel_at])
    jobs = {doc["id"] for doc in docs if doc["events"]}

    assert cli.main(["--replay", str(FULL_LIVE), "--idle", "0.05"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert captured.err == ""  # a named source: no word about simulations
    assert re.search(rf"^history: {history} events", out, re.M)
    assert re.search(rf"^total: {sum(names.values())} events of {len(jobs)} jobs", out, re.M)
    for name, count in names.items():
        assert re.search(rf"^  {re.escape(name)} +{count}$", out, re.M), name


def expected_line(doc: dict, entry: dict) -> str:
    """flux-core's ``str(JournalEvent)`` of one entry of one response (docs/CONTRACT.md §2)."""
    from fluxjournal import JobID

    context = entry.get("context") or {}
    parts = [
        f"{JobID(doc['id']).f58}:",
        f"{entry['timestamp']:.5f}",
        entry["name"],
        json.dumps(context, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        if context
        else "",
        f"jobspec={doc['jobspec']!r}" if entry["name"] == "submit" and doc.get("jobspec") else "",
        f"R={doc['R']!r}" if entry["name"] == "alloc" and doc.get("R") else "",
    ]
    return " ".join(part for part in parts if part)


def test_print_writes_every_event_in_flux_cores_format(capsys):
    docs = capture_docs(FULL_LIVE)
    sentinel_at = next(i for i, doc in enumerate(docs) if doc["id"] == -1)
    history = [
        (e["timestamp"], expected_line(d, e)) for d in docs[:sentinel_at] for e in d["events"]
    ]
    live = [expected_line(d, e) for d in docs[sentinel_at + 1 :] for e in d["events"]]
    expected = [line for _, line in sorted(history, key=lambda pair: pair[0])] + live
    assert cli.main(["--replay", str(FULL_LIVE), "--idle", "0.05", "--print"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == expected
    assert "total:" in captured.err


# -- 7. ingest stopped by a signal -----------------------------------------------------


def wait_for_rows(db: Path, proc: subprocess.Popen, more_than: int = 0) -> int:
    """Poll the database until it holds more than ``more_than`` events; their number."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                (count,) = db_rows(db, "SELECT COUNT(*) FROM events")[0]
            except sqlite3.DatabaseError:
                count = 0  # not made yet
            if count > more_than:
                return count
        time.sleep(0.02)
    raise AssertionError(f"{db} got no more than {more_than} events")


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_ingest_stops_cleanly_on_a_signal(tmp_path, signum, status):
    db = tmp_path / "x.db"
    command = [sys.executable, "-m", "fluxjournal", "ingest", "--db", str(db)]
    command += ["--simulate", "300", "--live", "100000", "--rate", "2000"]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        history = wait_for_rows(db, proc)
        wait_for_rows(db, proc, history)  # live events are being stored too
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert out.startswith("stored ")
    assert_consistent(db)
    (stored,) = db_rows(db, "SELECT COUNT(*) FROM events")[0]
    assert re.search(rf"; {stored:,} events(, [\d,]+ resource events)?$", out.splitlines()[-1])
