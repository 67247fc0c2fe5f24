"""Exactly once across any stop: ingest is killed with SIGKILL at random moments while a
simulated instance streams reordered live events, purges old jobs and changes its
resources, restarted each time on the instance as it then is, and the database compared
with the whole journal (the resource journal's too).

``FLUXJOURNAL_KILL_POINTS`` sets how many kills the long run makes (the suite makes 60).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import traceback

import pytest

from fluxjournal.ingestion import engine, resources
from fluxjournal.ingestion.stopping import StopRequest
from fluxjournal.storage import postgres as postgres_store
from fluxjournal.storage.factory import open_store
from fluxjournal.testing import SimulatedFlux

JOBS = 300
LIVE = 20000
RATE = 2000.0
#: The purge keeps the 200 latest inactive jobs: some 2,000 live events after a job ends,
#: it is gone from the backlog, long after a run has stored it.
KEEP_INACTIVE = 200
KILL_POINTS = int(os.environ.get("FLUXJOURNAL_KILL_POINTS", "60"))
#: The resources change once per this many live job events, paced alike.
PER_RESOURCE_CHANGE = 40


def instance_at(posted: int, keep_inactive: int | None = KEEP_INACTIVE) -> SimulatedFlux:
    return SimulatedFlux(
        jobs=JOBS,
        seed=11,
        live=LIVE,
        posted=posted,
        keep_inactive=keep_inactive,
        rate=RATE,
        resource_live=LIVE // PER_RESOURCE_CHANGE,
        resource_posted=posted // PER_RESOURCE_CHANGE,
        resource_rate=RATE / PER_RESOURCE_CHANGE,
    )


def resource_journal(posted: int) -> list[tuple]:
    """The resource eventlog once ``posted`` live job events are posted, and the entries
    the instance posts after it: (timestamp, name, context, R) each."""
    handle = instance_at(posted)
    out = []
    for payload in handle.resource_payloads() + handle.resource_live_payloads():
        doc = json.loads(payload)
        out += [(e["timestamp"], e["name"], e["context"], doc.get("R")) for e in doc["events"]]
    return out


def stored_resources(database) -> list[tuple]:
    """The stored resource entries, checking their positions count from 0 without a gap."""
    if not database.exists():
        return []
    rows = database.rows(
        "SELECT position, timestamp, name, context, R FROM resource_events ORDER BY position"
    )
    assert [row[0] for row in rows] == list(range(len(rows)))
    return [(t, name, json.loads(c), R and json.loads(R)) for _, t, name, c, R in rows]


def full_journal(posted: int) -> dict[int, list[tuple]]:
    """Every job's whole eventlog once ``posted`` live events are posted, nothing purged."""
    out: dict[int, list[tuple]] = {}
    for payload in instance_at(posted, keep_inactive=None).journal_payloads():
        doc = json.loads(payload)
        if doc["id"] == -1:
            break
        out[doc["id"]] = [(e["timestamp"], e["name"], e.get("context", {})) for e in doc["events"]]
    return out


def backlog(posted: int, keep_inactive: int | None = KEEP_INACTIVE) -> list[bytes]:
    """The backlog responses of a request after ``posted`` live events."""
    payloads = []
    for payload in instance_at(posted, keep_inactive).journal_payloads():
        if payload.startswith(b'{"id":-1,'):
            return payloads
        payloads.append(payload)
    return payloads


def job_ids(payloads: list[bytes]) -> set[int]:
    return {json.loads(payload)["id"] for payload in payloads}


def holds_history(kept: dict[int, list[tuple]], posted: int) -> bool:
    """True when ``kept`` holds every entry of the backlog after ``posted`` live events."""
    for payload in backlog(posted):
        doc = json.loads(payload)
        if len(kept.get(doc["id"], ())) < len(doc["events"]):
            return False
    return True


def stored(database) -> dict[int, list[tuple]]:
    """Every stored job's entries; checks positions and ``nevents`` on the way. A run
    killed before its first commit leaves a database without tables: nothing stored."""
    if not database.exists():
        return {}
    db = database.connect()
    try:
        return _stored(db, database.kind)
    finally:
        db.close()


def _stored(db, kind: str) -> dict[int, list[tuple]]:
    # one snapshot of both tables, while a run may be writing
    db.execute("BEGIN" if kind == "sqlite" else "BEGIN ISOLATION LEVEL REPEATABLE READ")
    out: dict[int, list[tuple]] = {}
    positions: dict[int, list[int]] = {}
    for jobid, position, timestamp, name, context in db.execute(
        "SELECT jobid, position, timestamp, name, context FROM events ORDER BY jobid, position"
    ).fetchall():
        out.setdefault(jobid, []).append((timestamp, name, json.loads(context)))
        positions.setdefault(jobid, []).append(position)
    for jobid, found in positions.items():
        assert found == list(range(len(found))), f"job {jobid}: positions {found}"
    nevents = dict(db.execute("SELECT id, nevents FROM jobs").fetchall())
    db.execute("COMMIT")
    assert nevents == {jobid: len(log) for jobid, log in out.items()}
    return out


def child_error(errors) -> str:
    try:
        with open(errors) as text:
            return "the ingest ended by itself:\n" + text.read()
    except OSError:
        return "the ingest ended by itself"


