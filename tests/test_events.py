"""The event classes behave as flux-core 0.88.0's (docs/CONTRACT.md section 2), on both cores."""

from __future__ import annotations

import copy
import json
import pickle
import time

import pytest

from fluxjournal import JobID

SUBMIT = {
    "timestamp": 1795837730.4509859,
    "name": "submit",
    "context": {"userid": 0, "urgency": 16, "flags": 0, "version": 1},
}
JOBSPEC = {"version": 1, "tasks": [{"command": ["true"]}]}
R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "1"}}]}}
JOBID = 0x360000000


def test_event_is_a_dict_with_the_entry_keys(impl):
    event = impl.JournalEvent(JOBID, dict(SUBMIT))
    assert isinstance(event, dict)
    assert dict(event) == SUBMIT
    assert list(event) == ["timestamp", "name", "context"]


def test_missing_context_is_added_as_empty_dict(impl):
    event = impl.JournalEvent(JOBID, {"timestamp": 1.5, "name": "validate"})
    assert event["context"] == {}
    assert event.context == {}
    assert list(event) == ["timestamp", "name", "context"]


def test_missing_timestamp_is_written_into_the_callers_dict(impl):
    entry = {"name": "depend"}
    before = time.time()
    event = impl.JournalEvent(JOBID, entry)
    after = time.time()
    assert before <= entry["timestamp"] <= after
    assert event.timestamp == entry["timestamp"]
    assert event is not entry


def test_event_does_not_alias_the_callers_dict(impl):
    entry = dict(SUBMIT)
    event = impl.JournalEvent(JOBID, entry)
    event["extra"] = 1
    assert "extra" not in entry


def test_jobid_becomes_a_jobid(impl):
    event = impl.JournalEvent(str(JobID(JOBID)), dict(SUBMIT))
    assert isinstance(event.jobid, JobID)
    assert event.jobid == JOBID


@pytest.mark.parametrize("name", ["submit", "alloc", "priority"])
def test_jobspec_only_on_submit_and_R_only_on_alloc(impl, name):
    event = impl.JournalEvent(JOBID, {"timestamp": 2.0, "name": name}, jobspec=JOBSPEC, R=R)
    assert event.jobspec == (JOBSPEC if name == "submit" else None)
    assert event.R == (R if name == "alloc" else None)


@pytest.mark.parametrize("entry", [{}, {"name": "submit"}, {"name": "alloc", "timestamp": 1.0}])
def test_jobid_minus_one_is_empty_whatever_the_name(impl, entry):
    event = impl.JournalEvent(-1, dict(entry), jobspec=JOBSPEC, R=R)
    assert event.is_empty()
    assert event.jobspec is None
    assert event.R is None
    assert str(event) == "-1: End of historical data stream"


def test_no_name_raises_key_error(impl):
    with pytest.raises(KeyError):
        impl.JournalEvent(JOBID, {"timestamp": 1.0})


def test_non_sentinel_is_not_empty(impl):
    assert not impl.JournalEvent(JOBID, dict(SUBMIT)).is_empty()


def test_context_string_is_compact_sorted_and_keeps_non_ascii(impl):
    event = impl.JournalEvent(
        JOBID, {"timestamp": 1.0, "name": "memo", "context": {"b": "ü", "a": [1, 2]}}
    )
    assert event.context_string == '{"a":[1,2],"b":"ü"}'
    empty = impl.JournalEvent(JOBID, {"timestamp": 1.0, "name": "start"})
    assert empty.context_string == ""


def test_str_joins_the_non_empty_parts(impl):
    event = impl.JournalEvent(
        JOBID, {"timestamp": 1795837730.47983, "name": "priority", "context": {"priority": 16}}
    )
    assert str(event) == f'{JobID(JOBID).f58}: 1795837730.47983 priority {{"priority":16}}'
    start = impl.JournalEvent(JOBID, {"timestamp": 5, "name": "start"})
    assert str(start) == f"{JobID(JOBID).f58}: 5.00000 start"


def test_str_shows_jobspec_and_R_as_python_reprs(impl):
    submit = impl.JournalEvent(JOBID, dict(SUBMIT), jobspec=JOBSPEC)
    assert str(submit).endswith(f" jobspec={JOBSPEC!r}")
    alloc = impl.JournalEvent(JOBID, {"timestamp": 3.0, "name": "alloc"}, R=R)
    assert str(alloc) == f"{JobID(JOBID).f58}: 3.00000 alloc R={R!r}"


