"""Stand-ins for a ``flux.Flux`` handle that serve the job and resource journals.

They answer the two journal services as a flux-core 0.88.0 broker does, through the part of
flux-python's handle and future API that journal consumers use, so that flux-core's own
``flux.job.journal.JournalConsumer`` and ``flux.resource.ResourceJournalConsumer`` (and
fluxjournal's consumers) run on them unchanged, in CI and in demos, with no broker.

- :class:`ReplayFlux` serves recorded response payloads (the lines of a ``.jsonl`` capture);
  with ``ends=True`` the stream ends after the last of them, so that a replay stops at the
  end of its file, and :attr:`ReplayFlux.line_numbers` tells the line each came from.
- :class:`SimulatedFlux` simulates a job manager: a deterministic, lazily generated history
  of any size, the sentinel, then live events. ``posted=k`` has requests find it ``k`` live
  events later (at :attr:`SimulatedFlux.asked_at`, their backlog holding what those events
  added), and ``keep_inactive`` purges all but the most recently inactive jobs.

What both do, as the real services do:

- ``handle.rpc(topic, payload, nodeid, flags)`` returns a :class:`FakeRPC` future.
  ``job-manager.events-journal`` and ``resource.journal`` answer a streaming request with
  their backlog then the sentinel, keep the stream open, and end it with an ENODATA error
  once ``<topic>-cancel`` with ``{"matchtag": m}`` (sent with ``FLUX_RPC_NORESPONSE``) names
  it (or, for a :class:`ReplayFlux` that ``ends``, once the recording is sent). A request
  that is not streaming gets EPROTO, as does a job journal request whose payload is not a
  JSON object, whose ``full`` is not a boolean, or whose ``allow``/``deny`` is not an
  object. Other topics get ENOSYS. A cancel is never answered: its future is
  ready at once only because it is sent with ``FLUX_RPC_NORESPONSE`` (and reading it fails
  with EINVAL, as in flux-python).
- The backlog (and its sentinel) is always delivered whole, even when the cancel comes
  first: the real service sends it from inside its request handler.
- Each response is ready as soon as the previous one has been taken: nothing sleeps, unless
  :class:`SimulatedFlux` is given a ``rate``.
- Each request is its own stream with its own matchtag (1, 2, 3, ... in request order;
  flux-core may reuse a freed matchtag, the stand-ins never do).
- Payloads are compact JSON as jansson writes it, one response each; ``get_bytes()`` gives
  them without the NUL that flux-core counts in flux_rpc_get_raw()'s length.

The future mirrors flux-python's ``flux.rpc.RPC`` and ``reactor_run()`` mirrors
``flux.Flux.reactor_run()``: it runs ``then`` callbacks while a stream that has one is
open, returns 0 once none is, and re-raises an exception raised by a callback.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import json
import os
import random
import threading
import time
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Callable, Union

__all__ = [
    "FLUX_NODEID_ANY",
    "FLUX_REACTOR_NOWAIT",
    "FLUX_REACTOR_ONCE",
    "FLUX_RPC_NORESPONSE",
    "FLUX_RPC_STREAMING",
    "FakeFlux",
    "FakeRPC",
    "ReplayFlux",
    "SimulatedFlux",
]

# flux-core's values (src/common/libflux/rpc.h, message.h), so that no flux import is needed.
FLUX_RPC_NORESPONSE = 1
FLUX_RPC_STREAMING = 2
FLUX_NODEID_ANY = 0xFFFFFFFF
FLUX_MATCHTAG_NONE = 0
FLUX_REACTOR_NOWAIT = 1
FLUX_REACTOR_ONCE = 2

JOB_JOURNAL_TOPIC = "job-manager.events-journal"
RESOURCE_JOURNAL_TOPIC = "resource.journal"
JOB_SENTINEL = b'{"id":-1,"events":[]}'
RESOURCE_SENTINEL = b'{"events":[]}'

Payload = Union[str, bytes]


class _Error:
    """An error response, as flux_respond_error() sends it."""

    __slots__ = ("errnum", "errstr")

    def __init__(self, errnum: int, errstr: str | None = None) -> None:
        self.errnum = errnum
        # flux_future_error_string() falls back to strerror() when no text was sent.
        self.errstr = errstr if errstr is not None else os.strerror(errnum)


class _Nothing:
    """The marker for "no response is there"."""

    __slots__ = ()


_NOTHING = _Nothing()
# A response as a future holds it: payload bytes, None (no payload) or an error.
_Response = Union[bytes, None, _Error]


class _Stream:
    """The responses a service sends to one request, taken one by one by its future.

    ``backlog`` is sent whatever happens; ``live`` comes after it and is cut short by a
    cancel unless ``live_survives_cancel``; a cancelled stream then ends with ENODATA, and
    so does one that ``ends`` once everything is sent. A stream that is not ``streaming``
    ends with its first response, like a plain RPC; an error response ends any stream.
    """

    __slots__ = (
        "backlog",
        "live",
        "streaming",
        "live_survives_cancel",
        "ends",
        "rate",
        "cancelled",
        "done",
        "t0",
        "live_sent",
        "wake_at",
    )

    def __init__(
        self,
        backlog: Iterator[_Response] | None,
        live: Iterator[bytes] | None = None,
        *,
        streaming: bool = True,
        live_survives_cancel: bool = True,
        ends: bool = False,
        rate: float | None = None,
    ) -> None:
        self.backlog = backlog
        self.live = live
        self.streaming = streaming
        self.live_survives_cancel = live_survives_cancel
        self.ends = ends
        self.rate = rate
        self.cancelled = False
        self.done = False
        self.t0 = time.monotonic()
        self.live_sent = 0
        self.wake_at: float | None = None

    @classmethod
    def single(cls, response: _Response) -> _Stream:
        """One response that ends the exchange (an error, or a one-way request's None)."""
        return cls(iter((response,)), streaming=False)

    @classmethod
    def silent(cls) -> _Stream:
        """A request the service never answers."""
        return cls(None)

    def is_open(self) -> bool:
        """True while the service may still send without being asked to stop."""
        return not self.done and not self.cancelled

    def take(self) -> _Response | _Nothing:
        """The next response that has arrived, or _NOTHING. The caller holds the lock."""
        if self.done:
            return _NOTHING
        if self.backlog is not None:
            item = next(self.backlog, _NOTHING)
            if item is not _NOTHING:
                if not self.streaming or isinstance(item, _Error):
                    self.done = True
                return item
            self.backlog = None
        if self.live is not None:
            if self.cancelled and not self.live_survives_cancel:
                self.live = None
            else:
                if self.rate is not None and not self.cancelled:
                    due = self.t0 + (self.live_sent + 1) / self.rate
                    if time.monotonic() < due:
                        self.wake_at = due
                        return _NOTHING
                item = next(self.live, _NOTHING)
                if item is not _NOTHING:
                    self.live_sent += 1
                    return item
                self.live = None
        self.wake_at = None
        if self.cancelled or self.ends:
            self.done = True
            return _Error(errno.ENODATA)
        return _NOTHING


class _Pimpl:
    """The part of flux-python's ``future.pimpl`` that journal consumers call."""

    __slots__ = ("_matchtag",)

    def __init__(self, matchtag: int) -> None:
        self._matchtag = matchtag

    def get_matchtag(self) -> int:
        """The request's matchtag, as flux_rpc_get_matchtag() returns it."""
        return self._matchtag


def _call_error(errnum: int) -> OSError:
    """An error of a libflux call as flux-python raises it (ETIMEDOUT: a TimeoutError)."""
    return OSError(errnum, f"{errno.errorcode[errnum]}: {os.strerror(errnum)}")


class FakeRPC:
    """The future :meth:`FakeFlux.rpc` returns, with flux-python's ``RPC`` semantics.

    ``get()``, ``get_str()`` and ``get_bytes()`` block until a response is there and raise
    ``OSError`` with its errno when it is an error (ENODATA ends a stream); ``reset()``
    moves on to the next response; ``wait_for(timeout)`` raises ``TimeoutError`` when
    nothing arrives in time. A ``then`` callback runs from :meth:`FakeFlux.reactor_run`,
    once per response.
    """

    def __init__(self, handle: FakeFlux, stream: _Stream, matchtag: int) -> None:
        self._handle = handle
        self._cond = handle._cond
        self._stream = stream
        self._result: _Response | _Nothing = _NOTHING
        self.pimpl = _Pimpl(matchtag)
        self.then_cb: Callable[..., Any] | None = None
        self.then_args: tuple[Any, ...] = ()
        self.then_kwargs: dict[str, Any] = {}
        self.stopped = False
        # flux-python's _THEN_HANDLES count: 1 at then(), +1 per reset(), -1 per callback.
        self._then_refs = 0
        self._armed = False
        self._cb_pending = False
        self._then_timeout = -1.0
        self._then_deadline: float | None = None

    # The methods ending in _locked run with the handle's lock held.

    def _fill_locked(self) -> bool:
        if self._result is not _NOTHING:
            return True
        item = self._stream.take()
        if item is _NOTHING:
            return False
        self._result = item
        self._cb_pending = self._armed  # a fresh response re-arms the then callback
        return True

    def _fire_locked(self, now: float) -> bool:
        """True when the then callback is due: a fresh response, or its timeout."""
        if not self._cb_pending and self._result is _NOTHING and not self._fill_locked():
            if self._then_deadline is None or now < self._then_deadline:
                return False
            # flux_future_then()'s timer fulfills the future with ETIMEDOUT.
            self._result = _Error(errno.ETIMEDOUT)
            self._cb_pending = True
        return self._cb_pending

    def _keeps_reactor_locked(self) -> bool:
        """True while the response handler or the then timer is still at work."""
        return self._stream.is_open() or self._then_deadline is not None

    def _is_spent_locked(self) -> bool:
        """True when no callback can ever be due again."""
        return self._stream.done and self._result is _NOTHING and self._then_deadline is None

    def get_flux(self) -> FakeFlux:
        """The handle the request was sent on."""
        return self._handle

    def is_ready(self) -> bool:
        """True when a response (or an error) is there to be read."""
        if self._result is not _NOTHING:  # set only by this future's reader: no lock needed
            return True
        with self._cond:
            return self._fill_locked()

    def wait_for(self, timeout: float = -1.0) -> FakeRPC:
        """Wait until a response is there, at most ``timeout`` seconds (< 0: forever).

        Raises TimeoutError when none comes in time, at once with ``timeout=0``. A cancel
        sent from another thread meanwhile wakes the wait.
        """
        with self._cond:
            if self._fill_locked():
                return self
            if timeout == 0:
                raise _call_error(errno.ETIMEDOUT)
            deadline = None if timeout < 0 else time.monotonic() + timeout
            while True:
                wake = self._stream.wake_at
                if deadline is not None:
                    wake = deadline if wake is None else min(wake, deadline)
                self._cond.wait(None if wake is None else max(0.0, wake - time.monotonic()))
                if self._fill_locked():
                    return self
                if deadline is not None and time.monotonic() >= deadline:
                    raise _call_error(errno.ETIMEDOUT)

    def get_bytes(self) -> bytes:
        """The current response's payload as bytes: the JSON text, waiting for it.

        These are the bytes flux_rpc_get_raw() points to, less the NUL terminator that
        flux-core counts in their length (flux_msg_set_string() stores it).
        """
        result = self._result
        if type(result) is bytes:  # the common case: a response already taken in
            return result
        self.wait_for(-1.0)
        result = self._result
        if isinstance(result, _Error):
            raise OSError(result.errnum, result.errstr)
        if result is None:
            raise _call_error(errno.EINVAL)  # a one-way request's future holds no message
        return result  # type: ignore[return-value]

    def get_str(self) -> str:
        """The current response's payload as text."""
        return self.get_bytes().decode("utf-8")

    def get(self) -> Any:
        """The current response's payload decoded from JSON, like ``RPC.get()``."""
        return json.loads(self.get_str())

    def error_string(self) -> str | None:
        """The current response's error text, None when it is not an error."""
        with self._cond:
            result = self._result
        return result.errstr if isinstance(result, _Error) else None

    def reset(self) -> None:
        """Drop the current response, so that the next one can be read."""
        if not self._armed:  # no then callback, no timer: only this reader's state changes
            self._result = _NOTHING
            self._cb_pending = False
        else:
            with self._cond:
                self._result = _NOTHING
                self._cb_pending = False
                if self._then_timeout >= 0:
                    self._then_deadline = time.monotonic() + self._then_timeout
        if self._then_refs > 0:
            self._then_refs += 1

    def then(
        self, callback: Callable[..., Any], *args: Any, timeout: float = -1.0, **kwargs: Any
    ) -> FakeRPC:
        """Have the reactor call ``callback(future, *args, **kwargs)`` for each response.

        As in flux-python, a second ``then()`` while the first is registered raises
        ``OSError`` EEXIST. With ``timeout >= 0`` the future is fulfilled with ETIMEDOUT
        when no response comes that long after then() or reset().
        """
        if self._then_refs > 0:
            raise OSError(errno.EEXIST, "then callback already exists for this future")
        if callback is None:
            raise ValueError("Callback cannot be None")
        self.then_cb = callback
        self.then_args = args
        self.then_kwargs = kwargs
        self._then_refs = 1
        with self._cond:
            self._armed = True
            self._then_timeout = timeout
            self._then_deadline = time.monotonic() + timeout if timeout >= 0 else None
            self._cb_pending = self._result is not _NOTHING
            self._handle._arm_locked(self)
        return self

    def stop(self) -> None:
        """Stop calling the then callback (flux-python's ``Future.stop()``)."""
        self.stopped = True

    def _run_continuation(self) -> None:
        try:
            if not self.stopped and self.then_cb is not None:
                self.then_cb(self, *self.then_args, **self.then_kwargs)
        except Exception as exc:
            # As flux-python: the exception is parked on the handle class and the reactor
            # stopped with an error, so reactor_run() raises it; the future is reset
            # (without counting it) and stopped, so a restarted reactor does not call the
            # failing callback again.
            flux_handle = self.get_flux()
            type(flux_handle).set_exception(exc)
            flux_handle.reactor_stop_error()
            with self._cond:
                self._result = _NOTHING
            self.stopped = True
        finally:
            if self._then_refs > 0:
                self._then_refs -= 1


def _encode_payload(payload: Any) -> bytes | None:
    """Request payload bytes from what flux-python's ``rpc()`` accepts."""
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _decode_object(body: bytes | None) -> dict[str, Any] | None:
    """The request payload as a JSON object; None when it is missing or not an object."""
    if body is None:
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


class FakeFlux:
    """What ReplayFlux and SimulatedFlux share: dispatch, futures, cancel, the reactor.

    A subclass lists the journal topics it serves in ``_topics`` and opens the stream that
    answers one request in :meth:`_open_stream`.
    """

    _topics: tuple[str, ...] = ()
    _pending = threading.local()

    @classmethod
    def set_exception(cls, exception: BaseException | None) -> None:
        """Park an exception for reactor_run() to raise in this thread (as flux.Flux does)."""
        cls._pending.exception = exception

    @classmethod
    def raise_if_exception(cls) -> None:
        """Raise, once, the exception parked by set_exception() in this thread."""
        exception = getattr(cls._pending, "exception", None)
        if exception is not None:
            cls._pending.exception = None
            raise exception

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._matchtags = itertools.count(1)
        self._streams: dict[tuple[str, int], _Stream] = {}
        self._armed: list[FakeRPC] = []
        self._stop_requested = False

    def _open_stream(self, topic: str, request: dict[str, Any]) -> _Stream:
        raise NotImplementedError

    def _request_locked(self, topic: str, body: bytes | None, flags: int) -> _Stream:
        """Check a journal request as the service does, then open its stream."""
        request = _decode_object(body)
        if topic == JOB_JOURNAL_TOPIC:
            # flux_request_unpack ("{s?o s?o s?b}") fails first, then come the checks.
            if request is None or not isinstance(request.get("full", False), bool):
                return _Stream.single(_Error(errno.EPROTO))
            if not flags & FLUX_RPC_STREAMING:
                return _Stream.single(
                    _Error(errno.EPROTO, "job-manager.events requires streaming RPC flag")
                )
            for key in ("allow", "deny"):
                if key in request and not isinstance(request[key], dict):
                    return _Stream.single(
                        _Error(errno.EPROTO, f"job-manager.events {key} should be an object")
                    )
        elif not flags & FLUX_RPC_STREAMING:
            return _Stream.single(_Error(errno.EPROTO, "journal requires streaming RPC flag"))
        return self._open_stream(topic, request or {})

    def _cancel_locked(self, topic: str, body: bytes | None) -> None:
        request = _decode_object(body)
        matchtag = None if request is None else request.get("matchtag")
        if not isinstance(matchtag, int) or isinstance(matchtag, bool):
            return  # the service logs the bad request; nobody is answered
        stream = self._streams.pop((topic, matchtag), None)
        if stream is not None and not stream.done:
            stream.cancelled = True
            self._cond.notify_all()

    def rpc(
        self,
        topic: str,
        payload: Any = None,
        nodeid: int = FLUX_NODEID_ANY,
        flags: int = 0,
    ) -> FakeRPC:
        """Send a request and return its future, like ``flux.Flux.rpc()``.

        ``payload`` may be None, str or bytes (sent as they are) or any JSON-serialisable
        object. ``nodeid`` is ignored: both services live on rank 0.
        """
        if flags & ~(FLUX_RPC_NORESPONSE | FLUX_RPC_STREAMING):
            raise _call_error(errno.EINVAL)
        body = _encode_payload(payload)
        noresponse = bool(flags & FLUX_RPC_NORESPONSE)
        matchtag = FLUX_MATCHTAG_NONE if noresponse else next(self._matchtags)
        cancel_of = topic[: -len("-cancel")] if topic.endswith("-cancel") else None
        with self._cond:
            if topic in self._topics:
                stream = self._request_locked(topic, body, flags)
                if stream.streaming and not noresponse:
                    self._streams[(topic, matchtag)] = stream
            elif cancel_of in self._topics:
                self._cancel_locked(cancel_of, body)
                stream = _Stream.silent()
            elif topic.partition(".")[0] in {t.partition(".")[0] for t in self._topics}:
                stream = _Stream.single(_Error(errno.ENOSYS, f"Unknown service method '{topic}'"))
            else:
                stream = _Stream.single(
                    _Error(errno.ENOSYS, f"No service matching {topic} is registered")
                )
            if noresponse:
                # flux_rpc() fulfills a one-way request's future at once, with no message:
                # it is ready, and reading it fails with EINVAL.
                stream = _Stream.single(None)
        return FakeRPC(self, stream, matchtag)

    def _arm_locked(self, future: FakeRPC) -> None:
        if future not in self._armed:
            self._armed.append(future)
        self._cond.notify_all()

    def reactor_run(self, reactor: Any = None, flags: int = 0) -> int:
        """Run then callbacks until no stream that has one is open, or reactor_stop().

        Returns 0 when it ran out of work, otherwise (after reactor_stop(), or with
        ``FLUX_REACTOR_NOWAIT``/``FLUX_REACTOR_ONCE`` in ``flags``) the number of streams
        still at work. An exception raised by a callback propagates out of it.
        """
        try:
            return self._run_reactor(flags)
        finally:
            type(self).raise_if_exception()

    def _run_reactor(self, flags: int) -> int:
        cond = self._cond
        with cond:
            self._stop_requested = False
        while True:
            ran = False
            for future in tuple(self._armed):
                with cond:
                    due = future._fire_locked(time.monotonic())
                    if due:
                        future._cb_pending = False
                        future._then_deadline = None
                if due:
                    ran = True
                    future._run_continuation()
                    if self._stop_requested:
                        break
            with cond:
                now = time.monotonic()
                if not self._stop_requested and not ran:
                    if any(f._fire_locked(now) for f in self._armed):
                        continue
                    self._armed = [f for f in self._armed if not f._is_spent_locked()]
                working = [f for f in self._armed if f._keeps_reactor_locked()]
                if self._stop_requested or (ran and flags & FLUX_REACTOR_ONCE):
                    self._stop_requested = False
                    return len(working)
                if ran:
                    continue
                if not working or flags & FLUX_REACTOR_NOWAIT:
                    return len(working)
                wakes = [f._stream.wake_at for f in working if f._stream.wake_at is not None]
                wakes += [f._then_deadline for f in working if f._then_deadline is not None]
                cond.wait(max(0.0, min(wakes) - now) if wakes else None)

    def reactor_stop(self, reactor: Any = None) -> None:
        """Make reactor_run() return, from a callback or from another thread."""
        with self._cond:
            self._stop_requested = True
            self._cond.notify_all()

    def reactor_stop_error(self, reactor: Any = None) -> None:
        """The same as reactor_stop() here."""
        self.reactor_stop(reactor)


def _numbered_payloads(payloads: Iterable[Payload]) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    """The payloads to serve, without trailing newlines and empty ones, and the 1-based
    position in ``payloads`` of each (its line, for the lines of a file)."""
    if isinstance(payloads, (str, bytes)):
        raise TypeError("payloads must be an iterable of payloads, not one payload")
    served: list[bytes] = []
    numbers: list[int] = []
    for number, payload in enumerate(payloads, 1):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif not isinstance(payload, bytes):
            raise TypeError(f"a payload must be str or bytes, not {type(payload).__name__}")
        payload = payload.rstrip(b"\r\n")
        if payload:
            served.append(payload)
            numbers.append(number)
    return tuple(served), tuple(numbers)


class ReplayFlux(FakeFlux):
    """A handle that serves recorded journal responses.

    ``payloads`` is either an iterable of payloads (str or bytes, one response each, in
    arrival order, such as the lines of a capture) served on both
    ``job-manager.events-journal`` and ``resource.journal``, or a mapping from topic to
    such an iterable, each topic serving its own (and other topics ENOSYS). Trailing
    newlines and empty lines are dropped; the payloads are otherwise served byte for byte,
    even ones that are not valid JSON, so that decoding errors can be tested.

    Every request gets all the recorded payloads, in order; then the stream stays open
    until it is cancelled and ends with ENODATA, as a live service's does. With ``ends``
    it ends with ENODATA right after the last recorded payload instead, as if cancelled
    then, so that a consumer reading a capture (even one without a sentinel, or an empty
    one) stops at its end. The recorded responses count as already in flight: a cancel
    never drops any of them. The request's ``full``, ``allow`` and ``deny`` are checked as
    the real service checks them but do not change what is served: the recording already
    reflects the request it was made with.

    :attr:`line_numbers` tells where each served payload was recorded.
    """

    def __init__(
        self,
        payloads: Iterable[Payload] | Mapping[str, Iterable[Payload]],
        *,
        ends: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(payloads, Mapping):
            numbered = {topic: _numbered_payloads(p) for topic, p in payloads.items()}
        else:
            shared = _numbered_payloads(payloads)
            numbered = {JOB_JOURNAL_TOPIC: shared, RESOURCE_JOURNAL_TOPIC: shared}
        self._recorded = {topic: served for topic, (served, _) in numbered.items()}
        self._topics = tuple(self._recorded)
        self.ends = ends
        # The job journal's, or else those of the first topic served (from_file's only one).
        main = JOB_JOURNAL_TOPIC if JOB_JOURNAL_TOPIC in numbered else next(iter(numbered), None)
        #: The 1-based line (position in the iterable given) each payload served on the job
        #: journal topic came from, in serving order: empty lines are dropped, so payload
        #: ``k`` is not always line ``k + 1``. When the job journal is not served, those of
        #: the first topic that is (the one :meth:`from_file` was given); ``()`` for none.
        self.line_numbers: tuple[int, ...] = numbered[main][1] if main is not None else ()

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        topic: str | None = None,
        *,
        ends: bool = False,
    ) -> ReplayFlux:
        """Replay a ``.jsonl`` capture, on ``topic`` only when one is given.

        ``ends`` as for the constructor; :attr:`line_numbers` are lines of the file.
        """
        with open(path, "rb") as f:
            lines = f.read().splitlines()
        return cls({topic: lines} if topic is not None else lines, ends=ends)

    def _open_stream(self, topic: str, request: dict[str, Any]) -> _Stream:
        return _Stream(iter(self._recorded[topic]), ends=self.ends)


# -- the simulated job manager ----------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_FLUID_TS_SHIFT = 24  # RFC 19: timestamp:40 | generator id:14 | sequence:10
_FLUID_SEQ_LIMIT = 1 << 10


def _f58(jobid: int) -> str:
    """A job id in F58 (RFC 19), as flux writes it in dependency descriptions."""
    digits = []
    while True:
        jobid, rem = divmod(jobid, 58)
        digits.append(_B58[rem])
        if not jobid:
            return "ƒ" + "".join(reversed(digits))


def _num(x: float) -> str:
    """A real as jansson writes it: %.17g, with ".0" when that reads as an integer."""
    s = f"{x:.17g}"
    return s if ("." in s or "e" in s) else s + ".0"


def _idset(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


# Kinds of job and their share of the simulated mix: the shapes seen in the captures.
_COMPLETE, _FAILED, _TIMEOUT, _CANCEL_RUN, _CANCEL_PENDING = range(5)
_HELD_CANCEL, _HELD_RELEASE, _URGENCY, _AFTEROK, _BEGIN_TIME = range(5, 10)
_KIND_SHARES = (
    (_COMPLETE, 0.63),
    (_FAILED, 0.10),
    (_TIMEOUT, 0.04),
    (_CANCEL_RUN, 0.04),
    (_CANCEL_PENDING, 0.03),
    (_HELD_CANCEL, 0.03),
    (_HELD_RELEASE, 0.03),
    (_URGENCY, 0.03),
    (_AFTEROK, 0.04),
    (_BEGIN_TIME, 0.03),
)
_KIND_BOUNDS = tuple(itertools.accumulate(share for _, share in _KIND_SHARES))

_USERIDS = (1001, 1002, 1003, 1004, 1005)
_OWNER = 0  # the instance owner, in whose name timeouts are raised
_RLIMIT = (
    '{"cpu":-1,"fsize":-1,"data":-1,"stack":8388608,"core":0,"nofile":20000,'
    '"as":-1,"rss":-1,"nproc":96365}'
)
_RES_SINGLE = '[{"type":"slot","count":1,"with":[{"type":"core","count":1}],"label":"task"}]'
_RES_DOUBLE = _RES_SINGLE.replace('"count":1,"with"', '"count":2,"with"')
_RES_NODE = '[{"type":"node","count":1,"exclusive":true,"with":' + _RES_SINGLE + "}]"
_JOB_NAMES = ("analysis", "build", "named", "sim", "train")
_PROJECTS = ("alpha", "beta", "gamma")
_MEMOS = ('{"purpose":"test-capture"}', '{"note":"live"}')
_SLEEPS = (1, 2, 5, 10, 30)
#: How long after its start a job that is a Flux instance posts its ``uri`` memo.
_CHILD_MEMO_DELAY = 0.0004
#: Which jobs are Flux instances: those whose key, spread by this odd number, falls below
#: the share asked for, in thousandths.
_SPREAD = 2654435761
_PER_MILLE = 1000
#: What a simulated instance's URI carries, and how each value is read back.
_URI_PARAMETERS: dict[str, Callable[[str], Any]] = {
    "jobs": int,
    "seed": int,
    "live": int,
    "epoch": float,
    "rate": float,
    "instances": float,
    "ends": lambda text: text == "1",
}


def _uri_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


_RELEASE = ',"context":{"ranks":"all","final":true}'
_TIMEOUT_EXCEPTION = (
    f',"context":{{"type":"timeout","severity":0,"userid":{_OWNER},'
    '"note":"resource allocation expired"}'
)
_SENT_WITH = {"submit": "jobspec", "alloc": "R"}


def _jobspec(
    resources: str, command: str, duration: str, name: str, project: str, dependency: str
) -> str:
    """A redacted jobspec (RFC 25 V1) shaped like the captured ones."""
    job = f'"job":{{"name":"{name}"}},' if name else ""
    user = f',"user":{{"project":"{project}"}}' if project else ""
    return (
        f'{{"resources":{resources},"tasks":[{{"command":{command},"slot":"task",'
        f'"count":{{"per_slot":1}}}}],"attributes":{{"system":{{"duration":{duration},'
        f'"cwd":"/tmp",{job}"shell":{{"options":{{"rlimit":{_RLIMIT}}}}}{dependency}}}'
        f'{user}}},"version":1}}'
    )


def _resource_set(rank: int, core: str, starttime: float, expiration: float, nslots: int) -> str:
    """A redacted R (RFC 20) for one rank, shaped like the captured ones."""
    return (
        f'{{"version":1,"execution":{{"R_lite":[{{"rank":"{rank}","children":'
        f'{{"core":"{core}"}}}}],"starttime":{_num(starttime)},'
        f'"expiration":{_num(expiration)},"nslots":{nslots},"nodelist":["node{rank}"]}}}}'
    )


# An event as the simulation keeps it: (timestamp, name, ',"context":{...}' or "").
_Event = tuple[float, str, str]


def _entry(event: _Event) -> str:
    """An RFC 18 eventlog entry as compact JSON."""
    return f'{{"timestamp":{_num(event[0])},"name":"{event[1]}"{event[2]}}}'


class _Job:
    """One simulated job: its eventlog, redacted jobspec and R."""

    __slots__ = ("jobid", "events", "jobspec", "R", "t_alloc")

    def __init__(
        self,
        jobid: int,
        events: list[_Event],
        jobspec: str,
        R: str | None,
        t_alloc: float | None,
    ) -> None:
        self.jobid = jobid
        self.events = events
        self.jobspec = jobspec
        self.R = R
        self.t_alloc = t_alloc

    @property
    def t_clean(self) -> float:
        return self.events[-1][0]


class _JobMaker:
    """Makes a job's whole life from its own seed, so jobs can be made in any order.

    ``child_uri(key, t_start)``, when given, is the URI of the Flux instance that job
    ``key`` is, or None for a job that is not one.
    """

    def __init__(
        self,
        nodes: int,
        cores: int,
        child_uri: Callable[[int, float], str | None] | None = None,
    ) -> None:
        self.nodes = nodes
        self.cores = cores
        self.child_uri = child_uri
        self.rng = random.Random()

    def make(
        self,
        key: int,
        jobid: int,
        t_submit: float,
        dep_id: int | None,
        *,
        short: bool = False,
        pad: float = 0.0,
        pad_run: bool = False,
    ) -> _Job:
        """The job seeded by ``key``, submitted at ``t_submit``.

        ``short`` keeps every wait and run brief (for a job that must be over soon).
        ``pad`` lengthens its wait (for resources, its begin time or its cancel), or its
        run when ``pad_run`` and it runs (for a job that must still be active later).
        """
        rng = self.rng
        rng.seed(key)
        rand = rng.random
        uniform = rng.uniform
        # Every draw that shapes the job comes first, so that pads shift it, nothing more.
        draw = rand()
        kind = next((k for (k, _), b in zip(_KIND_SHARES, _KIND_BOUNDS) if draw < b), 0)
        if kind == _AFTEROK and dep_id is None:
            kind = _COMPLETE
        uid = _USERIDS[int(rand() * len(_USERIDS))]
        named = rand() < 0.1
        name = _JOB_NAMES[int(rand() * len(_JOB_NAMES))] if named else ""
        project = _PROJECTS[int(rand() * len(_PROJECTS))] if named else ""
        shape = rand()
        memo = rand() < 0.04
        pick = rand()
        coin = rand()
        sleep = _SLEEPS[int(rand() * len(_SLEEPS))]
        rank = int(rand() * self.nodes)
        first = int(rand() * self.cores)
        wait = rng.expovariate(1 / 0.4) if rand() < 0.9 else rng.expovariate(1 / 60)
        delay = rng.expovariate(1 / 20.0)
        if short:
            wait %= 0.0135
            delay = 0.01 + delay % 0.09
        runs = kind not in (_CANCEL_PENDING, _HELD_CANCEL)
        run_pad = pad if pad_run and runs else 0.0
        wait_pad = pad - run_pad
        held = kind in (_HELD_CANCEL, _HELD_RELEASE)
        urgency = 0 if held else 16
        cancel = f',"context":{{"type":"cancel","severity":0,"note":"","userid":{uid}}}'

        events: list[_Event] = []
        add = events.append
        t = t_submit
        submit = f'{{"userid":{uid},"urgency":{urgency},"flags":0,"version":1}}'
        add((t, "submit", ',"context":' + submit))
        dependency = ""
        if kind == _AFTEROK:
            target = _f58(dep_id or 0)
            desc = f',"context":{{"description":"after-success={target}"}}'
            t += uniform(0.0110, 0.0125)
            add((t, "dependency-add", desc))
            t += uniform(0.00005, 0.00015)
            add((t, "dependency-remove", desc))
            t += uniform(0.00004, 0.0001)
            add((t, "validate", ""))
            dependency = f',"dependencies":[{{"scheme":"afterok","value":"{target}"}}]'
        elif kind == _BEGIN_TIME:
            begin = t_submit + (0.05 if short else 0.5 + delay) + wait_pad
            wait_pad = 0.0
            desc = f',"context":{{"description":"begin-time={begin:.3f}"}}'
            t += uniform(0.0110, 0.0125)
            add((t, "dependency-add", desc))
            t += uniform(0.00003, 0.0001)
            add((t, "validate", ""))
            t = max(t, begin) + uniform(0.001, 0.002)
            add((t, "dependency-remove", desc))
            dependency = f',"dependencies":[{{"scheme":"begin-time","value":"{begin:.6f}"}}]'
        else:
            t += uniform(0.011, 0.016)
            add((t, "validate", ""))
        t += uniform(0.0055, 0.012)
        add((t, "depend", ""))
        t += uniform(0.00002, 0.00015)
        add((t, "priority", f',"context":{{"priority":{urgency}}}'))

        command = '["true"]'
        resources = _RES_SINGLE
        duration = "0"
        R = None
        t_alloc = None
        if not runs:
            hold = delay + wait_pad
            if memo or (held and coin < 0.3):
                add((t + hold * 0.5 + 0.0005, "memo", ',"context":' + _MEMOS[1]))
            t += hold + 0.001
            add((t, "exception", cancel))
            t += uniform(0.00001, 0.00006)
            add((t, "clean", ""))
        else:
            if kind in (_HELD_RELEASE, _URGENCY):
                new = 16 if held else (8, 20, 24, 31)[int(coin * 4)]
                t += (delay if held else delay * 0.05) + 0.001
                add((t, "urgency", f',"context":{{"userid":{uid},"urgency":{new}}}'))
                t += uniform(0.0001, 0.00015)
                add((t, "priority", f',"context":{{"priority":{new}}}'))
            # The allocation: rank and cores, and the scheduler's summary of them.
            cores = self.cores
            if shape < 0.05 and cores >= 2:
                first = min(first, cores - 2)
                core, nslots, resources = f"{first}-{first + 1}", 2, _RES_DOUBLE
                summary = f"rank{rank}/core[{first}-{first + 1}]"
            elif shape < 0.08:
                core, nslots, resources = _idset(0, cores - 1), 1, _RES_NODE
                summary = f"rank{rank}/core" + (f"[0-{cores - 1}]" if cores > 1 else "0")
            else:
                core, nslots = str(first), 1
                summary = f"rank{rank}/core{first}"
            annotation = (
                f',"context":{{"annotations":{{"sched":{{"resource_summary":"{summary}"}}}}}}'
            )
            t += 0.0065 + wait + wait_pad
            starttime = t - uniform(0.002, 0.006)
            # The scheduler's annotations event is journaled just before alloc but is not
            # kept in the eventlog, so only live responses carry it.
            add((t - uniform(0.00001, 0.00009), "annotations", annotation))
            t_alloc = t
            add((t, "alloc", annotation))
            if memo:
                t += uniform(0.002, 0.006)
                add((t, "memo", ',"context":' + _MEMOS[0]))
            t += uniform(0.004, 0.012)
            add((t, "start", ""))
            uri = self.child_uri(key, t) if self.child_uri is not None else None
            if uri is not None:  # its broker's memo, as it starts (no draw: nothing shifts)
                add((t + _CHILD_MEMO_DELAY, "memo", f',"context":{{"uri":"{uri}"}}'))

            quick = uniform(0.03, 0.07)
            expiration = 0.0
            if kind == _TIMEOUT:
                limit = (0.01 if short else (1.0, 10.0, 60.0)[int(pick * 3)]) + run_pad
                command = f'["sleep","{int(limit) * 2 + 2}"]'
                duration = _num(limit)
                expiration = starttime + limit
                t = max(t, expiration) + uniform(0.003, 0.013)
                add((t, "exception", _TIMEOUT_EXCEPTION))
                t += uniform(0.0013, 0.017)
                status = 36352 if coin < 0.5 else 14  # the shell's 128+SIGALRM, or SIGALRM
            elif kind == _CANCEL_RUN:
                command = f'["sleep","{30 if short else sleep * 12}"]'
                t += (0.05 if short else 0.2 + delay) + run_pad
                add((t, "exception", cancel))
                t += uniform(0.005, 0.012)
                status = 36608  # 128+SIGTERM
            elif kind == _FAILED:
                command = '["false"]'
                t += quick + run_pad
                status = 256
            elif short or pick < 0.55 or nslots == 2:
                command = '["hostname"]' if nslots == 2 or pick < 0.2 else '["true"]'
                t += quick + run_pad
                status = 0
            else:
                command = f'["sleep","{sleep}"]'
                t += sleep + uniform(0.005, 0.02) + run_pad
                status = 0
            add((t, "finish", f',"context":{{"status":{status}}}'))
            t += uniform(0.0012, 0.008)
            add((t, "release", _RELEASE))
            t += uniform(0.00001, 0.00008)
            add((t, "free", ""))
            t += uniform(0.000005, 0.00002)
            add((t, "clean", ""))
            R = _resource_set(rank, core, starttime, expiration, nslots)

        jobspec = _jobspec(resources, command, duration, name, project, dependency)
        return _Job(jobid, events, jobspec, R, t_alloc)


class _Submissions:
    """The instance's submit times and FLUIDs in order: bursts of jobs, pauses between.

    A FLUID (RFC 19) is ``timestamp << 24 | generator << 10 | sequence``, the timestamp in
    milliseconds since the instance's FLUID epoch; all jobs here are ingested on rank 0
    (generator 0). The submit event follows the id by a fraction of a millisecond, so ids
    increase with submit times and decode to them.
    """

    def __init__(self, rng: random.Random, epoch: float, interval: float) -> None:
        self.rng = rng
        self.epoch = epoch
        self.interval = interval
        self.t = epoch + 1.0
        self.left = 0
        self.ms = -1
        self.seq = 0

    def pause_until(self, t: float) -> None:
        """Let no job be submitted before ``t``."""
        if self.t < t:
            self.t = t
            self.left = 0

    def state(self) -> tuple[Any, ...]:
        return (self.rng.getstate(), self.t, self.left, self.ms, self.seq)

    @classmethod
    def resume(cls, state: tuple[Any, ...], epoch: float, interval: float) -> _Submissions:
        rng = random.Random()
        rng.setstate(state[0])
        submissions = cls(rng, epoch, interval)
        submissions.t, submissions.left, submissions.ms, submissions.seq = state[1:]
        return submissions

    def next(self) -> tuple[float, int]:
        """The next job's submit time and id."""
        rng = self.rng
        if self.left == 0:
            self.left = 1 + min(int(rng.expovariate(0.4)), 15)
            self.t += 0.001 + rng.expovariate(1 / self.interval)
        else:
            self.t += rng.uniform(0.00012, 0.0005)
        self.left -= 1
        ms = int((self.t - self.epoch) * 1000)
        if ms != self.ms:
            self.seq = 0
        else:
            self.seq += 1
            if self.seq == _FLUID_SEQ_LIMIT:  # the generator waits for the next millisecond
                ms += 1
                self.t = self.epoch + ms / 1000 + 0.00001
                self.seq = 0
        self.ms = ms
        return self.t + rng.uniform(0.00002, 0.0001), ms << _FLUID_TS_SHIFT | self.seq


class _Instance:
    """The simulated instance when it is asked: which jobs are over, which are active.

    Keeps each job's submit time and id (16 bytes a job) and the backlog's hash-table
    order; the jobs themselves are made again whenever they are sent.
    """

    def __init__(self, jobs: int, active: int, seed: int, epoch: float, interval: float):
        rng = random.Random(f"fluxjournal.testing:{seed}:submissions")
        submissions = _Submissions(rng, epoch, interval)
        self.times = array("d")
        self.ids = array("q")
        for _ in range(jobs):
            t, jobid = submissions.next()
            self.times.append(t)
            self.ids.append(jobid)
        self.n_inactive = jobs - active
        # A job is inactive when its eventlog ends before the request, so the request
        # leaves the last inactive job half a second to finish.
        request = self.times[-1] + rng.uniform(0.001, 0.05) if jobs else epoch + 1.0
        if self.n_inactive:
            request = max(request, self.times[self.n_inactive - 1] + 0.5)
        self.request_time = request
        submissions.pause_until(request + 0.001)
        self.after = submissions.state()
        # zhashx iteration order: neither time nor id order, fixed for the instance.
        self.inactive_order = array("q", range(self.n_inactive))
        self.active_order = array("q", range(self.n_inactive, jobs))
        rng.shuffle(self.inactive_order)
        rng.shuffle(self.active_order)


_MASK64 = (1 << 64) - 1


def _hash_fraction(key: int) -> float:
    """A fixed pseudo-random number in [0, 1) for ``key`` (splitmix64's finaliser)."""
    z = (key + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return ((z ^ (z >> 31)) >> 11) / (1 << 53)


def _scatter(order: Sequence[int], extra: Iterable[int], salt: int) -> Iterator[int]:
    """``order`` with the indices of ``extra`` spread through it, each at a place fixed by
    a hash of ``salt | index``: how a hash table that jobs were added to iterates."""
    size = len(order) + 1
    places = sorted((int(_hash_fraction(salt | index) * size), index) for index in extra)
    if not places:
        yield from order
        return
    k = 0
    for position, index in enumerate(order):
        while k < len(places) and places[k][0] <= position:
            yield places[k][1]
            k += 1
        yield index
    for _, index in places[k:]:
        yield index


class _Progress:
    """What the first posted events did to the instance: the eventlog entries they added.

    Keyed by job index (submission order): the jobs submitted after the request have
    indices from ``first_new`` on. ``asked_at`` is the post time of the last of them.
    """

    __slots__ = ("asked_at", "first_new", "added", "new_jobs", "cleaned")

    def __init__(self, asked_at: float, first_new: int) -> None:
        self.asked_at = asked_at
        self.first_new = first_new
        self.added: dict[int, list[_Event]] = {}  # a job's new entries, in order
        self.new_jobs: dict[int, _Job] = {}  # jobs submitted since the request
        self.cleaned: dict[int, float] = {}  # jobs that became inactive: clean's timestamp

    def add(self, post: float, event: _Event, job: _Job, index: int) -> None:
        """Count one more event, posted at ``post``: its job's eventlog keeps it unless it
        is ``annotations``."""
        self.asked_at = post
        if event[1] != "annotations":
            self.added.setdefault(index, []).append(event)
        if index >= self.first_new:
            self.new_jobs.setdefault(index, job)
        if event[1] == "clean":
            self.cleaned[index] = event[0]

    def new_active_jobs(self) -> list[int]:
        """The jobs submitted since the request that are still active, in index order."""
        return sorted(index for index in self.new_jobs if index not in self.cleaned)


def _event_filter(request: dict[str, Any]) -> Callable[[str], bool] | None:
    """The job manager's allow/deny check for a request; None when all pass."""
    allow = request.get("allow")
    deny = request.get("deny")
    if allow is None and deny is None:
        return None
    return lambda name: (allow is None or name in allow) and (deny is None or name not in deny)


def _backlog_response(
    job: _Job, eventlog: list[_Event], allowed: Callable[[str], bool] | None
) -> bytes:
    """A job's backlog response: its eventlog less what the filter drops, its jobspec, and
    its R once it is allocated."""
    sent = eventlog if allowed is None else [e for e in eventlog if allowed(e[1])]
    entries = ",".join(map(_entry, sent))
    allocated = job.t_alloc is not None and job.t_alloc <= eventlog[-1][0]
    R = f',"R":{job.R}' if allocated else ""
    return f'{{"id":{job.jobid},"events":[{entries}],"jobspec":{job.jobspec}{R}}}'.encode()


class SimulatedFlux(FakeFlux):
    """A handle on a simulated flux-core 0.88.0 instance, its job history and live jobs.

    ``jobs`` jobs have been submitted at :attr:`request_time`; the last ``active`` of them
    (``jobs // 20`` by default) are still pending or running, the others are over. From
    then on ``live`` events are posted: the rest of the active jobs' lives and new
    submissions. A journal request finds the instance after the first ``posted`` of those
    (0 by default, at most ``live``, else ValueError), at :attr:`asked_at`: its backlog
    holds each job's eventlog as it then is (jobs submitted meanwhile included, those
    whose eventlog now ends with ``clean`` inactive), and its live events are the other
    ``live - posted``. After them the stream stays open, silent, until it is cancelled.

    ``keep_inactive`` is the job manager's purge (``job-manager.inactive-num-limit``):
    the backlog holds only that many inactive jobs, those whose ``clean`` is latest when
    asked; older ones are purged. None (the default) keeps them all; active jobs are never
    purged.

    Everything is a function of the arguments, ``seed`` included: payloads are
    byte-identical from run to run, and every request sees the instance at the same moment
    (requests do not move it on). Jobs are made lazily, as they are sent, so a history of
    millions of jobs holds 16 bytes a job in memory; ``posted`` keeps what its events add,
    and ``keep_inactive`` makes every inactive job once to find the latest.

    Jobs follow the captures: completed and failed jobs, timeouts, jobs cancelled while
    running, pending or held, held jobs released, urgency changes, afterok and begin-time
    dependencies, memos, named jobs with user attributes, 2-slot and node-exclusive jobs,
    the scheduler's ``annotations`` before ``alloc`` (live only: it is not kept in the
    eventlog). Timestamps increase within a job. Job ids are FLUIDs whose timestamp is the
    submit time in ms since :attr:`epoch`.

    ``job-manager.events-journal``: the backlog (inactive jobs then active ones with
    ``full``, active ones only without), each in a fixed hash-table order, the sentinel,
    then live events one per response in the order the job manager posts them: events of
    different jobs may be posted out of timestamp order (a few ms late), those of one job
    never are. ``allow``/``deny`` filter entries as the service does: every job still gets
    its backlog response, and filtered live events are not sent (``live`` and ``posted``
    count events posted, sent or not). On cancel, the backlog and sentinel still come
    whole, but live events not yet received are dropped, since the job manager would have
    posted them after the cancel; then ENODATA. ``rate`` paces live responses (per
    second); by default all are ready.

    ``resource.journal``: ``restart`` and rank 0's ``online``, ``resource-define`` alone
    with R, the other ranks' ``online`` and ``drains`` drain/undrain pairs in batches of up
    to 100, then the sentinel ``{"events":[]}``; no live events.

    The other arguments: ``nodes`` and ``cores`` (per node) make up the cluster jobs run
    on (hosts ``node0``, ``node1``, ...); ``epoch`` is the instance's start and FLUID
    epoch (Unix time); ``interval`` is the mean pause, in seconds, between bursts of
    submissions. :meth:`journal_payloads` and :meth:`resource_payloads` give the payloads
    without going through a handle.
    """

    _topics = (JOB_JOURNAL_TOPIC, RESOURCE_JOURNAL_TOPIC)

    def __init__(
        self,
        jobs: int = 1000,
        seed: int = 0,
        live: int = 0,
        *,
        posted: int = 0,
        keep_inactive: int | None = None,
        active: int | None = None,
        nodes: int = 4,
        cores: int = 4,
        epoch: float = 1795837729.578,
        interval: float = 1.0,
        rate: float | None = None,
        drains: int = 1,
        instances: float = 0.0,
        ends: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= instances <= 1.0:
            raise ValueError(f"instances must be a share between 0 and 1, not {instances}")
        if active is None:
            active = jobs // 20
        if min(jobs, live, active, drains) < 0 or active > jobs:
            raise ValueError("jobs, live, drains must be >= 0 and 0 <= active <= jobs")
        if not 0 <= posted <= live:
            raise ValueError(f"posted must be between 0 and live ({live}), not {posted}")
        if keep_inactive is not None and keep_inactive < 0:
            raise ValueError("keep_inactive must be None or >= 0")
        if nodes < 1 or cores < 1 or interval <= 0 or (rate is not None and rate <= 0):
            raise ValueError("nodes, cores, interval and rate must be > 0")
        self.jobs = jobs
        self.seed = int(seed)
        self.live = live
        self.posted = posted
        self.keep_inactive = keep_inactive
        self.active = active
        self.nodes = nodes
        self.cores = cores
        self.epoch = float(epoch)
        self.interval = float(interval)
        self.rate = rate
        self.drains = drains
        self.instances = float(instances)
        self.ends = ends
        # Worked out when first needed, under the lock (reentrant: one needs the other).
        self._lock = threading.RLock()
        self._instance: _Instance | None = None
        self._after_posted: _Progress | None = None
        self._latest_before_request: dict[int, set[int]] = {}  # by how many
        # Job i is seeded with key_base | i: any job can be made alone, in any order.
        self._key_base = random.Random(f"fluxjournal.testing:{seed}:jobs").getrandbits(22) << 40

    def _state(self) -> _Instance:
        with self._lock:
            if self._instance is None:
                self._instance = _Instance(
                    self.jobs, self.active, self.seed, self.epoch, self.interval
                )
            return self._instance

    def _progress(self) -> _Progress:
        """What the first ``posted`` posted events did (worked out once, posting them)."""
        with self._lock:
            if self._after_posted is None:
                progress = _Progress(self._state().request_time, self.jobs)
                for post, event, job, index in itertools.islice(self._posts(), self.posted):
                    progress.add(post, event, job, index)
                self._after_posted = progress
            return self._after_posted

    @property
    def request_time(self) -> float:
        """The moment the history ends and posting starts: ``jobs`` jobs are submitted,
        the last ``active`` of them active; the live events are posted after it."""
        return self._state().request_time

    @property
    def asked_at(self) -> float:
        """The moment a journal request finds the instance: the post time of the
        ``posted``-th posted event, :attr:`request_time` when ``posted`` is 0."""
        return self._progress().asked_at

    def _history_job(self, maker: _JobMaker, index: int) -> _Job:
        """Job ``index`` of the ``jobs`` submitted before the request, whole."""
        state = self._state()
        ids, times, request = state.ids, state.times, state.request_time
        dep_id = ids[index - 1 - index % 7] if index else None
        key = self._key_base | index
        job = maker.make(key, ids[index], times[index], dep_id)
        if index < state.n_inactive:
            if job.t_clean >= request:
                job = maker.make(key, ids[index], times[index], dep_id, short=True)
        elif job.t_clean <= request:
            extra = 0.05 + maker.rng.expovariate(1 / 30.0)
            pad_run = maker.rng.random() < 0.5
            pad = request - job.t_clean + extra
            job = maker.make(key, ids[index], times[index], dep_id, pad=pad, pad_run=pad_run)
        return job

    def _backlog(self, full: bool, allowed: Callable[[str], bool] | None) -> Iterator[bytes]:
        """A request's backlog responses, one a job, then the sentinel."""
        progress = self._progress()
        request = self.request_time
        maker = self._maker()
        order = self._active_jobs(progress)
        if full:
            order = itertools.chain(self._inactive_jobs(progress), order)
        for index in order:
            job, eventlog = self._eventlog(maker, index, request, progress)
            yield _backlog_response(job, eventlog, allowed)
        yield JOB_SENTINEL

    def _eventlog(
        self, maker: _JobMaker, index: int, request: float, progress: _Progress
    ) -> tuple[_Job, list[_Event]]:
        """Job ``index`` and its eventlog when asked: its events up to the request, then
        those among the posted ones (a prefix of the rest: one job's are posted in order),
        without ``annotations``, which the eventlog does not keep."""
        added = progress.added.get(index)
        if index >= self.jobs:
            return progress.new_jobs[index], added or []
        job = self._history_job(maker, index)
        eventlog = [e for e in job.events if e[0] <= request and e[1] != "annotations"]
        if added:
            eventlog += added
        return job, eventlog

    def _inactive_jobs(self, progress: _Progress) -> Iterator[int]:
        """The inactive jobs' indices in hash-table order, the purged ones left out."""
        order = _scatter(self._state().inactive_order, sorted(progress.cleaned), self._key_base)
        kept = self._kept_by_purge(progress)
        return order if kept is None else (index for index in order if index in kept)

    def _active_jobs(self, progress: _Progress) -> Iterator[int]:
        """The active jobs' indices in hash-table order."""
        order = _scatter(self._state().active_order, progress.new_active_jobs(), self._key_base)
        over = progress.cleaned
        return order if not over else (index for index in order if index not in over)

    def _kept_by_purge(self, progress: _Progress) -> set[int] | None:
        """The inactive jobs the purge has kept when asked; None when it kept them all."""
        keep = self.keep_inactive
        cleaned = progress.cleaned
        if keep is None or keep >= self._state().n_inactive + len(cleaned):
            return None
        # A job that became inactive after the request did so later than all before it.
        kept = set(heapq.nlargest(keep, cleaned, key=cleaned.__getitem__))
        return kept | self._last_inactive_at_request(keep - len(kept))

    def _last_inactive_at_request(self, count: int) -> set[int]:
        """The ``count`` jobs whose ``clean`` is the latest before the request (made once)."""
        if count <= 0:
            return set()
        with self._lock:
            cache = self._latest_before_request
            if count not in cache:
                maker = self._maker()

                def t_clean(index: int) -> float:
                    return self._history_job(maker, index).t_clean

                inactive = range(self._state().n_inactive)
                cache[count] = set(heapq.nlargest(count, inactive, key=t_clean))
            return cache[count]

    def _events_after_request(self) -> Iterator[tuple[float, _Event, _Job, int]]:
        """Every event after the request, in timestamp order, with its job and its index."""
        state = self._state()
        request = state.request_time
        maker = self._maker()
        heap: list[tuple[float, int, _Event, Iterator[_Event], _Job, int]] = []
        order = itertools.count()

        def follow(job: _Job, index: int, events: Iterator[_Event]) -> None:
            event = next(events, None)
            if event is not None:
                heapq.heappush(heap, (event[0], next(order), event, events, job, index))

        for index in range(state.n_inactive, self.jobs):
            job = self._history_job(maker, index)
            follow(job, index, (e for e in job.events if e[0] > request))
        recent = deque(state.ids[-8:], maxlen=8)
        submissions = _Submissions.resume(state.after, self.epoch, self.interval)
        next_index = self.jobs
        t_next, id_next = submissions.next()
        while True:
            if not heap or t_next <= heap[0][0]:
                dep_id = recent[next_index % len(recent)] if recent else None
                job = maker.make(self._key_base | next_index, id_next, t_next, dep_id)
                follow(job, next_index, iter(job.events))
                recent.append(id_next)
                next_index += 1
                t_next, id_next = submissions.next()
                continue
            t, _, event, events, job, index = heapq.heappop(heap)
            yield t, event, job, index
            follow(job, index, events)

    def _posts(self) -> Iterator[tuple[float, _Event, _Job, int]]:
        """Every event after the request as the job manager posts it, in posting order:
        its post time, the event, its job and the job's index.

        Some events (never a submit) are posted up to 15 ms after their timestamp, but
        never before an earlier event of their job: events of different jobs come out of
        timestamp order now and then, as on a real broker, and those of one job never do.
        Post times never decrease.
        """
        rng = random.Random(f"fluxjournal.testing:{self.seed}:posting")
        last_post: dict[int, float] = {}
        queue: list[tuple[float, int, _Event, _Job, int]] = []
        for seq, (t, event, job, index) in enumerate(self._events_after_request()):
            while queue and queue[0][0] <= t:
                post, _, sent, owner, owner_index = heapq.heappop(queue)
                yield post, sent, owner, owner_index
            name = event[1]
            late = rng.random() < 0.1 and name != "submit"
            post = t + rng.uniform(0.0, 0.015) if late else t
            post = max(post, last_post.get(job.jobid, post))
            if name == "clean":
                last_post.pop(job.jobid, None)
            else:
                last_post[job.jobid] = post
            heapq.heappush(queue, (post, seq, event, job, index))

    def _live(self, allowed: Callable[[str], bool] | None) -> Iterator[bytes]:
        """A request's live responses: the posted events after the first ``posted``, up
        to ``live`` posted in all, those the filter lets through."""
        for _, event, job, _ in itertools.islice(self._posts(), self.posted, self.live):
            name = event[1]
            if allowed is None or allowed(name):
                extra = _SENT_WITH.get(name)
                value = f',"{extra}":{getattr(job, extra)}' if extra else ""
                yield f'{{"id":{job.jobid},"events":[{_entry(event)}]{value}}}'.encode()

    def journal_payloads(
        self,
        full: bool = True,
        allow: Mapping[str, Any] | None = None,
        deny: Mapping[str, Any] | None = None,
    ) -> Iterator[bytes]:
        """Every payload a job journal request gets: backlog, sentinel, live (lazily)."""
        request: dict[str, Any] = {"full": full}
        if allow is not None:
            request["allow"] = allow
        if deny is not None:
            request["deny"] = deny
        allowed = _event_filter(request)
        return itertools.chain(self._backlog(full, allowed), self._live(allowed))

    def resource_payloads(self) -> list[bytes]:
        """Every payload a resource journal request gets, up to its sentinel."""
        nodes = self.nodes
        hosts = "node0" if nodes == 1 else f"node[0-{nodes - 1}]"
        ranks = _idset(0, nodes - 1)
        t = self.epoch - 0.9

        def entry(t: float, name: str, context: str) -> str:
            return _entry((t, name, ',"context":' + context))

        head = [
            entry(t, "restart", f'{{"ranks":"{ranks}","online":"","nodelist":"{hosts}"}}'),
            entry(t + 0.28, "online", '{"idset":"0"}'),
        ]
        define = entry(t + 0.46, "resource-define", '{"method":"dynamic-discovery"}')
        R = (
            f'{{"version":1,"execution":{{"R_lite":[{{"rank":"{ranks}","children":'
            f'{{"core":"{_idset(0, self.cores - 1)}"}}}}],"starttime":0.0,'
            f'"expiration":0.0,"nodelist":["{hosts}"]}}}}'
        )
        rest = []
        t += 0.65
        if nodes > 1:
            rest.append(entry(t, "online", f'{{"idset":"{_idset(1, nodes - 1)}"}}'))
        rng = random.Random(f"fluxjournal.testing:{self.seed}:resource")
        for _ in range(self.drains):
            rank = int(rng.random() * nodes)
            t += rng.uniform(0.1, 600.0)
            rest.append(
                entry(
                    t,
                    "drain",
                    f'{{"idset":"{rank}","nodelist":"node{rank}",'
                    f'"reason":"testing","overwrite":0}}',
                )
            )
            t += rng.uniform(0.1, 600.0)
            rest.append(
                entry(t, "undrain", f'{{"idset":"{rank}","nodelist":"node{rank}","overwrite":0}}')
            )
        payloads = ['{"events":[' + ",".join(head) + "]}", f'{{"events":[{define}],"R":{R}}}']
        payloads += [
            '{"events":[' + ",".join(rest[i : i + 100]) + "]}" for i in range(0, len(rest), 100)
        ]
        return [p.encode() for p in payloads] + [RESOURCE_SENTINEL]

    def _open_stream(self, topic: str, request: dict[str, Any]) -> _Stream:
        if topic == RESOURCE_JOURNAL_TOPIC:
            return _Stream(iter(self.resource_payloads()))
        allowed = _event_filter(request)
        return _Stream(
            self._backlog(bool(request.get("full", False)), allowed),
            self._live(allowed),
            live_survives_cancel=False,
            ends=self.ends,
            rate=self.rate,
        )

    # -- jobs that are Flux instances ---------------------------------------------------

    def _maker(self) -> _JobMaker:
        return _JobMaker(self.nodes, self.cores, self._child_uri if self.instances else None)

    def _child_uri(self, key: int, t_start: float) -> str | None:
        """The URI of the instance job ``key`` is, when it is one: a simulation of its
        own, seeded by the job, that starts with the job and whose stream ends like that
        of an instance that shuts down; its jobs may be instances in turn."""
        if (key * _SPREAD) % _PER_MILLE >= self.instances * _PER_MILLE:
            return None
        child = SimulatedFlux(
            jobs=3 + key % 17,
            seed=key & 0xFFFFFFFF,
            live=20 + key % 40,
            epoch=round(t_start, 6),
            instances=self.instances,
            ends=True,
        )
        return child.uri

    @property
    def uri(self) -> str:
        """A URI that :meth:`from_uri` (and ``fluxjournal ingest --uri``) opens as this
        simulation: ``simulated:`` and its parameters (those the URI carries)."""
        values = ",".join(f"{name}={_uri_value(getattr(self, name))}" for name in _URI_PARAMETERS)
        return f"simulated:{values}"

    @classmethod
    def from_uri(cls, uri: str) -> SimulatedFlux:
        """The simulation ``uri`` (from :attr:`uri`) names; ValueError for another URI."""
        scheme, _, text = uri.partition(":")
        if scheme != "simulated":
            raise ValueError(f"not a simulated instance's URI: {uri!r}")
        params: dict[str, Any] = {}
        for item in filter(None, text.split(",")):
            name, _, value = item.partition("=")
            kind = _URI_PARAMETERS.get(name)
            if kind is None:
                raise ValueError(f"{uri!r}: no parameter {name!r}")
            params[name] = None if value == "" else kind(value)
        return cls(**params)
