"""``fluxjournal jobs`` for people who cannot write: a read-only archive, read while the
ingester writes it; and an archive made by fluxjournal 0.1.0, read, then upgraded in place."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from stores import Database

from fluxjournal.commands import main as cli
from fluxjournal.commands.jobs import command
from fluxjournal.storage import schema
from fluxjournal.storage.factory import open_store

DATA = Path(__file__).parent / "data" / "flux-jobs"
RECORDED = json.loads((DATA / "cases.json").read_text(encoding="utf-8"))
#: The uid and gid of ``nobody``: someone who owns nothing here.
NOBODY = 65534


def recorded(args: list[str]) -> str:
    (case,) = [case for case in RECORDED["cases"] if case["args"] == args]
    return case["stdout"]


def run_jobs(url: str, args: list[str]) -> tuple[str, str, int]:
    parsed = cli.parsers()["jobs"].parse_args(["--db", url, *args])
    cli.jobs_defaults(parsed)
    out, err = io.StringIO(), io.StringIO()
    status = command(parsed, out, err, now=RECORDED["now"])
    return out.getvalue(), err.getvalue(), status


@pytest.fixture
def recorded_zone(monkeypatch):
    monkeypatch.setenv("TZ", RECORDED["tz"])
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def as_nobody(argv: list[str]) -> tuple[int, str, str]:
    """``fluxjournal ARGV`` run in a child that has become ``nobody`` (this process's
    modules, already loaded: nobody may not read this Python's own files)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        status = 70
        try:
            os.close(out_r)
            os.close(err_r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            sys.stdout = io.TextIOWrapper(os.fdopen(out_w, "wb"), encoding="utf-8")
            sys.stderr = io.TextIOWrapper(os.fdopen(err_w, "wb"), encoding="utf-8")
            status = cli.main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        stdout, stderr = out.read().decode(), err.read().decode()
    _, waited = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(waited), stdout, stderr


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to become another user")


@needs_root
def test_a_reader_who_cannot_write_lists_while_the_ingester_writes():
    # a folder anyone may enter, the ingester's alone to write (pytest's are root's only)
    folder = Path(tempfile.mkdtemp(prefix="fluxjournal-archive-", dir="/tmp"))
    folder.chmod(0o755)
    path = folder / "jobs.db"
    ingester = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fluxjournal",
            "ingest",
            "--simulate",
            "500",
            "--live",
            "200000",
            "--rate",
            "2000",
            "--db",
            str(path),
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{path}-shm").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the history stored, live events being written
        for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
            mode = (folder / name).stat().st_mode & 0o777
            assert mode & 0o022 == 0 and mode & 0o004, f"{name}: {oct(mode)}"
        counts = []
        for _ in range(5):
            status, stdout, stderr = as_nobody(
                ["jobs", "--db", str(path), "-a", "-A", "-c", "0", "-n"]
            )
            assert (status, stderr) == (0, ""), stderr
            listed = stdout.splitlines()
            assert len(set(listed)) == len(listed), "a job listed twice"
            counts.append(len(listed))
            time.sleep(0.3)
        status, _, stderr = as_nobody(["ingest", "--db", str(path), "--simulate", "1", "--once"])
        assert status == 1 and "readonly" in stderr.replace("read-only", "readonly").lower()
        assert ingester.poll() is None, "the ingester stopped"
        # one snapshot a listing: jobs only come, never go
        assert counts[0] >= 500 and counts == sorted(counts)
    finally:
        ingester.send_signal(signal.SIGTERM)
        _, err = ingester.communicate(timeout=60)
        shutil.rmtree(folder)
    assert ingester.returncode == 0, err


def test_a_select_only_postgres_role_lists_the_jobs(postgres_cluster, tmp_path, recorded_zone):
    import psycopg

    database = Database.new("postgres", tmp_path, postgres_cluster)
    try:
        lines = [line for line in (DATA / "journal.jsonl").read_bytes().splitlines() if line]
        from fluxjournal import _pycore
        from fluxjournal.ingestion import engine
        from fluxjournal.testing import ReplayFlux

        with open_store(database.url) as store:
            instance = store.instance("recorded", "test")
            engine.run(ReplayFlux(lines, ends=True), store, instance, once=True, core=_pycore)
        role = f"reader_{database.name}"
        with psycopg.connect(database.url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        reader = postgres_cluster.url_of(database.name, user=role)
        stdout, stderr, status = run_jobs(reader, ["-a"])
        assert (stdout, stderr, status) == (recorded(["-a"]), "", 0)
        with psycopg.connect(reader, autocommit=True) as conn, pytest.raises(psycopg.Error):
            conn.execute("DELETE FROM jobs")
    finally:
        database.drop()


def test_an_archive_of_0_1_0_is_read_then_upgraded_in_place(tmp_path, recorded_zone):
    """Made by fluxjournal 0.1.0 (schema version 2) from the recorded journal."""
    path = tmp_path / "old.db"
    shutil.copy(DATA / "archive-0.1.0.db", path)
    assert run_jobs(str(path), ["-a"]) == (recorded(["-a"]), "", 0)
    _, stderr, status = run_jobs(str(path), ["-a", "-i", "node2"])
    assert status == 1 and "run fluxjournal ingest on it once" in stderr
    with open_store(str(path)):
        pass  # the ingester's open brings it up to date
    db = Database("sqlite", str(path))
    assert db.rows("SELECT value FROM meta")[0][0] == str(schema.SCHEMA_VERSION)
    assert db.rows("SELECT COUNT(*) FROM job_nodes")[0][0] > 0
    db.close()
    for args in (["-a", "-i", "node2"], ["-a", "-i", "0-1"], ["-a", "-o", "long"]):
        assert run_jobs(str(path), args) == (recorded(args), "", 0)