def test_equality_is_dict_equality(impl):
    a = impl.JournalEvent(JOBID, dict(SUBMIT), jobspec=JOBSPEC)
    b = impl.JournalEvent(JOBID + 1, dict(SUBMIT))
    assert a == b
    assert a == SUBMIT
    assert a != impl.JournalEvent(JOBID, {"timestamp": 1.0, "name": "start"})


@pytest.mark.parametrize(
    "clone",
    [
        lambda e: pickle.loads(pickle.dumps(e)),
        lambda e: pickle.loads(pickle.dumps(e, protocol=2)),
        copy.copy,
        copy.deepcopy,
    ],
    ids=["pickle", "pickle2", "copy", "deepcopy"],
)
def test_clones_keep_jobid_jobspec_and_R(impl, clone):
    submit = impl.JournalEvent(JOBID, dict(SUBMIT), jobspec=JOBSPEC)
    submit.note = "kept"
    twin = clone(submit)
    assert type(twin) is type(submit)
    assert twin == submit
    assert twin.jobid == JOBID and isinstance(twin.jobid, JobID)
    assert twin.jobspec == JOBSPEC
    assert twin.R is None
    assert twin.note == "kept"
    alloc = clone(impl.JournalEvent(JOBID, {"timestamp": 3.0, "name": "alloc"}, R=R))
    assert alloc.R == R


def test_deepcopy_copies_nested_values(impl):
    submit = impl.JournalEvent(JOBID, dict(SUBMIT), jobspec={"tasks": []})
    twin = copy.deepcopy(submit)
    twin["context"]["userid"] = 99
    twin.jobspec["tasks"].append(1)
    assert submit["context"]["userid"] == 0
    assert submit.jobspec == {"tasks": []}


def test_json_dumps_like_a_plain_dict(impl):
    event = impl.JournalEvent(JOBID, dict(SUBMIT), jobspec=JOBSPEC)
    assert json.loads(json.dumps(event)) == SUBMIT


def test_sentinel_event(impl):
    sentinel = impl.SENTINEL_EVENT
    assert isinstance(sentinel, impl.JournalEvent)
    assert sentinel.is_empty()
    assert sorted(sentinel) == ["context", "timestamp"]
    assert sentinel["context"] == {}
    assert sentinel.timestamp <= time.time()
    assert sentinel.jobid == -1


def test_resource_event_keeps_R_on_every_event(impl):
    event = impl.ResourceJournalEvent({"timestamp": 1.0, "name": "online"}, R=R)
    assert event.R == R
    assert not event.is_empty()
    assert str(event) == "1.00000 online "  # flux-core joins an empty context too
    drained = impl.ResourceJournalEvent(
        {"timestamp": 2.0, "name": "drain", "context": {"idset": "2"}}, R=R
    )
    assert str(drained) == '2.00000 drain {"idset":"2"}'
    assert drained.R == R


def test_resource_event_without_name_is_empty(impl):
    event = impl.ResourceJournalEvent({"timestamp": 7.25})
    assert event.is_empty()
    assert str(event) == "7.25000 End of historical data stream"
    assert event.R is None


def test_event_from_a_json_string(impl):
    event = impl.JournalEvent(JOBID, json.dumps(SUBMIT))
    assert event == SUBMIT


def test_attributes_can_be_set(impl):
    event = impl.JournalEvent(JOBID, dict(SUBMIT), jobspec=JOBSPEC)
    event.jobspec = None
    event.R = {"x": 1}
    event.jobid = JobID(5)
    assert event.jobspec is None
    assert event.R == {"x": 1}
    assert event.jobid == 5


def test_same_as_flux_core_when_its_bindings_import(impl):
    journal = pytest.importorskip("flux.job.journal")
    cases = [
        (JOBID, dict(SUBMIT), JOBSPEC, R),
        (JOBID, {"timestamp": 3.0, "name": "alloc", "context": {"a": "é"}}, JOBSPEC, R),
        (JOBID, {"timestamp": 4, "name": "finish", "context": {"status": 0}}, None, None),
        (-1, {}, None, None),
    ]
    for jobid, entry, jobspec, resources in cases:
        ours = impl.JournalEvent(jobid, dict(entry), jobspec=jobspec, R=resources)
        theirs = journal.JournalEvent(jobid, dict(entry), jobspec=jobspec, R=resources)
        if "timestamp" not in entry:
            ours["timestamp"] = theirs["timestamp"]
        assert ours == theirs
        assert str(ours) == str(theirs)
        assert ours.is_empty() == theirs.is_empty()
        assert ours.jobspec == theirs.jobspec and ours.R == theirs.R
        assert ours.context_string == theirs.context_string
