"""Pull the raw payload bytes of streaming-RPC responses out of a future.

flux-python's ``RPC.get()`` copies the payload into a ``str`` and runs ``json.loads`` on
it; that is exactly the work fluxjournal's compiled decoder replaces. For flux-python's
futures this module calls libflux through the bindings' own cffi ``lib``
(``flux_rpc_get_raw``, ``flux_future_is_ready``, ``flux_future_reset``); any other future
(``fluxjournal.testing``'s, or a user's) needs ``get_bytes()`` or ``get_str()``,
``is_ready()``, ``reset()`` and ``wait_for(timeout)``.
"""

from __future__ import annotations

import errno
import os
from functools import partial
from typing import Any, Callable, Protocol


class PayloadReader(Protocol):
    """What a journal consumer needs from the future of its streaming RPC.

    The four are plain callables (bound methods or partials), looked up once per wake-up.
    """

    ready: Callable[[], bool]
    """True when a response can be taken without waiting."""

    wait: Callable[[float], Any]
    """Block until a response is ready; TimeoutError after ``timeout`` s (-1: never)."""

    take: Callable[[], bytes | None]
    """The ready response's payload; OSError for an error response (ENODATA: the end)."""

    reset: Callable[[], Any]
    """Let go of the current response so the next one can arrive."""


class FluxFutureReader:
    """Reads flux-python futures through libflux's C functions, via the bindings' cffi."""

    def __init__(self, future: Any, ffi: Any, lib: Any) -> None:
        self.ffi = ffi
        self.lib = lib
        self.pointer = pointer = future.pimpl.handle
        self.data = ffi.new("const void **")
        self.size = ffi.new("size_t *")
        self.ready = partial(lib.flux_future_is_ready, pointer)
        self.reset = partial(lib.flux_future_reset, pointer)
        # flux-python's own wait_for: it frees the GIL, turns Ctrl-C into
        # KeyboardInterrupt and ETIMEDOUT into TimeoutError.
        self.wait = future.wait_for

    def take(self) -> bytes:
        """The payload bytes of the ready response (one copy, out of libflux's buffer)."""
        if self.lib.flux_rpc_get_raw(self.pointer, self.data, self.size) < 0:
            errnum = self.ffi.errno or errno.EPROTO
            text = self.lib.flux_future_error_string(self.pointer)
            message = self.ffi.string(text).decode("utf-8", "replace") if text else ""
            raise OSError(errnum, message or os.strerror(errnum))
        size = self.size[0]
        if size == 0 or self.data[0] == self.ffi.NULL:
            return b""
        payload = self.ffi.buffer(self.data[0], size)[:]
        # libflux stores string payloads with their terminating NUL
        return payload[:-1] if payload.endswith(b"\0") else payload


class GenericReader:
    """Reads any future that offers flux-python's Python API (``get_bytes``/``get_str``)."""

    def __init__(self, future: Any) -> None:
        self.future = future
        self.ready = future.is_ready
        self.wait = future.wait_for
        self.reset = future.reset
        self.take = getattr(future, "get_bytes", None) or self.take_str

    def take_str(self) -> bytes | None:
        """The payload of a future that only offers ``get_str()``, as UTF-8 bytes."""
        payload = self.future.get_str()
        return None if payload is None else payload.encode("utf-8", "surrogatepass")


def flux_cffi(future: Any) -> tuple[Any, Any] | None:
    """The bindings' cffi ``(ffi, lib)`` when ``future`` is a flux-python future, else None."""
    pointer = getattr(getattr(future, "pimpl", None), "handle", None)
    if pointer is None:
        return None
    try:
        from flux.core.inner import ffi, lib
    except ImportError:
        return None
    if not isinstance(pointer, ffi.CData) or ffi.typeof(pointer) != ffi.typeof("flux_future_t *"):
        return None
    return ffi, lib


def reader_for(future: Any) -> PayloadReader:
    """The fastest reader that works for ``future``."""
    found = flux_cffi(future)
    if found is not None:
        return FluxFutureReader(future, *found)
    return GenericReader(future)
