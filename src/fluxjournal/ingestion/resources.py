"""``fluxjournal ingest``: every entry of an instance's resource eventlog, exactly once.

The resource module's journal (``resource.journal``) sends, on every request, the whole
resource eventlog from its first entry (in batches, ``resource-define`` alone with the R
it defined), then ``{"events": []}``, then each entry as it is posted. An entry's
``position`` is its index in that eventlog, and what the database holds of an instance is
always the eventlog's first N entries: so a run skips the first N entries the journal
sends, once it has checked that entry N - 1 is the stored last one (the same timestamp and
name; else the database holds another eventlog under this instance's name, and nothing is
written). Rows are written in transactions of their own, the history's in batches, live
entries at most :data:`COMMIT_INTERVAL` after they came (fewer writes for the job
journal's writer to wait for): a batch a crash interrupts is not stored, and the next run
finds its entries in the history again.

The journal is read on a Flux handle and a database connection of their own, in a thread
beside the job journal's (:class:`Follower`): a wait for the response of one stream of a
flux-core 0.88 handle drops what another stream of that handle receives meanwhile
(observed), so the two journals cannot share a handle in one thread.
"""

from __future__ import annotations

import errno
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from fluxjournal._switch import core as active_core
from fluxjournal.errors import MalformedResponse
from fluxjournal.ingestion.engine import WAKE_INTERVAL, IngestError
from fluxjournal.ingestion.stream import JournalStream
from fluxjournal.storage.contract import Store, StoreBusy
from fluxjournal.storage.factory import open_store
from fluxjournal.wire.protocol import RESOURCE_TOPIC

log = logging.getLogger("fluxjournal.ingest")  # named by the command (see engine.log)

#: Most rows of the history held before they are written.
BATCH_ENTRIES = 1000
#: Longest a live entry waits before its transaction commits.
COMMIT_INTERVAL = 0.5
#: How many times the last write of a run is tried while the database is busy.
LAST_WRITE_TRIES = 3
#: The errors of a first answer that mean the instance offers no resource journal to this
#: user (no resource module, or not allowed): its jobs are stored all the same.
UNAVAILABLE = frozenset({errno.ENOSYS, errno.EPERM})
#: Where a row of ``Response.rows((instance,))`` keeps its timestamp and name.
_TIMESTAMP, _NAME = 2, 3


class ResourceResult(NamedTuple):
    """What one run of the resource journal did: responses read, rows written, entries
    in the history, responses skipped as bad, whether the instance offers the journal,
    and whether its stream ended."""

    responses: int
    stored_events: int
    history_events: int
    bad_responses: int
    available: bool
    ended: bool


class ResourceIngest:
    """The position of the next entry of one instance's resource eventlog and the rows
    waiting to be written."""

    def __init__(self, store: Store, instance: int) -> None:
        self.store = store
        self.instance = instance
        #: the last stored entry: the journal's entry at its position must be it
        self.cursor = store.resource_cursor(instance)
        #: how many entries the database holds: the first ones the journal sends
        self.skip = 0 if self.cursor is None else self.cursor.position + 1
        #: the position of the journal's next entry
        self.seen = 0
        self.pending: list[tuple] = []
        self.stored_events = 0

    def take(self, response: Any) -> None:
        """Keep the entries of one response that the database lacks."""
        first = self.seen
        self.seen += len(response)
        if self.seen < self.skip:
            return  # all stored, and the last stored one further on
        rows = response.rows((self.instance,), 0, first)
        cursor = self.cursor
        if cursor is not None and first <= cursor.position < self.seen:
            row = rows[cursor.position - first]
            if (row[_TIMESTAMP], row[_NAME]) != (cursor.timestamp, cursor.name):
                raise IngestError(
                    f"the resource eventlog's entry {cursor.position} is {row[_NAME]} at "
                    f"{row[_TIMESTAMP]!r}, the database's {cursor.name} at "
                    f"{cursor.timestamp!r}: the database holds another instance under this "
                    "name (choose another with --instance)"
                )
        R = response.R_text
        self.pending += [(*row, R) for row in rows[max(self.skip - first, 0) :]]

    def history_over(self) -> None:
        """The history has been sent whole: it must hold every stored entry."""
        if self.seen < self.skip:
            raise IngestError(
                f"the resource eventlog holds {self.seen} entries, the database "
                f"{self.skip}: the database holds another instance under this name "
                "(choose another with --instance)"
            )

    def flush(self) -> None:
        """Write the waiting rows in one transaction. They are handed over first: rows
        whose write failed are not written again by this run (the next finds them), but
        for a write that found the database held by another writer (the job journal's,
        building its indexes, say) for longer than it waits: nothing was written, so the
        rows wait for the next flush."""
        rows, self.pending = self.pending, []
        if not rows:
            return
        try:
            self.store.write_resource_events(rows)
        except StoreBusy as exc:
            log.debug("resource entries wait: %s", exc)
            self.pending = rows + self.pending
            return
        self.stored_events += len(rows)


