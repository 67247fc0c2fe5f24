"""``fluxjournal ingest``: the rows the cores hand over, the schema, the jobs table as
job-list reports it, and a restart that stores nothing twice and writes nothing when
there is nothing new."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import DATA, capture_lines

from fluxjournal import _pycore
from fluxjournal.ingestion import engine
from fluxjournal.jobid import JobID
from fluxjournal.storage import schema
from fluxjournal.storage.contract import StoreError
from fluxjournal.storage.factory import open_store
from fluxjournal.storage.sqlite import SQLiteStore
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


def test_a_new_database_has_the_schema(database):
    open_store(database.url).close()
    assert database.columns("events") == [
        "instance",
        "jobid",
        "position",
        "timestamp",
        "name",
        "context",
    ]
    jobs = database.columns("jobs")
    assert jobs[:3] == ["instance", "id", "nevents"]
    assert jobs == [c.name.lower() for c in schema.JOB_COLUMNS]
    assert set(f.lower() for f in JOB_LIST_FIELDS) <= set(jobs)
    assert database.columns("instances") == [c.name for c in schema.INSTANCE_COLUMNS]
    assert database.columns("accounting_jobs") == [c.lower() for c in ACCOUNTING_COLUMNS]
    (version,) = database.rows("SELECT value FROM meta WHERE key='schema_version'")[0]
    assert int(version) == schema.SCHEMA_VERSION


def test_the_sqlite_schema_is_clustered_and_logged_ahead(tmp_path):
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    indexes = {row[1] for row in db.execute("SELECT * FROM sqlite_master WHERE type='index'")}
    assert {"jobs_userid", "jobs_state", "jobs_t_submit", "events_timestamp"} <= indexes
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    primary = [row[1] for row in db.execute("PRAGMA table_info(events)") if row[5]]
    assert primary == ["instance", "jobid", "position"]


def test_the_postgres_schema_has_its_keys_and_indexes(postgres_database):
    open_store(postgres_database.url).close()
    indexes = {name for (name,) in postgres_database.rows("SELECT indexname FROM pg_indexes")}
    assert {"jobs_userid", "jobs_state", "events_timestamp", "instances_parent"} <= indexes
    (key,) = postgres_database.rows(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'events_pkey'"
    )[0]
    assert key == 'PRIMARY KEY (instance, jobid, "position")'


def test_a_database_of_a_newer_fluxjournal_is_refused(database):
    open_store(database.url).close()
    database.set_schema_version(schema.SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="newer fluxjournal"):
        open_store(database.url)


def test_a_database_of_version_1_is_brought_up_to_date(database):
    """A version 1 database (before the instances' parents and jobs.uri) keeps its rows
    and gets the new columns."""
    with open_store(database.url) as store:
        instance = store.instance("old", "test")
    database.as_version(1)
    assert "uri" not in database.columns("jobs")
    with open_store(database.url) as store:
        assert store.instance("old", "test") == instance
    assert database.columns("jobs")[-2:] == ["uri", "t_free"]
    assert database.columns("instances")[-2:] == ["parent", "parent_jobid"]
    ingest_payloads(_pycore, database, FULL, name="old", once=False)
    assert stored_events(database) == journal_entries(FULL)


def allocation_spans(database) -> dict[int, tuple]:
    """Each job's (t_run, t_free) from its stored entries: alloc's and the last free's."""
    spans: dict[int, list] = {}
    for jobid, name, timestamp in database.rows(
        "SELECT jobid, name, timestamp FROM events WHERE name IN ('alloc', 'free')"
        " ORDER BY jobid, position"
    ):
        span = spans.setdefault(jobid, [None, None])
        span[0 if name == "alloc" else 1] = timestamp
    return {jobid: tuple(span) for jobid, span in spans.items()}


def assert_spans_stored(database) -> None:
    """jobs.t_free is each job's free entry; job_nodes holds, per node, alloc to free."""
    spans = allocation_spans(database)
    assert any(t_free is not None for _, t_free in spans.values())
    jobs = database.rows("SELECT id, t_run, t_free, t_inactive, state, ranks FROM jobs")
    for jobid, t_run, t_free, t_inactive, state, ranks in jobs:
        assert t_free == spans.get(jobid, (None, None))[1], jobid
        nodes = database.rows("SELECT t_run, t_release FROM job_nodes WHERE jobid = ?", (jobid,))
        if state == "INACTIVE" and ranks:
            release = t_free if t_free is not None else t_inactive
            assert nodes and set(nodes) == {(t_run, release)}, jobid
        else:
            assert nodes == [], jobid


def test_each_job_is_stored_with_where_its_allocation_ended(impl, database):
    ingest_payloads(impl, database, FULL, once=False)
    assert_spans_stored(database)


def test_a_database_of_version_4_gets_its_allocations_spans_in_place(database):
    ingest_payloads(_pycore, database, FULL, name="old", once=False)
    database.as_version(4)
    assert "t_free" not in database.columns("jobs")
    assert database.columns("job_nodes")[-1] == "host"
    open_store(database.url).close()
    assert database.columns("job_nodes")[-2:] == ["t_run", "t_release"]
    assert_spans_stored(database)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        SQLiteStore(path)


# -- ingesting -------------------------------------------------------------------------


def ingest_payloads(impl, database, payloads, name="test", once=True):
    """Ingest recorded payloads (their end ends the stream) with core ``impl``."""
    with open_store(database.url) as store:
        instance = store.instance(name, "test")
        return engine.run(ReplayFlux(payloads, ends=True), store, instance, once=once, core=impl)


def stored_events(database) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for jobid, position, timestamp, name, context in database.rows(
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
            if doc["id"] == -1 or entry["name"] in engine.JOURNAL_ONLY:
                continue
            log = out.setdefault(doc["id"], [])
            log.append((len(log), entry["timestamp"], entry["name"], entry.get("context", {})))
    return out


def test_history_and_live_are_stored_entry_by_entry(impl, database):
    result = ingest_payloads(impl, database, FULL, once=False)
    expected = journal_entries(FULL)
    assert stored_events(database) == expected
    assert result.stored_events == sum(map(len, expected.values()))
    assert result.ended and result.bad_responses == 0
    nevents = dict(database.rows("SELECT id, nevents FROM jobs"))
    assert nevents == {jobid: len(log) for jobid, log in expected.items()}


def test_once_stops_after_the_history(impl, database):
    sentinel = next(i for i, p in enumerate(FULL) if json.loads(p)["id"] == -1)
    ingest_payloads(impl, database, FULL, once=True)
    assert stored_events(database) == journal_entries(FULL[:sentinel])


def test_a_restart_with_nothing_new_writes_nothing(impl, database):
    ingest_payloads(impl, database, FULL, once=False)
    before = database.rows("SELECT * FROM jobs ORDER BY id")
    writes = database.writes()
    result = ingest_payloads(impl, database, FULL, once=False)
    assert (result.stored_events, result.stored_jobs) == (0, 0)
    assert database.writes() == writes  # not a row written (SQLite: no commit at all)
    assert database.rows("SELECT * FROM jobs ORDER BY id") == before


def test_a_restart_stores_only_what_came_since(impl, database):
    """The first run saw the history only; the second sees the live part too."""
    ingest_payloads(impl, database, FULL, once=True)
    first = sum(map(len, stored_events(database).values()))
    result = ingest_payloads(impl, database, FULL, once=False)
    expected = journal_entries(FULL)
    assert stored_events(database) == expected
    assert result.stored_events == sum(map(len, expected.values())) - first


def test_another_instance_under_the_same_name_is_refused(impl, database):
    ingest_payloads(impl, database, FULL, once=True)
    doc = json.loads(FULL[0])
    doc["events"][0]["timestamp"] += 1.0  # same id, submitted at another time
    with pytest.raises(engine.IngestError, match="another instance"):
        ingest_payloads(impl, database, [json.dumps(doc).encode()], once=True)
    ingest_payloads(impl, database, [json.dumps(doc).encode()], name="other", once=True)


def test_a_bad_response_is_skipped_and_the_others_stored(impl, database):
    payloads = [FULL[0], b'{"id": 5, "events": [', FULL[1], b"[]", FULL[2]]
    result = ingest_payloads(impl, database, payloads, once=False)
    assert result.bad_responses == 2
    assert stored_events(database) == journal_entries([FULL[0], FULL[1], FULL[2]])


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


def job_rows(database) -> dict[int, dict]:
    names = [c.name for c in schema.JOB_COLUMNS]
    rows = {}
    for values in database.rows("SELECT * FROM jobs"):
        row = dict(zip(names, values))
        row["dependencies"] = json.loads(row["dependencies"])
        for key in ("success", "exception_occurred"):
            if row[key] is not None:
                row[key] = bool(row[key])
        rows[row["id"]] = row
    return rows


def test_every_jobs_row_is_what_job_list_reports(impl, database):
    ingest_payloads(impl, database, MIX, once=True)
    rows = job_rows(database)
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


def test_jobspec_and_R_are_the_payloads(impl, database):
    ingest_payloads(impl, database, MIX, once=True)
    rows = job_rows(database)
    for payload in MIX:
        doc = json.loads(payload)
        if doc["id"] == -1:
            continue
        row = rows[doc["id"]]
        assert json.loads(row["jobspec"]) == doc["jobspec"]
        assert (json.loads(row["R"]) if row["R"] else None) == doc.get("R")


def test_accounting_view_holds_the_inactive_jobs_that_ran(impl, database):
    ingest_payloads(impl, database, MIX, once=True)
    view = {row["id"]: row for row in database.dicts("SELECT * FROM accounting_jobs")}
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


def test_a_simulated_history_is_stored_whole(impl, database):
    sim = SimulatedFlux(jobs=400, seed=3, live=600)
    payloads = list(sim.journal_payloads())
    ingest_payloads(impl, database, payloads, once=False)
    assert stored_events(database) == journal_entries(payloads)


def test_a_job_sent_again_after_a_crash_keeps_its_row_and_gets_only_what_is_new(impl, database):
    """An instance that lost its last commits sends a job's events again, live, and then
    one it never sent: only that one is stored, and the row is the whole job's."""
    doc = json.loads(MIX[0])  # an inactive job of the capture
    jobid = doc["id"]
    entries = doc["events"]
    ingest_payloads(impl, database, [json.dumps(doc).encode(), b'{"id":-1,"events":[]}'])
    row_before = job_rows(database)[jobid]
    later = dict(
        entries[-1],
        timestamp=entries[-1]["timestamp"] + 5.0,
        name="memo",
        context={"note": "after"},
    )
    live = [{"id": jobid, "events": [entry]} for entry in entries[3:] + [later]]
    payloads = [b'{"id":-1,"events":[]}', *(json.dumps(p).encode() for p in live)]
    result = ingest_payloads(impl, database, payloads, once=False)
    assert result.stored_events == 1
    log = stored_events(database)[jobid]
    assert [name for _, _, name, _ in log] == [e["name"] for e in entries] + ["memo"]
    row_after = job_rows(database)[jobid]
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


def test_a_finished_job_with_the_same_count_but_another_last_entry_is_not_skipped(impl, database):
    """An instance that lost a job's last commits in a crash may post them again, later:
    the count of entries is the same, the entries are not."""
    ingest_payloads(impl, database, [response(5, *OVER), SENTINEL])
    again = [*OVER[:-1], entry(2000.0, "clean")]
    result = ingest_payloads(impl, database, [response(5, *again), SENTINEL])
    assert result.stored_events == 1
    log = stored_events(database)[5]
    assert [(t, n) for _, t, n, _ in log] == [(e["timestamp"], e["name"]) for e in OVER] + [
        (2000.0, "clean")
    ]
    assert job_rows(database)[5]["nevents"] == len(OVER) + 1


def test_a_live_event_of_a_job_already_over_is_stored_after_its_stored_entries(impl, database):
    """Once the history is stored, jobs that are over are forgotten (memory stays flat over
    a long live stream); one that gets a live event all the same is read back from the
    store: its new entry goes after the stored ones, an entry sent again is not stored
    twice."""
    later = entry(3000.0, "memo", note="after the end")
    payloads = [
        response(5, *OVER),
        SENTINEL,
        response(9, *OVER[:3]),
        response(9, *OVER[3:]),
        response(5, later),
        response(5, OVER[5]),
    ]
    result = ingest_payloads(impl, database, payloads, once=False)
    assert result.bad_responses == 0
    log = stored_events(database)
    assert [p for p, *_ in log[5]] == list(range(len(OVER) + 1))
    assert log[5][-1][1:3] == (3000.0, "memo")
    assert len(log[9]) == len(OVER)
    assert job_rows(database)[5]["nevents"] == len(OVER) + 1


def test_a_live_response_with_annotations_leaves_no_gap_in_positions(impl, database):
    live = {
        "id": 5,
        "events": [entry(1004.0, "annotations", annotations={"sched": {}}), OVER[4]],
    }
    payloads = [response(5, *OVER[:4]), SENTINEL, json.dumps(live).encode(), response(5, OVER[5])]
    result = ingest_payloads(impl, database, payloads, once=False)
    assert result.bad_responses == 0
    assert [p for p, *_ in stored_events(database)[5]] == list(range(len(OVER)))


def test_a_lost_sentinel_does_not_turn_live_events_into_history(impl, database):
    payloads = [
        response(5, *OVER[:4]),
        b'{"id":-1,"events":[',
        response(5, OVER[4]),
        response(5, OVER[5]),
    ]
    result = ingest_payloads(impl, database, payloads, once=False)
    assert result.bad_responses == 1
    assert [n for _, _, n, _ in stored_events(database)[5]] == [e["name"] for e in OVER]
    assert job_rows(database)[5]["state"] == "INACTIVE"


@pytest.mark.parametrize(
    "bad",
    [
        b'{"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":18446744073709551616,"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":-5,"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":9,"events":[{"timestamp":1.0,"name":"\\ud800"}]}',
        b'{"id":9,"events":[{"timestamp":1.0,"name":"a\\u0000b"}]}',
    ],
    ids=["no id", "id beyond 64 bits", "negative id", "lone surrogate name", "NUL in name"],
)
def test_a_response_that_cannot_be_stored_is_skipped_in_history_and_live(impl, database, bad):
    payloads = [response(5, *OVER[:4]), bad, SENTINEL, bad, response(5, *OVER[4:])]
    result = ingest_payloads(impl, database, payloads, once=False)
    assert result.bad_responses == 2
    assert set(stored_events(database)) == {5}
    assert len(stored_events(database)[5]) == len(OVER)


def test_a_context_with_a_lone_surrogate_is_stored_with_its_meaning(impl, database):
    odd = {"timestamp": 1000.5, "name": "memo", "context": {"note": "\ud800"}}
    ingest_payloads(impl, database, [response(5, OVER[0], odd), SENTINEL])
    assert stored_events(database)[5][1][3] == {"note": "\ud800"}


def test_a_context_with_a_NUL_escape_is_stored_as_written(impl, database):
    odd = {"timestamp": 1000.5, "name": "memo", "context": {"note": "a\u0000b"}}
    ingest_payloads(impl, database, [response(5, OVER[0], odd), SENTINEL])
    assert stored_events(database)[5][1][3] == {"note": "a\u0000b"}
