"""``fluxjournal ingest``: the rows the cores hand over, the schema, the jobs table as
job-list reports it, and a restart that stores nothing twice and writes nothing when
there is nothing new."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import DATA, capture_lines

from fluxjournal import ingest, schema
from fluxjournal.jobid import JobID
from fluxjournal.sqlite_store import SQLiteStore
from fluxjournal.store import StoreError
from fluxjournal.testing import ReplayFlux, SimulatedFlux

FULL = capture_lines("job-journal-full-live.jsonl")
MIX = capture_lines("job-journal-mix.jsonl")
JOB_LIST = json.loads((DATA / "job-list-mix.json").read_text())["jobs"]


# -- Response.rows(), jobspec_text, R_text ---------------------------------------------


@pytest.mark.parametrize("payload", FULL + MIX, ids=lambda p: p[:30].decode())
def test_rows_are_the_entries_as_the_payload_has_them(impl, payload):
    doc = json.loads(payload)
    response = impl.decode_response(payload)
    rows = response.rows(("i", doc["id"]))
    assert len(rows) == len(doc["events"])
    for index, (row, entry) in enumerate(zip(rows, doc["events"])):
        assert row[:3] == ("i", doc["id"], index)
        assert row[3] == float(entry["timestamp"]) and type(row[3]) is float
        assert row[4] == entry["name"]
        assert json.loads(row[5]) == entry.get("context", {})
    for key, text in (("jobspec", response.jobspec_text), ("R", response.R_text)):
        if key in doc:
            assert json.loads(text) == doc[key]
        else:
            assert text is None


def test_rows_from_a_start_and_with_an_offset(impl):
    payload = FULL[0]
    entries = json.loads(payload)["events"]
    response = impl.decode_response(payload)
    rows = response.rows((), 3, 100)
    assert [row[0] for row in rows] == list(range(103, 100 + len(entries)))
    assert [row[2] for row in rows] == [e["name"] for e in entries[3:]]
    assert response.rows((), len(entries)) == []
    assert response.rows((), -5) == response.rows(())


def test_rows_keep_a_null_context_apart_from_a_missing_one(impl):
    payload = (
        b'{"id":7,"events":[{"timestamp":1.5,"name":"a"},'
        b'{"name":"b","timestamp":2,"context":null},'
        b'{"timestamp":3.25,"name":"c","context":{"x":[1, 2], "y":"\\u00e9"}}]}'
    )
    rows = impl.decode_response(payload).rows(())
    assert [row[3] for row in rows] == ["{}", "null", rows[2][3]]
    assert json.loads(rows[2][3]) == {"x": [1, 2], "y": "é"}
    assert [row[1] for row in rows] == [1.5, 2.0, 3.25]


# -- the schema ------------------------------------------------------------------------

#: What the issue asks of the jobs table, in the names of ``flux jobs -a --json``.
JOB_LIST_FIELDS = [
    "id",
    "userid",
    "urgency",
    "priority",
    "state",
    "result",
    "success",
    "waitstatus",
    "returncode",
    "t_submit",
    "t_depend",
    "t_priority",
    "t_sched",
    "t_run",
    "t_cleanup",
    "t_inactive",
    "duration",
    "expiration",
    "ntasks",
    "ncores",
    "nnodes",
    "ranks",
    "nodelist",
    "name",
    "cwd",
    "queue",
    "project",
    "bank",
    "exception_occurred",
    "exception_type",
    "exception_severity",
    "exception_note",
    "jobspec",
    "R",
]

ACCOUNTING_COLUMNS = [
    "id",
    "userid",
    "t_submit",
    "t_run",
    "t_inactive",
    "ranks",
    "R",
    "jobspec",
    "project",
    "bank",
    "requested_duration",
    "actual_duration",
]


def columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def test_a_new_database_has_the_schema(tmp_path):
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    assert columns(db, "events") == [
        "instance",
        "jobid",
        "position",
        "timestamp",
        "name",
        "context",
    ]
    jobs = columns(db, "jobs")
    assert jobs[:2] == ["instance", "id"]
    assert set(JOB_LIST_FIELDS) <= set(jobs)
    assert columns(db, "accounting_jobs") == ACCOUNTING_COLUMNS
    indexes = {row[1] for row in db.execute("SELECT * FROM sqlite_master WHERE type='index'")}
    assert {"jobs_userid", "jobs_state", "jobs_t_submit", "events_timestamp"} <= indexes
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert int(version[0]) == schema.SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    primary = [row[1] for row in db.execute("PRAGMA table_info(events)") if row[5]]
    assert primary == ["instance", "jobid", "position"]


def test_a_database_of_a_newer_fluxjournal_is_refused(tmp_path):
    path = tmp_path / "newer.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'",
            (str(schema.SCHEMA_VERSION + 1),),
        )
    with pytest.raises(StoreError, match="newer fluxjournal"):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        SQLiteStore(path)


# -- ingesting -------------------------------------------------------------------------


def ingest_payloads(impl, path, payloads, name="test", once=True):
    """Ingest recorded payloads (their end ends the stream) with core ``impl``."""
    with SQLiteStore(path) as store:
        instance = store.instance(name, "test")
        return ingest.run(ReplayFlux(payloads, ends=True), store, instance, once=once, core=impl)


def stored_events(path) -> dict[int, list[tuple]]:
    db = sqlite3.connect(path)
    out: dict[int, list[tuple]] = {}
    for jobid, position, timestamp, name, context in db.execute(
        "SELECT jobid, position, timestamp, name, context FROM events ORDER BY jobid, position"
    ):
        out.setdefault(jobid, []).append((position, timestamp, name, json.loads(context)))
    return out


def journal_entries(payloads) -> dict[int, list[tuple]]:
    """Each job's eventlog entries in a capture, as the events table should hold them."""
    out: dict[int, list[tuple]] = {}
    for payload in payloads:
        doc = json.loads(payload)
        for entry in doc["events"]:
            if doc["id"] == -1 or entry["name"] in ingest.JOURNAL_ONLY:
                continue
            log = out.setdefault(doc["id"], [])
            log.append((len(log), entry["timestamp"], entry["name"], entry.get("context", {})))
    return out


