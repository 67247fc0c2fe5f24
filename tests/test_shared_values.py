"""Values held once: what both cores read from ``fluxjournal.wire.protocol`` and
``fluxjournal.joblist.states``, and the literals the compiled core must keep equal to them
(C needs some at compile time)."""

from __future__ import annotations

import pytest

from fluxjournal.joblist import states
from fluxjournal.wire import protocol


def test_compiled_literals_equal_the_shared_values():
    _core = pytest.importorskip("fluxjournal._core")
    shared = {name: getattr(states, name) for name in _core.ENUM_VALUES}
    assert _core.ENUM_VALUES == shared


def test_both_cores_take_the_nesting_limit_from_the_protocol(impl):
    assert impl.MAX_DEPTH == protocol.MAX_DEPTH
    too_deep = "[" * (protocol.MAX_DEPTH + 1) + "]" * (protocol.MAX_DEPTH + 1)
    with pytest.raises(ValueError, match=protocol.TOO_DEEP):
        impl.loads(too_deep)
    assert impl.loads("[" * protocol.MAX_DEPTH + "]" * protocol.MAX_DEPTH) is not None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[]", protocol.NOT_AN_OBJECT),
        (b'{"id": 1}', protocol.NO_EVENTS),
        (b'{"id": 1, "events": {}}', protocol.EVENTS_NOT_AN_ARRAY),
        (b'{"id": "1", "events": []}', protocol.ID_NOT_AN_INTEGER),
        (b'{"id": 1, "events": [1]}', protocol.EVENT_NOT_AN_OBJECT.format(0)),
        (
            b'{"id": 1, "events": [{"name": "a", "timestamp": "x"}]}',
            protocol.TIMESTAMP_NOT_A_NUMBER.format(0),
        ),
        (
            b'{"id": 1, "events": [{"name": 1, "timestamp": 1}]}',
            protocol.NAME_NOT_A_STRING.format(0),
        ),
        (b'{"id": 1, "events": [{"timestamp": 1}]}', protocol.EVENT_WITHOUT_NAME.format(0)),
    ],
)
def test_both_cores_refuse_with_the_protocols_words(impl, payload, message):
    with pytest.raises(ValueError) as refused:
        impl.decode_response(payload)
    assert refused.value.what == message


def test_a_response_that_is_not_json_is_refused_with_the_protocols_words(impl):
    with pytest.raises(ValueError) as refused:
        impl.decode_response(b"{")
    prefix = protocol.INVALID_JSON.format("")
    assert refused.value.what.startswith(prefix) and len(refused.value.what) > len(prefix)


def test_the_twins_classes_are_named_where_users_find_them():
    from fluxjournal import _pycore

    for name in ("JournalEvent", "ResourceJournalEvent", "JobRecord", "JournalConsumer"):
        cls = getattr(_pycore, name)
        assert (cls.__module__, cls.__qualname__) == ("fluxjournal._pycore", name)
