"""Which core is active, and that an installed build really uses the compiled one."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys

import pytest
from conftest import TWIN_ONLY

import fluxjournal
from fluxjournal import _pycore


def test_public_names_come_from_the_active_core():
    core = importlib.import_module(
        "fluxjournal._core" if fluxjournal.IMPLEMENTATION == "cython" else "fluxjournal._pycore"
    )
    assert fluxjournal.loads is core.loads
    assert fluxjournal.JournalEvent is core.JournalEvent
    assert fluxjournal.SENTINEL_EVENT is core.SENTINEL_EVENT


@pytest.mark.skipif(TWIN_ONLY, reason="FLUXJOURNAL_NO_EXTENSIONS=1 asks for the twin")
def test_installed_package_uses_the_compiled_core():
    """Fails when a build that should have the extension silently fell back to the twin."""
    assert fluxjournal.IMPLEMENTATION == "cython"
    from fluxjournal import _core

    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    assert _core.__file__.endswith(suffixes), _core.__file__


def test_environment_variable_selects_the_twin():
    code = "import fluxjournal; print(fluxjournal.IMPLEMENTATION, fluxjournal.loads.__module__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"FLUXJOURNAL_NO_EXTENSIONS": "1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["python", _pycore.__name__]


def test_both_cores_export_the_same_names():
    core = pytest.importorskip("fluxjournal._core") if not TWIN_ONLY else None
    if core is None:
        pytest.skip("the compiled core is not under test")
    names = {
        "loads",
        "decode_response",
        "Response",
        "JournalEventBase",
        "JournalEvent",
        "ResourceJournalEvent",
        "SENTINEL_EVENT",
        "MAX_DEPTH",
    }
    for name in names:
        assert hasattr(core, name) and hasattr(_pycore, name), name
    assert core.MAX_DEPTH == _pycore.MAX_DEPTH


def test_the_compiled_consumer_state_refuses_a_history_without_a_store():
    """Misused from outside, ConsumerCore raises instead of touching memory it lacks."""
    core = pytest.importorskip("fluxjournal._core")

    class Reader:
        def __init__(self):
            self.payloads = [b'{"id":1,"events":[{"timestamp":1.5,"name":"submit"}]}']

        def ready(self):
            return bool(self.payloads)

        def take(self):
            return self.payloads.pop(0)

        def reset(self):
            pass

    state = core.ConsumerCore()
    state._reader = Reader()
    state._history = None
    state.processing_inactive = True
    state._arm_core(True)
    with pytest.raises(RuntimeError, match="no History"):
        state._take_ready()


def test_the_compiled_values_made_outside_the_decoder_fail_cleanly():
    core = pytest.importorskip("fluxjournal._core")
    with pytest.raises(TypeError):
        core.RawJSON()
    with pytest.raises(TypeError, match="no payload"):
        core.RawJSON.__new__(core.RawJSON).decode()
    with pytest.raises(TypeError):
        core.Response()
    empty = core.Response.__new__(core.Response)
    assert empty.job_events() == [] and empty.entries() == [] and empty.jobspec is None
