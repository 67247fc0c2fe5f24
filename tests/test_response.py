"""The response decoder: the journal's shape, lazy jobspec/R, and clear errors for bad payloads."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import time
import weakref

import pytest
from conftest import BEYOND_2_GIB, capture_lines, needs_big_memory
from hypothesis import given, settings
from hypothesis import strategies as st
from test_loads import EDITS, HYPOTHESIS, mutate

from fluxjournal import JobID, MalformedResponse
from fluxjournal.errors import POSITIONED_MESSAGES

FULL = capture_lines("job-journal-full-live.jsonl")
RESOURCE = capture_lines("resource-journal.jsonl")


def expected_job_events(payload: bytes) -> list[tuple]:
    """What flux-core's consumer builds from one response, as comparable tuples."""
    doc = json.loads(payload)
    out = []
    for entry in doc["events"]:
        name = entry["name"]
        out.append(
            (
                doc["id"],
                {**entry, "context": entry.get("context", {})},
                doc.get("jobspec") if name == "submit" and doc["id"] != -1 else None,
                doc.get("R") if name == "alloc" and doc["id"] != -1 else None,
            )
        )
    return out


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_every_recorded_job_response_decodes_like_json(impl, kind):
    for payload in FULL:
        doc = json.loads(payload)
        response = impl.decode_response(kind(payload))
        assert response.id == doc["id"]
        assert len(response) == len(doc["events"])
        assert response.entries() == doc["events"]
        assert response.timestamps() == [float(e["timestamp"]) for e in doc["events"]]
        assert response.jobspec == doc.get("jobspec")
        assert response.R == doc.get("R")


def test_job_events_match_what_flux_core_builds(impl):
    for payload in FULL:
        events = impl.decode_response(payload).job_events()
        got = [(int(e.jobid), dict(e), e.jobspec, e.R) for e in events]
        assert got == expected_job_events(payload)
        assert all(type(e) is impl.JournalEvent and isinstance(e.jobid, JobID) for e in events)


def test_a_cycle_through_a_built_event_is_still_collected(impl):
    """A cycle made later through an event, or through its context, is found by the
    cycle collector."""

    class Marker:
        pass

    for where in ("event", "context"):
        events = impl.decode_response(FULL[0]).job_events()
        assert events
        markers = []
        while events:
            event = events.pop()
            marker = Marker()
            markers.append(weakref.ref(marker))
            target = event if where == "event" else event["context"]
            target["loop"] = [event, marker]
            del event, marker, target
        gc.collect()
        assert all(alive() is None for alive in markers), where


def test_one_jobid_object_per_response(impl):
    events = impl.decode_response(FULL[0]).job_events()
    assert len(events) > 1
    assert all(e.jobid is events[0].jobid for e in events)


def test_jobspec_is_decoded_once_and_shared(impl):
    response = impl.decode_response(FULL[0])
    submit = response.job_events()[0]
    assert submit.name == "submit"
    assert submit.jobspec is response.jobspec
    assert submit.jobspec is submit.jobspec


def test_events_are_fresh_objects_each_time(impl):
    response = impl.decode_response(FULL[0])
    first = response.job_events()
    first[1]["context"]["mutated"] = True
    second = response.job_events()
    assert "mutated" not in second[1]["context"]
    assert response.entries() == json.loads(FULL[0])["events"]


def test_sentinel_response(impl):
    response = impl.decode_response(b'{"id":-1,"events":[]}')
    assert response.id == -1
    assert len(response) == 0
    assert response.job_events() == []


def test_since_filters_before_events_are_built(impl):
    payload = FULL[0]
    stamps = [e["timestamp"] for e in json.loads(payload)["events"]]
    cut = stamps[4]
    events = impl.decode_response(payload).job_events(since=cut)
    assert [e.timestamp for e in events] == [t for t in stamps if t > cut]
    assert impl.decode_response(payload).job_events(since=0.0) != []


def test_resource_responses_have_no_id_and_keep_R(impl):
    for payload in RESOURCE:
        doc = json.loads(payload)
        response = impl.decode_response(payload)
        assert response.id is None
        events = response.resource_events()
        assert [dict(e) for e in events] == [
            {**e, "context": e.get("context", {})} for e in doc["events"]
        ]
        assert all(e.R == doc.get("R") for e in events)
        assert all(type(e) is impl.ResourceJournalEvent for e in events)


def test_missing_timestamp_is_filled_at_decode_time(impl):
    before = time.time()
    response = impl.decode_response(b'{"id":1,"events":[{"name":"memo"}]}')
    after = time.time()
    (stamp,) = response.timestamps()
    assert before <= stamp <= after
    (event,) = response.job_events()
    assert event.timestamp == stamp
    assert response.entries() == [{"name": "memo", "timestamp": stamp}]


