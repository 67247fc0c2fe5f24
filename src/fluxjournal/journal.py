"""The job-manager journal consumer: flux-core's ``flux.job.journal`` API, compiled.

``JournalConsumerBase`` keeps flux-core's attributes, hooks and call order. The stock
classes (``JournalConsumer``, ``ResourceJournalConsumer``) take a fast path: payload bytes
straight from the future, decoded by the core, the history held as compact records and
merged by timestamp at the sentinel, events built only when delivered. A subclass that
overrides ``process_response``, ``create_event``, ``is_empty_response`` or
``request_payload`` gets the general path, which calls those hooks as flux-core does.
"""

from __future__ import annotations

import contextlib
import errno
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable

from fluxjournal import _impl
from fluxjournal.errors import JSONDecodeError, MalformedResponse
from fluxjournal.payload import PayloadReader, reader_for

FLUX_RPC_NORESPONSE = 1
FLUX_RPC_STREAMING = 2

#: Most responses taken from the future per wake-up: enough to amortise the wake-up, few
#: enough that the live events waiting in ``backlog`` stay in cache and out of the GC's way.
DRAIN_LIMIT = 256

JournalEventBase = _impl.JournalEventBase
JournalEvent = _impl.JournalEvent
SENTINEL_EVENT = _impl.SENTINEL_EVENT

_NOTHING: Any = object()
_HOOKS = ("process_response", "create_event", "is_empty_response", "request_payload")


class JournalConsumerBase(_impl.ConsumerCore, ABC):
    """Consume a journal-style streaming RPC: the history in time order, then live events.

    Behaves as flux-core's ``flux.abc.JournalConsumerBase``: ``start()`` sends the request,
    ``poll()`` or a callback from ``set_callback()`` delivers events, ``stop()`` cancels.
    With ``full``, nothing is delivered until the history is complete; it then comes in
    timestamp order (ties in arrival order), followed by ``SENTINEL_EVENT`` when
    ``include_sentinel``. Events with a timestamp ``<= since`` are dropped.
    """

    SENTINEL_EVENT = JournalEventBase({})

    #: The implementation that decodes and builds events: ``fluxjournal._core`` or its
    #: twin ``fluxjournal._pycore``; whichever ``fluxjournal.IMPLEMENTATION`` names.
    core: Any = _impl

    #: "job" or "resource" on the stock classes: how the fast path builds events.
    _fast_kind: str | None = None

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
        self._reader: PayloadReader | None = None
        self._fast = False
        self._history: Any = None
        self._sentinel_pending = False
        self._ended = False

    # -- hooks, as in flux-core -------------------------------------------------------

    @abstractmethod
    def process_response(self, resp: dict) -> dict:
        """Return the keyword arguments passed to :meth:`create_event` for one response."""
        return {}

    @abstractmethod
    def create_event(self, entry: dict, **kwargs: Any) -> Any:
        """Return the event object for one entry of a response's ``events`` array."""
        return self.core.JournalEventBase(entry)

    def is_empty_response(self, resp: dict) -> bool:
        """True for the response that marks the end of the history."""
        return len(resp["events"]) == 0

    @property
    def request_payload(self) -> dict:
        """The body of the journal request."""
        return {}

    # -- starting and stopping --------------------------------------------------------

    def start(self) -> JournalConsumerBase:
        """Send the request (again, with the same options, if called twice) and return self."""
        self.rpc = self.handle.rpc(self.topic, self.request_payload, 0, FLUX_RPC_STREAMING)
        self._reader = reader_for(self.rpc)
        self._fast = self._takes_fast_path()
        if self._fast and self.processing_inactive and self._history is None:
            self._history = self.core.History(self.since, self._fast_kind == "resource")
        self._ended = False
        self._arm_core(
            self._fast and isinstance(self, self.core.ConsumerCore),
            self._fast_kind == "resource",
            self._sentinel_is_id(),
            DRAIN_LIMIT,
        )
        self._set_then_cb()
        return self

    def stop(self) -> None:
        """Cancel the request; the events already sent are still delivered, then the end."""
        self.handle.rpc(
            self.cancel_topic,
            {"matchtag": self.rpc.pimpl.get_matchtag()},
            0,
            FLUX_RPC_NORESPONSE,
        )

    def _takes_fast_path(self) -> bool:
        """True unless a subclass of a stock class overrides one of flux-core's hooks."""
        cls = type(self)
        stock = next(klass for klass in cls.__mro__ if "_fast_kind" in vars(klass))
        if stock._fast_kind is None:
            return False
        return all(getattr(cls, name) is getattr(stock, name) for name in _HOOKS)

    # -- delivery ---------------------------------------------------------------------

    def _poll(self, timeout: float) -> Any:
        """poll() for all but its common cases, which ``ConsumerCore.poll`` takes in C."""
        if self.rpc is None:
            raise RuntimeError("poll() called before start()")
        while True:
            if not self.processing_inactive:
                event = self._next_event()
                if event is not _NOTHING:
                    return event
                if self._ended:
                    return None
            self._receive(timeout)

    def poll_batch(self, limit: int = 64, timeout: float = -1.0) -> list:
        """Return up to ``limit`` events at once: waits like :meth:`poll` for the first,
        then takes whatever else is ready. An empty list means the stream has ended.

        Small batches are the quick ones: events that wait in a long list fall out of the
        CPU caches and are walked by the cycle collector.
        """
        if self.rpc is None:
            raise RuntimeError("poll_batch() called before start()")
        out: list = []
        while True:
            if not self.processing_inactive:
                self._next_events(out, limit)
                if out or self._ended:
                    return out
            self._receive(timeout)

    def __enter__(self) -> JournalConsumerBase:
        return self.start() if self.rpc is None else self

    def __exit__(self, *exc_info: Any) -> None:
        if self.rpc is not None and not self._ended:
            self.stop()

    def set_callback(self, event_cb: Callable[..., Any], *args: Any, **kwargs: Any):
        """Call ``event_cb(event, *args, **kwargs)`` from the Flux reactor for every event.

        It may be set before or after :meth:`start`; setting it again replaces it. At the
        end of the stream the reactor runs out of work and ``reactor_run()`` returns.
        """
        self.cb = event_cb
        self.cb_args = args
        self.cb_kwargs = kwargs
        self._set_then_cb()
        return self

    def _set_then_cb(self) -> None:
        if self.rpc is not None and self.cb is not None:
            with contextlib.suppress(OSError):  # the then callback is already set
                self.rpc.then(self._on_response)

    def _on_response(self, future: Any) -> None:
        """The then-callback: take every ready response, then hand events to the user."""
        bad = None
        try:
            self._drain()
        except MalformedResponse as exc:
            bad = exc
        except OSError:
            pass  # as flux-core: an error response ends the stream quietly
        self._flush_to_callback()
        if bad is not None:
            self._raise_from_reactor(bad)

    def _flush_to_callback(self) -> None:
        if self.processing_inactive or self.cb is None:
            return
        cb, args, kwargs = self.cb, self.cb_args, self.cb_kwargs
        while True:
            event = self._next_event()
            if event is _NOTHING:
                return
            cb(event, *args, **kwargs)

    def _raise_from_reactor(self, exc: BaseException) -> None:
        """Make ``reactor_run()`` raise ``exc`` without disarming the stream's callback."""
        handle = self.handle
        set_exception = getattr(type(handle), "set_exception", None)
        stop_error = getattr(handle, "reactor_stop_error", None)
        if set_exception is None or stop_error is None:
            raise exc
        set_exception(exc)
        stop_error()

    # -- receiving --------------------------------------------------------------------

    def _receive(self, timeout: float) -> None:
        """Wait for one response (TimeoutError after ``timeout``), then take all ready ones."""
        reader = self._reader
        if not reader.ready():
            reader.wait(timeout)
        self._drain()

    def _drain(self) -> None:
        """Take the ready response, then every other that is ready (up to DRAIN_LIMIT)."""
        if self._take_ready():  # the compiled core did it
            return
        reader = self._reader
        ready, take, reset = reader.ready, reader.take, reader.reset
        process = self._process_fast if self._fast else self._process_general
        for _ in range(DRAIN_LIMIT):
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
            if self._fast:
                self._history.finish()
            else:
                self.backlog = deque(sorted(self.backlog, key=lambda event: event.timestamp))
            self.processing_inactive = False

    def _process_fast(self, payload: bytes) -> None:
        response = self.core.decode_response(payload)
        if self.processing_inactive:
            if self._is_sentinel(response):
                self._history.finish()
                self.processing_inactive = False
                self._sentinel_pending = self.include_sentinel
            else:
                self._history.add(response)
        elif self._fast_kind == "job":
            self.backlog.extend(response.job_events(self.since))
        else:
            self.backlog.extend(response.resource_events(self.since))

    def _sentinel_is_id(self) -> bool:
        """True when the end of the history is the response with id -1, not an empty one."""
        return False

    def _is_sentinel(self, response: Any) -> bool:
        if self._sentinel_is_id():
            return response.id == -1
        return len(response) == 0

    def _process_general(self, payload: bytes) -> None:
        try:
            resp = self.core.loads(payload)
        except JSONDecodeError as exc:
            raise MalformedResponse(f"invalid JSON: {exc}", payload) from exc
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


