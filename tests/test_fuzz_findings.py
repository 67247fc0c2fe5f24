"""What fuzzing found, kept: each input in tests/data/fuzz replayed through its harness.

A file named ``NAME-what-it-shows`` is an input that made ``fuzz/fuzz_NAME.py`` fail once;
its ``check`` runs it through both cores (and, for loads, against ``json.loads``) and must
now pass. The cases below state the same findings as plain expectations.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from fluxjournal import MalformedResponse
from fluxjournal.errors import JSONDecodeError

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = sorted((ROOT / "tests" / "data" / "fuzz").iterdir())


def harness(name: str):
    """The module of ``fuzz/fuzz_NAME.py`` (its ``check`` needs no atheris)."""
    pytest.importorskip("fluxjournal._core", reason="the harnesses compare both cores")
    folder = str(ROOT / "fuzz")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(f"fuzz_{name}")


@pytest.mark.parametrize("path", FINDINGS, ids=[p.name for p in FINDINGS])
def test_a_recorded_finding_passes_its_harness(path):
    name = path.name.split("-", 1)[0]
    harness(name).check(path.read_bytes())


# -- the findings, as expectations ---------------------------------------------------------

#: Responses whose duplicate keys hold a bad value before the good one that json.loads (and
#: so flux-core) keeps: each is a valid response.
LAST_KEY_WINS = [
    b'{"id":1,"events":[{"timestamp":1.0,"name":5,"name":"a"}]}',
    b'{"id":1,"events":[{"timestamp":"x","name":"a","timestamp":1.0}]}',
    b'{"id":1,"events":[{"timestamp":1' + b"0" * 400 + b',"name":"a","timestamp":1.0}]}',
    b'{"id":1,"events":5,"events":[{"timestamp":1.0,"name":"a"}]}',
    b'{"id":1,"events":[5],"events":[{"timestamp":1.0,"name":"a"}]}',
    b'{"id":"x","id":1,"events":[{"timestamp":1.0,"name":"a"}]}',
]


@pytest.mark.parametrize("payload", LAST_KEY_WINS)
def test_a_bad_value_overridden_by_a_later_duplicate_key_is_accepted(impl, payload):
    response = impl.decode_response(payload)
    assert response.id == 1
    assert response.entries() == [{"timestamp": 1.0, "name": "a"}]


#: Responses whose last value of a key is bad, and the error the first such key in the
#: decoded dict gives (dicts keep a key where it first appeared).
LAST_KEY_BAD = [
    (b'{"id":1,"events":[{"timestamp":1.0,"name":"a"}],"id":"x"}', "id is not an integer"),
    (b'{"id":1,"events":[{"timestamp":1.0,"name":"a","name":5}]}', "event 0: name is not"),
    (b'{"events":[{"name":5,"timestamp":"x"}]}', "event 0: name is not a string"),
    (b'{"events":[{"timestamp":"x","name":5}]}', "event 0: timestamp is not a number"),
    (b'{"id":"x","events":[{"timestamp":1.0,"name":5}]}', "id is not an integer"),
    (b'{"events":[{"timestamp":1.0,"name":5}],"id":"x"}', "event 0: name is not a string"),
    (b'{"events":[{"name":"a"},{"name":5,"name":[]}],"events":[[]]}', "event 0 is not an"),
]


@pytest.mark.parametrize(("payload", "what"), LAST_KEY_BAD)
def test_the_first_key_whose_last_value_is_bad_is_reported(impl, payload, what):
    with pytest.raises(MalformedResponse) as info:
        impl.decode_response(payload)
    assert info.value.what.startswith(what)


def test_brackets_in_an_unterminated_string_open_nothing(impl):
    """The string's control character is json's error; its brackets are not containers."""
    doc = b'["' + b"[" * 600 + b"\x19"
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(doc)
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(doc)
    assert (info.value.msg, info.value.pos) == (expected.value.msg, expected.value.pos)
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(b'["' + b"[" * 600)
    assert (info.value.msg, info.value.pos) == ("Unterminated string starting at", 1)
