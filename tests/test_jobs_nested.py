"""``fluxjournal jobs`` over an archive of nested instances (``ingest --recursive``): the
top-level instances by default, ``--instance`` for any, ``-R`` as ``flux jobs -R`` prints
them (each nested instance's jobs under its job's path), and ``--json -R``."""

from __future__ import annotations

import io
import json

from fluxjournal.commands import main as cli
from fluxjournal.commands.jobs import command
from fluxjournal.jobid import JobID
from fluxjournal.testing import SimulatedFlux

BRIEF = ["-a", "-A", "-n", "-o", "{id.f58}"]


def run_jobs(url: str, *args: str) -> tuple[str, int]:
    parsed = cli.parsers()["jobs"].parse_args(["--db", url, *args])
    cli.jobs_defaults(parsed)
    out, err = io.StringIO(), io.StringIO()
    status = command(parsed, out, err)
    assert err.getvalue() == ""
    return out.getvalue(), status


def test_nested_instances_are_listed_under_their_job(database):
    top = SimulatedFlux(jobs=150, seed=3, live=400, instances=0.15, ends=True)
    argv = ["ingest", "--db", database.url, "--uri", top.uri, "--recursive", "--max-depth", "1"]
    assert cli.main([*argv, "-q"]) == 0
    children = dict(
        database.rows("SELECT c.name, c.parent_jobid FROM instances c WHERE c.parent IS NOT NULL")
    )
    assert children
    listed, status = run_jobs(database.url, *BRIEF)
    (top_jobs,) = database.rows(
        "SELECT COUNT(*) FROM jobs j JOIN instances i ON i.instance = j.instance"
        " WHERE i.parent IS NULL AND j.state != 'NEW'"  # job-list lists no job in NEW
    )[0]
    assert status == 0 and len(listed.splitlines()) == top_jobs
    recursive, _ = run_jobs(database.url, *BRIEF, "-R")
    assert recursive.startswith(listed)
    for name, jobid in children.items():
        own, _ = run_jobs(database.url, *BRIEF, "--instance", name)
        assert f"\n{JobID(jobid).f58}:\n{own}" in recursive
    data = json.loads(run_jobs(database.url, "-a", "-A", "-R", "--json")[0])
    nested = {job["id"]: job["jobs"] for job in data["jobs"] if "jobs" in job}
    assert set(nested) == set(children.values())
    for name, jobid in children.items():
        own = json.loads(run_jobs(database.url, "-a", "-A", "--json", "--instance", name)[0])
        assert [job["id"] for job in nested[jobid]] == [job["id"] for job in own["jobs"]]