def test_integer_timestamps_stay_integers_in_events(impl):
    (event,) = impl.decode_response(b'{"id":1,"events":[{"timestamp":5,"name":"x"}]}').job_events()
    assert type(event.timestamp) is int


def test_unknown_keys_and_key_order_are_accepted(impl):
    payload = (
        b'{"jobspec":{"a":1},"extra":[1,{"b":2}],'
        b'"events":[{"name":"submit","timestamp":1.0}],"id":7}'
    )
    (event,) = impl.decode_response(payload).job_events()
    assert event.jobid == 7
    assert event.jobspec == {"a": 1}


def test_escaped_keys_are_recognised(impl):
    payload = b'{"i\\u0064":3,"\\u0065vents":[{"n\\u0061me":"alloc","timestamp":1.0}],"\\u0052":{}}'
    (event,) = impl.decode_response(payload).job_events()
    assert event.jobid == 3
    assert event.R == {}


ODD_ENTRIES = [
    # the last of repeated keys wins, as in json.loads, whatever the earlier ones held
    b'{"id":1,"events":[{"timestamp":NaN,"name":"a","timestamp":2.5}]}',
    b'{"id":1,"events":[{"timestamp":-Infinity,"name":"a","timestamp":-2.5e-3}]}',
    b'{"id":1,"events":[{"timestamp":7,"name":"a","timestamp":1.25}]}',
    b'{"id":1,"events":[{"timestamp":1.25,"name":"a","timestamp":7}]}',
    b'{"id":1,"events":[{"timestamp":1.25,"name":"submit","name":"b","context":{}}]}',
    b'{"id":1,"events":[{"context":5,"name":"a","timestamp":1.0,"context":{"x":[1]}}]}',
    # integer, huge and exponent forms keep json's type and value
    b'{"id":1,"events":[{"timestamp":1700000000,"name":"a"}]}',
    b'{"id":1,"events":[{"timestamp":-0.0,"name":"a"}]}',
    b'{"id":1,"events":[{"timestamp":1.0000000000000000000000001,"name":"a"}]}',
    b'{"id":1,"events":[{"timestamp":17e8,"name":"a"}, {"timestamp":1E-2,"name":"b"}]}',
    # escaped keys and names are what they decode to
    b'{"id":1,"events":[{"time\\u0073tamp":3.5,"n\\u0061me":"sub\\u006dit"}],"jobspec":[1]}',
    b'{"id":1,"events":[{"timestamp":3.5,"name":"allo\\u0063","con\\u0074ext":{"a":1}}],'
    b'"R":{"r":2}}',
    b'{"id":1,"events":[{"timestamp":3.5,"name":"\xc3\xa9t\xc3\xa9"}]}',
]


@pytest.mark.parametrize("payload", ODD_ENTRIES)
def test_odd_entries_build_exactly_what_flux_core_builds(impl, payload):
    events = impl.decode_response(payload).job_events()
    got = [(int(e.jobid), dict(e), e.jobspec, e.R) for e in events]
    expected = expected_job_events(payload)
    assert repr(got) == repr(expected)  # repr tells 1 from 1.0, -0.0 from 0.0 and sees NaN
    assert [type(e["timestamp"]) for e in events] == [type(x[1]["timestamp"]) for x in expected]


#: Digits of an integer longer than int() converts by default (sys.get_int_max_str_digits()).
INT_DIGITS = 4300
TOO_LONG = b"7" * (INT_DIGITS + 1)

MALFORMED = [
    (b"", "invalid JSON"),
    (b'{"id":1,"events":[', "invalid JSON"),
    (b'{"id":1,"events":[{"name":"a","timestamp":1.0}]} x', "invalid JSON"),
    (b'{"id":1,"events":[{"name":"a","timestamp":1.0,"context":{"k":"\xff"}}]}', "invalid JSON"),
    (b"[]", "not a JSON object"),
    (b'"events"', "not a JSON object"),
    (b'{"id":1}', 'no "events" array'),
    (b'{"id":1,"events":{}}', "events is not an array"),
    (b'{"id":1,"events":[1]}', "event 0 is not an object"),
    (b'{"id":1,"events":[{"name":"a","timestamp":1},[]]}', "event 1 is not an object"),
    (b'{"id":1,"events":[{"timestamp":1.0}]}', "event 0 has no name"),
    (b'{"id":1,"events":[{"timestamp":1.0,"name":5}]}', "event 0: name is not a string"),
    (b'{"id":1,"events":[{"timestamp":"1","name":"a"}]}', "event 0: timestamp is not a number"),
    (b'{"id":1,"events":[{"timestamp":true,"name":"a"}]}', "event 0: timestamp is not a number"),
    (b'{"id":1,"events":[{"timestamp":null,"name":"a"}]}', "event 0: timestamp is not a number"),
    (
        b'{"id":1,"events":[{"timestamp":1' + b"0" * 400 + b',"name":"a"}]}',
        "event 0: timestamp is not a number",
    ),
    (b'{"id":"1","events":[]}', "id is not an integer"),
    # longer than int() converts: json.loads refuses the document, wherever it is
    (
        b'{"id":1,"events":[{"timestamp":1.0,"name":"a","context":{"n":' + TOO_LONG + b"}}]}",
        "invalid JSON: Exceeds the limit",
    ),
    (
        b'{"id":1,"events":[{"timestamp":1.0,"name":"a"}],"jobspec":[-' + TOO_LONG + b"]}",
        "invalid JSON: Exceeds the limit",
    ),
    (b'{"id":1,"events":[],"R":{"x":' + TOO_LONG + b"}}", "invalid JSON: Exceeds the limit"),
    (b'{"id":' + TOO_LONG + b',"events":[]}', "invalid JSON: Exceeds the limit"),
    (b'{"id":1.0,"events":[]}', "id is not an integer"),
    (b'{"id":true,"events":[]}', "id is not an integer"),
]


