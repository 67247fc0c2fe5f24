"""Shared fixtures: every behaviour test runs on the compiled core and on its twin."""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import logging
import os
import subprocess
import sys

import pytest

from fluxjournal.testing.broker import LocalBroker
from fluxjournal.testing.recorded import capture_dir, capture_lines
from fluxjournal.wire import bindings

#: The recorded captures (``*.jsonl``, ``job-list-mix.json``), shipped in the package.
DATA = capture_dir()
TWIN_ONLY = os.environ.get("FLUXJOURNAL_NO_EXTENSIONS", "") not in ("", "0")

IMPLEMENTATIONS = {"cython": "fluxjournal._core", "python": "fluxjournal._pycore"}

#: Tests of inputs beyond 2 GiB (they need some 6 GiB of memory and a minute) run only
#: when this is set to 1.
BIG_MEMORY_VARIABLE = "FLUXJOURNAL_BIG_MEMORY_TESTS"
needs_big_memory = pytest.mark.skipif(
    os.environ.get(BIG_MEMORY_VARIABLE) != "1",
    reason=f"set {BIG_MEMORY_VARIABLE}=1: an input beyond 2 GiB",
)
#: A length past what a C int counts.
BEYOND_2_GIB = 2**31 + 5


class _RefuseCompiledCore(importlib.abc.MetaPathFinder):
    """Under FLUXJOURNAL_NO_EXTENSIONS=1 the whole run is the twin's: the compiled core
    cannot be imported, not even by a test that asks for it by name."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == IMPLEMENTATIONS["cython"]:
            raise ModuleNotFoundError(f"{fullname} is refused: FLUXJOURNAL_NO_EXTENSIONS=1")
        return None


if TWIN_ONLY:
    sys.meta_path.insert(0, _RefuseCompiledCore())


@pytest.fixture(autouse=True)
def _fluxjournal_logger_restored():
    """The command line, run in-process by a test, gives the ``fluxjournal`` logger a
    handler of its own and stops it propagating; later tests' ``caplog`` must still see
    its records, so its state is put back after every test."""
    logger = logging.getLogger("fluxjournal")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])


@pytest.fixture(params=sorted(IMPLEMENTATIONS), ids=sorted(IMPLEMENTATIONS))
def impl(request):
    """The implementation module under test: ``fluxjournal._core`` or ``fluxjournal._pycore``."""
    if request.param == "cython" and TWIN_ONLY:
        pytest.skip("FLUXJOURNAL_NO_EXTENSIONS=1: the compiled core is not under test")
    return importlib.import_module(IMPLEMENTATIONS[request.param])


@pytest.fixture(scope="session")
def all_payloads() -> list[bytes]:
    """Every recorded payload of every capture (``DATA``)."""
    lines: list[bytes] = []
    for path in sorted(DATA.glob("*.jsonl")):
        lines.extend(capture_lines(path.name))
    return lines


# ---------------------------------------------------------------------------
# A real flux-core broker, when this machine has one
# ---------------------------------------------------------------------------


HAVE_FLUX = bindings.find_bindings()
needs_flux = pytest.mark.skipif(
    not HAVE_FLUX, reason="needs `flux` on PATH and flux-core's Python bindings"
)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real broker with a small, varied job history (completed, failed, cancelled)."""
    if not HAVE_FLUX:
        pytest.skip("needs `flux` on PATH and flux-core's Python bindings")
    instance = LocalBroker(tmp_path_factory.mktemp("flux"))
    try:
        instance.run("submit", "--cc=1-12", "--wait", "true")
        instance.run("run", "--label-io", "-n2", "hostname")
        with contextlib.suppress(subprocess.CalledProcessError):
            instance.run("run", "false")
        held = instance.run("submit", "--urgency=hold", "true").strip()
        instance.run("cancel", held)
        timed_out = instance.run("submit", "-t", "0.5s", "sleep", "30").strip()
        with contextlib.suppress(subprocess.CalledProcessError):
            instance.run("job", "attach", timed_out)
        yield instance
    finally:
        instance.close()


# ---------------------------------------------------------------------------
# The stores: SQLite files, and databases of a real PostgreSQL server
# ---------------------------------------------------------------------------

STORES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres_cluster():
    """The PostgreSQL server of the tests: the one ``.ci/run`` started (its variables
    say where), else one of this session's own when PostgreSQL is installed."""
    from stores import need_postgres

    yield from need_postgres()


@pytest.fixture(params=STORES)
def database(request, tmp_path):
    """A new, empty database of each store, with what the tests need to look into it."""
    from stores import Database

    cluster = request.getfixturevalue("postgres_cluster") if request.param == "postgres" else None
    db = Database.new(request.param, tmp_path, cluster)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture
def postgres_database(postgres_cluster, tmp_path):
    """A new, empty PostgreSQL database."""
    from stores import Database

    db = Database.new("postgres", tmp_path, postgres_cluster)
    try:
        yield db
    finally:
        db.drop()
