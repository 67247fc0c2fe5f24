"""job-list's rules where the recorded capture does not reach: state reverts, updates,
exceptions, task and core counts, and the idset and hostlist forms; every JobRecord test on
both implementations (``impl.JobRecord``), and the two compared on whole histories and on
malformed input."""

from __future__ import annotations

import collections
import importlib
import json
import math

import pytest
from conftest import TWIN_ONLY, capture_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluxjournal import _pycore
from fluxjournal.ingestion.engine import JOURNAL_ONLY
from fluxjournal.joblist.hostlist import (
    decode_idset,
    encode_hostlist,
    encode_idset,
    expand_hostlist,
)
from fluxjournal.storage import schema
from fluxjournal.testing import SimulatedFlux

JOBSPEC = {
    "resources": [
        {"type": "slot", "count": 2, "with": [{"type": "core", "count": 3}], "label": "task"}
    ],
    "tasks": [{"command": ["/usr/bin/app", "-x"], "slot": "task", "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 60.0, "cwd": "/work", "queue": "batch"}},
    "version": 1,
}
R = {
    "version": 1,
    "execution": {
        "R_lite": [{"rank": "0-1", "children": {"core": "0-2"}}],
        "starttime": 10.0,
        "expiration": 70.0,
        "nodelist": ["node[3-4]"],
    },
}


def record(impl, *entries, jobspec=JOBSPEC, R=None) -> dict:
    """The job row (as a dict) of one job after ``entries`` ((t, name, context) each)."""
    job = impl.JobRecord(42)
    rows = [(t, name, json.dumps(context)) for t, name, context in entries]
    job.apply(rows, json.dumps(jobspec) if jobspec else None, json.dumps(R) if R else None)
    return dict(zip(schema.JOB_FIELDS, job.fields()))


SUBMIT = (1.0, "submit", {"userid": 7, "urgency": 16, "flags": 0, "version": 1})
PENDING = (SUBMIT, (2.0, "validate", {}), (3.0, "depend", {}), (4.0, "priority", {"priority": 9}))


def test_a_pending_job(impl):
    row = record(impl, *PENDING)
    assert (row["state"], row["status"], row["priority"]) == ("SCHED", "SCHED", 9)
    assert (row["t_submit"], row["t_depend"], row["t_priority"], row["t_sched"]) == (1, 2, 3, 4)
    assert row["t_run"] is None and row["result"] is None and row["success"] is None
    assert (row["name"], row["cwd"], row["queue"], row["duration"]) == ("app", "/work", "batch", 60)
    assert (row["ntasks"], row["ncores"], row["nnodes"]) == (2, 6, None)
    assert row["exception_occurred"] is False and row["returncode"] is None


def test_urgency_sends_the_job_back_to_priority_until_the_next_priority_event(impl):
    row = record(impl, *PENDING, (5.0, "urgency", {"urgency": 20, "userid": 7}))
    assert (row["state"], row["urgency"], row["priority"]) == ("PRIORITY", 20, None)
    assert row["t_priority"] == 3.0  # the first time it entered PRIORITY
    row = record(
        impl, *PENDING, (5.0, "urgency", {"urgency": 20}), (6.0, "priority", {"priority": 30})
    )
    assert (row["state"], row["priority"], row["t_sched"]) == ("SCHED", 30, 4.0)


def test_flux_restart_and_jobspec_update_revert_too(impl):
    assert record(impl, *PENDING, (5.0, "flux-restart", {}))["state"] == "PRIORITY"
    row = record(
        impl,
        *PENDING,
        (5.0, "jobspec-update", {"attributes.system.duration": 120.0, "bogus.key": 1}),
    )
    assert (row["state"], row["duration"]) == ("PRIORITY", 120.0)
    assert json.loads(row["jobspec"])["attributes"]["system"]["duration"] == 120.0
    assert "bogus" not in json.loads(row["jobspec"])


def test_a_job_that_ran_and_a_resource_update(impl):
    ran = (*PENDING, (5.0, "alloc", {}), (6.0, "start", {}))
    row = record(impl, *ran, R=R)
    assert (row["state"], row["t_run"], row["expiration"]) == ("RUN", 5.0, 70.0)
    assert (row["nnodes"], row["ncores"], row["ranks"], row["nodelist"]) == (
        2,
        6,
        "[0-1]",
        "node[3-4]",
    )
    assert row["runtime"] is None  # flux jobs counts it up to the moment it runs
    row = record(impl, *ran, (7.0, "resource-update", {"expiration": 90.0}), R=R)
    assert row["expiration"] == 90.0
    assert json.loads(row["R"])["execution"]["expiration"] == 90.0


def test_the_most_severe_exception_is_reported_the_first_of_equals_kept(impl):
    over = (
        *PENDING,
        (5.0, "alloc", {}),
        (6.0, "exception", {"type": "warn", "severity": 3, "note": "a", "userid": 7}),
        (7.0, "exception", {"type": "node-fail", "severity": 0, "note": "b", "userid": 0}),
        (8.0, "exception", {"type": "other", "severity": 0, "note": "c", "userid": 0}),
        (9.0, "finish", {"status": 9}),  # killed by signal 9
        (10.0, "release", {"ranks": "all", "final": True}),
        (11.0, "free", {}),
        (12.0, "clean", {}),
    )
    row = record(impl, *over, R=R)
    assert (row["exception_type"], row["exception_severity"], row["exception_note"]) == (
        "node-fail",
        0,
        "b",
    )
    assert (row["state"], row["result"], row["success"], row["returncode"]) == (
        "INACTIVE",
        "FAILED",
        False,
        -9,
    )
    assert (row["t_cleanup"], row["t_inactive"], row["runtime"]) == (7.0, 12.0, 2.0)


def test_a_finish_with_status_zero_after_a_fatal_exception_is_not_a_success(impl):
    row = record(
        impl,
        *PENDING,
        (5.0, "alloc", {}),
        (6.0, "exception", {"type": "cancel", "severity": 0, "note": "", "userid": 7}),
        (7.0, "finish", {"status": 0}),
        (8.0, "clean", {}),
        R=R,
    )
    assert (row["result"], row["success"], row["returncode"], row["waitstatus"]) == (
        "CANCELED",
        False,
        0,
        0,
    )


def test_a_job_without_a_finish_fails_with_returncode_one_or_minus_128_when_canceled(impl):
    dead = (*PENDING, (5.0, "exception", {"type": "dependency", "severity": 0, "note": "x"}))
    assert record(impl, *dead, (6.0, "clean", {}))["returncode"] == 1
    canceled = (*PENDING, (5.0, "exception", {"type": "cancel", "severity": 0, "note": ""}))
    assert record(impl, *canceled, (6.0, "clean", {}))["returncode"] == -128


def test_a_submit_of_version_0_dates_depend_at_submit(impl):
    row = record(impl, (1.0, "submit", {"userid": 7, "urgency": 16, "flags": 0}))
    assert (row["state"], row["t_depend"]) == ("NEW", 1.0)


def test_dependencies_are_added_and_removed_in_order(impl):
    row = record(
        impl,
        SUBMIT,
        (1.1, "dependency-add", {"description": "after-ok=f1"}),
        (1.2, "dependency-add", {"description": "begin-time=5"}),
        (1.3, "dependency-add", {"description": "after-ok=f1"}),
        (1.4, "dependency-remove", {"description": "begin-time=5"}),
    )
    assert json.loads(row["dependencies"]) == ["after-ok=f1"]


@pytest.mark.parametrize(
    ("resources", "options", "ntasks", "ncores", "nnodes"),
    [
        # two nodes of one slot of four cores, exclusive: job-list leaves ncores unknown
        (
            [
                {
                    "type": "node",
                    "count": 2,
                    "exclusive": True,
                    "with": [{"type": "slot", "count": 1, "with": [{"type": "core", "count": 4}]}],
                }
            ],
            {},
            2,
            None,
            2,
        ),
        (
            [
                {
                    "type": "node",
                    "count": 2,
                    "with": [{"type": "slot", "count": 1, "with": [{"type": "core", "count": 4}]}],
                }
            ],
            {"per-resource": {"type": "node", "count": 3}},
            6,
            8,
            2,
        ),
        (
            [{"type": "slot", "count": 2, "with": [{"type": "core", "count": 2}]}],
            {"per-resource": {"type": "core", "count": 2}},
            8,
            4,
            None,
        ),
    ],
)
def test_task_and_core_counts_from_the_jobspec(impl, resources, options, ntasks, ncores, nnodes):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["resources"] = resources
    jobspec["attributes"]["system"]["shell"] = {"options": options}
    row = record(impl, *PENDING, jobspec=jobspec)
    assert (row["ntasks"], row["ncores"], row["nnodes"]) == (ntasks, ncores, nnodes)


def test_a_named_job_and_a_command_that_ends_in_a_slash(impl):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["attributes"]["system"]["job"] = {"name": "mine"}
    assert record(impl, *PENDING, jobspec=jobspec)["name"] == "mine"
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["tasks"][0]["command"] = ["dir/"]
    assert record(impl, *PENDING, jobspec=jobspec)["name"] == "dir/"


def test_a_broken_jobspec_leaves_the_fields_unknown_and_the_row_whole(impl):
    row = record(impl, *PENDING, jobspec={"resources": "nonsense", "tasks": []})
    assert (row["state"], row["name"], row["ntasks"]) == ("SCHED", None, None)


@pytest.mark.parametrize(
    ("ids", "text"), [([0], "0"), ([0, 1], "[0-1]"), ([3, 0, 1, 2, 7], "[0-3,7]"), ([], "")]
)
def test_idsets(ids, text):
    assert encode_idset(ids) == text
    assert sorted(set(decode_idset(text))) == sorted(set(ids))


@pytest.mark.parametrize(
    ("hosts", "text"),
    [
        (["vm", "vm"], "vm,vm"),
        (["node0", "node1", "node2", "node5"], "node[0-2,5]"),
        (["node9", "node10"], "node[9-10]"),
        (["node09", "node10"], "node[09-10]"),
        (["a1", "b2", "a3"], "a1,b2,a3"),
        (["login"], "login"),
    ],
)
def test_hostlists(hosts, text):
    assert encode_hostlist(hosts) == text
    assert expand_hostlist(text) == hosts


def test_huge_ranges_are_refused_not_expanded():
    with pytest.raises(ValueError):
        decode_idset("0-4294967295")
    with pytest.raises(ValueError):
        expand_hostlist("n[0-4294967295]")
    assert expand_hostlist("n[0-9],m[0-9]", limit=3) == ["n0", "n1", "n2"]


# -- what the Python version got wrong: on both implementations ---------------------------


def test_the_resources_are_read_depth_first_in_document_order_as_job_list_does(impl):
    # jj_get_counts reads a vertex's "with" before the next vertex: the core of 5 is last
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["resources"] = [
        {"type": "slot", "count": 2, "with": [{"type": "core", "count": 3}]},
        {"type": "core", "count": 5},
    ]
    row = record(impl, *PENDING, jobspec=jobspec)
    assert (row["ntasks"], row["ncores"]) == (2, 10)


def test_a_shell_option_that_is_no_object_leaves_the_counts_unknown(impl):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["attributes"]["system"]["shell"] = "bash"
    row = record(impl, *PENDING, jobspec=jobspec)
    assert (row["state"], row["name"], row["ntasks"], row["ncores"]) == ("SCHED", "app", None, None)


def test_context_values_of_another_type_read_as_if_absent(impl):
    row = record(
        impl,
        (1.0, "submit", {"userid": "7", "urgency": 16.0, "version": "1"}),
        (2.0, "validate", {}),
        (3.0, "depend", {}),
        (4.0, "priority", {"priority": [9]}),
        (5.0, "alloc", {}),
        (6.0, "exception", {"type": 5, "severity": "x", "note": {"a": 1}}),
        (7.0, "finish", {"status": "0"}),
        (8.0, "clean", {}),
        R=R,
    )
    assert (row["userid"], row["urgency"], row["priority"]) == (None, None, 0)
    assert row["t_depend"] == 1.0  # no version: dated at submit
    assert (row["exception_type"], row["exception_severity"], row["exception_note"]) == (
        None,
        0,
        None,
    )
    assert (row["waitstatus"], row["returncode"], row["result"]) == (None, 1, "FAILED")
    big = record(impl, SUBMIT, (2.0, "finish", {"status": 1 << 40}))
    assert (big["waitstatus"], big["returncode"]) == (None, None)


@pytest.mark.parametrize(
    ("where", "value", "unknown"),
    [
        (("attributes", "system", "duration"), 10**400, ("duration", "ntasks", "ncores")),
        (("attributes", "system", "cwd"), ["/work"], ("cwd", "queue", "duration", "ntasks")),
        (("attributes", "system", "job"), {"name": {"first": "app"}}, ("name", "duration")),
        (("tasks", 0, "count"), {"total": float("inf")}, ()),
        (("resources", 0, "count"), 1 << 62, ("ntasks", "ncores")),
        (("resources", 0, "count"), "2", ("ntasks", "ncores")),
    ],
)
def test_numbers_too_big_and_values_of_other_types_leave_fields_unknown(
    impl, where, value, unknown
):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["resources"][0]["with"][0]["count"] = 1 << 62  # slot of 2 x cores: overflows
    if where[0] != "resources":
        jobspec["resources"][0]["with"][0]["count"] = 3
    target = jobspec
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    row = record(impl, *PENDING, jobspec=jobspec)
    assert row["state"] == "SCHED"
    for field in unknown:
        assert row[field] is None, field
    if not unknown:  # a total that is no integer: one task a slot, as job-list counts
        assert (row["ntasks"], row["ncores"]) == (2, 6)


def test_an_R_naming_too_many_ranks_and_cores_is_refused_not_expanded(impl):
    huge = {
        "version": 1,
        "execution": {
            "R_lite": [{"rank": "0-1048575", "children": {"core": "0-1048575"}}],
            "expiration": 70.0,
            "nodelist": ["n[0-1048575]"],
        },
    }
    row = record(impl, *PENDING, (5.0, "alloc", {}), R=huge)
    assert (row["state"], row["nnodes"], row["ranks"], row["expiration"]) == (
        "RUN",
        None,
        None,
        None,
    )


def test_the_expiration_is_taken_only_with_the_rest_of_R(impl):
    broken = {"version": 1, "execution": {"expiration": 70.0, "nodelist": ["node3"]}}
    row = record(impl, *PENDING, (5.0, "alloc", {}), R=broken)
    assert (row["state"], row["expiration"], row["nnodes"]) == ("RUN", None, None)


def test_an_update_nested_deeper_than_the_decoders_read_is_not_applied(impl):
    deep: object = 1
    for _ in range(511):  # in a context: as deep as the decoders read
        deep = [deep]
    row = record(
        impl,
        *PENDING,
        (5.0, "jobspec-update", {"attributes.system.deep": deep, "attributes.system.queue": "q"}),
        (6.0, "alloc", {}),
        (7.0, "resource-update", {"expiration": deep}),
        R=R,
    )
    assert (row["state"], row["queue"], row["duration"], row["expiration"]) == (
        "RUN",
        "q",
        60.0,
        70.0,
    )
    assert "deep" not in json.loads(row["jobspec"])["attributes"]["system"]


# -- the compiled JobRecord and the twin's, side by side ----------------------------------


@pytest.fixture
def compiled():
    """``fluxjournal._core``, whose JobRecord is compared with the twin's."""
    if TWIN_ONLY:
        pytest.skip("FLUXJOURNAL_NO_EXTENSIONS=1: the compiled core is not under test")
    return importlib.import_module("fluxjournal._core")


def typed(values) -> tuple:
    """``values`` with their types, so that True and 1, or 1 and 1.0, differ (and NaN is
    equal to itself)."""
    return tuple((type(v), "nan" if isinstance(v, float) and math.isnan(v) else v) for v in values)


def assert_same_jobs(impl, compiled, payloads) -> dict:
    """Feed each job's rows of ``payloads`` to a compiled and a twin JobRecord, as ingest
    does, and compare them after every response; the states reached, counted."""
    records: dict = {}
    states: collections.Counter = collections.Counter()
    for payload in payloads:
        response = impl.decode_response(payload)
        jobid = response.id
        if jobid == -1:
            continue
        rows = [row for row in response.rows((0, jobid)) if row[-2] not in JOURNAL_ONLY]
        if jobid not in records:
            records[jobid] = (compiled.JobRecord(jobid), _pycore.JobRecord(jobid))
        ours, twin = records[jobid]
        for job in (ours, twin):
            job.apply(rows, response.jobspec_text, response.R_text)
        assert typed(ours.fields()) == typed(twin.fields()), jobid
        assert (ours.inactive, ours.t_submit) == (twin.inactive, twin.t_submit)
        states[ours.fields()[STATE]] += 1
    return states


STATE = schema.JOB_FIELDS.index("state")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_give_the_same_jobs_for_a_simulated_history_and_live_events(impl, compiled, seed):
    payloads = SimulatedFlux(jobs=2000, seed=seed, live=3000).journal_payloads()
    states = assert_same_jobs(impl, compiled, payloads)
    assert set(states) == {"PRIORITY", "SCHED", "RUN", "CLEANUP", "INACTIVE", "DEPEND"} | (
        set(states) & {"NEW"}
    )


@pytest.mark.parametrize("capture", ["job-journal-mix.jsonl", "job-journal-full-live.jsonl"])
def test_both_give_the_same_jobs_for_a_recorded_capture(impl, compiled, capture):
    assert "INACTIVE" in assert_same_jobs(impl, compiled, capture_lines(capture))


def same_record(compiled, rows, jobspec=JOBSPEC, R=R) -> tuple:
    """Apply ``rows`` ((t, name, context) with context as a value) to both, one at a time,
    comparing them after each; the compiled one's fields at the end."""
    text = {
        "jobspec": jobspec if isinstance(jobspec, str) or jobspec is None else json.dumps(jobspec),
        "R": R if isinstance(R, str) or R is None else json.dumps(R),
    }
    ours, twin = compiled.JobRecord(7), _pycore.JobRecord(7)
    for k, (t, name, context) in enumerate(rows):
        row = (0, 7, k, t, name, context if isinstance(context, str) else json.dumps(context))
        for job in (ours, twin):
            job.apply([row], text["jobspec"], text["R"])
        assert typed(ours.fields()) == typed(twin.fields()), (k, name)
        assert ours.inactive is twin.inactive
    return ours.fields()


LIFE = [
    SUBMIT,
    (2.0, "validate", {}),
    (3.0, "depend", {}),
    (4.0, "priority", {"priority": 9}),
    (5.0, "alloc", {}),
    (6.0, "finish", {"status": 0}),
    (7.0, "clean", {}),
]

RESOURCES_CASES = [
    "nonsense",
    {},
    {"a": 1},
    5,
    None,
    [],
    [5],
    [{"count": 1}],
    [{"type": "slot"}],
    [{"type": "slot", "count": 2.0, "with": [{"type": "core", "count": 1}]}],
    [{"type": "slot", "count": True, "with": [{"type": "core", "count": 1}]}],
    [{"type": "slot", "count": 0, "with": [{"type": "core", "count": 1}]}],
    [{"type": "slot", "count": -2, "with": [{"type": "core", "count": -3}]}],
    [{"type": 5, "count": 1, "with": [{"type": "core", "count": 1}]}],
    [{"type": "slot", "count": 1, "with": {}}],
    [{"type": "slot", "count": 1, "with": "core"}],
    [{"type": "slot", "count": 1, "with": None}],
    [
        {
            "type": "node",
            "count": 1 << 40,
            "exclusive": "yes",
            "with": [{"type": "slot", "count": 1 << 30, "with": [{"type": "core", "count": 1}]}],
        }
    ],
    [
        {
            "type": "node",
            "count": 2,
            "with": [
                {
                    "type": "socket",
                    "count": 2,
                    "with": [
                        {
                            "type": "slot",
                            "count": 3,
                            "with": [{"type": "core", "count": 4}, {"type": "gpu", "count": 1}],
                        }
                    ],
                }
            ],
        }
    ],
]

SYSTEM_CASES = [
    {"attributes": None},
    {"attributes": []},
    {"attributes": {}},
    {"attributes": {"system": 5}},
    {"job": "app"},
    {"job": {"name": None}},
    {"job": {"name": ""}},
    {"job": {"name": 5}},
    {"cwd": 5},
    {"queue": ["q"]},
    {"duration": "60"},
    {"duration": "inf"},
    {"duration": None},
    {"duration": True},
    {"duration": 10**400},
    {"duration": float("nan")},
    {"project": 5},
    {"project": "p", "bank": "b"},
    {"bank": ["b"]},
    {"shell": 5},
    {"shell": {"options": 5}},
    {"shell": {"options": {"per-resource": 5}}},
    {"shell": {"options": {"per-resource": {"type": "node", "count": "3"}}}},
    {"shell": {"options": {"per-resource": {"type": "core", "count": 1 << 62}}}},
    {"shell": {"options": {"per-resource": {"type": "node", "count": 1 << 62}}}},
    {"shell": {"options": {"per-resource": {"type": "other", "count": []}}}},
    {"shell": {"options": {"per-resource": {"count": 2}}}},
]

TASKS_CASES = [
    None,
    {},
    [],
    "abc",
    [5],
    [{"command": "abc"}],
    [{"command": []}],
    [{"command": [5]}],
    [{"command": {"0": "x"}}],
    [{"command": ["/"]}],
    [{"command": ["a/b/"], "count": 5}],
    [{"command": ["x"], "count": {"total": "4"}}],
    [{"command": ["x"], "count": {"total": 2.5}}],
    [{"command": ["x"], "count": {"total": float("inf")}}],
    [{"command": ["x"], "count": {"total": float("nan")}}],
    [{"command": ["x"], "count": {"total": "x"}}],
    [{"command": ["x"], "count": {"total": True}}],
    [{"command": ["x"], "count": {"total": 1 << 70}}],
    [{"command": ["x"], "count": []}],
]

R_CASES = [
    {},
    {"execution": None},
    {"execution": {}},
    {"execution": {"R_lite": {}}},
    {"execution": {"R_lite": ""}},
    {"execution": {"R_lite": "ab"}},
    {"execution": {"R_lite": 5}},
    {"execution": {"R_lite": [5]}},
    {"execution": {"R_lite": [{"rank": 5}]}},
    {"execution": {"R_lite": [{"rank": "0", "children": 5}]}},
    {"execution": {"R_lite": [{"rank": "0", "children": {"core": 5}}]}},
    {"execution": {"R_lite": [{"rank": "0", "children": {"core": "x"}}]}},
    {"execution": {"R_lite": [{"rank": "0", "children": {}}], "nodelist": ["n0"]}},
    {"execution": {"R_lite": [{"rank": "007", "children": {"core": "3"}}]}},
    {"execution": {"R_lite": [{"rank": "\u0661", "children": {"core": "3"}}]}},
    {"execution": {"R_lite": [{"rank": "0-4294967295", "children": {"core": "0"}}]}},
    {"execution": {"R_lite": [{"rank": "0-1048575", "children": {"core": "0-63"}}]}},
    {"execution": {"R_lite": [{"rank": "0-1000", "children": {"core": "0-1048575"}}]}},
    {"execution": {"R_lite": [{"rank": "0-700000"}, {"rank": "1-700000"}]}},
    {
        "execution": {
            "R_lite": [
                {"rank": "0-1", "children": {"core": "0-1"}},
                {"rank": "1-2", "children": {"core": "1-3"}},
                {"rank": "1", "children": {"core": "7"}},
            ],
            "nodelist": ["n[0-1]", "m2", "x[y"],
        }
    },
    {
        "execution": {
            "R_lite": [{"rank": "0,0,2", "children": {"core": "3,3"}}],
            "nodelist": "n[0-1]",
        }
    },
    {"execution": {"R_lite": [{"rank": "0-1", "children": {"core": "0"}}], "nodelist": [5]}},
    {
        "execution": {
            "R_lite": [{"rank": "0-1", "children": {"core": "0"}}],
            "nodelist": ["n[0-1048575]", 5],
        }
    },
    {"execution": {"R_lite": [{"rank": "0-3", "children": {"core": "0"}}], "nodelist": ["a"]}},
    {"execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}], "expiration": "x"}},
    {"execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}], "expiration": True}},
    {"execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}], "expiration": -5}},
    {"execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}], "expiration": 10**400}},
    {
        "execution": {
            "R_lite": [{"rank": "0", "children": {"core": "0"}}],
            "expiration": float("nan"),
        }
    },
]


def jobspec_with(**changes) -> dict:
    jobspec = json.loads(json.dumps(JOBSPEC))
    system = jobspec["attributes"]["system"]
    for key, value in changes.items():
        if key == "attributes":
            jobspec["attributes"] = value
        else:
            system[key] = value
    return jobspec


@pytest.mark.parametrize("resources", RESOURCES_CASES, ids=repr)
def test_both_read_malformed_resources_alike(compiled, resources):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["resources"] = resources
    same_record(compiled, LIFE, jobspec=jobspec)
    per_node = jobspec_with(shell={"options": {"per-resource": {"type": "node", "count": 1 << 62}}})
    per_node["resources"] = resources
    same_record(compiled, LIFE, jobspec=per_node)


@pytest.mark.parametrize("changes", SYSTEM_CASES, ids=repr)
def test_both_read_malformed_attributes_alike(compiled, changes):
    same_record(compiled, LIFE, jobspec=jobspec_with(**changes))


@pytest.mark.parametrize("tasks", TASKS_CASES, ids=repr)
def test_both_read_malformed_tasks_alike(compiled, tasks):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["tasks"] = tasks
    same_record(compiled, LIFE, jobspec=jobspec)


@pytest.mark.parametrize("R_value", R_CASES, ids=lambda R: repr(R)[:60])
def test_both_read_malformed_R_alike(compiled, R_value):
    same_record(compiled, LIFE, R=R_value)
    per_core = jobspec_with(shell={"options": {"per-resource": {"type": "core", "count": 3}}})
    per_core["resources"] = [{"type": "node", "count": 1, "with": JOBSPEC["resources"]}]
    same_record(compiled, LIFE, jobspec=per_core, R=R_value)


@pytest.mark.parametrize(
    "context",
    [
        "[1, 2]",
        "5",
        "null",
        '"text"',
        "true",
        "{}",
        '{"userid": "7", "urgency": 1.5}',
        '{"priority": 1e400, "status": -1, "severity": -5, "type": "cancel"}',
        '{"status": 2147483648, "severity": 9223372036854775808, "urgency": -9223372036854775809}',
        '{"status": 9, "severity": 0, "type": "timeout", "note": 5, "description": {"a": [1]}}',
        '{"description": NaN, "expiration": "x", "attributes.system.duration": "5"}',
        '{"resources": 5, "tasks.0": 1, "attributes": {"system": {"duration": 1}}}',
    ],
)
def test_both_read_malformed_contexts_alike(compiled, context):
    names = [
        "submit",
        "validate",
        "depend",
        "priority",
        "urgency",
        "priority",
        "alloc",
        "exception",
        "jobspec-update",
        "resource-update",
        "dependency-add",
        "dependency-add",
        "dependency-remove",
        "finish",
        "flux-restart",
        "clean",
    ]
    same_record(compiled, [(float(k + 1), name, context) for k, name in enumerate(names)])


def test_both_take_names_they_do_not_know_alike(compiled):
    rows = [
        SUBMIT,
        (2.0, 5, {}),
        (3.0, "validaté", {}),
        (4.0, "", {}),
        (5.0, None, {}),
        (6.0, "dependency-", {}),
        (7.0, "VALIDATE", {}),
        (8.0, "validate", {}),
    ]
    assert same_record(compiled, rows)[STATE] == "DEPEND"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["node", "slot", "core", "0", "0-3", "n[0-2]", "cancel", "timeout"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "count", "with", "rank", "children", "core", "name", "x"])
            | st.text(max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)

PLACES = [
    ("jobspec", ("resources",)),
    ("jobspec", ("resources", 0)),
    ("jobspec", ("resources", 0, "count")),
    ("jobspec", ("resources", 0, "with")),
    ("jobspec", ("resources", 0, "with", 0, "count")),
    ("jobspec", ("tasks",)),
    ("jobspec", ("tasks", 0, "command")),
    ("jobspec", ("tasks", 0, "count")),
    ("jobspec", ("attributes",)),
    ("jobspec", ("attributes", "system")),
    ("jobspec", ("attributes", "system", "duration")),
    ("jobspec", ("attributes", "system", "job")),
    ("jobspec", ("attributes", "system", "cwd")),
    ("jobspec", ("attributes", "system", "shell")),
    ("R", ("execution",)),
    ("R", ("execution", "R_lite")),
    ("R", ("execution", "R_lite", 0)),
    ("R", ("execution", "R_lite", 0, "rank")),
    ("R", ("execution", "R_lite", 0, "children")),
    ("R", ("execution", "expiration")),
    ("R", ("execution", "nodelist")),
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(place=st.sampled_from(PLACES), value=JSON_VALUES)
def test_both_read_any_value_anywhere_in_jobspec_and_R_alike(compiled, place, value):
    which, path = place
    documents = {"jobspec": json.loads(json.dumps(JOBSPEC)), "R": json.loads(json.dumps(R))}
    target = documents[which]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    rows = [*LIFE[:5], (5.5, "jobspec-update", {"attributes.system.queue": "q"}), *LIFE[5:]]
    same_record(compiled, rows, jobspec=documents["jobspec"], R=documents["R"])


EVENT_NAMES = [
    "submit",
    "validate",
    "depend",
    "priority",
    "alloc",
    "finish",
    "clean",
    "urgency",
    "exception",
    "jobspec-update",
    "resource-update",
    "dependency-add",
    "dependency-remove",
    "flux-restart",
    "start",
    "memo",
]
CONTEXT_KEYS = [
    "userid",
    "urgency",
    "version",
    "priority",
    "status",
    "severity",
    "type",
    "note",
    "description",
    "expiration",
    "attributes.system.duration",
    "resources",
    "tasks.0.count",
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(EVENT_NAMES),
            st.dictionaries(st.sampled_from(CONTEXT_KEYS), JSON_VALUES, max_size=4) | JSON_VALUES,
        ),
        max_size=14,
    )
)
def test_both_follow_any_sequence_of_events_alike(compiled, events):
    rows = [(float(k + 1), name, json.dumps(context)) for k, (name, context) in enumerate(events)]
    same_record(compiled, rows)


def test_both_parse_a_jobspec_again_after_an_update_before_it_was_first_read(compiled):
    # the compiled record takes the fields of a jobspec it has seen from the first parse;
    # a job whose jobspec was updated before DEPEND has fields of its own by then
    plain = same_record(compiled, LIFE)
    updated = same_record(
        compiled,
        [
            SUBMIT,
            (1.5, "jobspec-update", {"attributes.system.project": "p"}),
            *LIFE[1:],
        ],
    )
    fields = schema.JOB_FIELDS
    assert plain[fields.index("name")] == "app" and plain[fields.index("project")] is None
    assert updated[fields.index("name")] == "app" and updated[fields.index("project")] == "p"


def test_init_called_again_gives_a_new_record(impl):
    """A record's state is all set by ``__init__``: called again, it is a new record's."""
    job = impl.JobRecord(42)
    rows = [(t, name, json.dumps(context)) for t, name, context in PENDING]
    job.apply(rows, json.dumps(JOBSPEC), json.dumps(R))
    job.__init__(43)
    assert job.id == 43
    assert job.fields() == impl.JobRecord(43).fields()
