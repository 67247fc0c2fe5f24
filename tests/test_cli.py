"""The ``fluxjournal`` command consumes a journal and reports what came through."""

from __future__ import annotations

import json
import re

from conftest import DATA

from fluxjournal import cli


def test_replay_reports_every_event(capsys):
    capture = DATA / "job-journal-full-live.jsonl"
    docs = [json.loads(line) for line in capture.read_bytes().splitlines()]
    names: dict = {}
    for doc in docs:
        for entry in doc["events"]:
            names[entry["name"]] = names.get(entry["name"], 0) + 1
    sentinel_at = next(i for i, doc in enumerate(docs) if doc["id"] == -1)
    history = sum(len(doc["events"]) for doc in docs[:sentinel_at])
    jobs = {doc["id"] for doc in docs if doc["events"]}

    assert cli.main(["--replay", str(capture), "--idle", "0.05"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^history: {history} events", out, re.M)
    assert re.search(rf"^total: {sum(names.values())} events of {len(jobs)} jobs", out, re.M)
    for name, count in names.items():
        assert re.search(rf"^  {re.escape(name)} +{count}$", out, re.M), name


def test_print_writes_one_line_per_event_in_flux_cores_format(capsys):
    capture = DATA / "job-journal-full-live.jsonl"
    assert cli.main(["--replay", str(capture), "--idle", "0.05", "--print"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    total = sum(len(json.loads(line)["events"]) for line in capture.read_bytes().splitlines())
    assert len(lines) == total
    assert all(re.match(r"^ƒ\w+: \d+\.\d{5} [a-z-]+", line) for line in lines)
    assert "total:" in captured.err


def test_simulated_default_source(capsys, monkeypatch):
    monkeypatch.delenv("FLUX_URI", raising=False)
    assert cli.main(["--jobs", "300", "--live", "40", "--idle", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "simulated instance (300 jobs" in out
    submitted = int(re.search(r"^  submit +(\d+)$", out, re.M).group(1))
    assert submitted >= 300
