"""``fluxjournal tail``, end to end: what it prints of the recorded captures, its filters,
``--record``, a pipe that closes early, ``--follow`` and its stop on a signal.

The expected lines are made from ``json.loads`` of the capture lines and the formats
flux-core documents (docs/CONTRACT.md §2), not from fluxjournal's own event objects.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import DATA

from fluxjournal import JobID
from fluxjournal.commands import main as cli

FULL_LIVE = DATA / "job-journal-full-live.jsonl"
ALLOW_SUBMIT_CLEAN = DATA / "job-journal-allow-submit-clean.jsonl"
NONFULL = DATA / "job-journal-nonfull.jsonl"
CAPTURES = [FULL_LIVE, DATA / "job-journal-mix.jsonl", ALLOW_SUBMIT_CLEAN]
#: Long enough for any command here; reached only when one hangs.
TIMEOUT = 60


# -- helpers ----------------------------------------------------------------------------


def environment() -> dict[str, str]:
    """This process's environment without FLUX_URI, and with Python's usual buffering of
    a piped stdout (what a user gets), whatever the test runner asked for."""
    return {k: v for k, v in os.environ.items() if k not in ("FLUX_URI", "PYTHONUNBUFFERED")}


def fluxjournal(*args: str | Path, cwd: Path):
    """Run ``python -m fluxjournal ARGS`` to its end; the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "fluxjournal", *map(str, args)],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def tail(*args: str | Path, cwd: Path) -> list[str]:
    """The lines ``fluxjournal tail ARGS`` prints; it must succeed and say nothing else."""
    proc = fluxjournal("tail", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout.splitlines()


class Entry:
    """One eventlog entry of a capture, with the response it came in."""

    def __init__(self, response: dict, entry: dict) -> None:
        self.response = response
        self.entry = entry
        self.id: int = response["id"]
        self.timestamp: float = entry["timestamp"]
        self.name: str = entry["name"]
        self.context: dict = entry.get("context", {})

    def text(self) -> str:
        """flux-core's ``str(JournalEvent)``: the non-empty parts joined by spaces."""
        context = (
            json.dumps(self.context, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            if self.context
            else ""
        )
        jobspec = self.carried("submit", "jobspec")
        R = self.carried("alloc", "R")
        parts = [
            f"{JobID(self.id).f58}:",
            f"{self.timestamp:.5f}",
            self.name,
            context,
            f"jobspec={jobspec!r}" if jobspec else "",
            f"R={R!r}" if R else "",
        ]
        return " ".join(part for part in parts if part)

    def carried(self, name: str, key: str):
        """The response's jobspec or R when this entry carries it (submit / alloc)."""
        return self.response.get(key) if self.name == name else None

    def record(self) -> dict:
        """The ``--format json`` object."""
        record = {
            "id": self.id,
            "jobid": JobID(self.id).f58,
            "timestamp": self.timestamp,
            "name": self.name,
            "context": self.context,
        }
        for name, key in (("submit", "jobspec"), ("alloc", "R")):
            if self.name == name and key in self.response:
                record[key] = self.response[key]
        return record


def responses(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def history(path: Path) -> list[Entry]:
    """The entries before the sentinel (all when there is none), in timestamp order, ties
    in arrival order."""
    entries = []
    for response in responses(path):
        if response["id"] == -1:
            break
        entries.extend(Entry(response, entry) for entry in response["events"])
    return sorted(entries, key=lambda e: e.timestamp)  # stable: ties keep arrival order


def live(path: Path) -> list[Entry]:
    """The entries after the sentinel, in arrival order."""
    docs = responses(path)
    at = next(i for i, doc in enumerate(docs) if doc["id"] == -1)
    return [Entry(doc, entry) for doc in docs[at + 1 :] for entry in doc["events"]]


# -- what it prints --------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_text_is_flux_cores_event_format_for_the_history_only(tmp_path, capture):
    expected = [entry.text() for entry in history(capture)]
    assert expected  # the capture has a history
    assert tail("--replay", capture, cwd=tmp_path) == expected


def test_history_ties_keep_arrival_order(tmp_path):
    # equal timestamps across jobs: the order the responses arrived in, as a stable sort
    def response(jobid: int, *entries: tuple[float, str]) -> str:
        events = [{"timestamp": t, "name": name} for t, name in entries]
        return json.dumps({"id": jobid, "events": events})

    base = 1795837730.5
    lines = [
        response(3 << 24, (base, "submit"), (base + 2, "clean")),
        response(1 << 24, (base, "submit"), (base + 1, "validate")),
        response(2 << 24, (base + 1, "submit"), (base + 2, "depend")),
        '{"id":-1,"events":[]}',
    ]
    capture = tmp_path / "ties.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    expected = [
        (3 << 24, base, "submit"),
        (1 << 24, base, "submit"),
        (1 << 24, base + 1, "validate"),
        (2 << 24, base + 1, "submit"),
        (3 << 24, base + 2, "clean"),
        (2 << 24, base + 2, "depend"),
    ]
    records = [json.loads(x) for x in tail("--replay", capture, "--format", "json", cwd=tmp_path)]
    assert [(r["id"], r["timestamp"], r["name"]) for r in records] == expected
    assert tail("--replay", capture, cwd=tmp_path) == [e.text() for e in history(capture)]


def test_the_live_part_of_a_replay_is_not_printed(tmp_path):
    printed = set(tail("--replay", FULL_LIVE, cwd=tmp_path))
    after = {entry.text() for entry in live(FULL_LIVE)}
    assert after and not printed & after


def test_the_text_form_keeps_non_ascii_and_carries_jobspec_and_R(tmp_path):
    lines = tail("--replay", FULL_LIVE, cwd=tmp_path)
    assert any(" jobspec={" in line for line in lines)
    assert any(" R={" in line for line in lines)
    assert all(" submit" in line for line in lines if "jobspec=" in line)
    assert any(not line.isascii() for line in lines)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_json_lines(tmp_path, capture):
    lines = tail("--replay", capture, "--format", "json", cwd=tmp_path)
    records = [json.loads(line) for line in lines]
    assert records == [entry.record() for entry in history(capture)]
    assert all(type(record["id"]) is int for record in records)


def test_json_carries_jobspec_and_R_exactly_on_submit_and_alloc(tmp_path):
    lines = tail("--replay", FULL_LIVE, "--format", "json", cwd=tmp_path)
    records = [json.loads(line) for line in lines]
    with_jobspec = [r for r in records if "jobspec" in r]
    with_R = [r for r in records if "R" in r]
    assert with_jobspec and {r["name"] for r in with_jobspec} == {"submit"}
    assert with_R and {r["name"] for r in with_R} == {"alloc"}


def test_a_capture_of_the_sentinel_alone_prints_nothing(tmp_path):
    assert tail("--replay", NONFULL, cwd=tmp_path) == []


@pytest.mark.parametrize("content", ["", "\n"], ids=["empty", "blank"])
def test_an_empty_replay_ends(tmp_path, content):
    capture = tmp_path / "empty.jsonl"
    capture.write_text(content)
    assert tail("--replay", capture, cwd=tmp_path) == []


def test_a_replay_without_sentinel_ends_with_its_history(tmp_path):
    capture = tmp_path / "cut.jsonl"
    capture.write_text("\n".join(FULL_LIVE.read_text("utf-8").splitlines()[:8]) + "\n", "utf-8")
    assert tail("--replay", capture, cwd=tmp_path) == [e.text() for e in history(capture)]


def test_a_bad_line_is_reported_with_its_line_and_the_rest_printed(tmp_path):
    lines = FULL_LIVE.read_text("utf-8").splitlines()[:10]
    text = [*lines[:2], "", "[1, 2", *lines[2:], '{"id":-1,"events":[]}']
    capture = tmp_path / "bad.jsonl"
    capture.write_text("\n".join(text) + "\n", "utf-8")
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines) + "\n", "utf-8")
    proc = fluxjournal("tail", "--replay", "bad.jsonl", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = proc.stderr.splitlines()
    assert len(errors) == 1
    assert errors[0].startswith("fluxjournal: bad.jsonl, line 4: ")
    assert proc.stdout.splitlines() == [entry.text() for entry in history(good)]


# -- filters ---------------------------------------------------------------------------


def test_since_drops_events_up_to_and_at_the_time(tmp_path):
    entries = history(FULL_LIVE)
    since = entries[len(entries) // 2].timestamp
    expected = [e.text() for e in entries if e.timestamp > since]
    assert 0 < len(expected) < len(entries)
    assert tail("--replay", FULL_LIVE, "--since", repr(since), cwd=tmp_path) == expected


@pytest.mark.parametrize(
    "options, allowed, denied",
    [
        (("--allow", "submit,clean"), {"submit", "clean"}, set()),
        (("--allow", "submit", "--allow", "alloc"), {"submit", "alloc"}, set()),
        (("--deny", "submit,clean"), None, {"submit", "clean"}),
        (("--allow", "submit,clean,start", "--deny", "clean"), {"submit", "start"}, {"clean"}),
    ],
    ids=["allow", "allow-repeated", "deny", "both"],
)
def test_allow_and_deny_hold_on_a_replay(tmp_path, options, allowed, denied):
    # the job manager filters server-side; a replay serves what was recorded, so tail
    # applies the filters itself as well
    entries = history(FULL_LIVE)
    expected = [
        e.text() for e in entries if (allowed is None or e.name in allowed) and e.name not in denied
    ]
    assert 0 < len(expected) < len(entries)
    assert tail("--replay", FULL_LIVE, *options, cwd=tmp_path) == expected


def test_allow_on_a_simulation_filtered_by_its_job_manager(tmp_path):
    everything = tail("--simulate", "30", cwd=tmp_path)
    expected = [line for line in everything if line.split(" ")[2] in ("submit", "clean")]
    assert 0 < len(expected) < len(everything)
    assert tail("--simulate", "30", "--allow", "submit,clean", cwd=tmp_path) == expected


def test_the_capture_made_with_allow_matches_filtering_the_replay(tmp_path):
    # job-journal-allow-submit-clean was recorded with allow={submit, clean}
    names = {e.name for e in history(ALLOW_SUBMIT_CLEAN)}
    assert names == {"submit", "clean"}
    only_clean = tail("--replay", ALLOW_SUBMIT_CLEAN, "--allow", "clean", cwd=tmp_path)
    assert only_clean == [e.text() for e in history(ALLOW_SUBMIT_CLEAN) if e.name == "clean"]


def test_job_takes_f58_and_decimal_ids_and_repeats(tmp_path):
    entries = history(FULL_LIVE)
    ids = sorted({e.id for e in entries})
    first, second = ids[0], ids[len(ids) // 2]
    expected = [e.text() for e in entries if e.id in (first, second)]
    by_f58 = tail(
        "--replay", FULL_LIVE, "--job", JobID(first).f58, "--job", str(second), cwd=tmp_path
    )
    assert by_f58 == expected
    one = tail("--replay", FULL_LIVE, "--job", str(first), cwd=tmp_path)
    assert one == [e.text() for e in entries if e.id == first]
    assert tail("--replay", FULL_LIVE, "--job", hex(first), cwd=tmp_path) == one


def test_job_of_no_event_prints_nothing(tmp_path):
    absent = max(e.id for e in history(FULL_LIVE)) + 1
    assert tail("--replay", FULL_LIVE, "--job", str(absent), cwd=tmp_path) == []


def test_options_before_the_command_name(tmp_path):
    after = tail("--replay", FULL_LIVE, "--format", "json", "--allow", "alloc", cwd=tmp_path)
    proc = fluxjournal(
        "--format", "json", "--replay", FULL_LIVE, "tail", "--allow", "alloc", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == after != []


def test_in_process_main_prints_the_same(tmp_path, capsys):
    assert cli.main(["tail", "--replay", str(FULL_LIVE)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [e.text() for e in history(FULL_LIVE)]
    assert captured.err == ""


# -- a pipe that closes ----------------------------------------------------------------


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory) -> Path:
    """A recording of a simulated history far larger than a pipe's buffer."""
    where = tmp_path_factory.mktemp("big")
    capture = where / "big.jsonl"
    proc = fluxjournal(
        "ingest", "--simulate", "400", "--once", "--db", "x.db", "--record", capture, cwd=where
    )
    assert proc.returncode == 0, proc.stderr
    assert capture.stat().st_size > 1 << 18
    return capture


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_head_closing_the_pipe_is_not_an_error(tmp_path, big_capture, fmt):
    producer = shlex.join(
        [sys.executable, "-m", "fluxjournal", "tail", "--replay", str(big_capture)]
        + ["--format", fmt]
    )
    script = f"({producer} 2>producer.err; echo $? >producer.status) | head -3"
    proc = subprocess.run(
        ["sh", "-c", script],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0
    assert (tmp_path / "producer.status").read_text().strip() == "0"
    assert (tmp_path / "producer.err").read_text() == ""
    entries = history(big_capture)
    if fmt == "json":
        assert [json.loads(x) for x in proc.stdout.splitlines()] == [
            e.record() for e in entries[:3]
        ]
    else:
        assert proc.stdout.splitlines() == [e.text() for e in entries[:3]]


# -- --record --------------------------------------------------------------------------


def test_record_then_replay_prints_the_same(tmp_path):
    record = tmp_path / "record.jsonl"
    printed = tail("--simulate", "50", "--record", record, cwd=tmp_path)
    assert printed == tail("--simulate", "50", cwd=tmp_path)  # recording changes nothing
    docs = [json.loads(line) for line in record.read_bytes().splitlines()]
    assert all(isinstance(doc, dict) and isinstance(doc["events"], list) for doc in docs)
    assert {"id": -1, "events": []} in docs
    assert printed == [entry.text() for entry in history(record)]
    assert tail("--replay", record, cwd=tmp_path) == printed


def test_record_of_tail_ingests_like_the_source(tmp_path):
    record = tmp_path / "record.jsonl"
    tail("--simulate", "50", "--record", record, cwd=tmp_path)
    for db, source in (("sim.db", ("--simulate", "50")), ("rec.db", ("--replay", record))):
        proc = fluxjournal("ingest", "--once", "--db", db, *source, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    import sqlite3

    def events(name: str) -> list[tuple]:
        with sqlite3.connect(tmp_path / name) as db:
            return db.execute(
                "SELECT jobid, position, timestamp, name, context FROM events"
                " ORDER BY jobid, position"
            ).fetchall()

    assert events("rec.db") == events("sim.db") != []


# -- --follow, and its stop ------------------------------------------------------------


def read_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def spawn_tail(args: list[str], cwd) -> tuple[subprocess.Popen, queue.Queue, threading.Thread]:
    """``fluxjournal tail ARGS`` running, and a thread putting its output lines on a queue
    (None at the end)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluxjournal", "tail", *args],
        cwd=cwd,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    return proc, lines, reader


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_follow_prints_live_events_as_they_come_and_stops_on_a_signal(tmp_path, signum, status):
    jobs, posted = "20", 30
    before = tail("--simulate", jobs, cwd=tmp_path)
    record = tmp_path / "record.jsonl"
    proc, lines, reader = spawn_tail(
        ["--follow", "--simulate", jobs, "--live", str(posted), "--record", str(record)],
        tmp_path,
    )
    try:
        # every line arrives while the command still runs: the output is flushed when
        # the journal goes quiet, not only at the end
        got = [lines.get(timeout=TIMEOUT) for _ in range(len(before) + posted)]
        assert proc.poll() is None
        proc.send_signal(signum)
        status_got = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(TIMEOUT)
    rest = []
    while (line := lines.get(timeout=TIMEOUT)) is not None:
        rest.append(line)
    err = proc.stderr.read()
    proc.stderr.close()
    assert status_got == status, err
    assert "Traceback" not in err
    assert got[: len(before)] == before  # the history, then the live events
    assert got[len(before) :] == [entry.text() for entry in live(record)]
    assert rest == []


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_stops_the_printing_of_a_long_history(tmp_path, big_capture, signum, status):
    # the reader stops reading, so the command cannot get far through a history of many
    # pipe buffers before the signal comes; after it, it must not print the rest
    entries = history(big_capture)
    proc, lines, reader = spawn_tail(["--replay", str(big_capture)], tmp_path)
    try:
        printed = [lines.get(timeout=TIMEOUT)]
        proc.send_signal(signum)
        while (line := lines.get(timeout=TIMEOUT)) is not None:
            printed.append(line)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert len(printed) < len(entries) // 2
    assert printed == [e.text() for e in entries[: len(printed)]]
