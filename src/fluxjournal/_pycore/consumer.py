"""The twin's consumer: flux-core's journal consumer state machine, in Python."""

from __future__ import annotations

import contextlib
import errno
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from typing import Any, Callable

from fluxjournal._pycore.events import (
    SENTINEL_EVENT,
    JournalEvent,
    JournalEventBase,
    ResourceJournalEvent,
)
from fluxjournal._pycore.history import History
from fluxjournal._pycore.loads import loads
from fluxjournal._pycore.response import Response, decode_response
from fluxjournal.errors import JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID
from fluxjournal.wire import protocol
from fluxjournal.wire.payload import reader_for

# ---------------------------------------------------------------------------
# The consumer: the twin's whole state machine
# ---------------------------------------------------------------------------

_NOTHING: Any = object()


class JournalConsumerBase(ABC):
    """Consume a journal-style streaming RPC: the history in time order, then live events.

    Behaves as flux-core's ``flux.abc.JournalConsumerBase`` (docs/CONTRACT.md, section 3):
    ``start()`` sends the request, ``poll()`` or a callback from ``set_callback()``
    delivers events, ``stop()`` cancels. With ``full``, nothing is delivered until the
    history is complete; it then comes in timestamp order (ties in arrival order),
    followed by ``SENTINEL_EVENT`` when ``include_sentinel``. Events with a timestamp
    ``<= since`` are dropped.

    The stock classes decode each payload with :func:`decode_response` and keep the
    history in a :class:`History`; a subclass that overrides one of flux-core's hooks
    gets them called on decoded dicts, as flux-core calls them.
    """

    SENTINEL_EVENT = JournalEventBase({})

    #: This module: the decoder and event classes the consumer builds with.
    core: Any = sys.modules[__name__]

    #: JOB_KIND or RESOURCE_KIND on the stock classes: how the stock path builds events.
    _stock_kind: str | None = None

    def __init__(
        self,
        flux_handle: Any,
        topic: str,
        cancel_topic: str | None = None,
        full: bool = True,
        since: float = 0.0,
        include_sentinel: bool = False,
    ) -> None:
        self.handle = flux_handle
        self.topic = topic
        self.cancel_topic = cancel_topic
        if self.cancel_topic is None:
            self.cancel_topic = f"{self.topic}-cancel"
        self.backlog: deque = deque()
        self.full = full
        self.since = since
        self.rpc: Any = None
        self.cb: Callable[..., Any] | None = None
        self.cb_args: Any = []
        self.cb_kwargs: dict[str, Any] = {}
        self.processing_inactive = self.full
        self.include_sentinel = include_sentinel
        self._reader: Any = None
        self._kind: str | None = None
        self._history: Any = None
        self._sentinel_pending = False
        self._ended = False
        # Held by the thread inside a call that moves the state (see _claim); reentrant,
        # so that a callback may poll.
        self._owner = threading.RLock()

    # -- one thread at a time ---------------------------------------------------------

    def _claim(self) -> None:
        """Claim the consumer for this thread; RuntimeError while another thread holds it.

        As in ``_core``: start, poll, poll_batch, the iterator, set_callback and the
        response callback each claim it, stop() does not (it only sends the cancel). The
        claim never waits: a second thread is told at once, instead of being made to take
        whatever share of the events the first one leaves. Undone by ``_unclaim``.
        """
        if not self._owner.acquire(blocking=False):
            raise RuntimeError(protocol.IN_USE_MESSAGE.format(type(self).__name__))

    def _unclaim(self) -> None:
        self._owner.release()

    # -- hooks, as in flux-core -------------------------------------------------------

    @abstractmethod
    def process_response(self, resp: dict) -> dict:
        """Return the keyword arguments passed to :meth:`create_event` for one response."""
        return {}

    @abstractmethod
    def create_event(self, entry: dict, **kwargs: Any) -> Any:
        """Return the event object for one entry of a response's ``events`` array."""
        return JournalEventBase(entry)

    def is_empty_response(self, resp: dict) -> bool:
        """True for the response that marks the end of the history."""
        return len(resp["events"]) == 0

    @property
    def request_payload(self) -> dict:
        """The body of the journal request."""
        return {}

    def _sentinel_is_id(self) -> bool:
        """True when the end of the history is the response with id -1, not an empty one."""
        return False

    # -- starting and stopping --------------------------------------------------------

    def start(self) -> JournalConsumerBase:
        """Send the request (again, with the same options, if called twice) and return self."""
        self._claim()
        try:
            rpc = self.handle.rpc(self.topic, self.request_payload, 0, protocol.FLUX_RPC_STREAMING)
            self.rpc = rpc
            self._reader = reader_for(rpc)
            self._kind = protocol.stock_kind(type(self))
            if self._kind is not None and self.processing_inactive and self._history is None:
                self._history = History(self.since, self._kind == protocol.RESOURCE_KIND)
            self._ended = False
            self._set_then_cb()
        finally:
            self._unclaim()
        return self

    def stop(self) -> None:
        """Cancel the request; the events already sent are still delivered, then the end."""
        self.handle.rpc(
            self.cancel_topic,
            {"matchtag": self.rpc.pimpl.get_matchtag()},
            0,
            protocol.FLUX_RPC_NORESPONSE,
        )

    def __enter__(self) -> JournalConsumerBase:
        return self.start() if self.rpc is None else self

    def __exit__(self, *exc_info: Any) -> None:
        if self.rpc is not None and not self._ended:
            self.stop()

    # -- delivery ---------------------------------------------------------------------

    def poll(self, timeout: float = -1.0) -> Any:
        """Return the next event, waiting up to ``timeout`` seconds (-1: for ever).

        Raises TimeoutError when nothing arrives in time (a later call carries on), and
        returns None once the stream has ended. A response that cannot be decoded raises
        :class:`~fluxjournal.MalformedResponse`; the next call carries on after it.
        """
        if self.rpc is None:
            raise RuntimeError("poll() called before start()")
        self._claim()
        try:
            while True:
                if not self.processing_inactive:
                    event = self._next_event()
                    if event is not _NOTHING:
                        return event
                    if self._ended:
                        return None
                self._receive(timeout)
        finally:
            self._unclaim()

    def poll_batch(self, limit: int = 64, timeout: float = -1.0) -> list:
        """Return up to ``limit`` events at once: waits like :meth:`poll` for the first,
        then takes whatever else is ready. An empty list means the stream has ended.

        Small batches are the quick ones: events that wait in a long list fall out of the
        CPU caches and are walked by the cycle collector.
        """
        if self.rpc is None:
            raise RuntimeError("poll_batch() called before start()")
        out: list = []
        self._claim()
        try:
            while True:
                if not self.processing_inactive:
                    self._next_events(out, limit)
                    if out or self._ended:
                        return out
                self._receive(timeout)
        finally:
            self._unclaim()

    def __iter__(self) -> Iterator[Any]:
        """Every event until the end of the stream (start() is called if needed).

        Events are taken one at a time, so breaking out of the loop and calling poll()
        later loses nothing.
        """
        if self.rpc is None:
            self.start()
        poll = self.poll
        while True:
            event = poll()
            if event is None:
                return
            yield event

    def set_callback(self, event_cb: Callable[..., Any], *args: Any, **kwargs: Any):
        """Call ``event_cb(event, *args, **kwargs)`` from the Flux reactor for every event.

        It may be set before or after :meth:`start`; setting it again replaces it. At the
        end of the stream the reactor runs out of work and ``reactor_run()`` returns.
        """
        self._claim()
        try:
            self.cb = event_cb
            self.cb_args = args
            self.cb_kwargs = kwargs
            self._set_then_cb()
        finally:
            self._unclaim()
        return self

    def _set_then_cb(self) -> None:
        if self.rpc is not None and self.cb is not None:
            with contextlib.suppress(OSError):  # the then callback is already set
                self.rpc.then(self._on_response)

    def _on_response(self, future: Any) -> None:
        """The then-callback: take every ready response, then hand events to the user."""
        self._claim()
        try:
            self._take_responses()
        finally:
            self._unclaim()

    def _take_responses(self) -> None:
        bad = None
        try:
            self._drain()
        except MalformedResponse as exc:
            bad = exc
        except OSError:
            pass  # as flux-core: an error response ends the stream quietly
        if not self.processing_inactive and self.cb is not None:
            cb, args, kwargs = self.cb, self.cb_args, self.cb_kwargs
            while (event := self._next_event()) is not _NOTHING:
                cb(event, *args, **kwargs)
        if bad is not None:
            _raise_from_reactor(self.handle, bad)

    # -- receiving --------------------------------------------------------------------

    def _receive(self, timeout: float) -> None:
        """Wait for one response (TimeoutError after ``timeout``), then take all ready ones."""
        reader = self._reader
        if not reader.ready():
            reader.wait(timeout)
        self._drain()

    def _drain(self) -> None:
        """Take the ready response, then every other that is ready (up to DRAIN_LIMIT)."""
        reader = self._reader
        ready, take, reset = reader.ready, reader.take, reader.reset
        process = self._process_general if self._kind is None else self._process_stock
        for _ in range(protocol.DRAIN_LIMIT):
            try:
                payload = take()
            except OSError as exc:
                if exc.errno != errno.ENODATA:
                    raise  # left in place: every later poll raises it, as flux-core does
                reset()
                self._end_of_stream()
                return
            reset()
            process(b"" if payload is None else payload)
            if not ready():
                return

    def _end_of_stream(self) -> None:
        self._ended = True
        if self.processing_inactive:  # the stream ended inside the history
            if self._kind is not None:
                self._history.finish()
            else:
                self.backlog = deque(sorted(self.backlog, key=lambda event: event.timestamp))
            self.processing_inactive = False

    def _process_stock(self, payload: bytes) -> None:
        """One response on the stock path: kept in the history, or its live events queued."""
        response = decode_response(payload)
        if self.processing_inactive:
            if self._history is None:
                raise RuntimeError("the history arrives with no History to keep it")
            if self._is_sentinel(response):
                self._history.finish()
                self.processing_inactive = False
                self._sentinel_pending = self.include_sentinel
            else:
                self._check_job_id(response, payload)
                self._history.add(response)
        elif self._kind == protocol.JOB_KIND:
            self._check_job_id(response, payload)
            if response.id is not None:
                response.jobid = _recent_jobid(response.id)
            self.backlog.extend(response.job_events(self.since))
        else:
            self.backlog.extend(response.resource_events(self.since))

    def _check_job_id(self, response: Response, payload: bytes) -> None:
        """Refuse a job journal response with events and no ``id``: flux-core's consumer
        fails making their JobID (JobID(None)), and an event needs its job."""
        if self._kind == protocol.JOB_KIND and response.id is None and len(response):
            raise MalformedResponse(protocol.NO_JOB_ID, payload)

    def _is_sentinel(self, response: Response) -> bool:
        if self._sentinel_is_id():
            return response.id == -1
        return len(response) == 0

    def _process_general(self, payload: bytes) -> None:
        """One response on the general path: flux-core's hooks, on the decoded dict."""
        try:
            resp = loads(payload)
        except JSONDecodeError as exc:
            raise MalformedResponse(protocol.INVALID_JSON.format(exc), payload) from exc
        if self.processing_inactive and self.is_empty_response(resp):
            self.processing_inactive = False
            self.backlog = deque(sorted(self.backlog, key=lambda event: event.timestamp))
            if self.include_sentinel:
                self.backlog.append(self.SENTINEL_EVENT)
            return
        kwargs = self.process_response(resp)
        for entry in resp["events"]:
            event = self.create_event(entry, **kwargs)
            if event.timestamp > self.since:
                self.backlog.append(event)

    def _next_event(self) -> Any:
        """The next deliverable event: history, then the sentinel, then live; or _NOTHING."""
        history = self._history
        if history is not None:
            event = history.next()
            if event is not None:
                return event
            self._history = None
        if self._sentinel_pending:
            self._sentinel_pending = False
            return self.SENTINEL_EVENT
        if self.backlog:
            return self.backlog.popleft()
        return _NOTHING

    def _next_events(self, out: list, limit: int) -> None:
        history = self._history
        if history is not None:
            out.extend(history.take(limit - len(out)))
            if len(history):
                return
            self._history = None
        if self._sentinel_pending and len(out) < limit:
            self._sentinel_pending = False
            out.append(self.SENTINEL_EVENT)
        backlog = self.backlog
        while backlog and len(out) < limit:
            out.append(backlog.popleft())


