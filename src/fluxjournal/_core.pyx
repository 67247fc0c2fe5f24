# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled hot path of fluxjournal.

A JSON decoder that returns exactly what ``json.loads`` returns, a decoder for the
journal's response shape that keeps ``jobspec`` and ``R`` as raw slices until they are
read, the event classes, and a job's record as job-list keeps it (``JobRecord``).
``fluxjournal._pycore`` is the pure-Python twin: same names, same results.

Positions in errors index the input as given: bytes for bytes-like input, characters
for ``str`` input.
"""

import json
import os as _os
import sys as _sys
import time as _time
from abc import ABCMeta, abstractmethod
from collections import deque
from errno import ENODATA

cimport cython

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromObject,
                           PyBytes_GET_SIZE)
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem, PyDict_New, PyDict_SetItem
from cpython.float cimport (PyFloat_AS_DOUBLE, PyFloat_AsDouble, PyFloat_CheckExact,
                           PyFloat_FromDouble)
from cpython.list cimport (PyList_Append, PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE,
                          PyList_New)
from cpython.long cimport (PyLong_AsLongLongAndOverflow, PyLong_CheckExact, PyLong_FromLongLong,
                          PyLong_FromSsize_t)
from cpython.number cimport PyNumber_Float, PyNumber_Long
from cpython.object cimport Py_EQ, PyObject_RichCompareBool, PyTypeObject
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject

from cpython.tuple cimport (PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New,
                           PyTuple_SET_ITEM)
from cpython.unicode cimport PyUnicode_CheckExact, PyUnicode_DecodeUTF8, PyUnicode_FromObject
from libc.limits cimport INT_MAX, LLONG_MAX, LLONG_MIN
from libc.math cimport INFINITY, NAN
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

from fluxjournal.errors import JSONDecodeError, MalformedResponse
from fluxjournal.hostlist import (MAX_IDS, decode_idset, encode_hostlist, encode_idset,
                                  expand_hostlist)
from fluxjournal.jsontext import EMPTY_CONTEXT_TEXT, compact_json
from fluxjournal.jobid import JobID
from fluxjournal.payload import flux_cffi, reader_for
from fluxjournal.protocol import (DRAIN_LIMIT, FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING,
                                  IN_USE_MESSAGE, JOB_KIND, JOB_TOPIC, MAX_RESPONSE_BYTES,
                                  RESOURCE_KIND, RESOURCE_TOPIC, name_filter, stock_kind)

_os_strerror = _os.strerror

cdef extern from "_decimal.h":
    bint fj_decimal_to_double(unsigned long long m, long long exp10, int negative,
                              double *out) noexcept nogil

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *exc) except? -1.0
    object PyLong_FromString(const char *s, char **pend, int base)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)
    bint PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    Py_ssize_t PyUnicode_FindChar(object s, Py_UCS4 ch, Py_ssize_t start, Py_ssize_t end,
                                  int direction) except? -2
    str PyUnicode_Substring(object s, Py_ssize_t start, Py_ssize_t end)
    void PyObject_GC_UnTrack(void *o)
    void PyObject_GC_Track(void *o)
    int PyObject_GC_IsTracked(object o)


#: Containers nested deeper than this are refused (``json.loads`` itself gives up with a
#: RecursionError near 1000). Journal payloads nest fewer than 20 levels.
MAX_DEPTH = 512
cdef Py_ssize_t C_MAX_DEPTH = 512

# The parts, in the order they build on each other. ``include`` pastes each one in
# here, so the whole is still one C file: inlined helpers stay inlined across parts.
include "_json.pxi"
include "_events.pxi"
include "_response.pxi"
include "_screen.pxi"
include "_history.pxi"
include "_receive.pxi"
include "_consumer.pxi"
include "_jobrecord.pxi"
