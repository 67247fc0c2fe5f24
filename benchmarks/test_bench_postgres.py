"""``fluxjournal ingest`` into PostgreSQL (``fluxjournal.bench.postgres``): the baseline
(a journal consumer with psycopg's executemany), COPY of ingest's rows, ingest itself, and
ten simulated instances at once against one, on the replayed history of ``--bench-jobs``.

Needs a PostgreSQL server: the one ``FLUXJOURNAL_TEST_POSTGRES`` names (``.ci/run`` sets
it; see ``tests/pgcluster.py``); skipped without one. Each round writes into a new schema
of that database. The ratios (ingest >= 5x baseline, <= 2x COPY; many >= 0.7x one in
events per second) come from ``fluxjournal bench --postgres URL``; here each row's rows
written are checked.
"""

from __future__ import annotations

import itertools
import os

import pytest

URL = os.environ.get("FLUXJOURNAL_TEST_POSTGRES")
INSTANCES = 10
pytestmark = pytest.mark.skipif(
    URL is None, reason="no PostgreSQL server: set FLUXJOURNAL_TEST_POSTGRES"
)
ROWS = ("baseline", "copy", "ingest", "one", "many")
_schemas = itertools.count(1000)


@pytest.mark.benchmark(group="postgres")
@pytest.mark.parametrize("row", ROWS)
def test_postgres(benchmark, payloads, config, row):
    pytest.importorskip("psycopg")
    from fluxjournal.bench import postgres as bench_postgres

    data = payloads.history()
    jobs = config.jobs
    (prepare,) = [
        p for name, p, _ in bench_postgres.cases(data.payloads, jobs, INSTANCES) if name == row
    ]
    open_schemas = []

    def setup():
        schema = bench_postgres.fresh_schema(URL, next(_schemas))
        open_schemas.append(schema)
        return (prepare(schema.__enter__()),), {}

    try:
        written = benchmark.pedantic(lambda run: run(), setup=setup, rounds=1)
    finally:
        for schema in open_schemas:
            schema.__exit__(None, None, None)
    per_instance = max(jobs // INSTANCES, 1)
    if row in ("one", "many"):
        assert written > per_instance * (1 if row == "one" else INSTANCES)
    else:
        assert written == data.events
