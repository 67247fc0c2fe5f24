"""What both stores promise beyond the rows: one ingester per instance (its lease, held in
the database's own terms and dropped by a crash), and the errors a user meets, each as one
line that says what to do."""

from __future__ import annotations

import os
import signal
import threading
import time

import pgcluster
import pytest

from fluxjournal.commands import main as cli
from fluxjournal.storage import contract as store
from fluxjournal.storage import schema
from fluxjournal.storage.contract import LeaseHeld, leased
from fluxjournal.storage.factory import open_store

SIMULATED = "simulated:0:5"  # the name --simulate 5 stores its jobs under


def ingest(database, *extra: str) -> int:
    return cli.main(["ingest", "--db", database.url, "--simulate", "5", "--once", *extra])


def stored_count(database) -> int:
    return database.rows("SELECT COUNT(*) FROM events")[0][0] if database.exists() else 0


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("fluxjournal: ") and "Traceback" not in captured.err
    return lines[0]


def test_a_second_ingester_of_an_instance_exits_with_one_line(database, capsys):
    with open_store(database.url) as holder:
        number = holder.instance(SIMULATED, "test")
        assert holder.try_lease(number) is None
        assert ingest(database) == 1
        line = one_error_line(capsys)
        assert "being ingested by" in line and "--wait" in line
        assert stored_count(database) == 0
    assert ingest(database) == 0  # the holder let go
    assert stored_count(database) > 0


def test_with_wait_the_second_takes_over_when_the_first_stops(database, monkeypatch):
    monkeypatch.setattr(store, "LEASE_POLL_INTERVAL", 0.05)
    holder = open_store(database.url)
    number = holder.instance(SIMULATED, "test")
    assert holder.try_lease(number) is None
    released = threading.Event()

    def let_go() -> None:
        time.sleep(0.5)
        holder.release_lease(number)
        released.set()

    threading.Thread(target=let_go).start()
    try:
        assert ingest(database, "--wait") == 0
        assert released.is_set()  # it waited
        assert stored_count(database) > 0
    finally:
        released.wait()
        holder.close()


def test_a_lease_of_a_crashed_ingester_is_free(database):
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with open_store(database.url) as holder:
                assert holder.try_lease(holder.instance(SIMULATED, "test")) is None
                os.write(ready_w, b"x")
                time.sleep(60)
        finally:
            os._exit(1)
    assert os.read(ready_r, 1) == b"x"
    with open_store(database.url) as other:
        number = other.instance(SIMULATED, "test")
        assert other.try_lease(number) is not None  # held by the child
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        deadline = time.monotonic() + 10  # the server sees the session end
        while other.try_lease(number) is not None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        other.release_lease(number)


def take_lease(store, instance: int, name: str) -> None:
    with leased(store, instance, name):
        pass


def test_leases_of_two_instances_do_not_meet(database):
    with open_store(database.url) as first, open_store(database.url) as second:
        a, b = first.instance("a", "test"), second.instance("b", "test")
        with leased(first, a, "a"), leased(second, b, "b"):
            assert second.try_lease(a) is not None
            with pytest.raises(LeaseHeld, match="instance a is being ingested"):
                take_lease(second, a, "a")


def test_a_database_of_a_newer_fluxjournal_is_refused_in_one_line(database, capsys):
    assert ingest(database) == 0
    before = stored_count(database)
    database.set_schema_version(999)
    capsys.readouterr()
    assert ingest(database) == 1
    line = one_error_line(capsys)
    assert "schema version 999" in line and "newer fluxjournal" in line
    assert stored_count(database) == before


# -- PostgreSQL's own errors -------------------------------------------------------------


def test_an_unreachable_server_is_one_line(tmp_path, capsys):
    pytest.importorskip("psycopg")
    url = f"postgresql://nobody@/none?host={tmp_path}&connect_timeout=2"
    assert cli.main(["ingest", "--db", url, "--simulate", "5", "--once"]) == 1
    line = one_error_line(capsys)
    assert "cannot reach" in line and str(tmp_path) in line


def test_a_refused_login_is_one_line_without_the_password(postgres_cluster, capsys):
    url = postgres_cluster.url_of("postgres", pgcluster.PASSWORD_ROLE, "wrong-password")
    assert cli.main(["ingest", "--db", url, "--simulate", "5", "--once"]) == 1
    line = one_error_line(capsys)
    assert "refused the login" in line and "password authentication failed" in line
    assert "wrong-password" not in line


def test_a_database_that_does_not_exist_says_to_make_it(postgres_cluster, capsys):
    url = postgres_cluster.url_of("no_such_database")
    assert cli.main(["ingest", "--db", url, "--simulate", "5", "--once"]) == 1
    line = one_error_line(capsys)
    assert "does not exist" in line and "createdb" in line


def test_a_role_with_a_password_can_ingest(postgres_cluster, postgres_database):
    """The usual setup: a role that logs in with a password, owning its database."""
    admin = postgres_database.connect()
    admin.execute(f"ALTER DATABASE {postgres_database.name} OWNER TO {pgcluster.PASSWORD_ROLE}")
    admin.execute(f"GRANT ALL ON SCHEMA public TO {pgcluster.PASSWORD_ROLE}")
    admin.close()
    url = postgres_cluster.url_of(
        postgres_database.name, pgcluster.PASSWORD_ROLE, pgcluster.PASSWORD
    )
    assert cli.main(["ingest", "--db", url, "--simulate", "5", "--once", "-q"]) == 0
    assert stored_count(postgres_database) > 0


def test_libpq_variables_name_the_database(postgres_cluster, postgres_database, monkeypatch):
    socket = os.path.dirname(postgres_cluster.data)
    monkeypatch.setenv("PGHOST", socket)
    monkeypatch.setenv("PGUSER", pgcluster.SUPERUSER)
    monkeypatch.setenv("PGDATABASE", postgres_database.name)
    assert cli.main(["ingest", "--db", "postgresql://", "--simulate", "5", "--once", "-q"]) == 0
    assert stored_count(postgres_database) > 0


def index_names(database) -> set[str]:
    if database.kind == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {name for (name,) in database.rows(query)}


def test_a_first_load_defers_the_indexes_only_when_no_other_ingester_writes(database):
    with open_store(database.url) as first, open_store(database.url) as second:
        a, b = first.instance("a", "test"), second.instance("b", "test")
        assert first.try_lease(a) is None
        assert second.try_lease(b) is None
        assert second.defer_indexes() is False  # the other writes: the indexes stay
        assert set(schema.INDEXES) <= index_names(database)
        first.release_lease(a)
        assert second.defer_indexes() is True  # alone now: dropped, built at the end
        assert not set(schema.INDEXES) & index_names(database)
        second.build_indexes()
        assert set(schema.INDEXES) <= index_names(database)
