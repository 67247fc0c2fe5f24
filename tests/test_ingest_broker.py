"""``fluxjournal ingest`` on a real flux-core broker: every jobs row against job-list's
answer, and SIGKILL at random moments while jobs run and rank 0 is drained and undrained
(the resource journal's rows too).

Skipped unless ``flux`` is on PATH and flux-core's Python bindings import.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import needs_flux
from test_ingest import flattened, job_rows

from fluxjournal.testing.broker import LocalBroker
from fluxjournal.wire import bindings

pytestmark = needs_flux


def ingest_command(uri: str, db, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fluxjournal", "ingest", "--uri", uri, "--db", str(db), *extra]


def ingest_to_end(uri: str, db, *extra: str) -> subprocess.CompletedProcess:
    """``fluxjournal ingest`` run to its end (``--once`` among ``extra``), its output kept."""
    return subprocess.run(
        ingest_command(uri, db, *extra),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def child_env() -> dict:
    """The environment of a child that must find the bindings as this process did."""
    paths = [*bindings.added_paths, os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def quiet(broker: LocalBroker, timeout: float = 60.0) -> None:
    """Wait until no job of the instance is running or about to."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = json.loads(broker.run("jobs", "-a", "--json"))["jobs"]
        if all(job["state"] in ("INACTIVE", "SCHED", "DEPEND") for job in jobs):
            return
        assert time.monotonic() < deadline, "the instance did not settle"
        time.sleep(0.2)


def journal_now(broker: LocalBroker) -> dict[int, list[tuple]]:
    """Every job's eventlog as the journal's backlog holds it now."""
    from fluxjournal.ingestion.stream import JournalStream

    stream = JournalStream(broker.handle())
    out = {}
    while True:
        doc = json.loads(stream.next(30.0))
        if doc["id"] == -1:
            stream.cancel()
            return out
        out[doc["id"]] = [(e["timestamp"], e["name"], e.get("context", {})) for e in doc["events"]]


def resource_journal_now(broker: LocalBroker) -> list[tuple]:
    """The instance's resource eventlog as the resource journal's history holds it now."""
    from fluxjournal.ingestion.stream import JournalStream
    from fluxjournal.wire.protocol import RESOURCE_TOPIC

    stream = JournalStream(broker.handle(), topic=RESOURCE_TOPIC, body={})
    out = []
    while True:
        doc = json.loads(stream.next(30.0))
        if not doc["events"]:
            stream.cancel()
            return out
        R = doc.get("R")
        out += [(e["timestamp"], e["name"], e.get("context", {}), R) for e in doc["events"]]


def stored_resources(database) -> list[tuple]:
    rows = database.rows(
        "SELECT position, timestamp, name, context, R FROM resource_events ORDER BY position"
    )
    assert [row[0] for row in rows] == list(range(len(rows)))
    return [(t, name, json.loads(c), R and json.loads(R)) for _, t, name, c, R in rows]


def test_the_resource_journal_is_stored_as_it_is(broker, database):
    done = ingest_to_end(broker.uri, database.url, "--once")
    assert done.returncode == 0, done.stderr
    rows = stored_resources(database)
    assert rows == resource_journal_now(broker)
    assert "resource-define" in [row[1] for row in rows]
    assert "resource events" in done.stdout


def test_no_resources_on_a_broker(broker, database):
    done = ingest_to_end(broker.uri, database.url, "--once", "--no-resources")
    assert done.returncode == 0, done.stderr
    assert stored_resources(database) == []


def stored(database) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for jobid, timestamp, name, context in database.rows(
        "SELECT jobid, timestamp, name, context FROM events ORDER BY jobid, position"
    ):
        out.setdefault(jobid, []).append((timestamp, name, json.loads(context)))
    return out


def test_every_jobs_row_equals_what_flux_jobs_says(broker, database):
    # one job held: an active job in the table too
    held = broker.run("submit", "--urgency=hold", "--job-name=waiting", "true").strip()
    try:
        quiet(broker)
        done = ingest_to_end(broker.uri, database.url, "--once")
        assert done.returncode == 0, done.stderr
        listed = json.loads(broker.run("jobs", "-a", "--json"))["jobs"]
    finally:
        broker.run("cancel", held)
    rows = job_rows(database)
    assert {job["id"] for job in listed} <= set(rows)
    assert any(job["state"] != "INACTIVE" for job in listed)
    for job in listed:
        want = flattened(job)
        assert {key: rows[job["id"]][key] for key in want} == want, job["jobid"]


def test_sigkill_while_jobs_run_loses_nothing_and_doubles_nothing(database, tmp_path):
    rng = random.Random(7)
    db = database.url
    (tmp_path / "flux").mkdir()
    with LocalBroker(tmp_path / "flux") as broker:
        submitter = subprocess.Popen(
            [
                broker.flux,
                "submit",
                "--cc=1-150",
                "--quiet",
                "--wait",
                "sh",
                "-c",
                "sleep 0.0$((RANDOM % 5))",
            ],
            env=dict(os.environ, FLUX_URI=broker.uri),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        drained = False
        try:
            kills = 0
            while submitter.poll() is None or kills < 8:
                # rank 0 drained and undrained in turn: resource entries while ingesting
                if drained:
                    broker.run("resource", "undrain", "0")
                else:
                    broker.run("resource", "drain", "0", f"test {kills}")
                drained = not drained
                child = subprocess.Popen(
                    ingest_command(broker.uri, db, "--quiet"),
                    env=child_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                time.sleep(rng.uniform(0.3, 1.5))
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)
                kills += 1
                assert kills < 60, "the jobs did not finish"
        finally:
            if drained:
                broker.run("resource", "undrain", "0")
            submitter.wait(timeout=300)
        quiet(broker)
        done = ingest_to_end(broker.uri, db, "--once", "--quiet")
        assert done.returncode == 0, done.stderr
        assert stored(database) == journal_now(broker)
        resources_now = resource_journal_now(broker)
        assert stored_resources(database) == resources_now
        assert sum(row[1] in ("drain", "undrain") for row in resources_now) >= 8
    (counts,) = database.rows(
        "SELECT COUNT(*), COUNT(DISTINCT jobid || ':' || timestamp || name) FROM events"
    )
    assert counts[0] == counts[1] > 150 * 9


def test_a_restart_of_the_instance_is_the_same_instance(tmp_path):
    """The instance name comes from its startlog, which a restart keeps."""
    pytest.importorskip("flux.kvs")
    from fluxjournal.ingestion.sources import instance_name

    (tmp_path / "flux").mkdir()
    with LocalBroker(tmp_path / "flux") as broker:
        name = instance_name(broker.handle(), broker.uri)
    assert name.startswith("flux:") and name != f"flux:{broker.uri}"