def test_history_and_live_are_stored_entry_by_entry(impl, tmp_path):
    path = tmp_path / "full.db"
    result = ingest_payloads(impl, path, FULL, once=False)
    expected = journal_entries(FULL)
    assert stored_events(path) == expected
    assert result.stored_events == sum(map(len, expected.values()))
    assert result.ended and result.bad_responses == 0
    db = sqlite3.connect(path)
    nevents = dict(db.execute("SELECT id, nevents FROM jobs"))
    assert nevents == {jobid: len(log) for jobid, log in expected.items()}


def test_once_stops_after_the_history(impl, tmp_path):
    path = tmp_path / "once.db"
    sentinel = next(i for i, p in enumerate(FULL) if json.loads(p)["id"] == -1)
    ingest_payloads(impl, path, FULL, once=True)
    assert stored_events(path) == journal_entries(FULL[:sentinel])


def test_a_restart_with_nothing_new_writes_nothing(impl, tmp_path):
    path = tmp_path / "again.db"
    ingest_payloads(impl, path, FULL, once=False)
    before = sqlite3.connect(path).execute("SELECT * FROM jobs ORDER BY id").fetchall()
    db = sqlite3.connect(path)
    (version,) = db.execute("PRAGMA data_version").fetchone()
    result = ingest_payloads(impl, path, FULL, once=False)
    assert (result.stored_events, result.stored_jobs) == (0, 0)
    assert db.execute("PRAGMA data_version").fetchone()[0] == version  # no commit at all
    assert sqlite3.connect(path).execute("SELECT * FROM jobs ORDER BY id").fetchall() == before


def test_a_restart_stores_only_what_came_since(impl, tmp_path):
    """The first run saw the history only; the second sees the live part too."""
    path = tmp_path / "since.db"
    ingest_payloads(impl, path, FULL, once=True)
    first = sum(map(len, stored_events(path).values()))
    result = ingest_payloads(impl, path, FULL, once=False)
    expected = journal_entries(FULL)
    assert stored_events(path) == expected
    assert result.stored_events == sum(map(len, expected.values())) - first


def test_another_instance_under_the_same_name_is_refused(impl, tmp_path):
    path = tmp_path / "other.db"
    ingest_payloads(impl, path, FULL, once=True)
    doc = json.loads(FULL[0])
    doc["events"][0]["timestamp"] += 1.0  # same id, submitted at another time
    with pytest.raises(ingest.IngestError, match="another instance"):
        ingest_payloads(impl, path, [json.dumps(doc).encode()], once=True)
    ingest_payloads(impl, path, [json.dumps(doc).encode()], name="other", once=True)


def test_a_bad_response_is_skipped_and_the_others_stored(impl, tmp_path):
    path = tmp_path / "bad.db"
    payloads = [FULL[0], b'{"id": 5, "events": [', FULL[1], b"[]", FULL[2]]
    result = ingest_payloads(impl, path, payloads, once=False)
    assert result.bad_responses == 2
    assert stored_events(path) == journal_entries([FULL[0], FULL[1], FULL[2]])


