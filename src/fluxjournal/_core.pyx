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
import pickle
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
from fluxjournal.jobid import JobID
from fluxjournal.joblist.hostlist import (MAX_IDS, decode_idset, encode_hostlist, encode_idset,
                                          expand_hostlist)
from fluxjournal.joblist.states import JOBSPEC_UPDATE_ROOTS as _JOBSPEC_UPDATE_ROOTS
from fluxjournal.joblist.states import MAX_CORE_PAIRS, RESULT_NAMES, STATE_NAMES
from fluxjournal.wire.jsontext import EMPTY_CONTEXT_TEXT, compact_json
from fluxjournal.wire.payload import flux_cffi, reader_for
from fluxjournal.wire.protocol import (DRAIN_LIMIT, EVENT_NOT_AN_OBJECT, EVENT_WITHOUT_NAME,
                                       EVENTS_NOT_AN_ARRAY, FLUX_RPC_NORESPONSE,
                                       FLUX_RPC_STREAMING, ID_NOT_AN_INTEGER, IN_USE_MESSAGE,
                                       INVALID_JSON, JOB_KIND, JOB_TOPIC, MAX_DEPTH,
                                       MAX_RESPONSE_BYTES, NAME_NOT_A_STRING, NO_EVENTS, NO_JOB_ID,
                                       NOT_AN_OBJECT, RESOURCE_KIND, RESOURCE_TOPIC,
                                       TIMESTAMP_NOT_A_NUMBER, TOO_DEEP, TOO_LARGE, names_object,
                                       stock_kind)

_os_strerror = _os.strerror

cdef extern from "_coreparts/decimal.h":
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
cdef Py_ssize_t C_MAX_DEPTH = MAX_DEPTH

# The parts, each after the classes it uses. ``include`` pastes each one in here, so the
# whole is still one C file: inlined helpers stay inlined across parts, and a part may call
# a function of a later one (response.pxi's decode_payload tries screen.pxi's screen first).
include "_coreparts/loads.pxi"
include "_coreparts/events.pxi"
include "_coreparts/response.pxi"
include "_coreparts/screen.pxi"
include "_coreparts/sqlitewriter.pxi"
include "_coreparts/history.pxi"
include "_coreparts/receive.pxi"
include "_coreparts/consumer.pxi"
include "_coreparts/jobrecord.pxi"
