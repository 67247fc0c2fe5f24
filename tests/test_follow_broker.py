"""``fluxjournal ingest --recursive`` on a real flux-core broker: the jobs of a ``flux
batch`` job's own instance are stored under that instance, linked to the batch job.

Skipped unless ``flux`` is on PATH and flux-core's Python bindings import.
"""

from __future__ import annotations

import signal
import subprocess
import time

from conftest import needs_flux
from test_ingest_broker import child_env, ingest_command

from fluxjournal.jobid import JobID
from fluxjournal.testing.broker import LocalBroker

pytestmark = needs_flux

INNER_JOBS = 4


def wait_until(check, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_jobs_of_a_batch_jobs_instance_are_linked_to_it(database, tmp_path):
    (tmp_path / "flux").mkdir()
    broker = LocalBroker(tmp_path / "flux")
    ingest = None
    try:
        ingest = subprocess.Popen(
            ingest_command(broker.uri, database.url, "--recursive", "-v"),
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(database.exists, "ingest made no database")
        batch = broker.run(
            "batch",
            "-n1",
            f"--output={tmp_path}/batch.out",
            "--wrap",
            "flux",
            "submit",
            f"--cc=1-{INNER_JOBS}",
            "--wait",
            "true",
        ).strip()
        batch_id = int(JobID(batch))
        broker.run("job", "attach", batch)  # until the batch job is over

        def children():
            return database.rows(
                "SELECT instance, name FROM instances WHERE parent_jobid = ?", (batch_id,)
            )

        def inner_jobs_over() -> bool:
            found = children()
            if not found:
                return False
            rows = database.rows(
                "SELECT COUNT(*) FROM jobs WHERE instance = ? AND state = 'INACTIVE'",
                (found[0][0],),
            )
            return rows[0][0] == INNER_JOBS

        wait_until(inner_jobs_over, "the batch job's own jobs were not stored")
        wait_until(
            lambda: (
                database.rows("SELECT state FROM jobs WHERE id = ?", (batch_id,)) == [("INACTIVE",)]
            ),
            "the batch job itself was not stored as over",
        )
    finally:
        if ingest is not None:
            ingest.send_signal(signal.SIGTERM)
            out, err = ingest.communicate(timeout=60)
        broker.close()
    assert ingest.returncode == 0, err
    ((child, name),) = children()
    (parent_name,) = database.rows(
        "SELECT p.name FROM instances c JOIN instances p ON p.instance = c.parent"
        " WHERE c.instance = ?",
        (child,),
    )[0]
    assert name == f"{parent_name}/{JobID(batch_id).f58}"
    (uri,) = database.rows("SELECT uri FROM jobs WHERE id = ?", (batch_id,))[0]
    assert uri.startswith("ssh://") and uri.endswith("/local-0")
    # the inner jobs: each a whole eventlog, from submit to clean
    for (jobid,) in database.rows("SELECT id FROM jobs WHERE instance = ?", (child,)):
        names = [
            n
            for (n,) in database.rows(
                "SELECT name FROM events WHERE instance = ? AND jobid = ? ORDER BY position",
                (child, jobid),
            )
        ]
        assert names[0] == "submit" and names[-1] == "clean", names
    assert "following the instance of job" in err
    assert f"instance {name}:" in out  # its summary line
