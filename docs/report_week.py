"""Draw ``docs/report-week.png``: ``fluxjournal report --plot`` of a simulated week.

A simulated instance of 2 nodes of 2 cores running some 120,000 short jobs over a week
(every job over by its end), its nodes drained, undrained, offline and online now and
then, and an instance restart or two; ingested into a new SQLite archive, then reported
and drawn as README shows it::

    python docs/report_week.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from fluxjournal.commands.main import main
from fluxjournal.ingestion import engine, resources
from fluxjournal.storage.factory import open_store
from fluxjournal.testing import SimulatedFlux

HERE = Path(__file__).resolve().parent
#: A week of jobs: a burst of a few submissions every 15 seconds or so.
JOBS, INTERVAL = 120_000, 15.0
NODES, CORES = 2, 2
#: Resource changes over the week, up to a few hours apart.
CHANGES, PAUSE = 40, 8 * 3600.0
WEEK = 7 * 86400.0


def simulated() -> SimulatedFlux:
    return SimulatedFlux(
        jobs=JOBS,
        seed=4,
        interval=INTERVAL,
        nodes=NODES,
        cores=CORES,
        active=0,
        resource_live=CHANGES,
        resource_posted=CHANGES,
        resource_pause=PAUSE,
    )


def main_() -> int:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "week.db")
        handle = simulated()
        with open_store(db) as store:
            instance = store.instance("cluster", "simulated")
            engine.run(handle, store, instance, once=True)
            resources.run(simulated(), store, instance, once=True)
            ((first,),) = store.db.execute("SELECT MIN(t_submit) FROM jobs").fetchall()
        start = first
        return main(
            [
                "report",
                "--db",
                db,
                "--since",
                repr(start),
                "--until",
                repr(start + WEEK),
                "--bin",
                "day",
                "--plot",
                str(HERE / "report-week.png"),
            ]
        )


if __name__ == "__main__":
    sys.exit(main_())
