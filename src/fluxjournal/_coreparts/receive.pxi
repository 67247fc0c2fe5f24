# ---------------------------------------------------------------------------
# Receiving in C: libflux-core's own functions behind flux-python's futures
# ---------------------------------------------------------------------------
# flux-python's futures wrap a cffi ``flux_future_t *``. Its cffi ``lib`` is compiled
# against libflux-core, so ``ffi.addressof(lib, name)`` gives the address of each function
# in the library the bindings already loaded: nothing is linked at build time, and without
# flux-core the module builds, installs and imports the same. Each address is taken only
# when its C type is the one declared here; otherwise the general path is used.

from libc.errno cimport errno as c_errno
from libc.errno cimport ENODATA as C_ENODATA, EPROTO as C_EPROTO, ETIMEDOUT as C_ETIMEDOUT
from libc.stdint cimport uintptr_t
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport Py_DECREF

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "<stdbool.h>":
    ctypedef bint c_bool "bool"

cdef extern from *:
    """
    struct flux_future;
    typedef struct flux_future fj_future_t;
    """
    ctypedef struct fj_future_t

ctypedef void (*fj_continuation_f)(fj_future_t *f, void *arg) noexcept
ctypedef int (*fj_wait_for_f)(fj_future_t *f, double timeout) noexcept nogil
ctypedef int (*fj_get_raw_f)(fj_future_t *f, const void **data, size_t *length) noexcept nogil
ctypedef void (*fj_reset_f)(fj_future_t *f) noexcept nogil
ctypedef c_bool (*fj_is_ready_f)(fj_future_t *f) noexcept nogil
ctypedef const char *(*fj_error_string_f)(fj_future_t *f) noexcept nogil
ctypedef int (*fj_then_f)(fj_future_t *f, double timeout, fj_continuation_f cb,
                          void *arg) noexcept nogil

cdef struct FluxCalls:
    fj_wait_for_f wait_for
    fj_get_raw_f get_raw
    fj_reset_f reset
    fj_is_ready_f is_ready
    fj_error_string_f error_string
    fj_then_f then

#: Each function used, with its C type as the bindings' cffi spells it.
FLUX_CALL_TYPES = {
    "flux_future_wait_for": "int(*)(struct flux_future *, double)",
    "flux_rpc_get_raw": "int(*)(struct flux_future *, void * *, size_t *)",
    "flux_future_reset": "void(*)(struct flux_future *)",
    "flux_future_is_ready": "_Bool(*)(struct flux_future *)",
    "flux_future_error_string": "char *(*)(struct flux_future *)",
    "flux_future_then": (
        "int(*)(struct flux_future *, double, void(*)(struct flux_future *, void *), void *)"
    ),
}
FUTURE_TYPE = "struct flux_future *"

#: A wait gives way to Python's signal handlers this often, so that Ctrl-C interrupts a
#: poll() that waits for ever; each slice is one libflux wait, not a wake-up per event.
cdef double WAIT_SLICE = 0.1

cdef FluxCalls flux_calls
cdef object flux_calls_ffi = None      # the cffi ffi the addresses were taken from


cdef bint resolve_flux_calls(object ffi, object lib) except -1:
    """Fill ``flux_calls`` from the bindings' cffi ``lib``; False when any type differs."""
    global flux_calls_ffi
    cdef dict found = {}
    if flux_calls_ffi is ffi:
        return True
    for name, ctype in FLUX_CALL_TYPES.items():
        try:
            pointer = ffi.addressof(lib, name)
            if ffi.typeof(pointer).cname != ctype:
                return False
            address = int(ffi.cast("uintptr_t", pointer))
        except (AttributeError, TypeError, ValueError, ffi.error):
            return False
        if address == 0:
            return False
        found[name] = address
    flux_calls.wait_for = <fj_wait_for_f><uintptr_t>found["flux_future_wait_for"]
    flux_calls.get_raw = <fj_get_raw_f><uintptr_t>found["flux_rpc_get_raw"]
    flux_calls.reset = <fj_reset_f><uintptr_t>found["flux_future_reset"]
    flux_calls.is_ready = <fj_is_ready_f><uintptr_t>found["flux_future_is_ready"]
    flux_calls.error_string = <fj_error_string_f><uintptr_t>found["flux_future_error_string"]
    flux_calls.then = <fj_then_f><uintptr_t>found["flux_future_then"]
    flux_calls_ffi = ffi
    return True


cdef uintptr_t native_future(object future) except? 0:
    """The ``flux_future_t *`` behind a flux-python future, or 0 when it has none we can use."""
    found = flux_cffi(future)
    if found is None:
        return 0
    ffi, lib = found
    pointer = future.pimpl.handle
    if ffi.typeof(pointer).cname != FUTURE_TYPE or pointer == ffi.NULL:
        return 0
    if not resolve_flux_calls(ffi, lib):
        return 0
    return int(ffi.cast("uintptr_t", pointer))


cdef object future_error(fj_future_t *f, int errnum):
    """The OSError of an error response, with the broker's message when it sent one."""
    cdef const char *text = flux_calls.error_string(f)
    if errnum == 0:
        errnum = C_EPROTO
    message = text.decode("utf-8", "replace") if text != NULL else ""
    return OSError(errnum, message or _os_strerror(errnum))


cdef inline object payload_of(const void *data, size_t length):
    """The payload as bytes, without the NUL that libflux keeps after a string payload."""
    if data == NULL or length == 0:
        return b""
    if (<const char *>data)[length - 1] == 0:
        length -= 1
    if length > <size_t>PY_SSIZE_T_MAX:
        raise MalformedResponse("larger than this platform can hold", None)
    return PyBytes_FromStringAndSize(<const char *>data, <Py_ssize_t>length)


@cython.final
@cython.auto_pickle(False)
cdef class ThenToken:
    """What a C then-callback on one future reaches its consumer through.

    While the callback is armed the token holds a reference of its own (so a consumer
    nobody else holds lives on, as flux-python keeps a future with a callback alive), and
    the consumer holds the token. A consumer that starts another stream lets go of its
    token; the old stream's responses are then taken and dropped until it ends.
    """

    cdef ConsumerCore consumer
    cdef fj_future_t *future
    cdef object owner              # the flux-python future, while it is the stream's

    def __init__(self):
        raise TypeError("ThenToken objects are made by a consumer")


cdef void release_token(ThenToken token) noexcept:
    """Drop the reference the armed callback held (the caller holds one of its own)."""
    token.consumer = None
    token.owner = None
    Py_DECREF(token)


cdef void stop_reactor_with(ConsumerCore consumer, object exc) noexcept:
    """Have ``reactor_run()`` raise ``exc``; if even that fails, Python reports it unraisable."""
    raise_from_reactor(consumer.handle, exc)


cdef void native_continuation(fj_future_t *f, void *arg) noexcept with gil:
    """libflux's then-callback: the consumer takes what is ready and calls its callback."""
    cdef ThenToken token = <ThenToken>arg
    cdef ConsumerCore consumer = token.consumer
    cdef const void *data = NULL
    cdef size_t length = 0
    if consumer is None:  # a stream the consumer left by starting again: drop, until the end
        if flux_calls.get_raw(f, &data, &length) < 0:
            release_token(token)
        flux_calls.reset(f)
        return
    try:
        consumer.on_response()
    except BaseException as exc:
        stop_reactor_with(consumer, exc)
    if consumer.ended and consumer.token is token:
        consumer.token = None
        release_token(token)