def _raise_from_reactor(handle: Any, exc: BaseException) -> None:
    """Make ``reactor_run()`` raise ``exc`` without disarming the stream's callback."""
    set_exception = getattr(type(handle), "set_exception", None)
    stop_error = getattr(handle, "reactor_stop_error", None)
    if set_exception is None or stop_error is None:
        raise exc
    set_exception(exc)
    stop_error()


#: Live responses carry one event each, so a job's events come in several responses:
#: they share one JobID object through this small cache of the latest ids seen.
_RECENT_JOBIDS: dict[int, JobID] = {}
_RECENT_LIMIT = 64


def _recent_jobid(value: int) -> JobID:
    jobid = _RECENT_JOBIDS.get(value)
    if jobid is None:
        if len(_RECENT_JOBIDS) >= _RECENT_LIMIT:
            _RECENT_JOBIDS.clear()
        jobid = _RECENT_JOBIDS[value] = JobID(value)
    return jobid


class JournalConsumer(JournalConsumerBase):
    """Consume the job-manager journal (``job-manager.events-journal``): every job event.

    A drop-in for ``flux.job.JournalConsumer``. ``allow`` and ``deny`` (mappings or
    iterables of event names) are passed to the service as event-name filters, an
    extension flux-core's Python API lacks; with them, only ``id == -1`` is the sentinel.
    """

    SENTINEL_EVENT = SENTINEL_EVENT
    _stock_kind = protocol.JOB_KIND

    def __init__(
        self,
        flux_handle: Any,
        full: bool = True,
        since: float = 0.0,
        include_sentinel: bool = False,
        *,
        allow: Any = None,
        deny: Any = None,
    ) -> None:
        super().__init__(
            flux_handle,
            protocol.JOB_TOPIC,
            full=full,
            since=since,
            include_sentinel=include_sentinel,
        )
        self.allow = protocol.names_object(allow)
        self.deny = protocol.names_object(deny)

    @property
    def request_payload(self) -> dict:
        payload: dict[str, Any] = {"full": self.full}
        if self.allow is not None:
            payload["allow"] = self.allow
        if self.deny is not None:
            payload["deny"] = self.deny
        return payload

    def process_response(self, resp: dict) -> dict:
        """The job id, jobspec and R of one response, for :meth:`create_event`."""
        return {"jobid": resp.get("id"), "jobspec": resp.get("jobspec"), "R": resp.get("R")}

    def create_event(self, entry: dict, jobid: Any = -1, jobspec: Any = None, R: Any = None):
        """One :class:`JournalEvent` from one entry."""
        return JournalEvent(jobid, entry, jobspec=jobspec, R=R)

    def _sentinel_is_id(self) -> bool:
        # with event filters the service still sends the sentinel, but a response whose
        # events were all filtered out is empty too
        return self.allow is not None or self.deny is not None


class ResourceJournalConsumer(JournalConsumerBase):
    """Consume the resource journal (``resource.journal``); it always sends its history.

    A drop-in for ``flux.resource.ResourceJournalConsumer``: events are
    :class:`ResourceJournalEvent` objects, each keeping its response's ``R``.
    """

    _stock_kind = protocol.RESOURCE_KIND

    def __init__(self, flux_handle: Any, since: float = 0.0, include_sentinel: bool = False):
        super().__init__(
            flux_handle,
            protocol.RESOURCE_TOPIC,
            full=True,
            since=since,
            include_sentinel=include_sentinel,
        )

    def process_response(self, resp: dict) -> dict:
        """The response's R, for :meth:`create_event`."""
        return {"R": resp.get("R")}

    def create_event(self, entry: dict, R: Any = None):
        """One :class:`ResourceJournalEvent` from one entry."""
        return ResourceJournalEvent(entry, R)
