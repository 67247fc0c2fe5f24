"""Which core is active, and that an installed build really uses the compiled one."""

from __future__ import annotations

import importlib
import importlib.machinery
import subprocess
import sys
import types

import pytest
from conftest import TWIN_ONLY, capture_lines

import fluxjournal
from fluxjournal import _pycore
from fluxjournal.testing import ReplayFlux

FULL = capture_lines("job-journal-full-live.jsonl")


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
        "History",
        "JournalConsumerBase",
        "JournalConsumer",
        "ResourceJournalConsumer",
    }
    for name in names:
        assert hasattr(core, name) and hasattr(_pycore, name), name
    assert core.MAX_DEPTH == _pycore.MAX_DEPTH


def test_a_history_without_a_store_is_refused(impl):
    """A consumer put back into the history from outside raises instead of touching memory."""
    payloads = [b'{"id":1,"events":[{"timestamp":1.5,"name":"submit"}]}']
    consumer = impl.JournalConsumer(ReplayFlux(payloads), full=False).start()
    consumer.processing_inactive = True
    with pytest.raises(RuntimeError, match="no History"):
        consumer.poll(5.0)


def test_each_core_carries_its_own_whole_consumer():
    """The twin's consumer has no compiled class under it, and every step is Python."""
    for cls in (_pycore.JournalConsumer, _pycore.ResourceJournalConsumer):
        assert {klass.__module__ for klass in cls.__mro__} <= {
            "fluxjournal._pycore",
            "abc",
            "builtins",
        }, cls
        for name in ("start", "poll", "poll_batch", "set_callback", "_drain", "_next_event"):
            assert isinstance(getattr(cls, name), types.FunctionType), name
    if TWIN_ONLY:
        return
    from fluxjournal import _core

    assert _core.JournalConsumer.__module__ == "fluxjournal._core"
    assert not issubclass(_core.JournalConsumer, _pycore.JournalConsumerBase)
    assert not issubclass(_pycore.JournalConsumer, _core.ConsumerCore)


@pytest.mark.skipif(not TWIN_ONLY, reason="only the FLUXJOURNAL_NO_EXTENSIONS=1 run is checked")
def test_the_twin_run_loads_no_compiled_code():
    """Under FLUXJOURNAL_NO_EXTENSIONS=1 the compiled core cannot be imported (conftest
    refuses it for the whole run) and no module of the package comes from an extension."""
    assert fluxjournal.IMPLEMENTATION == "python"
    assert fluxjournal.JournalConsumer is _pycore.JournalConsumer
    assert "fluxjournal._core" not in sys.modules
    with pytest.raises(ImportError):
        importlib.import_module("fluxjournal._core")
    consumer = fluxjournal.JournalConsumer(ReplayFlux(FULL), include_sentinel=True).start()
    consumer.stop()
    assert len(list(consumer)) > 100
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = [
        name
        for name, module in sys.modules.items()
        if name.startswith("fluxjournal")
        and (getattr(module, "__file__", "") or "").endswith(suffixes)
    ]
    assert compiled == []


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
