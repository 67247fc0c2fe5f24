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


@pytest.fixture(params=("sqlite", "postgres"))
def archive(request, impl, tmp_path_factory):
    """The recorded journal ingested by core ``impl`` into a store of each kind (made
    once for all the cases)."""
    key = (request.param, impl.__name__)
    if key not in _ARCHIVES:
        postgres = request.param == "postgres"
        cluster = request.getfixturevalue("postgres_cluster") if postgres else None
        db = Database.new(request.param, tmp_path_factory.mktemp("archive"), cluster)
        ingest(impl, db.url, "journal.jsonl")
        _ARCHIVES[key] = db
    return _ARCHIVES[key].url


def run_jobs(url: str, args: list[str]) -> tuple[str, str, int]:
    """``fluxjournal jobs --db url ARGS`` at the recorded moment: stdout, stderr, status."""
    parser = cli.parsers()["jobs"]
    out, err = io.StringIO(), io.StringIO()
    try:
        parsed = parser.parse_args(["--db", url, *args])
    except SystemExit as exc:
        return "", "", int(exc.code)
    cli._jobs_defaults(parsed)
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
