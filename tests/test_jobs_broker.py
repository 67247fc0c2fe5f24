"""``fluxjournal jobs`` against ``flux jobs`` on a real flux-core broker, then after
``flux job purge``: the archive lists the purged jobs exactly as flux jobs did before.

Skipped unless ``flux`` is on PATH and flux-core's Python bindings import. The mix has no
running job, so that both listings are taken at any moment with the same text.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
from conftest import needs_flux
from test_ingest_broker import child_env, ingest_to_end, quiet

from fluxjournal.testing.broker import LocalBroker

pytestmark = needs_flux

#: What both commands list: every built-in format, a format of every kind of field and
#: conversion, filters, counts, sorts, --since, --stats, --json.
LISTINGS = [
    ["-a"],
    [],
    ["-a", "-A"],
    *(["-a", "-o", name] for name in ("default", "cute", "long", "deps", "endreason")),
    ["-a", "-o", "{id.f58:>12} {id.dec} {id.hex} {id.kvs} {id.dothex} {id.words} {username}"],
    [
        "-a",
        "-o",
        "{id.f58:>12} {t_submit!D} {t_inactive!d:%H:%M::>8} {runtime!F:>8h} "
        "{runtime!H} {duration!F:h} ?:{queue} +:{name:3} {status} {returncode:>4h}",
    ],
    [
        "-a",
        "-o",
        "{id.f58:>12} {result_abbrev} {inactive_reason:20.20+} {exception.type} "
        "{exception.note} {waitstatus} {success} {ntasks} {ncores} {nnodes} {ranks} {nodelist}",
    ],
    ["-a", "-o", "sort:-t_submit {id.f58:>12} {name} {annotations} {sched.resource_summary}"],
    ["-f", "failed"],
    ["-f", "canceled,timeout"],
    ["-f", "pending"],
    ["-a", "-c", "3"],
    ["-a", "--sort=name,-id"],
    ["-a", "--name=sh"],
    ["-a", "-i", "0"],
    ["--since=-1h", "-o", "endreason"],
    ["--stats", "-a"],
    ["-a", "--json"],
]


#: A format without a column fitted to its values: lines of two listings can be joined.
BRIEF = "{id.f58:>12} {status:>9} {name:<10.10}"


def run(*args: str, env: dict, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=check)


def mix(broker: LocalBroker) -> None:
    """Jobs of every ending, and two left pending."""
    run_quietly = contextlib.suppress(subprocess.CalledProcessError)
    broker.run("submit", "--cc=1-3", "--wait", "true")
    broker.run("submit", "--wait", "-n2", "hostname")
    for command in (["sh", "-c", "exit 3"], ["sh", "-c", "kill -9 $$"], ["nosuchcommand"]):
        with run_quietly:
            broker.run("run", *command)
    with run_quietly:
        broker.run("run", "-t", "0.5s", "sleep", "30")
    job = broker.run("submit", "sleep", "300").strip()
    broker.run("job", "wait-event", job, "start")
    broker.run("cancel", "-m", "no longer needed", job)
    # a dependency never satisfied: on a job held until the dependent one is in, which
    # then fails (flux refuses a dependency on a job that has already failed)
    failing = ["--urgency=hold", "--job-name=averyveryverylongjobname", "sh", "-c", "exit 4"]
    failed = broker.run("submit", *failing).strip()
    broker.run("submit", f"--dependency=afterok:{failed}", "true")
    broker.run("job", "urgency", failed, "default")
    broker.run("job", "wait-event", failed, "clean")
    broker.run("submit", "--urgency=hold", "--setattr=system.project=alpha", "true")
    quiet(broker)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    with LocalBroker(tmp_path_factory.mktemp("flux")) as broker:
        mix(broker)
        yield broker


def test_the_archive_lists_as_flux_jobs_before_and_after_the_purge(instance, tmp_path):
    env = dict(child_env(), FLUX_URI=instance.uri, TZ="UTC")
    env.pop("FLUX_JOBS_FORMAT_DEFAULT", None)
    flux = instance.flux
    before = {tuple(args): run(flux, "jobs", *args, env=env) for args in LISTINGS}
    over_before = run(flux, "jobs", "-f", "inactive", "-n", "-o", BRIEF, env=env).stdout
    assert all(result.returncode == 0 for result in before.values())
    db = str(tmp_path / "archive.db")
    ours = [sys.executable, "-m", "fluxjournal"]
    stored = ingest_to_end(instance.uri, db, "--once", "-q")
    assert stored.returncode == 0, stored.stderr
    for args in LISTINGS:
        result = run(*ours, "jobs", "--db", db, *args, env=env)
        assert (result.stdout, result.returncode) == (before[tuple(args)].stdout, 0), args
    instance.run("job", "purge", "--force", "--num-limit=0")
    after = run(flux, "jobs", "-a", env=env).stdout
    assert len(after.splitlines()) < len(before[("-a",)].stdout.splitlines())
    stored = ingest_to_end(instance.uri, db, "--once", "-q")
    assert stored.returncode == 0, stored.stderr
    for args in LISTINGS:
        result = run(*ours, "jobs", "--db", db, *args, env=env)
        expected = before[tuple(args)].stdout
        if args == ["--stats", "-a"]:  # flux jobs counts what it purged; the archive nothing
            assert result.stdout.splitlines()[1:] == expected.splitlines()[1:]
            continue
        assert (result.stdout, result.returncode) == (expected, 0), (args, result.stderr)
    # live and archive together: a job the archive has not seen, and the purged ones
    instance.run("submit", "--urgency=hold", "--job-name=fresh", "true")
    active_now = run(flux, "jobs", "-f", "active", "-n", "-o", BRIEF, env=env).stdout
    assert "fresh" in active_now
    both = run(*ours, "jobs", "--db", db, "--uri", instance.uri, "-a", "-n", "-o", BRIEF, env=env)
    assert (both.stdout, both.stderr, both.returncode) == (active_now + over_before, "", 0)


def test_with_uri_alone_it_is_flux_jobs(instance):
    env = dict(child_env(), TZ="UTC")
    env.pop("FLUX_URI", None)
    ours = run(sys.executable, "-m", "fluxjournal", "jobs", "--uri", instance.uri, "-a", env=env)
    theirs = run(instance.flux, "jobs", "-a", env=dict(env, FLUX_URI=instance.uri))
    assert (ours.stdout, ours.returncode) == (theirs.stdout, 0)
    assert os.environ.get("FLUX_URI") != instance.uri
