"""``fluxjournal report`` on a real flux-core broker: a rank drained while a job runs on
it, then undrained, jobs before and after; the report's figures against the reference
computed from the events the archive holds (each job's eventlog and R, the resource
eventlog), not from its SQL.

Skipped unless ``flux`` is on PATH and flux-core's Python bindings import.
"""

from __future__ import annotations

import json
import time

import pytest
import report_reference as ref
from conftest import needs_flux
from test_ingest_broker import ingest_to_end, quiet

from fluxjournal.reading import report
from fluxjournal.storage.factory import open_archive
from fluxjournal.storage.queries import ReportFilter
from fluxjournal.testing.broker import LocalBroker

pytestmark = needs_flux


def stored_payloads(archive) -> tuple[list[bytes], list[dict]]:
    """The archive's jobs as journal responses (each job's events and R), and its resource
    eventlog: what the reference reads."""
    payloads = []
    for jobid, R, jobspec in archive.rows("SELECT id, R, jobspec FROM jobs"):
        events = [
            {"timestamp": t, "name": name, "context": json.loads(context)}
            for t, name, context in archive.rows(
                "SELECT timestamp, name, context FROM events WHERE jobid = ? ORDER BY position",
                (jobid,),
            )
        ]
        response = {"id": jobid, "events": events, "jobspec": json.loads(jobspec or "{}")}
        if R:
            response["R"] = json.loads(R)
        payloads.append(json.dumps(response).encode())
    resources = [
        {"timestamp": t, "name": name, "context": json.loads(context), "R": R and json.loads(R)}
        for t, name, context, R in archive.rows(
            "SELECT timestamp, name, context, R FROM resource_events ORDER BY position"
        )
    ]
    return payloads, resources


def test_the_report_of_a_real_broker_equals_the_reference(tmp_path):
    with LocalBroker(tmp_path) as broker:
        broker.run("submit", "--cc=1-4", "--wait", "true")
        job = broker.run("submit", "sleep", "3").strip()
        broker.run("job", "wait-event", job, "start")
        broker.run("resource", "drain", "0", "under a job")
        time.sleep(1.0)
        broker.run("resource", "undrain", "0")
        broker.run("job", "wait-event", job, "clean")
        broker.run("submit", "--wait", "-n2", "hostname")
        held = broker.run("submit", "--urgency=hold", "true").strip()
        broker.run("cancel", held)
        quiet(broker)
        db = str(tmp_path / "archive.db")
        done = ingest_to_end(broker.uri, db, "--once", "-q")
        assert done.returncode == 0, done.stderr
        now = time.time()
    with open_archive(db) as archive:
        payloads, resource_events = stored_payloads(archive)
        jobs = ref.jobs_of(payloads)
        assert {e["name"] for e in resource_events} >= {"resource-define", "drain", "undrain"}
        start = min(job.t_submit for job in jobs.values()) - 1.0
        where = ReportFilter(1, start, now, now)
        got = report.utilization(archive, where)
        want = ref.utilization(jobs, resource_events, start, now, now)
        for kind, seconds in (("cores", got.core_seconds), ("nodes", got.node_seconds)):
            for part in ("capacity", "allocated", "down", "idle"):
                assert seconds[part] == pytest.approx(want[kind][part], abs=1e-4), (kind, part)
        assert got.core_seconds["down"] > 0
        lines = {line.group: line for line in report.usage(archive, where, "user")}
        for user, line in ref.usage_by_user(jobs, start, now, now).items():
            assert lines[user].jobs == line["jobs"] and lines[user].canceled == line["CANCELED"]
            assert lines[user].core_seconds == pytest.approx(line["core_seconds"], abs=1e-4)
            assert lines[user].wait_median == pytest.approx(ref.quantile(line["waits"], 0.5))