class JournalConsumer(JournalConsumerBase):
    """Consume the job-manager journal (``job-manager.events-journal``): every job event.

    A drop-in for ``flux.job.JournalConsumer``. ``allow`` and ``deny`` (mappings or
    iterables of event names) are passed to the service as event-name filters, an
    extension flux-core's Python API lacks; with them, only ``id == -1`` is the sentinel.
    """

    SENTINEL_EVENT = SENTINEL_EVENT
    _fast_kind = "job"

    def __init__(
        self,
        flux_handle: Any,
        full: bool = True,
        since: float = 0.0,
        include_sentinel: bool = False,
        *,
        allow: Mapping[str, Any] | Any = None,
        deny: Mapping[str, Any] | Any = None,
    ) -> None:
        super().__init__(
            flux_handle,
            "job-manager.events-journal",
            full=full,
            since=since,
            include_sentinel=include_sentinel,
        )
        self.allow = _name_filter(allow)
        self.deny = _name_filter(deny)

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
        return self.core.JournalEvent(jobid, entry, jobspec=jobspec, R=R)

    def _sentinel_is_id(self) -> bool:
        # with event filters the service still sends the sentinel, but a response whose
        # events were all filtered out is empty too
        return self.allow is not None or self.deny is not None


def _name_filter(names: Any) -> dict | None:
    """The service wants an object whose keys are event names; accept any iterable too."""
    if names is None:
        return None
    if isinstance(names, Mapping):
        return dict(names)
    if isinstance(names, str):
        return {names: 1}
    return {name: 1 for name in names}