@pytest.mark.parametrize(("payload", "what"), MALFORMED)
def test_malformed_responses_raise_a_clear_value_error(impl, payload, what):
    with pytest.raises(MalformedResponse) as info:
        impl.decode_response(payload)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.what.startswith(what)
    assert error.response == payload
    assert what in str(error)


def test_invalid_json_chains_the_decode_error(impl):
    with pytest.raises(MalformedResponse) as info:
        impl.decode_response(b'{"id":1,"events":[}')
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    assert info.value.__cause__.pos == 18


def test_a_bad_response_leaves_the_decoder_usable(impl):
    with pytest.raises(MalformedResponse):
        impl.decode_response(b'{"id":1,"events":[{"timestamp":1.0}]}')
    assert len(impl.decode_response(FULL[0])) == len(json.loads(FULL[0])["events"])


# -- the compiled scanner against the twin, on damaged real payloads ----------------------


def outcome(module, payload: bytes):
    """What one implementation makes of a payload: its events, or the error it raises.

    The position of a JSON error is compared where json.loads itself reports one (not for
    bytes it cannot decode as UTF-8 at all, where any position is fair).
    """
    try:
        response = module.decode_response(payload)
    except MalformedResponse as exc:
        try:
            json.loads(payload)
            comparable = True
        except json.JSONDecodeError as json_exc:
            comparable = json_exc.msg in POSITIONED_MESSAGES
        except ValueError:
            comparable = False
        position = getattr(exc.__cause__, "pos", None) if comparable else None
        return ("error", exc.what.split(":")[0], position)
    events = [dict(e) for e in response.job_events()]
    for event, entry in zip(events, json.loads(payload)["events"]):
        if "timestamp" not in entry:
            event["timestamp"] = "the clock"  # each reads time.time() when it scans
    built = [(repr(e), repr(j.jobspec), repr(j.R)) for e, j in zip(events, response.job_events())]
    return ("ok", response.id, len(response), built)


@settings(max_examples=400, **HYPOTHESIS)
@given(payload=st.sampled_from(FULL[:40]), edits=EDITS)
def test_damaged_payloads_decode_as_the_twin_decodes_them(payload, edits):
    """Both scanners of the compiled core (fast, then precise) agree with the twin."""
    compiled = pytest.importorskip("fluxjournal._core")
    from fluxjournal import _pycore

    mutated = mutate(payload, edits)
    assert outcome(compiled, mutated) == outcome(_pycore, mutated)


def test_a_bad_str_payload_with_a_lone_surrogate_is_a_malformed_response(impl):
    payload = '{"events":[{}],"x":"\ud800"}'  # a str holding a lone surrogate
    with pytest.raises(MalformedResponse, match="event 0 has no name") as info:
        impl.decode_response(payload)
    assert info.value.response == payload


def test_rows_refuse_a_prefix_that_is_not_a_tuple(impl):
    """The prefix is copied into every row: None is refused, not read as a tuple."""
    response = impl.decode_response(FULL[0])
    with pytest.raises(TypeError):
        response.rows(None)
    assert response.rows(("x",))[0][0] == "x"


def test_integers_as_long_as_int_converts_are_kept(impl):
    longest = b"9" * INT_DIGITS
    payload = (
        b'{"id":1,"events":[{"timestamp":1.0,"name":"submit","context":{"n":-'
        + longest
        + b'}}],"jobspec":{"m":'
        + longest
        + b"}}"
    )
    (event,) = impl.decode_response(payload).job_events()
    assert event.context == {"n": -int(longest)}
    assert event.jobspec == {"m": int(longest)}