def ingest_in_child(database, errors, posted: int, once: bool) -> int:
    """Fork a process that ingests the instance as it is after ``posted`` live events: its
    job journal, and its resource journal in a thread beside it, as ``ingest`` does."""
    pid = os.fork()
    if pid == 0:  # the child: ingest until killed (or, with once, to the history's end)
        status = 1
        try:
            handle = instance_at(posted)
            with open_store(database.url) as store, StopRequest() as stop:
                number = store.instance("simulated", "test")
                follower = resources.Follower(
                    lambda: handle, database.url, number, "test", once=once, stop_requested=stop
                ).start()
                engine.run(handle, store, number, once=once, stop_requested=stop)
                follower.finish()
                if follower.error is not None:
                    raise follower.error
            status = 0
        except BaseException:
            with open(errors, "a") as out:
                traceback.print_exc(file=out)
        finally:
            os._exit(status)
    return pid


def test_sigkill_at_random_moments_loses_nothing_and_doubles_nothing(
    database, tmp_path, monkeypatch
):
    # small transactions, so that kills land between commits of every kind
    monkeypatch.setattr(engine, "BATCH_EVENTS", 300)
    monkeypatch.setattr(engine, "COMMIT_INTERVAL", 0.01)
    rng = random.Random(20261201)
    errors = tmp_path / "errors"
    posted = 0
    counts = []
    resource_counts = []
    for _ in range(KILL_POINTS):
        pid = ingest_in_child(database, errors, posted, once=False)
        delay = rng.uniform(0.0, 0.3)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), child_error(errors)
        kept = stored(database)
        resource_counts.append(len(stored_resources(database)))
        counts.append((sum(map(len, kept.values())), resource_counts[-1]))
        # meanwhile the instance went on, about as far as the killed run had read of the
        # live events: none if it had not stored the whole history yet (an instance that
        # purges jobs nobody stored loses them, and this test is not about that)
        if holds_history(kept, posted):
            posted = min(LIVE, posted + int(delay * RATE * rng.uniform(0.3, 1.0)))
    pid = ingest_in_child(database, errors, posted, once=True)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, child_error(errors)
    journal = full_journal(posted)
    whole = full_journal(LIVE)
    # jobs purged before the first request were never in the journal the runs could read
    never_offered = job_ids(backlog(0, None)) - job_ids(backlog(0))
    kept = stored(database)
    # nothing lost: every job holds at least its eventlog at the last moment
    for jobid, log in journal.items():
        if jobid not in never_offered:
            assert kept.get(jobid, [])[: len(log)] == log, f"job {jobid} lost events"
    # nothing doubled or out of order: a killed run may have read on further, but every
    # job holds a beginning of its whole eventlog
    for jobid, log in kept.items():
        assert log == whole[jobid][: len(log)], f"job {jobid} holds other events"
    assert posted > LIVE // 4  # the instance went well on, with its live events
    purged_since = set(journal) - never_offered - job_ids(backlog(posted))
    assert len(purged_since) > JOBS // 2  # the purge took many jobs the database keeps
    # the kills fell at many different points of the work (of both journals)
    assert len(set(counts)) >= KILL_POINTS // 3
    # the resource eventlog: every entry of the last moment's, once, in order, and a
    # killed run may have read on further, into what the instance posted after it
    kept_resources = stored_resources(database)
    at_last = resource_journal(posted)
    assert kept_resources == at_last[: len(kept_resources)]
    everything_posted = len(at_last) - len(instance_at(posted).resource_live_payloads())
    assert len(kept_resources) >= everything_posted
    assert len(set(resource_counts)) > 3  # resource rows were stored by many runs


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_commits_what_was_taken(database, tmp_path, stop):
    pid = ingest_in_child(database, tmp_path / "errors", 0, once=False)
    wait_for_rows(database, pid)
    time.sleep(0.2)
    os.kill(pid, stop)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # what was stored is every job's eventlog up to some point, and more than the history
    whole = full_journal(LIVE)
    kept = stored(database)
    assert all(log == whole[jobid][: len(log)] for jobid, log in kept.items())
    assert sum(map(len, kept.values())) > sum(len(json.loads(p)["events"]) for p in backlog(0))


def wait_for_rows(database, pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not stored(database):
        assert time.monotonic() < deadline, "the ingest stored nothing"
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), "the ingest ended"
        time.sleep(0.01)


def test_a_postgres_server_restarted_under_a_running_ingest_loses_and_doubles_nothing(
    postgres_database, tmp_path, monkeypatch
):
    """The server is restarted (every connection closed) while ingest streams live
    events; ingest connects again and carries on: at the end the database holds every
    job's whole eventlog once."""
    monkeypatch.setattr(engine, "BATCH_EVENTS", 300)
    monkeypatch.setattr(engine, "COMMIT_INTERVAL", 0.01)
    monkeypatch.setattr(postgres_store, "RECONNECT_FIRST_PAUSE", 0.05)
    errors = tmp_path / "errors"
    pid = ingest_in_child(postgres_database, errors, 0, once=False)
    try:
        wait_for_rows(postgres_database, pid)
        postgres_database.close()
        for _ in range(3):
            time.sleep(0.5)
            postgres_database.cluster.restart()
            assert os.waitpid(pid, os.WNOHANG) == (0, 0), child_error(errors)
        # jobs purged before the request are not in the journal the ingest reads
        never_offered = job_ids(backlog(0, None)) - job_ids(backlog(0))
        whole = {j: log for j, log in full_journal(LIVE).items() if j not in never_offered}
        deadline = time.monotonic() + 120
        while sum(map(len, stored(postgres_database).values())) < sum(map(len, whole.values())):
            assert time.monotonic() < deadline, "the ingest did not store the whole journal"
            assert os.waitpid(pid, os.WNOHANG) == (0, 0), child_error(errors)
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, child_error(errors)
    assert stored(postgres_database) == whole
    kept_resources = stored_resources(postgres_database)
    assert kept_resources == resource_journal(0)[: len(kept_resources)]
    assert len(kept_resources) > len(instance_at(0).resource_payloads())
