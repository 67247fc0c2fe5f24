"""The pure-Python twin of ``fluxjournal._core``: same names, same results, no compiler.

It is used when the extension cannot be loaded or ``FLUXJOURNAL_NO_EXTENSIONS=1`` is
set. It leans on :func:`json.loads` and adds what ``_core`` promises on top of it: the
nesting limit, errors that name a position in the input as given, and the response checks.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from typing import Any, Callable

from fluxjournal import protocol
from fluxjournal.errors import Document, JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID
from fluxjournal.jsontext import EMPTY_CONTEXT_TEXT, compact_json
from fluxjournal.payload import reader_for

#: Containers nested deeper than this are refused, as in ``_core``.
MAX_DEPTH = 512

#: A string runs to its closing quote or, unterminated, to the end (json.loads fails inside
#: it then, and its brackets open nothing).
_TOKENS = re.compile(r'"(?:[^"\\]|\\[\s\S])*"?|[\[\]{}]')
_NUMBERS = re.compile(r'"(?:[^"\\]|\\.)*"|(-?\d+)(\.\d+)?([eE][-+]?\d+)?')
#: Decodes text without json.loads's check for a leading BOM, which applies to str input only.
_DECODER = json.JSONDecoder()


def _long_integer_at(text: str) -> int:
    """Offset of the first integer longer than ``int()`` accepts (json.loads's ValueError)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or float("inf")
    for match in _NUMBERS.finditer(text):
        digits, fraction, exponent = match.groups()
        if digits and not fraction and not exponent and len(digits.lstrip("-")) > limit:
            return match.start()
    return 0


def _too_deep_at(text: str) -> int | None:
    """Offset of the bracket that opens container number MAX_DEPTH + 1, or None."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


def _as_text(data: Any) -> tuple[str, int]:
    """Decode bytes as json.loads does; return the text and the bytes skipped before it."""
    if isinstance(data, str):
        return data, 0
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            "the JSON object must be str, bytes, bytearray or memoryview, "
            f"not {type(data).__name__}"
        )
    raw = bytes(data)
    encoding = json.detect_encoding(raw)
    skip = 3 if encoding == "utf-8-sig" else 0
    try:
        return raw[skip:].decode("utf-8" if skip else encoding, "surrogatepass"), skip
    except UnicodeDecodeError as exc:
        if encoding.startswith("utf-8"):
            raise JSONDecodeError("Invalid UTF-8 sequence", data, exc.start + skip) from None
        raise JSONDecodeError(f"Invalid {encoding} data", data, exc.start) from None


def loads(data: Document) -> Any:
    """Decode one JSON document exactly as ``json.loads`` would (see ``_core.loads``)."""
    text, skip = _as_text(data)
    positions_in_bytes = not isinstance(data, str) and json.detect_encoding(bytes(data[:4])) in (
        "utf-8",
        "utf-8-sig",
    )
    source = data if isinstance(data, str) or positions_in_bytes else text

    def error(msg: str, pos: int) -> JSONDecodeError:
        if positions_in_bytes:
            pos = len(text[:pos].encode("utf-8", "surrogatepass")) + skip
        return JSONDecodeError(msg, source, pos)

    deep = _too_deep_at(text)
    try:
        value = json.loads(text) if isinstance(data, str) else _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        if deep is not None and deep <= exc.pos:
            raise error(f"Nesting deeper than {MAX_DEPTH} levels", deep) from None
        raise error(exc.msg, exc.pos) from None
    except RecursionError:
        raise error(f"Nesting deeper than {MAX_DEPTH} levels", deep or 0) from None
    except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
        raise error(str(exc), _long_integer_at(text)) from None
    if deep is not None:
        raise error(f"Nesting deeper than {MAX_DEPTH} levels", deep)
    return value


class JournalEventBase(dict):
    """One journal event: a dict with ``timestamp``, ``name`` and ``context`` keys.

    A missing ``timestamp`` is set to the current time in the caller's dict, and a
    missing ``context`` becomes ``{}``, as flux-core's ``JournalEventBase`` does.
    """

    def __init__(self, event: Any) -> None:
        if "timestamp" not in event:
            event["timestamp"] = time.time()
        if isinstance(event, str):
            event = loads(event)
        super().__init__(event)
        if "context" not in self:
            self["context"] = {}

    @property
    def name(self) -> Any:
        """The event name (RFC 21)."""
        return self["name"]

    @property
    def timestamp(self) -> Any:
        """Seconds since the epoch."""
        return self["timestamp"]

    @property
    def context(self) -> Any:
        """The context dict; ``{}`` when the entry had none."""
        return self["context"]

    @property
    def context_string(self) -> str:
        """The context as compact JSON with sorted keys, or ``""`` when it is empty."""
        if not self["context"]:
            return ""
        return json.dumps(
            self["context"], ensure_ascii=False, separators=(",", ":"), sort_keys=True
        )

    def is_empty(self) -> bool:
        """True for an event without a name, which marks the end of the history."""
        return "name" not in self

    def __str__(self) -> str:
        if self.is_empty():
            return f"{self.timestamp:<0.5f} End of historical data stream"
        return " ".join([f"{self.timestamp:<0.5f}", self.name, self.context_string])


class JournalEvent(JournalEventBase):
    """An event of the job-manager journal, for job ``jobid``.

    ``jobspec`` is kept only on ``submit`` and ``R`` only on ``alloc``; a ``jobid`` of -1
    makes the empty event that marks the end of the history.
    """

    def __init__(self, jobid: Any, event: Any, jobspec: Any = None, R: Any = None) -> None:
        super().__init__(event)
        self.jobid = JobID(jobid)
        self.jobspec = None
        self.R = None
        if self.is_empty():
            return
        if self.name == "submit":
            self.jobspec = jobspec
        elif self.name == "alloc":
            self.R = R

    def is_empty(self) -> bool:
        """True for the sentinel: the event whose jobid is -1."""
        return self.jobid == -1

    def __str__(self) -> str:
        if self.is_empty():
            return "-1: End of historical data stream"
        parts = [
            f"{self.jobid.f58}:",
            f"{self.timestamp:<0.5f}",
            self.name,
            self.context_string,
            self.jobspec and f"jobspec={self.jobspec}",
            self.R and f"R={self.R}",
        ]
        return " ".join([part for part in parts if part])


class ResourceJournalEvent(JournalEventBase):
    """An event of the resource journal; ``R`` is kept on every event."""

    def __init__(self, event: Any, R: Any = None) -> None:
        super().__init__(event)
        self.R = R


SENTINEL_EVENT = JournalEvent(-1, {})


def _check_entry(entry: Any, index: int) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"event {index} is not an object")
    for key, value in entry.items():
        if key == "timestamp":
            if type(value) not in (int, float):
                raise ValueError(f"event {index}: timestamp is not a number")
            try:
                float(value)
            except OverflowError:
                raise ValueError(f"event {index}: timestamp is not a number") from None
        elif key == "name" and type(value) is not str:
            raise ValueError(f"event {index}: name is not a string")
    if "name" not in entry:
        raise ValueError(f"event {index} has no name")
    if "timestamp" not in entry:
        entry["timestamp"] = time.time()


def _check_response(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    for key, value in doc.items():
        if key == "events":
            if not isinstance(value, list):
                raise ValueError("events is not an array")
            for index, entry in enumerate(value):
                _check_entry(entry, index)
        elif key == "id" and type(value) is not int:
            raise ValueError("id is not an integer")
    if "events" not in doc:
        raise ValueError('no "events" array')


def _job_event(jobid: JobID, entry: dict, jobspec: Any, R: Any) -> JournalEvent:
    """A JournalEvent sharing one JobID per response (``JobID(jobid)`` would copy it)."""
    event = JournalEvent.__new__(JournalEvent)
    dict.__init__(event, entry)
    if "context" not in event:
        event["context"] = {}
    event.jobid = jobid
    event.jobspec = jobspec if jobid != -1 and entry["name"] == "submit" else None
    event.R = R if jobid != -1 and entry["name"] == "alloc" else None
    return event


class Response:
    """One decoded journal response: its job id, its entries, ``jobspec`` and ``R``."""

    __slots__ = ("id", "_entries", "jobspec", "R", "jobid")

    def __init__(self, doc: dict) -> None:
        self.id = doc.get("id")
        self.jobid = JobID(self.id if self.id is not None else -1)
        self._entries = doc["events"]
        self.jobspec = doc.get("jobspec")
        self.R = doc.get("R")

    def __len__(self) -> int:
        return len(self._entries)

    def timestamps(self) -> list[float]:
        """The entries' timestamps, as floats, in payload order."""
        return [float(entry["timestamp"]) for entry in self._entries]

    def entries(self) -> list[dict]:
        """The ``events`` array as ``json.loads`` gives it (missing timestamps filled)."""
        return [dict(entry) for entry in self._entries]

    def job_events(self, since: float | None = None) -> list[JournalEvent]:
        """The entries as :class:`JournalEvent` objects, those newer than ``since`` only."""
        floor = float("-inf") if since is None else since
        return [
            _job_event(self.jobid, entry, self.jobspec, self.R)
            for entry in self._entries
            if float(entry["timestamp"]) > floor
        ]

    def resource_events(self, since: float | None = None) -> list[ResourceJournalEvent]:
        """The entries as :class:`ResourceJournalEvent` objects newer than ``since``."""
        floor = float("-inf") if since is None else since
        return [
            ResourceJournalEvent(dict(entry), self.R)
            for entry in self._entries
            if float(entry["timestamp"]) > floor
        ]

    @property
    def jobspec_text(self) -> str | None:
        """The response's ``jobspec`` as JSON text; None when absent."""
        return None if self.jobspec is None else compact_json(self.jobspec)

    @property
    def R_text(self) -> str | None:
        """The response's ``R`` as JSON text; None when absent."""
        return None if self.R is None else compact_json(self.R)

    def rows(self, prefix: tuple, start: int = 0, offset: int = 0) -> list[tuple]:
        """The entries from index ``start`` on, one tuple each: ``prefix`` followed by
        (position, timestamp, name, context), where position is the entry's index plus
        ``offset`` and context is JSON text (``{}`` when the entry has none)."""
        entries = self._entries
        return [
            (
                *prefix,
                index + offset,
                float(entries[index]["timestamp"]),
                entries[index]["name"],
                _context_text(entries[index]),
            )
            for index in range(max(start, 0), len(entries))
        ]


def _context_text(entry: dict) -> str:
    if "context" not in entry:
        return EMPTY_CONTEXT_TEXT
    return compact_json(entry["context"])


def _longer_than(data: Any, limit: int) -> bool:
    """Whether the UTF-8 text of ``data``, as ``loads`` reads it, is longer than ``limit``
    bytes (False for what is no document at all: ``loads`` says why)."""
    if isinstance(data, str):
        # a character takes at most 4 bytes: only a long text needs encoding to tell
        return len(data) * 4 > limit and len(data.encode("utf-8", "surrogatepass")) > limit
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return False
    size = memoryview(data).nbytes
    if size <= limit:
        return False
    encoding = json.detect_encoding(bytes(data[:4]))
    if encoding == "utf-8":
        return True
    if encoding == "utf-8-sig":
        return size - 3 > limit
    return _longer_than(_as_text(data)[0], limit)


def decode_response(data: Document) -> Response:
    """Decode one journal response payload into a :class:`Response` (see ``_core``)."""
    if _longer_than(data, protocol.MAX_RESPONSE_BYTES):
        raise MalformedResponse("larger than 2 GiB", data)
    try:
        doc = loads(data)
    except JSONDecodeError as exc:
        raise MalformedResponse(f"invalid JSON: {exc}", data) from exc
    try:
        _check_response(doc)
    except ValueError as exc:
        raise MalformedResponse(str(exc), data) from None
    return Response(doc)


class History:
    """The journal's history until the sentinel, delivered in timestamp order (see ``_core``)."""

    def __init__(self, since: float = 0.0, resource: bool = False) -> None:
        if "finished" in vars(self):  # as _core's: entries kept so far belong to the first
            raise RuntimeError("History is already initialised")
        self.since = since
        self.resource = resource
        self.finished = False
        self._kept: list[tuple[float, Response, dict]] = []
        self._order: list[tuple[float, Response, dict]] = []
        self._delivered = 0
        # Threads may switch inside the sort: an add() from another thread then waits, so
        # that it is either in the sort or refused after it, never lost in between.
        self._changing = threading.Lock()

    def add(self, response: Response) -> int:
        """Keep the entries of one backlog response that are newer than ``since``."""
        with self._changing:
            if self.finished:
                raise RuntimeError("History.add() after finish()")
            kept = [
                (float(entry["timestamp"]), response, entry)
                for entry in response._entries
                if float(entry["timestamp"]) > self.since
            ]
            self._kept.extend(kept)
        return len(kept)

    def finish(self) -> None:
        """Sort the kept entries by timestamp, ties in arrival order (a stable sort)."""
        with self._changing:
            if not self.finished:
                self._order = sorted(self._kept, key=lambda item: item[0])
                self._kept = []
                self.finished = True

    def __len__(self) -> int:
        return len(self._order) - self._delivered

    def next(self) -> Any:
        """Build and return the next event in timestamp order, or None when none is left."""
        if not self.finished:
            raise RuntimeError("History.next() before finish()")
        if self._delivered == len(self._order):
            return None
        return self.take(1)[0]

    def take(self, limit: int = -1) -> list:
        """Build and return up to ``limit`` events (all when -1), in timestamp order."""
        if not self.finished:
            raise RuntimeError("History.take() before finish()")
        stop = len(self._order) if limit < 0 else min(len(self._order), self._delivered + limit)
        out = []
        for _stamp, response, entry in self._order[self._delivered : stop]:
            if self.resource:
                out.append(ResourceJournalEvent(dict(entry), response.R))
            else:
                out.append(_job_event(response.jobid, entry, response.jobspec, response.R))
        self._delivered = stop
        return out


# ---------------------------------------------------------------------------
# The consumer: the twin's whole state machine
# ---------------------------------------------------------------------------

_NOTHING: Any = object()
#: What a job journal response with events and no job id is refused for.
_NO_JOB_ID = 'no "id" for its events'


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
            raise MalformedResponse(_NO_JOB_ID, payload)

    def _is_sentinel(self, response: Response) -> bool:
        if self._sentinel_is_id():
            return response.id == -1
        return len(response) == 0

    def _process_general(self, payload: bytes) -> None:
        """One response on the general path: flux-core's hooks, on the decoded dict."""
        try:
            resp = loads(payload)
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
        self.allow = protocol.name_filter(allow)
        self.deny = protocol.name_filter(deny)

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


# The pure-Python JobRecord lives in joblist.py, with job-list's rules and constants; it
# decodes with this module's loads (joblist imports this module in turn, after JobRecord).
from fluxjournal.joblist import JobRecord  # noqa: E402, F401
