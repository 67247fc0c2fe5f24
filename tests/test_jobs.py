"""``fluxjournal jobs`` against ``flux jobs`` itself: recorded outputs of a real broker.

``tests/data/flux-jobs`` holds the journal of a flux-core 0.88.0 instance and what
``flux jobs`` printed for 167 invocations at one moment (the clock frozen at ``now``), then
after ``flux job purge``. Each case ingests that journal (both cores, both stores) and
lists it with the same options at the same moment: stdout byte for byte, the same exit
status, and flux jobs' messages on stderr under this command's name.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from stores import Database

from fluxjournal.commands import main as cli
from fluxjournal.commands.jobs import command
from fluxjournal.ingestion import engine
from fluxjournal.storage import schema
from fluxjournal.storage.factory import open_store
from fluxjournal.testing import ReplayFlux

DATA = Path(__file__).parent / "data" / "flux-jobs"
RECORDED = json.loads((DATA / "cases.json").read_text(encoding="utf-8"))
NOW = RECORDED["now"]
#: flux jobs' name in its messages, and this command's in the same place.
FLUX_PROGRAM, PROGRAM = "flux-jobs:", "fluxjournal jobs:"
USAGE_ERROR = 2


def _case_id(case: dict) -> str:
    return " ".join(case["args"]) or "(no options)"


@pytest.fixture(autouse=True)
def _recorded_zone(monkeypatch):
    """The time zone the outputs were recorded in."""
    monkeypatch.setenv("TZ", RECORDED["tz"])
    monkeypatch.delenv("FLUX_JOBS_FORMAT_DEFAULT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    monkeypatch.setenv("XDG_CONFIG_DIRS", "/nonexistent")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def ingest(impl, url: str, journal: str) -> None:
    lines = (DATA / journal).read_bytes().splitlines()
    with open_store(url) as store:
        instance = store.instance("recorded", "test")
        replay = ReplayFlux([line for line in lines if line], ends=True)
        engine.run(replay, store, instance, once=True, core=impl)


_ARCHIVES: dict = {}


def recorded_archive(request, impl, tmp_path_factory, kept: dict, journals: tuple) -> str:
    """The URL of a store of the kind ``request`` names holding ``journals`` ingested in
    turn by core ``impl``: made once for all the cases (``kept``)."""
    key = (request.param, impl.__name__)
    if key not in kept:
        postgres = request.param == "postgres"
        cluster = request.getfixturevalue("postgres_cluster") if postgres else None
        db = Database.new(request.param, tmp_path_factory.mktemp("archive"), cluster)
        for journal in journals:
            ingest(impl, db.url, journal)
        kept[key] = db
    return kept[key].url


@pytest.fixture(params=("sqlite", "postgres"))
def archive(request, impl, tmp_path_factory):
    """The recorded journal ingested by core ``impl`` into a store of each kind."""
    return recorded_archive(request, impl, tmp_path_factory, _ARCHIVES, ("journal.jsonl",))


def run_jobs(url: str, args: list[str]) -> tuple[str, str, int]:
    """``fluxjournal jobs --db url ARGS`` at the recorded moment: stdout, stderr, status."""
    parser = cli.parsers()["jobs"]
    out, err = io.StringIO(), io.StringIO()
    try:
        parsed = parser.parse_args(["--db", url, *args])
    except SystemExit as exc:
        return "", "", int(exc.code)
    cli.jobs_defaults(parsed)
    status = command(parsed, out, err, now=NOW, argv=args)
    return out.getvalue(), err.getvalue(), status


@pytest.mark.parametrize("case", RECORDED["cases"], ids=_case_id)
def test_the_listing_is_flux_jobs_own(archive, case):
    stdout, stderr, status = run_jobs(archive, case["args"])
    assert status == case["returncode"]
    if status == USAGE_ERROR:
        return  # argparse's usage text names the program
    assert stdout == case["stdout"]
    assert stderr == case["stderr"].replace(FLUX_PROGRAM, PROGRAM)


def _recorded(args: list[str]) -> dict:
    (case,) = [case for case in RECORDED["cases"] if case["args"] == args]
    return case


# -- purged jobs -------------------------------------------------------------------------


_PURGED: dict = {}


@pytest.fixture(params=("sqlite", "postgres"))
def purged_archive(request, impl, tmp_path_factory):
    """The journal, then the journal of the same instance after ``flux job purge``
    (ingested as a restart), in a store of each kind."""
    journals = ("journal.jsonl", "journal-after-purge.jsonl")
    return recorded_archive(request, impl, tmp_path_factory, _PURGED, journals)


@pytest.mark.parametrize("case", RECORDED["after_purge"], ids=_case_id)
def test_purged_jobs_are_listed_as_before_the_purge(purged_archive, case):
    """What flux jobs printed before the purge, whatever it prints after it."""
    before = _recorded(case["args"])
    stdout, stderr, status = run_jobs(purged_archive, case["args"])
    assert (stdout, status) == (before["stdout"], before["returncode"])
    if case["args"] and case["args"][0].startswith("ƒ"):
        assert case["returncode"] == 1  # the instance no longer knows it
        assert stdout != case["stdout"]


# -- what an archive adds: instances, --until --------------------------------------------


def test_until_keeps_the_jobs_submitted_and_over_by_then(archive):
    everything = json.loads(_recorded(["-a", "--json"])["stdout"])["jobs"]
    until = sorted(job["t_submit"] for job in everything)[len(everything) // 2]
    expected = [
        job["jobid"]
        for job in everything
        if job["t_submit"] <= until and job.get("t_inactive", 0) <= until
    ]
    stdout, _, status = run_jobs(archive, ["-a", "--json", "--until", repr(until)])
    assert status == 0
    assert [job["jobid"] for job in json.loads(stdout)["jobs"]] == expected
    assert 0 < len(expected) < len(everything)


def test_instance_names_the_instances_listed(archive):
    listed, _, _ = run_jobs(archive, ["-a", "--instance", "recorded"])
    assert listed == _recorded(["-a"])["stdout"]
    _, err, status = run_jobs(archive, ["-a", "--instance", "elsewhere"])
    assert status == 1
    assert "no instance elsewhere" in err and "recorded" in err


# -- a user's formats ----------------------------------------------------------------------


def test_a_users_named_format_and_default(archive, tmp_path, monkeypatch):
    wanted = ["-a", "-o", "{id.f58:>12} {inactive_reason}"]
    config = tmp_path / "flux"
    config.mkdir()
    (config / "flux-jobs.toml").write_text(
        '[formats.why]\ndescription = "why"\nformat = "{id.f58:>12} {inactive_reason}"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert run_jobs(archive, ["-a", "-o", "why"])[0] == _recorded(wanted)["stdout"]
    monkeypatch.setenv("FLUX_JOBS_FORMAT_DEFAULT", "why")
    assert run_jobs(archive, ["-a"])[0] == _recorded(wanted)["stdout"]
    monkeypatch.setenv("FLUX_JOBS_FORMAT_DEFAULT", "endreason")
    assert run_jobs(archive, ["-a"])[0] == _recorded(["-a", "-o", "endreason"])["stdout"]
    monkeypatch.setenv("FLUX_JOBS_FORMAT_DEFAULT", wanted[-1])
    assert run_jobs(archive, ["-a"])[0] == _recorded(wanted)["stdout"]
    out = run_jobs(archive, ["-o", "help"])[0]
    assert "  why          why\n" in out and "  endreason" in out


def test_a_user_format_may_not_replace_a_builtin_one(archive, tmp_path, monkeypatch):
    (tmp_path / "flux").mkdir()
    (tmp_path / "flux" / "flux-jobs.toml").write_text('[formats.long]\nformat = "{id}"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    _, err, status = run_jobs(archive, ["-a"])
    assert status == 1
    assert "override of builtin format 'long' not permitted" in err


# -- errors --------------------------------------------------------------------------------


def test_no_database(tmp_path):
    stdout, err, status = run_jobs(str(tmp_path / "missing.db"), ["-a"])
    assert (stdout, status) == ("", 1)
    assert err == f"{PROGRAM} ERROR: no database at {tmp_path / 'missing.db'}\n"


def test_a_database_without_jobs(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    _, err, status = run_jobs(str(path), ["-a"])
    assert status == 1
    assert "holds no fluxjournal jobs table" in err


def test_a_newer_schema_is_refused(archive):
    database = next(db for db in _ARCHIVES.values() if db.url == archive)
    database.set_schema_version(99)
    try:
        _, err, status = run_jobs(archive, ["-a"])
    finally:
        database.set_schema_version(schema.SCHEMA_VERSION)
    assert status == 1
    assert "schema version 99, made by a newer fluxjournal" in err


def test_uri_alone_without_flux_is_one_line(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    parsed = cli.parsers()["jobs"].parse_args(["--uri", "local:///nowhere", "-a"])
    cli.jobs_defaults(parsed)
    out, err = io.StringIO(), io.StringIO()
    assert command(parsed, out, err, argv=["--uri", "local:///nowhere", "-a"]) == 1
    assert (
        err.getvalue()
        == f"{PROGRAM} ERROR: no --db, and no flux command to list the instance's jobs with\n"
    )
    assert out.getvalue() == ""
