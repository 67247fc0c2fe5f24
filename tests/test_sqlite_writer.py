"""The compiled core's SQLite writer: rows bound and stepped through SQLite's C API, in the
library the sqlite3 module loaded, on the store's own connection; the executemany path
where it cannot be had. Both must store the same rows, and fail the same way."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys

import pytest
from conftest import TWIN_ONLY, capture_lines

from fluxjournal import _pycore
from fluxjournal.commands.main import main
from fluxjournal.ingestion import engine
from fluxjournal.storage import schema
from fluxjournal.storage.contract import StoreError
from fluxjournal.storage.sqlite import SQLiteStore
from fluxjournal.testing import ReplayFlux, SimulatedFlux

if TWIN_ONLY:
    pytest.skip("FLUXJOURNAL_NO_EXTENSIONS=1: no compiled core", allow_module_level=True)

from fluxjournal import _core  # noqa: E402

EXECUTEMANY = "FLUXJOURNAL_SQLITE_EXECUTEMANY"
FULL = capture_lines("job-journal-full-live.jsonl")
MIX = capture_lines("job-journal-mix.jsonl")


@pytest.fixture
def executemany(monkeypatch):
    """The executemany path forced, as where the C API cannot be had."""
    monkeypatch.setenv(EXECUTEMANY, "1")


def simulated_payloads() -> list[bytes]:
    return list(SimulatedFlux(jobs=300, seed=11, live=400).journal_payloads())


def ingest(path, payloads, core, once=False):
    with SQLiteStore(path) as store:
        instance = store.instance("test", "test")
        result = engine.run(ReplayFlux(payloads, ends=True), store, instance, once=once, core=core)
        return result, store.writes_chunks


def contents(path) -> tuple[list, list]:
    db = sqlite3.connect(path)
    try:
        events = db.execute("SELECT * FROM events ORDER BY instance, jobid, position").fetchall()
        jobs = db.execute("SELECT * FROM jobs ORDER BY instance, id").fetchall()
    finally:
        db.close()
    return events, jobs


# -- the connection: CPython's layout, checked -----------------------------------------


def test_the_writer_finds_the_sqlite_the_sqlite3_module_loaded():
    library = _core.sqlite_writer_library()
    assert library is not None, "SQLite's functions were not found beside the sqlite3 module"
    import _sqlite3

    assert library == _sqlite3.__file__ or "sqlite" in library


def test_the_connection_layout_of_this_python_is_the_one_the_writer_reads(tmp_path):
    """Fails loudly on a CPython release whose sqlite3.Connection does not start with its
    ``sqlite3 *db``, or that the writer does not know yet: check pysqlite_Connection in
    Modules/_sqlite/connection.h, then add the release to CONNECTION_LAYOUT_CHECKED."""
    version = sys.version_info[:2]
    assert version in _core.CONNECTION_LAYOUT_CHECKED, (
        f"Python {version}: check the layout of pysqlite_Connection and add the release"
    )
    with SQLiteStore(tmp_path / "x.db") as store:
        assert store.writer is not None  # the main file and autocommit state agreed
        # sqlite3_get_autocommit agrees with in_transaction: the writer refuses to write
        # outside a transaction and writes inside one
        assert not store.db.in_transaction
        with pytest.raises(RuntimeError, match="inside a transaction"):
            store.writer.write(1, [[(1, 1, 0, 1.0, "submit", "{}")]], [])
        store.db.execute(schema.SQLITE_BEGIN_WRITE)
        assert store.db.in_transaction
        store.writer.write(1, [[(1, 1, 0, 1.0, "submit", "{}")]], [])
        store.db.execute("COMMIT")
        assert store.db.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)


def test_a_handle_of_another_file_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    try:
        with pytest.raises(RuntimeError, match="not where it was looked for"):
            _core.SQLiteWriter.open(
                db, str(tmp_path / "b.db"), schema.SQLITE.insert_events, schema.SQLITE.upsert_jobs
            )
        with pytest.raises(RuntimeError, match="not a sqlite3.Connection"):
            _core.SQLiteWriter.open(
                object(), str(tmp_path / "a.db"), schema.SQLITE.insert_events, "x"
            )
    finally:
        db.close()


def test_a_closed_writer_or_connection_is_refused(tmp_path):
    store = SQLiteStore(tmp_path / "x.db")
    writer = store.writer
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(1, [], [])
    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        _core.SQLiteWriter.open(
            db, str(tmp_path / "x.db"), schema.SQLITE.insert_events, schema.SQLITE.upsert_jobs
        )


# -- which path ingest takes ----------------------------------------------------------


class CountingWriter:
    def __init__(self, writer):
        self.writer = writer
        self.spans = self.chunks = 0

    def write(self, instance, chunks, jobs):
        for chunk in chunks:
            self.chunks += 1
            self.spans += type(chunk) is _core.EventSpan
        return self.writer.write(instance, chunks, jobs)

    def close(self):
        self.writer.close()


def test_ingest_writes_through_the_c_api(tmp_path, monkeypatch):
    def no_executemany(*args):
        raise AssertionError("executemany was used")

    store = SQLiteStore(tmp_path / "x.db")
    counting = store.writer = CountingWriter(store.writer)
    monkeypatch.setattr(store, "write", no_executemany)
    try:
        instance = store.instance("test", "test")
        payloads = simulated_payloads()
        engine.run(ReplayFlux(payloads, ends=True), store, instance, core=_core)
    finally:
        store.close()
    assert counting.spans > 0  # the history as spans of its responses
    assert counting.chunks > counting.spans  # live events as rows


def test_the_executemany_path_is_taken_when_asked_and_said_once(tmp_path, executemany, caplog):
    caplog.set_level(logging.DEBUG, logger="fluxjournal")
    with SQLiteStore(tmp_path / "a.db") as a, SQLiteStore(tmp_path / "b.db") as b:
        assert a.writer is None and b.writer is None and not a.writes_chunks
    said = [r.getMessage() for r in caplog.records if "executemany" in r.getMessage()]
    assert len(said) <= 1  # once per process (an earlier test may have said it already)
    result, chunked = ingest(tmp_path / "c.db", simulated_payloads(), _core)
    assert not chunked and result.stored_events > 0


def test_the_fallback_is_said_under_verbose(tmp_path, monkeypatch, capsys):
    from fluxjournal.storage import sqlite as sqlite_store

    monkeypatch.setenv(EXECUTEMANY, "1")
    monkeypatch.setattr(sqlite_store, "_said_why", set())
    replay = tmp_path / "replay.jsonl"
    replay.write_bytes(b"\n".join(FULL) + b"\n")
    database = str(tmp_path / "x.db")
    status = main(["-v", "ingest", "--replay", str(replay), "--once", "--db", database])
    err = capsys.readouterr().err
    assert status == 0
    assert err.count("executemany") == 1 and EXECUTEMANY in err


def test_the_pure_python_twin_has_only_executemany(tmp_path, monkeypatch):
    from fluxjournal.storage import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "core", _pycore)
    with SQLiteStore(tmp_path / "x.db") as store:
        assert store.writer is None


# -- the same rows either way ---------------------------------------------------------


@pytest.mark.parametrize("payloads", [FULL, MIX, None], ids=["full", "mix", "simulated"])
def test_both_paths_store_the_same_rows(impl, tmp_path, monkeypatch, payloads):
    payloads = payloads if payloads is not None else simulated_payloads()
    _, chunked = ingest(tmp_path / "c.db", payloads, impl)
    assert chunked
    monkeypatch.setenv(EXECUTEMANY, "1")
    _, chunked = ingest(tmp_path / "p.db", payloads, impl)
    assert not chunked
    c_rows, py_rows = contents(tmp_path / "c.db"), contents(tmp_path / "p.db")
    assert c_rows[0] and c_rows[1]
    assert c_rows == py_rows


def test_a_span_is_the_rows_and_gives_a_record_the_same_row(all_payloads):
    spans = 0
    for payload in all_payloads:
        try:
            response = _core.decode_response(payload)
        except ValueError:
            continue
        if response.id is None or response.id < 0:
            continue
        for start, offset in ((0, 0), (1, 5)):
            span = response.span(7, start, offset)
            if span is None:
                continue
            spans += 1
            rows = response.rows((7, response.id), start, offset)
            assert span.as_rows() == rows
            assert len(span) == len(rows) and span.jobid == response.id
            assert span.last_timestamp == rows[-1][3]
            for name in ("submit", "memo", "nothing"):
                assert span.holds_name(name) == any(row[4] == name for row in rows)
            by_span, by_rows = _core.JobRecord(response.id), _core.JobRecord(response.id)
            by_span.apply(span, response.jobspec_text, response.R_text)
            by_rows.apply(rows, response.jobspec_text, response.R_text)
            assert by_span.fields() == by_rows.fields()
    assert spans > 0


def test_an_entry_not_laid_out_as_flux_core_writes_it_gives_no_span():
    usual = b'{"id":1,"events":[{"timestamp":1.5,"name":"submit","context":{}}]}'
    assert _core.decode_response(usual).span(1) is not None
    for payload in (
        b'{"id":1,"events":[{"name":"submit","timestamp":1.5}]}',  # keys in another order
        b'{"id":1,"events":[{"timestamp":1.5,"name":"sub\\u006dit"}]}',  # an escape
        b'{"id":1,"events":[{"timestamp":1.5,"name":"submit","context":{"a":"\xed\xa0\x80"}}]}',
    ):
        assert _core.decode_response(payload).span(1) is None
    assert _core.decode_response(usual).span(1, 1) is None  # nothing from there


# -- a database that fails: one line, the batch rolled back ----------------------------


def failing_batch(tmp_path, spoil):
    """A store holding one batch, spoiled by ``spoil(db)``; the next batch, written
    through the C writer, fails. Returns the error and what the database holds after."""
    path = tmp_path / "x.db"
    store = SQLiteStore(path)
    try:
        assert store.writer is not None
        instance = store.instance("test", "test")
        record = _core.JobRecord(1)
        first = _core.decode_response(FULL[0])
        store.write_chunks(instance, [first.span(instance)], [(first.id, len(first), record, None)])
        before = contents(path)
        spoil(store.db)
        context = '{"x":"' + "y" * 2000 + '"}'
        rows = [(instance, 99, k, 1.0 + k, "submit", context) for k in range(500)]
        with pytest.raises(StoreError) as failure:
            store.write_chunks(instance, [rows], [(99, 500, _core.JobRecord(99), None)])
        assert not store.db.in_transaction
    finally:
        store.close()
    return str(failure.value), before, contents(path)


@pytest.mark.parametrize(
    "spoil, says",
    [
        (lambda db: db.execute("PRAGMA query_only = ON"), "readonly"),
        (lambda db: db.execute("PRAGMA max_page_count = 1"), "full"),
    ],
    ids=["read-only", "full"],
)
def test_a_failing_write_is_one_line_and_the_batch_is_rolled_back(tmp_path, spoil, says):
    message, before, after = failing_batch(tmp_path, spoil)
    assert "\n" not in message and says in message and str(tmp_path) in message
    assert after == before


def test_a_row_stored_twice_is_one_line_and_the_batch_is_rolled_back(tmp_path):
    path = tmp_path / "x.db"
    with SQLiteStore(path) as store:
        instance = store.instance("test", "test")
        first = _core.decode_response(FULL[0])
        batch = ([first.span(instance)], [(first.id, len(first), _core.JobRecord(1), None)])
        store.write_chunks(instance, *batch)
        before = contents(path)
        with pytest.raises(StoreError, match="another process is writing") as failure:
            store.write_chunks(instance, *batch)
        assert "\n" not in str(failure.value) and not store.db.in_transaction
    assert contents(path) == before


def test_a_locked_database_is_one_line_and_nothing_is_written(tmp_path, monkeypatch):
    from fluxjournal.storage import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "LOCK_TIMEOUT", 0.2)
    path = tmp_path / "x.db"
    with SQLiteStore(path) as store:
        instance = store.instance("test", "test")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            first = _core.decode_response(FULL[0])
            with pytest.raises(StoreError, match="locked by another process") as failure:
                store.write_chunks(
                    instance, [first.span(instance)], [(first.id, 1, _core.JobRecord(1), None)]
                )
            assert "\n" not in str(failure.value)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert contents(path) == ([], [])


def test_a_job_row_of_the_wrong_width_is_refused_without_a_crash(tmp_path):
    class Short:
        t_free = None

        def fields(self):
            return (1, 2)

    with SQLiteStore(tmp_path / "x.db") as store:
        store.db.execute(schema.SQLITE_BEGIN_WRITE)
        try:
            with pytest.raises(ValueError, match="values for a statement"):
                store.writer.write(1, [], [(1, 1, Short(), None)])
            with pytest.raises(ValueError, match="values for a statement"):
                store.writer.write(1, [[(1, 2, 3)]], [])
            with pytest.raises(TypeError, match="not stored"):
                store.writer.write(1, [[(1, 2, 3, 4.0, b"bytes", "{}")]], [])
            with pytest.raises(OverflowError):
                store.writer.write(1, [[(1, 1 << 70, 3, 4.0, "x", "{}")]], [])
        finally:
            store.db.execute("ROLLBACK")


def test_json_contexts_are_stored_as_the_payload_has_them(tmp_path):
    ingest(tmp_path / "x.db", FULL, _core, once=True)
    events, _ = contents(tmp_path / "x.db")
    for row in events:
        json.loads(row[5])
