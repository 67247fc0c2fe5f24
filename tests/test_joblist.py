"""job-list's rules where the recorded capture does not reach: state reverts, updates,
exceptions, task and core counts, and the idset and hostlist forms."""

from __future__ import annotations

import json

import pytest

from fluxjournal import schema
from fluxjournal.hostlist import decode_idset, encode_hostlist, encode_idset, expand_hostlist
from fluxjournal.joblist import JobRecord

JOBSPEC = {
    "resources": [{"type": "slot", "count": 2, "with": [{"type": "core", "count": 3}],
                   "label": "task"}],
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


def record(*entries, jobspec=JOBSPEC, R=None) -> dict:
    """The job row (as a dict) of one job after ``entries`` ((t, name, context) each)."""
    job = JobRecord(42)
    rows = [(t, name, json.dumps(context)) for t, name, context in entries]
    job.apply(rows, json.dumps(jobspec) if jobspec else None, json.dumps(R) if R else None)
    return dict(zip(schema.JOB_FIELDS, job.fields()))


SUBMIT = (1.0, "submit", {"userid": 7, "urgency": 16, "flags": 0, "version": 1})
PENDING = (SUBMIT, (2.0, "validate", {}), (3.0, "depend", {}), (4.0, "priority", {"priority": 9}))


def test_a_pending_job():
    row = record(*PENDING)
    assert (row["state"], row["status"], row["priority"]) == ("SCHED", "SCHED", 9)
    assert (row["t_submit"], row["t_depend"], row["t_priority"], row["t_sched"]) == (1, 2, 3, 4)
    assert row["t_run"] is None and row["result"] is None and row["success"] is None
    assert (row["name"], row["cwd"], row["queue"], row["duration"]) == ("app", "/work", "batch", 60)
    assert (row["ntasks"], row["ncores"], row["nnodes"]) == (2, 6, None)
    assert row["exception_occurred"] is False and row["returncode"] is None


def test_urgency_sends_the_job_back_to_priority_until_the_next_priority_event():
    row = record(*PENDING, (5.0, "urgency", {"urgency": 20, "userid": 7}))
    assert (row["state"], row["urgency"], row["priority"]) == ("PRIORITY", 20, None)
    assert row["t_priority"] == 3.0  # the first time it entered PRIORITY
    row = record(*PENDING, (5.0, "urgency", {"urgency": 20}), (6.0, "priority", {"priority": 30}))
    assert (row["state"], row["priority"], row["t_sched"]) == ("SCHED", 30, 4.0)


def test_flux_restart_and_jobspec_update_revert_too():
    assert record(*PENDING, (5.0, "flux-restart", {}))["state"] == "PRIORITY"
    row = record(
        *PENDING, (5.0, "jobspec-update", {"attributes.system.duration": 120.0, "bogus.key": 1})
    )
    assert (row["state"], row["duration"]) == ("PRIORITY", 120.0)
    assert json.loads(row["jobspec"])["attributes"]["system"]["duration"] == 120.0
    assert "bogus" not in json.loads(row["jobspec"])


def test_a_job_that_ran_and_a_resource_update():
    ran = (*PENDING, (5.0, "alloc", {}), (6.0, "start", {}))
    row = record(*ran, R=R)
    assert (row["state"], row["t_run"], row["expiration"]) == ("RUN", 5.0, 70.0)
    assert (row["nnodes"], row["ncores"], row["ranks"], row["nodelist"]) == (2, 6, "[0-1]",
                                                                           "node[3-4]")
    assert row["runtime"] is None  # flux jobs counts it up to the moment it runs
    row = record(*ran, (7.0, "resource-update", {"expiration": 90.0}), R=R)
    assert row["expiration"] == 90.0
    assert json.loads(row["R"])["execution"]["expiration"] == 90.0


def test_the_most_severe_exception_is_reported_the_first_of_equals_kept():
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
    row = record(*over, R=R)
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


def test_a_finish_with_status_zero_after_a_fatal_exception_is_not_a_success():
    row = record(
        *PENDING,
        (5.0, "alloc", {}),
        (6.0, "exception", {"type": "cancel", "severity": 0, "note": "", "userid": 7}),
        (7.0, "finish", {"status": 0}),
        (8.0, "clean", {}),
        R=R,
    )
    assert (row["result"], row["success"], row["returncode"], row["waitstatus"]) == (
        "CANCELED", False, 0, 0)


def test_a_job_without_a_finish_fails_with_returncode_one_or_minus_128_when_canceled():
    dead = (*PENDING, (5.0, "exception", {"type": "dependency", "severity": 0, "note": "x"}))
    assert record(*dead, (6.0, "clean", {}))["returncode"] == 1
    canceled = (*PENDING, (5.0, "exception", {"type": "cancel", "severity": 0, "note": ""}))
    assert record(*canceled, (6.0, "clean", {}))["returncode"] == -128


def test_a_submit_of_version_0_dates_depend_at_submit():
    row = record((1.0, "submit", {"userid": 7, "urgency": 16, "flags": 0}))
    assert (row["state"], row["t_depend"]) == ("NEW", 1.0)


def test_dependencies_are_added_and_removed_in_order():
    row = record(
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
        ([{"type": "node", "count": 2, "exclusive": True, "with": [
            {"type": "slot", "count": 1, "with": [{"type": "core", "count": 4}]}]}],
         {}, 2, None, 2),
        ([{"type": "node", "count": 2, "with": [
            {"type": "slot", "count": 1, "with": [{"type": "core", "count": 4}]}]}],
         {"per-resource": {"type": "node", "count": 3}}, 6, 8, 2),
        ([{"type": "slot", "count": 2, "with": [{"type": "core", "count": 2}]}],
         {"per-resource": {"type": "core", "count": 2}}, 8, 4, None),
    ],
)
def test_task_and_core_counts_from_the_jobspec(resources, options, ntasks, ncores, nnodes):
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["resources"] = resources
    jobspec["attributes"]["system"]["shell"] = {"options": options}
    row = record(*PENDING, jobspec=jobspec)
    assert (row["ntasks"], row["ncores"], row["nnodes"]) == (ntasks, ncores, nnodes)


def test_a_named_job_and_a_command_that_ends_in_a_slash():
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["attributes"]["system"]["job"] = {"name": "mine"}
    assert record(*PENDING, jobspec=jobspec)["name"] == "mine"
    jobspec = json.loads(json.dumps(JOBSPEC))
    jobspec["tasks"][0]["command"] = ["dir/"]
    assert record(*PENDING, jobspec=jobspec)["name"] == "dir/"


def test_a_broken_jobspec_leaves_the_fields_unknown_and_the_row_whole():
    row = record(*PENDING, jobspec={"resources": "nonsense", "tasks": []})
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
