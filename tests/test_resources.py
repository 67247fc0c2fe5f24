"""The resource journal in ``resource_events``: every entry once, in eventlog order, across
restarts; both cores, both stores; ``--no-resources``; an instance that has no resource
journal; the simulated instance's resource journal, history and live."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import DATA

from fluxjournal.commands import main as cli
from fluxjournal.ingestion import resources
from fluxjournal.ingestion.engine import IngestError
from fluxjournal.ingestion.follow import Fleet, Target
from fluxjournal.ingestion.sources import Source, response_number
from fluxjournal.storage import schema
from fluxjournal.storage.factory import open_store
from fluxjournal.testing import ReplayFlux, SimulatedFlux
from fluxjournal.wire.protocol import JOB_TOPIC, RESOURCE_TOPIC

CAPTURE = DATA / "resource-journal.jsonl"
JOB_CAPTURE = DATA / "job-journal-mix.jsonl"


def simulated(posted: int = 0, live: int = 40, seed: int = 5, **kwargs) -> SimulatedFlux:
    """A small instance whose resources change ``live`` times, ``posted`` of them before
    the request; its streams end once everything is sent."""
    return SimulatedFlux(
        jobs=0, seed=seed, nodes=4, resource_live=live, resource_posted=posted, ends=True, **kwargs
    )


def entries_of(payloads: list[bytes]) -> list[tuple]:
    """The entries of resource journal payloads, in order: (timestamp, name, context, R)."""
    out = []
    for payload in payloads:
        doc = json.loads(payload)
        R = doc.get("R")
        for e in doc["events"]:
            out.append((e["timestamp"], e["name"], e.get("context", {}), R))
    return out


def whole_journal(handle: SimulatedFlux) -> list[tuple]:
    return entries_of(handle.resource_payloads() + handle.resource_live_payloads())


def stored(database, instance: int | None = None) -> list[tuple]:
    """The stored rows, checking their positions count from 0 without a gap."""
    where = "" if instance is None else f" WHERE instance = {int(instance)}"
    rows = database.rows(
        "SELECT position, timestamp, name, context, R FROM resource_events"
        f"{where} ORDER BY instance, position"
    )
    assert [row[0] for row in rows] == list(range(len(rows)))
    return [
        (timestamp, name, json.loads(context), None if R is None else json.loads(R))
        for _, timestamp, name, context, R in rows
    ]


def ingest(database, handle, impl=None, once: bool = False, name: str = "test"):
    with open_store(database.url) as store:
        instance = store.instance(name, "test")
        kwargs = {} if impl is None else {"core": impl}
        return resources.run(handle, store, instance, once=once, **kwargs)


def test_the_table_is_as_described(database):
    open_store(database.url).close()
    assert database.columns("resource_events") == [
        "instance",
        "position",
        "timestamp",
        "name",
        "context",
        "r",
    ]


def test_rows_equal_the_real_capture(impl, database):
    result = ingest(database, ReplayFlux.from_file(CAPTURE, RESOURCE_TOPIC, ends=True), impl)
    want = entries_of([line for line in CAPTURE.read_bytes().splitlines() if line])
    assert stored(database) == want
    assert result.stored_events == result.history_events == len(want) == 6
    (define,) = [row for row in want if row[1] == "resource-define"]
    assert define[3]["execution"]["R_lite"][0]["rank"] == "0-3"
    assert all(row[3] is None for row in want if row[1] != "resource-define")
    assert result.available and result.ended


def test_rows_equal_the_history_and_live_entries(impl, database):
    handle = simulated(posted=12, live=60)
    result = ingest(database, handle, impl)
    want = whole_journal(handle)
    assert stored(database) == want
    names = {row[1] for row in want}
    assert {"restart", "online", "offline", "drain", "undrain", "resource-define"} <= names
    assert sum(row[1] == "resource-define" for row in want) > 1  # restarts define again
    assert result.stored_events == len(want)
    assert result.history_events == len(entries_of(handle.resource_payloads()))


def test_a_context_is_stored_as_json_text_and_an_entry_without_one_as_empty(impl, database):
    lines = [
        b'{"events":[{"timestamp":1.5,"name":"odd"},{"timestamp":2.0,"name":"x","context":'
        b'{"b":1,"a":[1,2]}}]}',
        b'{"events":[]}',
    ]
    ingest(database, ReplayFlux({RESOURCE_TOPIC: lines}, ends=True), impl)
    rows = database.rows("SELECT name, context, R FROM resource_events ORDER BY position")
    assert [(name, json.loads(context), R) for name, context, R in rows] == [
        ("odd", {}, None),
        ("x", {"b": 1, "a": [1, 2]}, None),
    ]


def test_a_restart_stores_nothing_twice(impl, database):
    first = ingest(database, simulated(posted=10), impl, once=True)
    assert first.stored_events == len(entries_of(simulated(posted=10).resource_payloads()))
    again = ingest(database, simulated(posted=10), impl, once=True)
    assert again.stored_events == 0
    later = simulated(posted=30)
    result = ingest(database, later, impl)
    assert stored(database) == whole_journal(later)
    assert first.stored_events + result.stored_events == len(whole_journal(later))


def test_the_history_of_another_instance_is_refused(database):
    ingest(database, simulated(posted=10, seed=1), once=True)
    before = stored(database)
    with pytest.raises(IngestError, match="another instance under this name"):
        ingest(database, simulated(posted=10, seed=2), once=True)
    assert stored(database) == before


def test_a_history_shorter_than_what_is_stored_is_refused(database):
    ingest(database, simulated(posted=20), once=True)
    short = len(entries_of(simulated(posted=0).resource_payloads()))
    with pytest.raises(IngestError, match=f"holds {short} entries, the database {short + 20}"):
        ingest(database, simulated(posted=0), once=True)


def test_instances_are_kept_apart(database):
    ingest(database, simulated(seed=1), name="a")
    ingest(database, simulated(seed=2), name="b")
    with open_store(database.url) as store:
        a, b = store.instance("a", "test"), store.instance("b", "test")
        assert store.summary(a).resource_events == len(whole_journal(simulated(seed=1)))
    assert stored(database, a) == whole_journal(simulated(seed=1))
    assert stored(database, b) == whole_journal(simulated(seed=2))


def test_the_simulated_job_journal_is_the_same_whatever_the_resources_do():
    plain = SimulatedFlux(jobs=60, seed=4, live=200, posted=20)
    busy = SimulatedFlux(jobs=60, seed=4, live=200, posted=20, resource_live=50, resource_posted=5)
    assert list(plain.journal_payloads()) == list(busy.journal_payloads())
    assert plain.resource_payloads() == SimulatedFlux(jobs=60, seed=4).resource_payloads()


def test_the_simulated_resource_journal_is_deterministic_and_batched():
    handle = simulated(posted=150, live=300, seed=8)
    assert handle.resource_payloads() == simulated(posted=150, live=300, seed=8).resource_payloads()
    history = [json.loads(p) for p in handle.resource_payloads()]
    assert history[-1] == {"events": []}
    assert all(0 < len(p["events"]) <= 100 for p in history[:-1])
    assert all(len(p["events"]) == 1 for p in history if "R" in p)
    live = [json.loads(p) for p in handle.resource_live_payloads()]
    assert len(live) == 150 and all(len(p["events"]) == 1 for p in live)
    stamps = [row[0] for row in whole_journal(handle)]
    assert stamps == sorted(stamps)
    with pytest.raises(ValueError, match="resource_posted"):
        SimulatedFlux(jobs=0, resource_live=3, resource_posted=4)


# -- following through the fleet and the command line -------------------------------


def job_replay_source(resources_handle) -> Source:
    handle = ReplayFlux.from_file(JOB_CAPTURE, JOB_TOPIC, ends=True)
    return Source(handle, "a replay", "replayed", False, response_number, resources_handle)


def follow(database, source: Source, **options):
    fleet = Fleet(database.url, once=True, **options)
    fleet.add(Target(lambda: source, source.description))
    (outcome,) = fleet.join()
    return outcome


def test_an_instance_without_a_resource_journal_keeps_its_jobs_and_says_so_once(database, caplog):
    only_jobs = ReplayFlux({JOB_TOPIC: JOB_CAPTURE.read_bytes().splitlines()}, ends=True)
    caplog.set_level(logging.INFO, logger="fluxjournal")
    outcome = follow(database, job_replay_source(lambda: only_jobs))
    assert outcome.error is None and outcome.result.stored_events > 0
    said = [r.getMessage() for r in caplog.records if "no resource journal" in r.getMessage()]
    assert len(said) == 1 and "No service matching resource.journal" in said[0]
    assert database.rows("SELECT COUNT(*) FROM resource_events")[0][0] == 0


def test_the_fleet_follows_the_resource_journal_beside_the_jobs(database):
    replayed = ReplayFlux.from_file(CAPTURE, RESOURCE_TOPIC, ends=True)
    outcome = follow(database, job_replay_source(lambda: replayed))
    assert outcome.error is None
    assert outcome.result.stored_resource_events == 6
    assert outcome.summary.endswith(", 6 resource events")
    assert len(stored(database)) == 6


def test_a_resource_journal_that_fails_stops_the_instance_with_its_error(database):
    ingest(database, simulated(posted=10, seed=1), name="replayed", once=True)
    other = simulated(posted=10, seed=2)
    outcome = follow(database, job_replay_source(lambda: other))
    assert isinstance(outcome.error, IngestError)


def test_no_resources(database, tmp_path):
    db = database.url
    assert (
        cli.main(["ingest", "--db", db, "--simulate", "20", "--once", "-q", "--no-resources"]) == 0
    )
    assert database.rows("SELECT COUNT(*) FROM resource_events")[0][0] == 0
    assert cli.main(["ingest", "--db", db, "--simulate", "20", "--once", "-q"]) == 0
    count = database.rows("SELECT COUNT(*) FROM resource_events")[0][0]
    assert count == len(entries_of(SimulatedFlux(jobs=20).resource_payloads()))


def test_the_simulation_of_the_command_line_changes_its_resources_live(tmp_path, capsys):
    db = tmp_path / "x.db"
    command = ["ingest", "--db", str(db), "--simulate", "20", "--live", "1000", "--once"]
    assert cli.main(command[:-1] + ["--posted", "500", "--once"]) == 0
    out = capsys.readouterr().out
    assert "resource events from" in out and out.rstrip().endswith("resource events")


def test_replay_resources(database, capsys):
    command = ["ingest", "--db", database.url, "--replay", str(JOB_CAPTURE)]
    assert cli.main([*command, "--replay-resources", str(CAPTURE), "-q"]) == 0
    assert len(stored(database)) == 6
    assert cli.main([*command, "--replay-resources", str(CAPTURE), "-q"]) == 0
    assert len(stored(database)) == 6


def test_a_replay_without_its_resources_follows_none_and_says_so_under_v(database, capsys):
    command = ["ingest", "--db", database.url, "--replay", str(JOB_CAPTURE)]
    assert cli.main(command) == 0
    assert "resource" not in capsys.readouterr().err
    assert cli.main([*command, "-v"]) == 0
    assert "no resource journal to follow" in capsys.readouterr().err
    assert database.rows("SELECT COUNT(*) FROM resource_events")[0][0] == 0


def test_replay_resources_needs_replay(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["ingest", "--db", str(tmp_path / "x.db"), "--replay-resources", str(CAPTURE)])
    assert exit_.value.code == 2
    assert "--replay-resources goes with --replay" in capsys.readouterr().err


def test_a_database_of_version_3_gets_the_table_in_place(database):
    with open_store(database.url) as store:
        instance = store.instance("old", "test")
    database.as_version(3)
    ingest(database, simulated(), name="old")
    assert stored(database, instance) == whole_journal(simulated())
    (version,) = database.rows("SELECT value FROM meta WHERE key = 'schema_version'")[0]
    assert int(version) == schema.SCHEMA_VERSION