# -- the jobs table: what job-list reports ---------------------------------------------


def flattened(job: dict) -> dict:
    """A ``flux jobs -a --json`` object in the jobs table's terms."""
    flat = dict(job)
    exception = flat.pop("exception")
    flat["exception_occurred"] = exception["occurred"]
    for key in ("type", "severity", "note"):
        if key in exception:
            flat[f"exception_{key}"] = exception[key]
    for key in ("jobid", "username", "annotations"):
        flat.pop(key)
    if flat["state"] == "RUN":
        flat.pop("runtime")  # flux jobs counts it up to the moment it runs
    return flat


def job_rows(path) -> dict[int, dict]:
    db = sqlite3.connect(path)
    names = [c.name for c in schema.JOB_COLUMNS]
    rows = {}
    for values in db.execute("SELECT * FROM jobs"):
        row = dict(zip(names, values))
        row["dependencies"] = json.loads(row["dependencies"])
        for key in ("success", "exception_occurred"):
            if row[key] is not None:
                row[key] = bool(row[key])
        rows[row["id"]] = row
    return rows


def test_every_jobs_row_is_what_job_list_reports(impl, tmp_path):
    path = tmp_path / "mix.db"
    ingest_payloads(impl, path, MIX, once=True)
    rows = job_rows(path)
    assert set(rows) == {job["id"] for job in JOB_LIST}
    reported = set()
    for job in JOB_LIST:
        want = flattened(job)
        row = rows[job["id"]]
        got = {key: row[key] for key in want}
        assert got == want, JobID(job["id"]).f58
        unreported = {k for k in JOB_LIST_FIELDS if k not in want and k not in ("jobspec", "R")}
        assert all(row[key] is None for key in unreported if key != "exception_occurred")
        reported |= set(want)
    assert set(JOB_LIST_FIELDS) - {"jobspec", "R", "queue"} <= reported  # the capture covers them


def test_jobspec_and_R_are_the_payloads(impl, tmp_path):
    path = tmp_path / "raw.db"
    ingest_payloads(impl, path, MIX, once=True)
    rows = job_rows(path)
    for payload in MIX:
        doc = json.loads(payload)
        if doc["id"] == -1:
            continue
        row = rows[doc["id"]]
        assert json.loads(row["jobspec"]) == doc["jobspec"]
        assert (json.loads(row["R"]) if row["R"] else None) == doc.get("R")


def test_accounting_view_holds_the_inactive_jobs_that_ran(impl, tmp_path):
    path = tmp_path / "acct.db"
    ingest_payloads(impl, path, MIX, once=True)
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    view = {row["id"]: row for row in db.execute("SELECT * FROM accounting_jobs")}
    ran = [j for j in JOB_LIST if j["state"] == "INACTIVE" and "t_run" in j]
    assert set(view) == {j["id"] for j in ran}
    for job in ran:
        row = view[job["id"]]
        assert row["actual_duration"] == pytest.approx(job["t_inactive"] - job["t_run"])
        assert row["requested_duration"] == job["duration"]
        assert (row["userid"], row["t_submit"], row["ranks"]) == (
            job["userid"],
            job["t_submit"],
            job["ranks"],
        )
        assert (row["project"], row["bank"]) == (job.get("project"), job.get("bank"))


def test_a_simulated_history_is_stored_whole(impl, tmp_path):
    sim = SimulatedFlux(jobs=400, seed=3, live=600)
    payloads = list(sim.journal_payloads())
    path = tmp_path / "sim.db"
    ingest_payloads(impl, path, payloads, once=False)
    assert stored_events(path) == journal_entries(payloads)


def test_a_job_sent_again_after_a_crash_keeps_its_row_and_gets_only_what_is_new(impl, tmp_path):
    """An instance that lost its last commits sends a job's events again, live, and then
    one it never sent: only that one is stored, and the row is the whole job's."""
    path = tmp_path / "resent.db"
    doc = json.loads(MIX[0])  # an inactive job of the capture
    jobid = doc["id"]
    entries = doc["events"]
    ingest_payloads(impl, path, [json.dumps(doc).encode(), b'{"id":-1,"events":[]}'])
    row_before = job_rows(path)[jobid]
    later = dict(
        entries[-1],
        timestamp=entries[-1]["timestamp"] + 5.0,
        name="memo",
        context={"note": "after"},
    )
    live = [{"id": jobid, "events": [entry]} for entry in entries[3:] + [later]]
    payloads = [b'{"id":-1,"events":[]}', *(json.dumps(p).encode() for p in live)]
    result = ingest_payloads(impl, path, payloads, once=False)
    assert result.stored_events == 1
    log = stored_events(path)[jobid]
    assert [name for _, _, name, _ in log] == [e["name"] for e in entries] + ["memo"]
    row_after = job_rows(path)[jobid]
    assert {k: v for k, v in row_after.items() if k != "nevents"} == {
        k: v for k, v in row_before.items() if k != "nevents"
    }
    assert row_after["nevents"] == len(entries) + 1


