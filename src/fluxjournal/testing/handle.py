"""The fake ``flux.Flux`` handle and its futures, which ReplayFlux and SimulatedFlux share.

They answer the journal services as a flux-core 0.88.0 broker does, through the part of
flux-python's handle and future API that journal consumers use, so that flux-core's own
consumers (and fluxjournal's) run on them unchanged, with no broker:

- ``handle.rpc(topic, payload, nodeid, flags)`` returns a :class:`FakeRPC` future.
  ``job-manager.events-journal`` and ``resource.journal`` answer a streaming request with
  their backlog then the sentinel, keep the stream open, and end it with an ENODATA error
  once ``<topic>-cancel`` with ``{"matchtag": m}`` (sent with ``FLUX_RPC_NORESPONSE``) names
  it (or, for a stream that ``ends``, once everything is sent). A request that is not
  streaming gets EPROTO, as does a job journal request whose payload is not a JSON object,
  whose ``full`` is not a boolean, or whose ``allow``/``deny`` is not an object. Other
  topics get ENOSYS. A cancel is never answered: its future is ready at once only because
  it is sent with ``FLUX_RPC_NORESPONSE`` (and reading it fails with EINVAL, as in
  flux-python).
- The backlog (and its sentinel) is always delivered whole, even when the cancel comes
  first: the real service sends it from inside its request handler.
- Each response is ready as soon as the previous one has been taken: nothing sleeps, unless
  the stream is paced (:class:`Stream`'s ``rate``).
- Each request is its own stream with its own matchtag (1, 2, 3, ... in request order;
  flux-core may reuse a freed matchtag, the stand-ins never do).
- Payloads are served as given, one response each; ``get_bytes()`` gives them without the
  NUL that flux-core counts in flux_rpc_get_raw()'s length.

The future mirrors flux-python's ``flux.rpc.RPC`` and ``reactor_run()`` mirrors
``flux.Flux.reactor_run()``: it runs ``then`` callbacks while a stream that has one is
open, returns 0 once none is, and re-raises an exception raised by a callback.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Union

from fluxjournal.wire.protocol import FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING
from fluxjournal.wire.protocol import JOB_TOPIC as JOB_JOURNAL_TOPIC
from fluxjournal.wire.protocol import RESOURCE_TOPIC as RESOURCE_JOURNAL_TOPIC

__all__ = [
    "FLUX_MATCHTAG_NONE",
    "FLUX_NODEID_ANY",
    "FLUX_REACTOR_NOWAIT",
    "FLUX_REACTOR_ONCE",
    "FLUX_RPC_NORESPONSE",
    "FLUX_RPC_STREAMING",
    "JOB_JOURNAL_TOPIC",
    "JOB_SENTINEL",
    "RESOURCE_JOURNAL_TOPIC",
    "RESOURCE_SENTINEL",
    "FakeFlux",
    "FakeRPC",
    "Stream",
]

# flux-core's values that the wire protocol module does not carry (src/common/libflux/
# message.h, reactor.h), so that no flux import is needed.
FLUX_NODEID_ANY = 0xFFFFFFFF
FLUX_MATCHTAG_NONE = 0
FLUX_REACTOR_NOWAIT = 1
FLUX_REACTOR_ONCE = 2

#: The responses that end each journal's backlog, as the services send them.
JOB_SENTINEL = b'{"id":-1,"events":[]}'
RESOURCE_SENTINEL = b'{"events":[]}'


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


class Stream:
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
    def single(cls, response: _Response) -> Stream:
        """One response that ends the exchange (an error, or a one-way request's None)."""
        return cls(iter((response,)), streaming=False)

    @classmethod
    def silent(cls) -> Stream:
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

    def __init__(self, handle: FakeFlux, stream: Stream, matchtag: int) -> None:
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
        self._streams: dict[tuple[str, int], Stream] = {}
        self._armed: list[FakeRPC] = []
        self._stop_requested = False

    def _open_stream(self, topic: str, request: dict[str, Any]) -> Stream:
        raise NotImplementedError

    def _request_locked(self, topic: str, body: bytes | None, flags: int) -> Stream:
        """Check a journal request as the service does, then open its stream."""
        request = _decode_object(body)
        if topic == JOB_JOURNAL_TOPIC:
            # flux_request_unpack ("{s?o s?o s?b}") fails first, then come the checks.
            if request is None or not isinstance(request.get("full", False), bool):
                return Stream.single(_Error(errno.EPROTO))
            if not flags & FLUX_RPC_STREAMING:
                return Stream.single(
                    _Error(errno.EPROTO, "job-manager.events requires streaming RPC flag")
                )
            for key in ("allow", "deny"):
                if key in request and not isinstance(request[key], dict):
                    return Stream.single(
                        _Error(errno.EPROTO, f"job-manager.events {key} should be an object")
                    )
        elif not flags & FLUX_RPC_STREAMING:
            return Stream.single(_Error(errno.EPROTO, "journal requires streaming RPC flag"))
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
                stream = Stream.silent()
            elif topic.partition(".")[0] in {t.partition(".")[0] for t in self._topics}:
                stream = Stream.single(_Error(errno.ENOSYS, f"Unknown service method '{topic}'"))
            else:
                stream = Stream.single(
                    _Error(errno.ENOSYS, f"No service matching {topic} is registered")
                )
            if noresponse:
                # flux_rpc() fulfills a one-way request's future at once, with no message:
                # it is ready, and reading it fails with EINVAL.
                stream = Stream.single(None)
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