def run(
    handle: Any,
    store: Store,
    instance: int,
    *,
    once: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
    core: Any = active_core,
    label: str = "the instance",
) -> ResourceResult:
    """Store the resource journal of ``handle`` until the stream ends, a stop is asked or
    (with ``once``) the history is stored. An instance that answers the request with
    ENOSYS or EPERM is said to offer no resource journal, once, and nothing is stored."""
    ingest = ResourceIngest(store, instance)
    stream = JournalStream(handle, topic=RESOURCE_TOPIC, body={})
    responses = bad = history_events = 0
    in_history = available = True
    commit_by = math.inf
    try:
        while not stop_requested():
            now = time.monotonic()
            if ingest.pending and now >= commit_by:
                ingest.flush()
                commit_by = now + COMMIT_INTERVAL if ingest.pending else math.inf
            wait = WAKE_INTERVAL if math.isinf(commit_by) else max(commit_by - now, 0.0)
            try:
                payload = stream.next(wait)
            except TimeoutError:
                continue
            except OSError as exc:
                if responses or exc.errno not in UNAVAILABLE:
                    raise
                log.warning(
                    "%s: no resource journal (%s): its jobs alone are stored",
                    label,
                    exc.strerror or errno.errorcode.get(exc.errno or 0, exc),
                )
                available = False
                stream.ended = True  # an error response ends a stream
                break
            if payload is None:
                break
            responses += 1
            try:
                response = core.decode_response(payload)
            except MalformedResponse as exc:
                bad += 1
                log.warning("%s: resource journal response %d: %s", label, responses, exc)
                continue
            if in_history and not len(response):  # the end of the history
                ingest.history_over()
                ingest.flush()
                if ingest.pending:  # the database was busy: again in a while
                    commit_by = time.monotonic() + COMMIT_INTERVAL
                in_history = False
                history_events = ingest.seen
                if once:
                    _flush_before_the_end(ingest, label)
                    break
                continue
            ingest.take(response)
            if len(ingest.pending) >= BATCH_ENTRIES:
                ingest.flush()
            elif not in_history and ingest.pending and math.isinf(commit_by):
                commit_by = time.monotonic() + COMMIT_INTERVAL
        _flush_before_the_end(ingest, label)
    finally:
        if not stream.ended:
            stream.cancel()
    return ResourceResult(
        responses, ingest.stored_events, history_events, bad, available, stream.ended
    )


def _flush_before_the_end(ingest: ResourceIngest, label: str) -> None:
    """The last write of a run: tried again while the database is busy, up to
    :data:`LAST_WRITE_TRIES` times; then what waits is left to the next run."""
    for _ in range(LAST_WRITE_TRIES):
        ingest.flush()
        if not ingest.pending:
            return
    log.warning(
        "%s: %d resource entries not stored, the database being busy; the next run stores them",
        label,
        len(ingest.pending),
    )


class Follower:
    """The resource journal of one instance, followed in a thread of its own with a
    handle (``open_handle()``) and a database connection (``db``) of its own, while its
    job journal is followed under the instance's lease: :meth:`finish` is called before
    the lease is given back, so that one writer at a time writes an instance."""

    def __init__(
        self,
        open_handle: Callable[[], Any],
        db: str,
        instance: int,
        label: str,
        *,
        once: bool = False,
        stop_requested: Callable[[], bool] = lambda: False,
    ) -> None:
        self.open_handle = open_handle
        self.db = db
        self.instance = instance
        self.label = label
        self.once = once
        self.fleet_stop = stop_requested
        #: set when the job journal's follower is done: live entries are no longer read
        self.done = threading.Event()
        self.result: ResourceResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._follow, name=f"resources {label}", daemon=True)

    def start(self) -> Follower:
        self.thread.start()
        return self

    def failed(self) -> bool:
        """True once the thread has failed: the job journal's follower stops too."""
        return self.error is not None

    def _stop_requested(self) -> bool:
        return self.done.is_set() or self.fleet_stop()

    def _follow(self) -> None:
        try:
            handle = self.open_handle()
            with open_store(self.db) as store:
                self.result = run(
                    handle,
                    store,
                    self.instance,
                    once=self.once,
                    stop_requested=self._stop_requested,
                    label=self.label,
                )
        except Exception as exc:
            self.error = exc

    def finish(self) -> ResourceResult | None:
        """Stop following live entries (with ``once``, wait for the history instead) and
        wait for the thread; its result, None when it failed (:attr:`error`)."""
        if not self.once:
            self.done.set()
        self.thread.join()
        return self.result
