"""Several instances ingested at once into one database: ``--uri A --uri B``, and with
``--recursive`` the instances that run as jobs of those (``flux batch``, ``flux alloc``).

Each instance is followed by a thread of its own, with its own handle, its own connection
to the database and the instance's lease, so that the work of one never waits on another's
and the database sees each instance from one writer. A job that is a Flux instance is
known by its ``uri`` memo; while it runs, its journal is followed too, stored under
``PARENT/JOBID`` with a link to the parent instance and job, until its stream ends (the
instance shut down) or, at the latest, :data:`CHILD_GRACE` seconds after its job is over.
A restart takes each running child up again from its own backlog.

Unless told not to, each instance's resource journal is followed too, by a thread of its
own beside the job journal's (:mod:`fluxjournal.ingestion.resources`), under the same
lease: it is stopped and waited for before the lease is given back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from fluxjournal.ingestion import engine, resources
from fluxjournal.ingestion.sources import Source, open_child
from fluxjournal.jobid import JobID
from fluxjournal.storage.contract import leased
from fluxjournal.storage.factory import open_store

log = logging.getLogger("fluxjournal.ingest")  # named by the command (see engine.log)

#: How long a child's journal is still read after its job is over, for its last events.
CHILD_GRACE = 10.0
#: How often the waiting thread looks at the followers.
JOIN_INTERVAL = 0.2


class Target(NamedTuple):
    """An instance to follow: how to open it, the name to store it under (None: its
    own), the parent instance number and job it runs as, its depth (0: named on the
    command line), and when to stop following it (None: when the fleet stops)."""

    open: Callable[[], Source]
    label: str
    name: str | None = None
    parent: tuple[int, int] | None = None
    depth: int = 0
    stop_requested: Callable[[], bool] | None = None


class Outcome(NamedTuple):
    """What following one instance came to: its stored name and source, the run's result
    (None when it failed before or while storing), the summary line, and the error."""

    target: Target
    name: str | None
    description: str
    result: engine.IngestResult | None
    summary: str | None
    error: BaseException | None
    elapsed: float


class Fleet:
    """The instances followed into one database, and the threads that follow them."""

    def __init__(
        self,
        db: str,
        *,
        once: bool = False,
        wait: bool = False,
        max_depth: int = 0,
        stop_requested: Callable[[], bool] = lambda: False,
        progress: Callable[[str], None] | None = None,
        wrap_source: Callable[[Source], Any] | None = None,
        open_child: Callable[[str], Source] = open_child,
        follow_resources: bool = True,
    ) -> None:
        self.db = db
        #: whether the instances' resource journals are followed too
        self.follow_resources = follow_resources
        self.once = once
        self.wait = wait
        self.max_depth = max_depth
        self.stop_requested = stop_requested
        self.progress = progress
        #: applied to the sources named on the command line (``--record``)
        self.wrap_source = wrap_source
        self.open_child = open_child
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.outcomes: list[Outcome] = []
        #: the children followed, by (parent instance number, job id)
        self.children: dict[tuple[int, int], _Child] = {}

    def add(self, target: Target) -> None:
        """Start following ``target`` in a thread of its own."""
        thread = threading.Thread(
            target=self._follow, args=(target,), name=f"ingest {target.label}", daemon=True
        )
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def join(self) -> list[Outcome]:
        """Wait until every follower (children too) is done; their outcomes."""
        while True:
            with self.lock:
                alive = [thread for thread in self.threads if thread.is_alive()]
            if not alive:
                return self.outcomes
            alive[0].join(JOIN_INTERVAL)

    def _follow(self, target: Target) -> None:
        started = time.monotonic()
        name: str | None = None
        description = target.label
        result = summary = error = None
        try:
            source = target.open()
            if target.depth == 0 and self.wrap_source is not None:
                source = self.wrap_source(source)
            description = source.description
            name = target.name or source.instance
            result, summary = self._store(target, source, name)
        except Exception as exc:
            error = exc
            if target.depth > 0:
                log.warning(
                    "%s: cannot follow it (it may have ended, or belong to another user): %s",
                    target.label,
                    exc,
                )
        outcome = Outcome(
            target, name, description, result, summary, error, time.monotonic() - started
        )
        with self.lock:
            self.outcomes.append(outcome)

    def _store(
        self, target: Target, source: Source, name: str
    ) -> tuple[engine.IngestResult | None, str | None]:
        parent, parent_jobid = target.parent or (None, None)
        stop = target.stop_requested or self.stop_requested
        with open_store(self.db) as store:
            number = store.instance(name, source.description, parent, parent_jobid)
            with leased(store, number, name, wait=self.wait, stop_requested=stop) as held:
                if not held:
                    return None, None
                children = (
                    _Children(self, number, name, target.depth)
                    if target.depth < self.max_depth
                    else None
                )
                follower = self._resources(target, source, number, stop)
                try:
                    result = engine.run(
                        source.handle,
                        store,
                        number,
                        once=self.once,
                        stop_requested=stop
                        if follower is None
                        else lambda: stop() or follower.failed(),
                        progress=self.progress if target.depth == 0 else None,
                        describe_response=source.describe_response,
                        instance_jobs=children,
                    )
                finally:
                    found = follower.finish() if follower is not None else None
                if follower is not None and follower.error is not None:
                    raise follower.error
                if found is not None:
                    result = result._replace(stored_resource_events=found.stored_events)
                line = engine.format_summary(store.location, name, store.summary(number))
                return result, line

    def _resources(
        self, target: Target, source: Source, number: int, stop: Callable[[], bool]
    ) -> resources.Follower | None:
        """The follower of the instance's resource journal, started; None when it is not
        to be followed."""
        if not self.follow_resources:
            return None
        if source.resources is None:
            log.debug("%s: no resource journal to follow (--replay-resources)", target.label)
            return None
        return resources.Follower(
            source.resources, self.db, number, target.label, once=self.once, stop_requested=stop
        ).start()

    def follow_child(self, parent: int, parent_name: str, depth: int, jobid: int, uri: str) -> None:
        """Follow the instance that job ``jobid`` of instance ``parent`` is."""
        key = (parent, jobid)
        with self.lock:
            if key in self.children:
                return
            child = self.children[key] = _Child(self.stop_requested)
        label = f"the instance of job {JobID(jobid).f58} of {parent_name} ({uri})"
        log.info("following %s", label)
        target = Target(
            lambda: self.open_child(uri),
            label,
            f"{parent_name}/{JobID(jobid).f58}",
            (parent, jobid),
            depth + 1,
            child.stop_requested,
        )
        self.add(target)

    def child_over(self, parent: int, jobid: int) -> None:
        with self.lock:
            child = self.children.get((parent, jobid))
        if child is not None:
            child.over()


class _Child:
    """A child instance's stop: the fleet's, or a while after its job is over."""

    def __init__(self, stop_requested: Callable[[], bool]) -> None:
        self.fleet_stop = stop_requested
        self.deadline: float | None = None

    def over(self) -> None:
        self.deadline = time.monotonic() + CHILD_GRACE

    def stop_requested(self) -> bool:
        deadline = self.deadline
        return self.fleet_stop() or (deadline is not None and time.monotonic() >= deadline)


class _Children:
    """Tells the fleet of the jobs of one followed instance that are Flux instances."""

    def __init__(self, fleet: Fleet, instance: int, name: str, depth: int) -> None:
        self.fleet = fleet
        self.instance = instance
        self.name = name
        self.depth = depth

    def running(self, jobid: int, uri: str) -> None:
        self.fleet.follow_child(self.instance, self.name, self.depth, jobid, uri)

    def over(self, jobid: int) -> None:
        self.fleet.child_over(self.instance, jobid)