def entry(t: float, name: str, **context) -> dict:
    return {"timestamp": t, "name": name, **({"context": context} if context else {})}


SENTINEL = b'{"id":-1,"events":[]}'
OVER = [
    entry(1000.0, "submit", userid=7, urgency=16, flags=0, version=1),
    entry(1001.0, "validate"),
    entry(1002.0, "depend"),
    entry(1003.0, "priority", priority=16),
    entry(1004.0, "exception", type="cancel", severity=0, note="", userid=7),
    entry(1005.0, "clean"),
]


def response(jobid: int, *entries: dict) -> bytes:
    return json.dumps({"id": jobid, "events": list(entries)}).encode()


def test_a_finished_job_with_the_same_count_but_another_last_entry_is_not_skipped(impl, tmp_path):
    """An instance that lost a job's last commits in a crash may post them again, later:
    the count of entries is the same, the entries are not."""
    path = tmp_path / "recount.db"
    ingest_payloads(impl, path, [response(5, *OVER), SENTINEL])
    again = [*OVER[:-1], entry(2000.0, "clean")]
    result = ingest_payloads(impl, path, [response(5, *again), SENTINEL])
    assert result.stored_events == 1
    log = stored_events(path)[5]
    assert [(t, n) for _, t, n, _ in log] == [(e["timestamp"], e["name"]) for e in OVER] + [
        (2000.0, "clean")
    ]
    assert job_rows(path)[5]["nevents"] == len(OVER) + 1


def test_a_live_response_with_annotations_leaves_no_gap_in_positions(impl, tmp_path):
    path = tmp_path / "gap.db"
    live = {
        "id": 5,
        "events": [entry(1004.0, "annotations", annotations={"sched": {}}), OVER[4]],
    }
    payloads = [response(5, *OVER[:4]), SENTINEL, json.dumps(live).encode(), response(5, OVER[5])]
    result = ingest_payloads(impl, path, payloads, once=False)
    assert result.bad_responses == 0
    assert [p for p, *_ in stored_events(path)[5]] == list(range(len(OVER)))


def test_a_lost_sentinel_does_not_turn_live_events_into_history(impl, tmp_path):
    path = tmp_path / "nosentinel.db"
    payloads = [
        response(5, *OVER[:4]),
        b'{"id":-1,"events":[',
        response(5, OVER[4]),
        response(5, OVER[5]),
    ]
    result = ingest_payloads(impl, path, payloads, once=False)
    assert result.bad_responses == 1
    assert [n for _, _, n, _ in stored_events(path)[5]] == [e["name"] for e in OVER]
    assert job_rows(path)[5]["state"] == "INACTIVE"


@pytest.mark.parametrize(
    "bad",
    [
        b'{"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":18446744073709551616,"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":-5,"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":9,"events":[{"timestamp":1.0,"name":"\\ud800"}]}',
    ],
    ids=["no id", "id beyond 64 bits", "negative id", "lone surrogate name"],
)
def test_a_response_that_cannot_be_stored_is_skipped_in_history_and_live(impl, tmp_path, bad):
    path = tmp_path / "unusable.db"
    payloads = [response(5, *OVER[:4]), bad, SENTINEL, bad, response(5, *OVER[4:])]
    result = ingest_payloads(impl, path, payloads, once=False)
    assert result.bad_responses == 2
    assert set(stored_events(path)) == {5}
    assert len(stored_events(path)[5]) == len(OVER)


def test_a_context_with_a_lone_surrogate_is_stored_with_its_meaning(impl, tmp_path):
    path = tmp_path / "surrogate.db"
    odd = {"timestamp": 1000.5, "name": "memo", "context": {"note": "\ud800"}}
    ingest_payloads(impl, path, [response(5, OVER[0], odd), SENTINEL])
    assert stored_events(path)[5][1][3] == {"note": "\ud800"}
