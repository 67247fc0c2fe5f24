"""Several instances into one database (``--uri A --uri B``), and with ``--recursive`` the
instances that run as jobs, stored under their own instance and linked to their job."""

from __future__ import annotations

import json
import logging

from fluxjournal.commands import main as cli
from fluxjournal.ingestion import engine
from fluxjournal.ingestion.follow import Fleet, Target
from fluxjournal.ingestion.sources import SourceError, open_source
from fluxjournal.testing import SimulatedFlux


def journal_entries(sim: SimulatedFlux) -> dict[int, list[tuple]]:
    """Every job's entries in a simulation's journal that ends (the stored ones)."""
    out: dict[int, list[tuple]] = {}
    for payload in sim.journal_payloads():
        doc = json.loads(payload)
        if doc["id"] == -1:
            continue
        log = out.setdefault(doc["id"], [])
        for entry in doc["events"]:
            if entry["name"] not in engine.JOURNAL_ONLY:
                log.append((entry["timestamp"], entry["name"]))
    return out


def stored(database, name: str) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for jobid, timestamp, event in database.rows(
        "SELECT e.jobid, e.timestamp, e.name FROM events e JOIN instances i"
        " ON i.instance = e.instance WHERE i.name = ? ORDER BY e.jobid, e.position",
        (name,),
    ):
        out.setdefault(jobid, []).append((timestamp, event))
    return out


def test_several_instances_go_into_one_database_each_under_its_name(database, capsys):
    sims = [SimulatedFlux(jobs=60, seed=1, live=40, ends=True), SimulatedFlux(jobs=80, seed=2)]
    argv = ["ingest", "--db", database.url, "--once"]
    for sim in sims:
        argv += ["--uri", sim.uri]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("stored ") == 2
    names = {name for (name,) in database.rows("SELECT name FROM instances")}
    assert names == {sim.uri for sim in sims}
    for sim in sims:
        history = {
            jobid: log
            for jobid, log in journal_entries(SimulatedFlux(jobs=sim.jobs, seed=sim.seed)).items()
        }
        assert stored(database, sim.uri) == history


def nested() -> SimulatedFlux:
    """An instance some of whose jobs are instances, whose jobs may be instances again."""
    return SimulatedFlux(jobs=200, seed=3, live=400, instances=0.15, ends=True)


def child_instances(database) -> dict[str, tuple]:
    rows = database.rows(
        "SELECT c.name, p.name, c.parent_jobid FROM instances c JOIN instances p"
        " ON p.instance = c.parent"
    )
    return {name: (parent, jobid) for name, parent, jobid in rows}


def test_recursive_follows_the_instances_that_run_as_jobs(database, capsys):
    top = nested()
    argv = ["ingest", "--db", database.url, "--uri", top.uri, "--recursive", "--max-depth", "1"]
    assert cli.main(argv) == 0
    children = child_instances(database)
    assert children, "no job of the simulation was followed as an instance"
    # each child is stored under PARENT/JOBID, linked to the job that is that instance
    uris = dict(database.rows("SELECT id, uri FROM jobs WHERE uri IS NOT NULL"))
    for name, (parent, jobid) in children.items():
        assert parent == top.uri and name.startswith(f"{top.uri}/")
        child = SimulatedFlux.from_uri(uris[jobid])
        assert stored(database, name) == journal_entries(child)
    # which jobs ran inside batch job X: the jobs table answers it
    (name, (_, jobid)) = sorted(children.items())[0]
    inside = database.rows(
        "SELECT j.id FROM jobs j JOIN instances i ON i.instance = j.instance"
        " WHERE i.parent_jobid = ?",
        (jobid,),
    )
    assert {i for (i,) in inside} == set(stored(database, name))
    # --max-depth 1: no grandchildren, though the children have instances of their own
    assert all(parent == top.uri for parent, _ in children.values())
    assert capsys.readouterr().out.count("stored ") == 1 + len(children)


def test_max_depth_bounds_the_levels_followed(database):
    top = nested()
    argv = ["ingest", "--db", database.url, "--uri", top.uri, "--recursive", "-q"]
    assert cli.main([*argv, "--max-depth", "2"]) == 0
    parents = {parent for parent, _ in child_instances(database).values()}
    assert parents - {top.uri}, "no grandchild: the test needs a deeper simulation"
    assert all(parent.count("/") <= 1 for parent in parents)


def test_a_restart_takes_every_child_up_again_and_stores_nothing_twice(database):
    top = nested()
    argv = ["ingest", "--db", database.url, "--uri", top.uri, "--recursive", "-q"]
    assert cli.main(argv) == 0
    before = database.rows("SELECT instance, jobid, position, name FROM events ORDER BY 1, 2, 3")
    writes = database.writes()
    assert cli.main(argv) == 0
    assert database.writes() == writes
    assert database.rows("SELECT instance, jobid, position, name FROM events ORDER BY 1, 2, 3") == (
        before
    )


def test_a_child_that_cannot_be_reached_is_a_warning_not_an_error(database, caplog):
    caplog.set_level(logging.WARNING, "fluxjournal")
    top = nested()

    def unreachable(uri: str):
        raise SourceError(f"cannot reach the Flux instance at {uri}: Connection refused")

    fleet = Fleet(database.url, max_depth=1, open_child=unreachable)
    fleet.add(Target(lambda: open_source(uri=top.uri), top.uri))
    outcomes = fleet.join()
    (parent,) = [o for o in outcomes if o.target.depth == 0]
    assert parent.error is None and parent.result.stored_events > 0
    failed = [o for o in outcomes if o.target.depth == 1]
    assert failed and all(isinstance(o.error, SourceError) for o in failed)
    assert "cannot follow it (it may have ended, or belong to another user)" in caplog.text


def test_several_processes_write_one_database_at_once(database):
    """Two ingesters, each its own process and instance, into one database together."""
    import subprocess
    import sys

    sims = [SimulatedFlux(jobs=300, seed=seed, live=300, ends=True) for seed in (5, 6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "fluxjournal", "ingest", "--db", database.url, "--uri", sim.uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sim in sims
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for sim in sims:
        assert stored(database, sim.uri) == journal_entries(sim)
