"""Pickles made by fluxjournal 0.1.0 (the release before the package was split into
folders) load into the current classes with the same values.

``tests/data/pickles-0.1.0.pickle`` maps a name to the bytes 0.1.0 pickled: each core's
job events (a submit with its jobspec, an alloc with its R) and resource event as the
History delivers them, its SENTINEL_EVENT, its JSONDecodeError and MalformedResponse,
three JobIDs, and a compiled JobRecord. The same objects are made here by the current
code and compared.

The twin's JobRecord of 0.1.0 is not among them, on purpose: its pickles name
``fluxjournal.joblist.JobRecord``, and ``fluxjournal.joblist`` is now job-list's rules,
below both cores; answering that name from there would be the package's one upward import.
The twin's JobRecord now pickles as ``fluxjournal._pycore.JobRecord``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from fluxjournal.errors import JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID
from fluxjournal.storage import schema

PICKLES = pickle.loads((Path(__file__).parent / "data" / "pickles-0.1.0.pickle").read_bytes())
CORES = {"cython": "fluxjournal._core", "python": "fluxjournal._pycore"}
SUBMIT = (
    b'{"id":1234567,"events":[{"timestamp":1.5,"name":"submit","context":{"userid":1,'
    b'"urgency":16}},{"timestamp":2.5,"name":"alloc","context":{}}],"jobspec":{"version":1},'
    b'"R":{"version":1,"execution":{}}}'
)
ONLINE = (
    b'{"events":[{"timestamp":3.5,"name":"online","context":{"idset":"0-1"}}],"R":{"version":1}}'
)


def delivered(impl, payload: bytes, resource: bool = False) -> list:
    history = impl.History(resource=resource)
    history.add(impl.decode_response(payload))
    history.finish()
    return list(history.take())


def same_event(got, want) -> None:
    assert type(got) is type(want)
    assert dict(got) == dict(want)
    for attribute in ("jobid", "jobspec", "R"):
        if hasattr(want, attribute):
            assert getattr(got, attribute) == getattr(want, attribute)


@pytest.fixture(params=sorted(CORES))
def core(request):
    return pytest.importorskip(CORES[request.param]), request.param


def test_events_of_0_1_0_load(core):
    impl, name = core
    for key, payload, resource in (
        ("job-events", SUBMIT, False),
        ("resource-events", ONLINE, True),
    ):
        got = pickle.loads(PICKLES[f"{name}/{key}"])
        want = delivered(impl, payload, resource)
        assert len(got) == len(want) > 0
        for event, expected in zip(got, want):
            same_event(event, expected)
    sentinel = pickle.loads(PICKLES[f"{name}/sentinel"])
    assert type(sentinel) is type(impl.SENTINEL_EVENT)
    assert sentinel.is_empty() and sentinel.jobid == impl.SENTINEL_EVENT.jobid == -1
    # its timestamp is the moment the sentinel was made, at import
    assert set(sentinel) == set(impl.SENTINEL_EVENT) and sentinel.context == {}


def test_errors_of_0_1_0_load(core):
    impl, name = core
    error = pickle.loads(PICKLES[f"{name}/json-error"])
    with pytest.raises(JSONDecodeError) as fresh:
        impl.loads(b"[1, 2")
    assert type(error) is JSONDecodeError
    assert (error.msg, error.pos, str(error)) == (
        fresh.value.msg,
        fresh.value.pos,
        str(fresh.value),
    )
    malformed = pickle.loads(PICKLES[f"{name}/malformed"])
    with pytest.raises(MalformedResponse) as fresh_malformed:
        impl.decode_response(b'{"id": 1}')
    assert type(malformed) is MalformedResponse
    assert str(malformed) == str(fresh_malformed.value)
    assert malformed.what == fresh_malformed.value.what


def test_jobids_of_0_1_0_load():
    got = pickle.loads(PICKLES["jobid"])
    assert got == [JobID(1234567), JobID("ƒ2"), JobID(0)]
    assert all(type(jobid) is JobID for jobid in got)


def test_a_compiled_jobrecord_of_0_1_0_loads():
    _core = pytest.importorskip("fluxjournal._core")
    got = pickle.loads(PICKLES["cython/jobrecord"])
    assert type(got) is _core.JobRecord
    assert got.fields() == _core.JobRecord(1234567).fields()
    assert got.t_free is None


def test_a_job_record_pickles_whole(impl):
    record = impl.JobRecord(1234567)
    record.apply(
        [
            (1.5, "submit", '{"userid":5,"urgency":16}'),
            (2.5, "alloc", "{}"),
            (3.5, "finish", '{"status":0}'),
            (4.25, "free", "{}"),
            (5.5, "clean", "{}"),
        ],
        '{"version":1,"resources":[{"type":"slot","count":1,"with":[{"type":"core","count":2}]}'
        '],"tasks":[{"command":["hostname"],"slot":"task","count":{"per_slot":1}}],'
        '"attributes":{"system":{"duration":60,"cwd":"/tmp","queue":"batch"}}}',
        '{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0-1"}}],'
        '"nodelist":["node0"],"starttime":2.5,"expiration":62.5}}',
    )
    got = pickle.loads(pickle.dumps(record, 4))
    assert type(got) is type(record)
    assert got.fields() == record.fields() and got.t_free == record.t_free == 4.25
    assert record.fields()[schema.JOB_FIELDS.index("ncores")] == 2


def test_the_twins_jobrecord_pickles_under_its_public_name():
    from fluxjournal import _pycore

    record = _pycore.JobRecord(1234567)
    data = pickle.dumps(record, 4)
    assert b"fluxjournal._pycore" in data and b"fluxjournal.joblist" not in data
    assert pickle.loads(data).fields() == record.fields()