@contextlib.contextmanager
def int_digits_limit(limit: int):
    """``sys.set_int_max_str_digits(limit)`` for the duration."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(limit)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


#: The smallest limit sys.set_int_max_str_digits() takes, and a number of digits above it.
LOWEST_INT_LIMIT = 640
ABOVE_LOWEST = 700


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="no int() digit limit")
def test_a_limit_lowered_after_decoding_gives_a_malformed_response_not_an_internal_error():
    """The compiled core builds values when they are asked for: an integer the scan took
    that int() refuses by then is a MalformedResponse naming the response (the twin has
    built everything when it decodes)."""
    core = pytest.importorskip("fluxjournal._core")
    payload = (
        b'{"id":1,"events":[{"timestamp":1.0,"name":"a","context":{"n":'
        + b"3" * ABOVE_LOWEST
        + b"}}]}"
    )
    response = core.decode_response(payload)
    with int_digits_limit(LOWEST_INT_LIMIT):
        for build in (response.job_events, response.resource_events, response.entries):
            with pytest.raises(MalformedResponse, match="Exceeds the limit") as info:
                build()
            assert info.value.response == payload
        with pytest.raises(MalformedResponse, match="Exceeds the limit"):
            response.rows(())
    assert response.job_events()[0].context == {"n": int(b"3" * ABOVE_LOWEST)}


# -- cycles through what the decoder hands out are found by the collector ----------------


class Marker:
    """Something a test puts inside a cycle and watches through a weak reference."""


TWO_SUBMITS = (
    b'{"id":9,"events":[{"timestamp":1.0,"name":"submit"},{"timestamp":2.0,"name":"submit"},'
    b'{"timestamp":3.0,"name":"alloc"},{"timestamp":4.0,"name":"alloc"}],'
    b'"jobspec":{"tasks":[]},"R":{"execution":{}}}'
)


def collected(make_cycle) -> bool:
    """Whether the cycle ``make_cycle()`` builds (it returns a Marker inside it, nothing
    else holding it) is freed by a collection."""
    alive = weakref.ref(make_cycle())
    gc.collect()
    return alive() is None


@pytest.mark.parametrize("value", ["jobspec", "R"])
def test_a_cycle_through_a_shared_jobspec_or_R_is_collected(impl, value):
    """Two events of a response share its jobspec (and R): the one decoded value may come
    to hold the other event, which still holds the value's undecoded form."""

    def make_cycle():
        events = impl.decode_response(TWO_SUBMITS).job_events()
        first, second = events[:2] if value == "jobspec" else events[2:]
        shared = getattr(first, value)
        marker = Marker()
        shared["loop"] = [second, marker]
        return marker

    assert collected(make_cycle)


def test_a_cycle_through_the_response_itself_is_collected(impl):
    def make_cycle():
        response = impl.decode_response(TWO_SUBMITS)
        marker = Marker()
        response.jobspec["loop"] = [response, marker]
        response.R["events"] = response.job_events()
        return marker

    assert collected(make_cycle)


def test_a_cycle_through_a_shared_jobid_is_collected(impl):
    def make_cycle():
        response = impl.decode_response(TWO_SUBMITS)
        marker = Marker()
        response.job_events()[0].jobid.loop = [response, marker]
        return marker

    assert collected(make_cycle)


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_a_payload_of_a_str_or_bytes_subclass_can_be_in_a_cycle(impl, kind):
    """A response keeps its payload's text: a subclass instance the caller can give
    attributes is not kept, so a cycle through it is collected."""

    class Text(str):
        pass

    class Data(bytes):
        pass

    def make_cycle():
        payload = Text(TWO_SUBMITS.decode()) if kind == "str" else Data(TWO_SUBMITS)
        response = impl.decode_response(payload)
        marker = Marker()
        payload.loop = [response, response.job_events(), marker]
        assert response.jobspec == {"tasks": []}
        return marker

    assert collected(make_cycle)


def test_a_cycle_through_a_job_record_is_collected(impl):
    class Key(int):
        pass

    def make_cycle():
        key = Key(5)
        record = impl.JobRecord(key)
        marker = Marker()
        key.loop = [record, marker]
        record.apply([(1.0, "submit", "{}")], '{"x":[]}', None)
        return marker

    assert collected(make_cycle)


@needs_big_memory
def test_a_response_longer_than_2_gib_is_refused_by_both_cores(impl):
    """The compiled core keeps 32-bit offsets into a payload; the twin refuses the same."""
    payload = b'{"events":[],"x":"' + b"a" * BEYOND_2_GIB + b'"}'
    with pytest.raises(MalformedResponse, match="larger than 2 GiB") as info:
        impl.decode_response(payload)
    assert info.value.response is payload
    assert len(str(info.value)) < 1000
