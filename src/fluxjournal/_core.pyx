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
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem, PyDict_New, PyDict_SetItem
from cpython.float cimport (PyFloat_AS_DOUBLE, PyFloat_AsDouble, PyFloat_CheckExact,
                           PyFloat_FromDouble)
from cpython.list cimport (PyList_Append, PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE,
                          PyList_New)
from cpython.long cimport (PyLong_AsLongLongAndOverflow, PyLong_CheckExact, PyLong_FromLongLong,
                          PyLong_FromSsize_t)
from cpython.number cimport PyNumber_Float, PyNumber_Long
from cpython.object cimport Py_EQ, PyObject_RichCompareBool, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject

from cpython.tuple cimport (PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New,
                           PyTuple_SET_ITEM)
from cpython.unicode cimport PyUnicode_CheckExact, PyUnicode_DecodeUTF8
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
from fluxjournal.protocol import (DRAIN_LIMIT, FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING, JOB_KIND,
                                  JOB_TOPIC, RESOURCE_KIND, RESOURCE_TOPIC, name_filter,
                                  stock_kind)

_os_strerror = _os.strerror

cdef extern from "_decimal.h":
    bint fj_decimal_to_double(unsigned long long m, int exp10, int negative, double *out) noexcept nogil

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


#: Containers nested deeper than this are refused (``json.loads`` itself gives up with a
#: RecursionError near 1000). Journal payloads nest fewer than 20 levels.
MAX_DEPTH = 512
cdef Py_ssize_t C_MAX_DEPTH = 512

# ---------------------------------------------------------------------------
# Buffers and failures
# ---------------------------------------------------------------------------

cdef struct Cursor:
    const unsigned char *buf   # the UTF-8 document
    Py_ssize_t length
    Py_ssize_t depth           # containers currently open
    unsigned char *scratch     # unescaped string bytes, grown on demand
    Py_ssize_t scratch_cap


class _Fail(Exception):
    """Internal: a parse failure at a byte offset; turned into JSONDecodeError by the caller."""


cdef int fail(str msg, Py_ssize_t pos) except -1:
    raise _Fail(msg, pos)


cdef inline Py_ssize_t skip_ws(Cursor *c, Py_ssize_t i) noexcept nogil:
    cdef unsigned char ch
    while i < c.length:
        ch = c.buf[i]
        if ch <= 32 and (ch == 32 or ch == 10 or ch == 13 or ch == 9):
            i += 1
        else:
            break
    return i


cdef inline Py_ssize_t fast_ws(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    # compact JSON has none: one comparison says so (every whitespace byte is <= 32)
    while i < n and b[i] <= 32 and (b[i] == 32 or b[i] == 10 or b[i] == 13 or b[i] == 9):
        i += 1
    return i


cdef int grow_scratch(Cursor *c, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = c.scratch_cap if c.scratch_cap else 256
    cdef unsigned char *p
    while cap < need:
        cap *= 2
    p = <unsigned char *>realloc(c.scratch, cap)
    if p == NULL:
        raise MemoryError()
    c.scratch = p
    c.scratch_cap = cap
    return 0


# ---------------------------------------------------------------------------
# Short-string cache: keys and names repeat in every event, so share one str each
# ---------------------------------------------------------------------------

cdef enum:
    CACHE_SLOTS = 1024
    CACHE_MAXLEN = 32

cdef struct CacheSlot:
    Py_ssize_t length
    PyObject *value
    unsigned char text[CACHE_MAXLEN]

cdef CacheSlot string_cache[CACHE_SLOTS]


cdef inline object new_ascii(const unsigned char *p, Py_ssize_t n):
    cdef object s = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(s), p, n)
    return s


cdef inline unsigned long long word_at(const unsigned char *p) noexcept nogil:
    cdef unsigned long long word
    memcpy(&word, p, 8)
    return word


cdef inline unsigned int short_hash(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """A hash of 1 to CACHE_MAXLEN bytes: two word loads from 8 bytes on, FNV-1a below."""
    cdef unsigned long long h
    cdef unsigned int fnv = 2166136261u
    cdef Py_ssize_t k
    if n >= 8:
        h = (word_at(p) * 0x9E3779B97F4A7C15ULL) ^ (word_at(p + n - 8) + <unsigned long long>n)
        h *= 0xBF58476D1CE4E5B9ULL
        return <unsigned int>(h >> 32)
    for k in range(n):
        fnv = (fnv ^ p[k]) * 16777619u
    return fnv


cdef inline bint same_bytes(const unsigned char *a, const unsigned char *b,
                            Py_ssize_t n) noexcept nogil:
    """``memcmp(a, b, n) == 0`` for short runs, by words where it can."""
    cdef Py_ssize_t k = 0
    if n >= 8:
        while k + 8 < n:
            if word_at(a + k) != word_at(b + k):
                return False
            k += 8
        return word_at(a + n - 8) == word_at(b + n - 8)
    while k < n:
        if a[k] != b[k]:
            return False
        k += 1
    return True


cdef object cached_ascii(const unsigned char *p, Py_ssize_t n):
    """Return the str for ``n`` ASCII bytes, reusing the one made last time when it matches."""
    cdef CacheSlot *slot = &string_cache[short_hash(p, n) & (CACHE_SLOTS - 1)]
    cdef object s
    if slot.value != NULL and slot.length == n and same_bytes(slot.text, p, n):
        return <object>slot.value
    s = new_ascii(p, n)
    Py_XDECREF(slot.value)
    Py_INCREF(s)
    slot.value = <PyObject *>s
    slot.length = n
    memcpy(slot.text, p, n)
    return s


cdef inline object ascii_str(const unsigned char *p, Py_ssize_t n):
    """The str of ``n`` ASCII bytes: through the cache when it is short enough."""
    if n <= CACHE_MAXLEN:
        return cached_ascii(p, n)
    return new_ascii(p, n)


cdef enum JournalKey:
    OTHER_KEY, TIMESTAMP_KEY, NAME_KEY, CONTEXT_KEY, ID_KEY, EVENTS_KEY, JOBSPEC_KEY, R_KEY


cdef JournalKey key_from_bytes(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """Which of the journal's keys the unescaped key text ``p[:n]`` is."""
    if n == 9 and memcmp(p, b"timestamp", 9) == 0:
        return TIMESTAMP_KEY
    if n == 4 and memcmp(p, b"name", 4) == 0:
        return NAME_KEY
    if n == 7 and memcmp(p, b"context", 7) == 0:
        return CONTEXT_KEY
    if n == 2 and p[0] == 105 and p[1] == 100:
        return ID_KEY
    if n == 6 and memcmp(p, b"events", 6) == 0:
        return EVENTS_KEY
    if n == 7 and memcmp(p, b"jobspec", 7) == 0:
        return JOBSPEC_KEY
    if n == 1 and p[0] == 82:
        return R_KEY
    return OTHER_KEY


cdef enum EventName:
    OTHER_NAME, SUBMIT_NAME, ALLOC_NAME


cdef EventName name_from_bytes(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """The events whose name decides what a JournalEvent carries: submit (jobspec), alloc (R)."""
    if n == 6 and memcmp(p, b"submit", 6) == 0:
        return SUBMIT_NAME
    if n == 5 and memcmp(p, b"alloc", 5) == 0:
        return ALLOC_NAME
    return OTHER_NAME


#: The journal's entry keys, made once: events built from any payload share these.
cdef str TIMESTAMP_STR = "timestamp"
cdef str NAME_STR = "name"
cdef str CONTEXT_STR = "context"


# ---------------------------------------------------------------------------
# Strings
# ---------------------------------------------------------------------------

cdef Py_ssize_t utf8_invalid_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """Offset of the first sequence Python's UTF-8 decoder (surrogatepass) refuses, or -1."""
    cdef unsigned char c, c1
    while i < end:
        c = s[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2 or c > 0xF4:
            return i
        if c < 0xE0:
            if i + 1 >= end or (s[i + 1] & 0xC0) != 0x80:
                return i
            i += 2
        elif c < 0xF0:
            if i + 2 >= end:
                return i
            c1 = s[i + 1]
            if (c1 & 0xC0) != 0x80 or (c == 0xE0 and c1 < 0xA0) or (s[i + 2] & 0xC0) != 0x80:
                return i
            i += 3
        else:
            if i + 3 >= end:
                return i
            c1 = s[i + 1]
            if ((c1 & 0xC0) != 0x80 or (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F)
                    or (s[i + 2] & 0xC0) != 0x80 or (s[i + 3] & 0xC0) != 0x80):
                return i
            i += 4
    return -1


cdef int check_utf8(Cursor *c, Py_ssize_t start, Py_ssize_t end) except -1:
    cdef Py_ssize_t bad = utf8_invalid_at(c.buf, start, end)
    if bad >= 0:
        fail("Invalid UTF-8 sequence", bad)
    return 0


cdef inline int hex_value(unsigned char ch) noexcept nogil:
    if 48 <= ch <= 57:
        return ch - 48
    if 97 <= ch <= 102:
        return ch - 87
    if 65 <= ch <= 70:
        return ch - 55
    return -1


cdef Py_ssize_t read_hex4(Cursor *c, Py_ssize_t i, Py_ssize_t u_pos) except -1:
    """The code unit of the 4 hex digits at ``i``; errors point at the ``u`` as json does."""
    cdef Py_ssize_t value = 0
    cdef int d
    cdef Py_ssize_t k
    for k in range(i, i + 4):
        d = hex_value(c.buf[k])
        if d < 0:
            fail("Invalid \\uXXXX escape", u_pos)
        value = (value << 4) | d
    return value


cdef inline Py_ssize_t put_utf8(unsigned char *out, Py_ssize_t n, Py_ssize_t cp) noexcept nogil:
    """Append code point ``cp`` (surrogates allowed, as surrogatepass writes them)."""
    if cp < 0x80:
        out[n] = <unsigned char>cp
        return n + 1
    if cp < 0x800:
        out[n] = <unsigned char>(0xC0 | (cp >> 6))
        out[n + 1] = <unsigned char>(0x80 | (cp & 0x3F))
        return n + 2
    if cp < 0x10000:
        out[n] = <unsigned char>(0xE0 | (cp >> 12))
        out[n + 1] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
        out[n + 2] = <unsigned char>(0x80 | (cp & 0x3F))
        return n + 3
    out[n] = <unsigned char>(0xF0 | (cp >> 18))
    out[n + 1] = <unsigned char>(0x80 | ((cp >> 12) & 0x3F))
    out[n + 2] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
    out[n + 3] = <unsigned char>(0x80 | (cp & 0x3F))
    return n + 4


cdef extern from *:
    """
    #include <string.h>
    /* 8 bytes as a little-endian word: the first byte in memory is the lowest. */
    static inline unsigned long long fj_load_le64(const unsigned char *p)
    {
        unsigned long long word;
        memcpy(&word, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
    #endif
        return word;
    }
    #if defined(__GNUC__) || defined(__clang__)
    #define fj_lowest_byte(mask) (__builtin_ctzll(mask) >> 3)
    #else
    static inline int fj_lowest_byte(unsigned long long mask)
    {
        int n = 0;
        while (!(mask & 0xFF)) { mask >>= 8; n++; }
        return n;
    }
    #endif
    """
    unsigned long long fj_load_le64(const unsigned char *p) noexcept nogil
    int fj_lowest_byte(unsigned long long mask) noexcept nogil


cdef inline Py_ssize_t skip_plain_ascii(const unsigned char *buf, Py_ssize_t i,
                                        Py_ssize_t n) noexcept nogil:
    """The offset of the first quote, backslash, control or non-ASCII byte at or after ``i``
    (or ``n``), read 8 bytes at a time.

    The lowest flagged byte of a word is always a true one: a borrow only carries upwards,
    so the false positives it makes sit above a byte that really is special.
    """
    cdef unsigned long long word, quote, backslash, control, found
    cdef unsigned long long ones = 0x0101010101010101ULL
    cdef unsigned long long highs = 0x8080808080808080ULL
    while i + 8 <= n:
        word = fj_load_le64(buf + i)
        quote = word ^ (ones * 34)
        backslash = word ^ (ones * 92)
        control = word - ones * 32      # borrows into the high bit for bytes < 0x20
        found = (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | control
                 | word) & highs
        if found:
            return i + fj_lowest_byte(found)
        i += 8
    while i < n:
        if buf[i] == 34 or buf[i] == 92 or buf[i] < 0x20 or buf[i] >= 0x80:
            return i
        i += 1
    return n


cdef Py_ssize_t scan_plain_string(Cursor *c, Py_ssize_t i, bint *ascii) except -2:
    """From ``i`` (after the quote) to the closing quote or the first backslash.

    Returns the offset of that byte, or -1 when the string is unterminated; refuses
    control characters. ``ascii`` says whether the bytes before it were all ASCII.
    """
    cdef const unsigned char *buf = c.buf
    cdef Py_ssize_t n = c.length
    cdef unsigned char ch
    cdef bint only_ascii = True
    while True:
        i = skip_plain_ascii(buf, i, n)
        if i >= n:
            return -1
        ch = buf[i]
        if ch == 34 or ch == 92:
            ascii[0] = only_ascii
            return i
        if ch < 0x20:
            fail("Invalid control character at", i)
        only_ascii = False
        i += 1


cdef object parse_string(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The string whose opening quote is at ``i - 1``; ``end`` gets the offset after it."""
    cdef bint ascii = True
    cdef Py_ssize_t j = scan_plain_string(c, i, &ascii)
    if j < 0:
        fail("Unterminated string starting at", i - 1)
    if c.buf[j] == 92:
        return parse_escaped_string(c, i, j, end, True, ascii)
    end[0] = j + 1
    if ascii:
        return ascii_str(c.buf + i, j - i)
    check_utf8(c, i, j)
    return PyUnicode_DecodeUTF8(<const char *>(c.buf + i), j - i, "surrogatepass")


cdef Py_ssize_t skip_string(Cursor *c, Py_ssize_t i) except -1:
    """Validate the string whose opening quote is at ``i - 1``; the offset after it."""
    cdef bint ascii = True
    cdef Py_ssize_t end = 0
    cdef Py_ssize_t j = scan_plain_string(c, i, &ascii)
    if j < 0:
        fail("Unterminated string starting at", i - 1)
    if c.buf[j] == 92:
        parse_escaped_string(c, i, j, &end, False, ascii)
        return end
    if not ascii:
        check_utf8(c, i, j)
    return j + 1


cdef object parse_escaped_string(Cursor *c, Py_ssize_t i, Py_ssize_t j, Py_ssize_t *end,
                                 bint build, bint ascii):
    """Slow path: a string with escapes, unescaped into the scratch buffer as UTF-8.

    [i, j) is the plain run before the first backslash; ``ascii`` says whether it is ASCII.
    """
    cdef Py_ssize_t begin = i - 1
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t out = 0
    cdef Py_ssize_t cp, low, u_pos
    cdef unsigned char ch
    while True:
        # the plain run [i, j), then the byte at j: a quote or a backslash
        if not ascii:
            check_utf8(c, i, j)
        if build:
            if out + (j - i) + 8 > c.scratch_cap:
                grow_scratch(c, out + (j - i) + 8)
            memcpy(c.scratch + out, c.buf + i, j - i)
            out += j - i
        if c.buf[j] == 34:
            end[0] = j + 1
            break
        j += 1
        if j >= n:
            fail("Unterminated string starting at", begin)
        ch = c.buf[j]
        if ch == 117:  # \uXXXX
            u_pos = j
            if j + 5 > n - 1:
                fail("Invalid \\uXXXX escape", u_pos)
            cp = read_hex4(c, j + 1, u_pos)
            j += 5
            if 0xD800 <= cp <= 0xDBFF and j + 6 < n and c.buf[j] == 92 and c.buf[j + 1] == 117:
                low = read_hex4(c, j + 2, j + 1)
                if 0xDC00 <= low <= 0xDFFF:
                    cp = 0x10000 + (((cp - 0xD800) << 10) | (low - 0xDC00))
                    j += 6
        else:
            if ch == 34 or ch == 92 or ch == 47:
                cp = ch
            elif ch == 98:
                cp = 8
            elif ch == 102:
                cp = 12
            elif ch == 110:
                cp = 10
            elif ch == 114:
                cp = 13
            elif ch == 116:
                cp = 9
            else:
                fail("Invalid \\escape", j - 1)
            j += 1
        if build:
            out = put_utf8(c.scratch, out, cp)
        i = j
        j = scan_plain_string(c, i, &ascii)
        if j < 0:
            fail("Unterminated string starting at", begin)
    if not build:
        return None
    return PyUnicode_DecodeUTF8(<const char *>c.scratch, out, "surrogatepass")


# ---------------------------------------------------------------------------
# Numbers and constants
# ---------------------------------------------------------------------------

cdef inline bint is_digit(unsigned char ch) noexcept nogil:
    return 48 <= ch <= 57


cdef struct Decimal:
    unsigned long long mantissa   # the digits, while there are at most 19 of them
    int digits                    # significant digits seen (leading zeros not counted)
    int exp10                     # the decimal exponent of the last digit
    bint negative


cdef object number_from_text(Cursor *c, Py_ssize_t start, Py_ssize_t stop, bint is_float,
                             Decimal *d):
    """Convert the validated number text [start, stop) exactly as ``float()``/``int()`` do."""
    cdef char small[64]
    cdef bytes big
    cdef const char *text
    cdef Py_ssize_t n = stop - start
    cdef double value
    if d.digits <= 18 and not is_float:
        return PyLong_FromLongLong(-<long long>d.mantissa if d.negative else <long long>d.mantissa)
    if is_float and d.digits <= 19 and fj_decimal_to_double(d.mantissa, d.exp10, d.negative, &value):
        return PyFloat_FromDouble(value)
    if n < 64:
        memcpy(small, c.buf + start, n)
        small[n] = 0
        text = small
    else:
        big = (<const char *>(c.buf + start))[:n]
        text = PyBytes_AS_STRING(big)
    if is_float:
        return PyFloat_FromDouble(PyOS_string_to_double(text, NULL, NULL))
    try:
        return PyLong_FromString(text, NULL, 10)
    except ValueError as exc:  # beyond sys.get_int_max_str_digits()
        fail(str(exc), start)


cdef inline bint eight_digits(unsigned long long word) noexcept nogil:
    """All 8 bytes of a little-endian word are ASCII digits."""
    return ((word & 0xF0F0F0F0F0F0F0F0ULL)
            | (((word + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)
            ) == 0x3333333333333333ULL


cdef inline unsigned long long eight_digits_value(unsigned long long word) noexcept nogil:
    """The value of 8 ASCII digits read as a little-endian word (first digit most significant)."""
    word = ((word & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8
    word = ((word & 0x00FF00FF00FF00FFULL) * 6553601) >> 16
    return ((word & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32


cdef inline Py_ssize_t take_digits(const unsigned char *buf, Py_ssize_t i, Py_ssize_t n,
                                   Decimal *d, bint fraction) noexcept nogil:
    """Add the run of digits at ``i`` to ``d``; returns the offset after the run.

    The first 19 significant digits go into the mantissa (8 at a time where they can);
    the exponent tracks the rest: digits dropped from an integer part scale it up, digits
    kept from a fraction scale it down. Leading zeros are not significant.
    """
    # kept in locals: stores through ``d`` would make the compiler reload them after
    # every read of ``buf`` (a char pointer may alias anything)
    cdef unsigned long long word
    cdef unsigned long long mantissa = d.mantissa
    cdef int digits = d.digits
    cdef int exp10 = d.exp10
    cdef unsigned char ch
    if digits == 0:
        while i < n and buf[i] == 48:
            if fraction:
                exp10 -= 1
            i += 1
    while digits <= 11 and i + 8 <= n:
        word = fj_load_le64(buf + i)
        if not eight_digits(word):
            break
        mantissa = mantissa * 100000000ULL + eight_digits_value(word)
        digits += 8
        if fraction:
            exp10 -= 8
        i += 8
    while i < n:
        ch = buf[i]
        if not is_digit(ch):
            break
        digits += 1
        if digits <= 19:
            mantissa = mantissa * 10 + (ch - 48)
            if fraction:
                exp10 -= 1
        elif not fraction:
            exp10 += 1
        i += 1
    d.mantissa = mantissa
    d.digits = digits
    d.exp10 = exp10
    return i


cdef object parse_number(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """A JSON number at ``i``, as ``int()`` or ``float()`` of its text would give it."""
    cdef Decimal d
    cdef bint is_float = False
    end[0] = match_number(c, i, &d, &is_float)
    return number_from_text(c, i, end[0], is_float, &d)


cdef Py_ssize_t match_number(Cursor *c, Py_ssize_t i, Decimal *d, bint *is_float) except -1:
    """The offset after the number at ``i``, matched with json's grammar and lookahead.

    ``d`` gets its digits and decimal exponent, ``is_float`` whether it has a fraction or
    an exponent.
    """
    cdef Py_ssize_t end = number_end(c.buf, i, c.length, d, is_float)
    if end < 0:
        fail("Expecting value", i)
    return end


cdef Py_ssize_t number_end(const unsigned char *buf, Py_ssize_t i, Py_ssize_t n, Decimal *d,
                           bint *is_float) noexcept nogil:
    """``match_number`` without the error: -1 when no number starts at ``i``."""
    cdef Py_ssize_t last = n - 1
    cdef Py_ssize_t e_start
    cdef bint exp_negative = False
    cdef long exponent = 0
    is_float[0] = False
    d.mantissa = 0
    d.digits = 0
    d.exp10 = 0
    d.negative = buf[i] == 45
    if d.negative:
        i += 1
        if i > last:
            return -1
    if 49 <= buf[i] <= 57:
        i = take_digits(buf, i, n, d, False)
    elif buf[i] == 48:
        i += 1
    else:
        return -1
    if i < last and buf[i] == 46 and is_digit(buf[i + 1]):
        is_float[0] = True
        i = take_digits(buf, i + 1, n, d, True)
    if i < last and (buf[i] == 101 or buf[i] == 69):
        e_start = i
        i += 1
        if i < last and (buf[i] == 45 or buf[i] == 43):
            exp_negative = buf[i] == 45
            i += 1
        while i <= last and is_digit(buf[i]):
            if exponent < 100000:
                exponent = exponent * 10 + (buf[i] - 48)
            i += 1
        if is_digit(buf[i - 1]):
            is_float[0] = True
            d.exp10 += -exponent if exp_negative else exponent
        else:
            i = e_start
    return i


cdef inline bint matches(Cursor *c, Py_ssize_t i, const char *word, Py_ssize_t n) noexcept nogil:
    return i + n <= c.length and memcmp(c.buf + i, word, n) == 0


# ---------------------------------------------------------------------------
# Values, objects, arrays
# ---------------------------------------------------------------------------

cdef enum Literal:
    NOT_A_LITERAL, NULL_LITERAL, TRUE_LITERAL, FALSE_LITERAL, NAN_LITERAL, INF_LITERAL, \
        NEG_INF_LITERAL


cdef Literal literal_at(Cursor *c, Py_ssize_t i, Py_ssize_t *end) noexcept nogil:
    """Which of json's literals starts at ``i`` (``end`` gets the offset after it)."""
    cdef unsigned char ch = c.buf[i]
    if ch == 110 and matches(c, i, "null", 4):
        end[0] = i + 4
        return NULL_LITERAL
    if ch == 116 and matches(c, i, "true", 4):
        end[0] = i + 4
        return TRUE_LITERAL
    if ch == 102 and matches(c, i, "false", 5):
        end[0] = i + 5
        return FALSE_LITERAL
    if ch == 78 and matches(c, i, "NaN", 3):
        end[0] = i + 3
        return NAN_LITERAL
    if ch == 73 and matches(c, i, "Infinity", 8):
        end[0] = i + 8
        return INF_LITERAL
    if ch == 45 and matches(c, i, "-Infinity", 9):
        end[0] = i + 9
        return NEG_INF_LITERAL
    return NOT_A_LITERAL


cdef object parse_value(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """Any JSON value starting exactly at ``i``."""
    cdef unsigned char ch
    cdef Literal literal
    if i >= c.length:
        fail("Expecting value", i)
    ch = c.buf[i]
    if ch == 34:
        return parse_string(c, i + 1, end)
    if ch == 123:
        return parse_object(c, i + 1, end, None)
    if ch == 91:
        return parse_array(c, i + 1, end)
    if is_digit(ch) or (ch == 45 and i + 1 < c.length and is_digit(c.buf[i + 1])):
        return parse_number(c, i, end)
    literal = literal_at(c, i, end)
    if literal == NOT_A_LITERAL:
        return parse_number(c, i, end)
    if literal == NULL_LITERAL:
        return None
    if literal == TRUE_LITERAL:
        return True
    if literal == FALSE_LITERAL:
        return False
    if literal == NAN_LITERAL:
        return PyFloat_FromDouble(NAN)
    return PyFloat_FromDouble(INFINITY if literal == INF_LITERAL else -INFINITY)


cdef Py_ssize_t skip_value(Cursor *c, Py_ssize_t i) except -1:
    """Validate the JSON value at ``i`` without building it; the offset after it."""
    cdef unsigned char ch
    cdef Py_ssize_t end = 0
    cdef Decimal d
    cdef bint is_float
    if i >= c.length:
        fail("Expecting value", i)
    ch = c.buf[i]
    if ch == 34:
        return skip_string(c, i + 1)
    if ch == 123:
        return skip_object(c, i + 1)
    if ch == 91:
        return skip_array(c, i + 1)
    if is_digit(ch) or (ch == 45 and i + 1 < c.length and is_digit(c.buf[i + 1])):
        return match_number(c, i, &d, &is_float)
    if literal_at(c, i, &end) != NOT_A_LITERAL:
        return end
    return match_number(c, i, &d, &is_float)


cdef int enter_container(Cursor *c, Py_ssize_t bracket) except -1:
    c.depth += 1
    if c.depth > C_MAX_DEPTH:
        fail("Nesting deeper than %d levels" % C_MAX_DEPTH, bracket)
    return 0


cdef inline int expect_key(Cursor *c, Py_ssize_t i) except -1:
    if i >= c.length or c.buf[i] != 34:
        fail("Expecting property name enclosed in double quotes", i)
    return 0


cdef object parse_key(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    expect_key(c, i)
    return parse_string(c, i + 1, end)


cdef object string_text(Cursor *c, Py_ssize_t i, Py_ssize_t *end,
                        const unsigned char **text, Py_ssize_t *length):
    """Validate the string whose opening quote is at ``i``; ``text``/``length`` get its
    unescaped UTF-8 bytes, ``end`` the offset after it.

    Those bytes lie in the payload, or, for a string with escapes, in the bytes object
    returned (None otherwise), which the caller keeps while it reads them.
    """
    cdef bint ascii = True
    cdef Py_ssize_t j = scan_plain_string(c, i + 1, &ascii)
    cdef bytes unescaped
    if j < 0:
        fail("Unterminated string starting at", i)
    if c.buf[j] == 92:
        unescaped = parse_escaped_string(c, i + 1, j, end, True, ascii).encode(
            "utf-8", "surrogatepass")
        text[0] = <const unsigned char *>PyBytes_AS_STRING(unescaped)
        length[0] = PyBytes_GET_SIZE(unescaped)
        return unescaped
    if not ascii:
        check_utf8(c, i + 1, j)
    text[0] = c.buf + i + 1
    length[0] = j - i - 1
    end[0] = j + 1
    return None


cdef Py_ssize_t scan_key(Cursor *c, Py_ssize_t i, JournalKey *which) except -1:
    """Validate the key at ``i`` and say which journal key it is; the offset after it.

    Keys are matched on their bytes, so no str is made unless the key has escapes.
    """
    cdef const unsigned char *text
    cdef Py_ssize_t length, end = 0
    expect_key(c, i)
    keep = string_text(c, i, &end, &text, &length)  # holds escaped text while read
    which[0] = key_from_bytes(text, length)
    return end


cdef inline Py_ssize_t next_member(Cursor *c, Py_ssize_t i, unsigned char close) except -2:
    """After a member or an element: the offset of the next one, or -1 at ``close``."""
    i = skip_ws(c, i)
    if i < c.length and c.buf[i] == close:
        return -1
    if i >= c.length or c.buf[i] != 44:
        fail("Expecting ',' delimiter", i)
    return skip_ws(c, i + 1)


cdef inline Py_ssize_t expect_colon(Cursor *c, Py_ssize_t i) except -1:
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != 58:
        fail("Expecting ':' delimiter", i)
    return skip_ws(c, i + 1)


cdef object parse_object(Cursor *c, Py_ssize_t i, Py_ssize_t *end, object into):
    """The object whose ``{`` is at ``i - 1``, filled into ``into`` (or a new dict)."""
    cdef Py_ssize_t nxt = 0
    cdef object key
    cdef object result = into if into is not None else PyDict_New()
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != 125:
        while i >= 0:
            key = parse_key(c, i, &nxt)
            i = expect_colon(c, nxt)
            PyDict_SetItem(result, key, parse_value(c, i, &nxt))
            i = next_member(c, nxt, 125)
        i = skip_ws(c, nxt)
    c.depth -= 1
    end[0] = i + 1
    return result


cdef Py_ssize_t skip_object(Cursor *c, Py_ssize_t i) except -1:
    """Validate the object whose ``{`` is at ``i - 1``; the offset after it."""
    cdef Py_ssize_t nxt = i
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != 125:
        while i >= 0:
            expect_key(c, i)
            i = expect_colon(c, skip_string(c, i + 1))
            nxt = skip_value(c, i)
            i = next_member(c, nxt, 125)
        i = skip_ws(c, nxt)
    c.depth -= 1
    return i + 1


cdef object parse_array(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The array whose ``[`` is at ``i - 1``."""
    cdef Py_ssize_t nxt = 0
    cdef list result = PyList_New(0)
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != 93:
        while i >= 0:
            PyList_Append(result, parse_value(c, i, &nxt))
            i = next_member(c, nxt, 93)
        i = skip_ws(c, nxt)
    c.depth -= 1
    end[0] = i + 1
    return result


cdef Py_ssize_t skip_array(Cursor *c, Py_ssize_t i) except -1:
    """Validate the array whose ``[`` is at ``i - 1``; the offset after it."""
    cdef Py_ssize_t nxt = i
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != 93:
        while i >= 0:
            nxt = skip_value(c, i)
            i = next_member(c, nxt, 93)
        i = skip_ws(c, nxt)
    c.depth -= 1
    return i + 1


# ---------------------------------------------------------------------------
# Documents: holding the input, mapping failures back to it
# ---------------------------------------------------------------------------

@cython.no_gc
cdef class _Document:
    """The UTF-8 bytes of one input document and the Python object that owns them."""

    cdef object owner        # bytes, or an ASCII str, whose buffer we read
    cdef object source       # what the caller passed, for error positions
    cdef Py_ssize_t offset   # bytes skipped at the start (a UTF-8 BOM)
    cdef bint is_text        # positions are reported in characters
    cdef const unsigned char *buf
    cdef Py_ssize_t length

    cdef int load(self, object data) except -1:
        cdef Py_buffer view
        self.source = data
        if isinstance(data, str):
            return self.load_text(data)
        if isinstance(data, bytes):
            self.owner = data
        elif isinstance(data, (bytearray, memoryview)):
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            try:
                self.owner = (<const char *>view.buf)[:view.len]
            finally:
                PyBuffer_Release(&view)
        else:
            raise TypeError(
                "the JSON object must be str, bytes, bytearray or memoryview, "
                f"not {type(data).__name__}")
        self.set_bytes(self.owner)
        return self.detect_encoding()

    cdef int load_text(self, str data, bint refuse_bom=True) except -1:
        self.is_text = True
        if refuse_bom and data.startswith("\ufeff"):
            raise JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
        if PyUnicode_IS_ASCII(data):
            self.owner = data
            self.buf = <const unsigned char *>PyUnicode_DATA(data)
            self.length = PyUnicode_GET_LENGTH(data)
        else:
            self.set_bytes(data.encode("utf-8", "surrogatepass"))
        return 0

    cdef void set_bytes(self, bytes data):
        self.owner = data
        self.buf = <const unsigned char *>PyBytes_AS_STRING(data)
        self.length = PyBytes_GET_SIZE(data)

    cdef int detect_encoding(self) except -1:
        """Follow json.loads for bytes: skip a UTF-8 BOM, decode UTF-16/32 to text."""
        cdef const unsigned char *b = self.buf
        if self.length < 2 or not (b[0] == 0 or b[1] == 0 or b[0] in (0xEF, 0xFE, 0xFF)):
            return 0
        encoding = json.detect_encoding(self.owner)
        if encoding == "utf-8-sig":
            self.offset = 3
            self.buf += 3
            self.length -= 3
        elif encoding != "utf-8":
            try:
                text = self.owner.decode(encoding, "surrogatepass")
            except UnicodeDecodeError as exc:
                raise JSONDecodeError(f"Invalid {encoding} data", self.owner, exc.start) from None
            self.source = text
            self.load_text(text, False)
        return 0

    cdef object error(self, tuple failure):
        """The public JSONDecodeError for a failure at a byte offset of ``buf``."""
        msg, pos = failure
        if self.is_text and not PyUnicode_IS_ASCII(self.source):
            pos = len((<const char *>self.buf)[:pos].decode("utf-8", "surrogatepass"))
        return JSONDecodeError(msg, self.source, pos + self.offset)


cdef object decode_document(_Document doc):
    cdef Cursor c
    cdef Py_ssize_t end = 0
    cdef Py_ssize_t i
    c.buf = doc.buf
    c.length = doc.length
    c.depth = 0
    c.scratch = NULL
    c.scratch_cap = 0
    try:
        i = skip_ws(&c, 0)
        result = parse_value(&c, i, &end)
        end = skip_ws(&c, end)
        if end != c.length:
            fail("Extra data", end)
        return result
    except _Fail as failure:
        raise doc.error(failure.args) from None
    finally:
        free(c.scratch)


def loads(data):
    """Decode one JSON document exactly as ``json.loads`` would.

    ``data`` is ``bytes``, ``bytearray``, ``memoryview`` or ``str``. A document that
    ``json.loads`` refuses, invalid UTF-8, or nesting deeper than ``MAX_DEPTH`` raises
    :class:`fluxjournal.errors.JSONDecodeError` (a ``ValueError``) naming the position.
    """
    cdef _Document doc = _Document.__new__(_Document)
    doc.load(data)
    return decode_document(doc)


cdef object decode_slice(_Document doc, Py_ssize_t start, Py_ssize_t stop):
    """Decode the value at [start, stop) of an already validated document."""
    cdef _Document part = _Document.__new__(_Document)
    part.owner = doc.owner
    part.source = (<const char *>(doc.buf + start))[:stop - start]
    part.buf = doc.buf + start
    part.length = stop - start
    return decode_document(part)


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------

@cython.no_gc
cdef class RawJSON:
    """A JSON value kept as its bytes inside a retained payload, decoded on first use."""

    cdef _Document doc
    cdef Py_ssize_t start, stop
    cdef object value
    cdef bint decoded

    def __init__(self):
        raise TypeError("RawJSON values are made by decode_response(), not directly")

    cdef object get(self):
        if self.doc is None:
            raise TypeError("this RawJSON holds no payload: only the decoder makes them")
        if not self.decoded:
            self.value = decode_slice(self.doc, self.start, self.stop)
            self.decoded = True
        return self.value

    def decode(self):
        """The decoded value (decoded once, then shared)."""
        return self.get()

    def __bytes__(self):
        if self.doc is None:
            return b""
        return (<const char *>(self.doc.buf + self.start))[:self.stop - self.start]

    def __repr__(self):
        return f"RawJSON({bytes(self)!r})"


cdef inline object resolve(object value):
    if type(value) is RawJSON:
        return (<RawJSON>value).get()
    return value


cdef str format_timestamp(object timestamp):
    return format(timestamp, "<0.5f")


cdef class JournalEventBase(dict):
    """One journal event: a dict with ``timestamp``, ``name`` and ``context`` keys.

    A missing ``timestamp`` is set to the current time in the caller's dict, and a
    missing ``context`` becomes ``{}``, as flux-core's ``JournalEventBase`` does.
    """

    cdef dict __dict__

    def __init__(self, event):
        if "timestamp" not in event:
            event["timestamp"] = _time.time()
        if isinstance(event, str):
            event = loads(event)
        dict.__init__(self, event)
        if "context" not in self:
            self["context"] = {}

    @property
    def name(self):
        """The event name (RFC 21)."""
        return self["name"]

    @property
    def timestamp(self):
        """Seconds since the epoch."""
        return self["timestamp"]

    @property
    def context(self):
        """The context dict; ``{}`` when the entry had none."""
        return self["context"]

    @property
    def context_string(self):
        """The context as compact JSON with sorted keys, or ``""`` when it is empty."""
        if not self["context"]:
            return ""
        return json.dumps(
            self["context"], ensure_ascii=False, separators=(",", ":"), sort_keys=True
        )

    def is_empty(self):
        """True for an event without a name, which marks the end of the history."""
        return "name" not in self

    def __str__(self):
        if self.is_empty():
            return f"{format_timestamp(self.timestamp)} End of historical data stream"
        return " ".join([format_timestamp(self.timestamp), self.name, self.context_string])

    def __repr__(self):
        return dict.__repr__(self)

    def __reduce__(self):
        return (_restore_event, (type(self), dict(self), self._extra(), vars(self) or None))

    cdef tuple _extra(self):
        return ()

    cdef _restore(self, tuple extra):
        pass


def _restore_event(cls, items, extra, attributes):
    """Rebuild a pickled or copied event without running ``__init__`` again."""
    cdef JournalEventBase event = cls.__new__(cls)
    dict.update(event, items)
    event._restore(extra)
    if attributes:
        vars(event).update(attributes)
    return event


cdef class JournalEvent(JournalEventBase):
    """An event of the job-manager journal, for job ``jobid``.

    ``jobspec`` is kept only on ``submit`` and ``R`` only on ``alloc``; a ``jobid`` of -1
    makes the empty event that marks the end of the history.
    """

    cdef object _jobid
    cdef object _jobspec
    cdef object _R

    def __init__(self, jobid, event, jobspec=None, R=None):
        JournalEventBase.__init__(self, event)
        self._jobid = JobID(jobid)
        self._jobspec = None
        self._R = None
        if self.is_empty():
            return
        name = self.name
        if name == "submit":
            self._jobspec = jobspec
        elif name == "alloc":
            self._R = R

    @property
    def jobid(self):
        """The job's :class:`~fluxjournal.JobID`."""
        return self._jobid

    @jobid.setter
    def jobid(self, value):
        self._jobid = value

    @property
    def jobspec(self):
        """The redacted jobspec on ``submit`` events, else None (decoded on first access)."""
        self._jobspec = resolve(self._jobspec)
        return self._jobspec

    @jobspec.setter
    def jobspec(self, value):
        self._jobspec = value

    @property
    def R(self):
        """The allocated resource set on ``alloc`` events, else None (decoded on first access)."""
        self._R = resolve(self._R)
        return self._R

    @R.setter
    def R(self, value):
        self._R = value

    def is_empty(self):
        """True for the sentinel: the event whose jobid is -1."""
        return self._jobid == -1

    def __str__(self):
        if self.is_empty():
            return "-1: End of historical data stream"
        jobspec = self.jobspec
        R = self.R
        parts = [
            f"{self._jobid.f58}:",
            format_timestamp(self.timestamp),
            self.name,
            self.context_string,
            jobspec and f"jobspec={jobspec}",
            R and f"R={R}",
        ]
        return " ".join([part for part in parts if part])

    cdef tuple _extra(self):
        return (self._jobid, self.jobspec, self.R)

    cdef _restore(self, tuple extra):
        self._jobid, self._jobspec, self._R = extra


cdef class ResourceJournalEvent(JournalEventBase):
    """An event of the resource journal; ``R`` is kept on every event."""

    cdef object _R

    def __init__(self, event, R=None):
        JournalEventBase.__init__(self, event)
        self._R = R

    @property
    def R(self):
        """The instance's resource set (on ``resource-define``), decoded on first access."""
        self._R = resolve(self._R)
        return self._R

    @R.setter
    def R(self, value):
        self._R = value

    cdef tuple _extra(self):
        return (self.R,)

    cdef _restore(self, tuple extra):
        (self._R,) = extra


SENTINEL_EVENT = JournalEvent(-1, {})


# ---------------------------------------------------------------------------
# Journal responses
# ---------------------------------------------------------------------------

# Records are kept for every history event until it is delivered: 16 bytes each.
cdef enum TimestampForm:
    NO_TIMESTAMP               # the entry has none: the scan's clock reading is used
    FLOAT_TIMESTAMP            # a float, converted exactly by the scan: build it from the record
    OTHER_TIMESTAMP            # an int or a literal: built again from the text


# flux-core writes an entry as {"timestamp":T,"name":"N"} with an optional ,"context":C
# last; the fast scan marks entries so laid out "usual", and these are its fixed parts.
cdef enum:
    USUAL_TIMESTAMP_AT = 13          # len('{"timestamp":'): where T starts
    USUAL_NAME_AFTER_TIMESTAMP = 9   # len(',"name":"'): from the end of T to N
    USUAL_CONTEXT_AFTER_NAME = 11    # len(',"context":'): from after N's quote to C


cdef enum:
    ROW_FIELDS = 4                   # what Response.rows() adds to each row's prefix


cdef struct EntryRecord:
    double timestamp
    int start                  # offset of the entry's "{" (payloads are < 2 GiB)
    unsigned char timestamp_form
    unsigned char name         # an EventName
    unsigned char has_context
    unsigned char usual        # laid out as flux-core writes entries, with a float timestamp


cdef inline Py_ssize_t skip_number_text(const unsigned char *buf, Py_ssize_t i,
                                        Py_ssize_t n) noexcept nogil:
    """The end of the number at ``i``, which the scan has already validated (a literal such
    as ``-Infinity`` is not a number here): every byte a number can hold."""
    while i < n and (is_digit(buf[i]) or buf[i] == 46 or buf[i] == 45 or buf[i] == 43
                     or buf[i] == 101 or buf[i] == 69):
        i += 1
    return i


cdef object entry_key_str(const unsigned char *p, Py_ssize_t n, JournalKey *which):
    """The str for a plain ASCII entry key: the shared one for the journal's own keys."""
    which[0] = key_from_bytes(p, n)
    if which[0] == TIMESTAMP_KEY:
        return TIMESTAMP_STR
    if which[0] == NAME_KEY:
        return NAME_STR
    if which[0] == CONTEXT_KEY:
        return CONTEXT_STR
    return ascii_str(p, n)


cdef object entry_key(Cursor *c, Py_ssize_t i, Py_ssize_t *end, JournalKey *which):
    """The key at ``i`` as a str: the shared one for the journal's own keys."""
    cdef bint ascii = True
    cdef Py_ssize_t j
    expect_key(c, i)
    j = scan_plain_string(c, i + 1, &ascii)
    if j >= 0 and ascii and c.buf[j] == 34:
        end[0] = j + 1
        return entry_key_str(c.buf + i + 1, j - i - 1, which)
    which[0] = OTHER_KEY
    return parse_string(c, i + 1, end)


cdef int fill_entry(Cursor *c, EntryRecord *rec, object into) except -1:
    """Fill ``into`` from the entry the scan recorded, as ``json.loads`` would; a float
    timestamp comes from the record instead of being converted again."""
    cdef Py_ssize_t i = rec.start + 1
    cdef Py_ssize_t nxt = 0
    cdef JournalKey which = OTHER_KEY
    enter_container(c, rec.start)
    i = skip_ws(c, i)
    if i < c.length and c.buf[i] != 125:
        while i >= 0:
            key = entry_key(c, i, &nxt, &which)
            i = expect_colon(c, nxt)
            if (which == TIMESTAMP_KEY and rec.timestamp_form == FLOAT_TIMESTAMP
                    and is_digit(c.buf[i if c.buf[i] != 45 else i + 1])):
                nxt = skip_number_text(c.buf, i, c.length)
                PyDict_SetItem(into, key, PyFloat_FromDouble(rec.timestamp))
            else:
                PyDict_SetItem(into, key, parse_value(c, i, &nxt))
            i = next_member(c, nxt, 125)
    c.depth -= 1
    return 0


# The fast builder: values of a document the fast scan validated, so that nothing is
# checked again. Keys there are plain ASCII; strings with escapes or other bytes go to
# the precise routine. Nesting is at most FAST_MAX_DEPTH deep.

cdef object fast_string(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The string whose opening quote is at ``i - 1``."""
    cdef Py_ssize_t j = skip_plain_ascii(c.buf, i, c.length)
    if c.buf[j] != 34:
        return parse_string(c, i, end)
    end[0] = j + 1
    return ascii_str(c.buf + i, j - i)


cdef object fast_value(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The value at ``i``."""
    cdef Decimal d
    cdef bint is_float = False
    cdef unsigned char ch = c.buf[i]
    if ch == 34:
        return fast_string(c, i + 1, end)
    if ch == 123:
        return fast_object(c, i, end)
    if ch == 91:
        return fast_array(c, i, end)
    if ch == 116:
        end[0] = i + 4
        return True
    if ch == 102:
        end[0] = i + 5
        return False
    if ch == 110:
        end[0] = i + 4
        return None
    end[0] = number_end(c.buf, i, c.length, &d, &is_float)
    return number_from_text(c, i, end[0], is_float, &d)


cdef object fast_object(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The object whose ``{`` is at ``i``."""
    cdef dict result = PyDict_New()
    cdef const unsigned char *b = c.buf
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t nxt = 0
    i = fast_ws(b, i + 1, n)
    if b[i] != 125:
        while True:
            key = fast_string(c, i + 1, &nxt)
            i = fast_ws(b, fast_ws(b, nxt, n) + 1, n)
            PyDict_SetItem(result, key, fast_value(c, i, &nxt))
            i = fast_ws(b, nxt, n)
            if b[i] == 125:
                break
            i = fast_ws(b, i + 1, n)
    end[0] = i + 1
    return result


cdef object fast_array(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The array whose ``[`` is at ``i``."""
    cdef list result = PyList_New(0)
    cdef const unsigned char *b = c.buf
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t nxt = 0
    i = fast_ws(b, i + 1, n)
    if b[i] != 93:
        while True:
            PyList_Append(result, fast_value(c, i, &nxt))
            i = fast_ws(b, nxt, n)
            if b[i] == 93:
                break
            i = fast_ws(b, i + 1, n)
    end[0] = i + 1
    return result


cdef object fast_entry_key(Cursor *c, Py_ssize_t i, Py_ssize_t *end, JournalKey *which):
    """The key at ``i``: the shared str for the journal's own keys."""
    cdef Py_ssize_t j = skip_plain_ascii(c.buf, i + 1, c.length)
    end[0] = j + 1
    return entry_key_str(c.buf + i + 1, j - i - 1, which)


cdef int usual_fill_entry(Cursor *c, EntryRecord *rec, object into) except -1:
    """Fill ``into`` from an entry the fast scan found laid out as ``usual_entry_end``
    reads it, with a float timestamp."""
    cdef Py_ssize_t nxt = 0
    cdef Py_ssize_t i = skip_number_text(c.buf, rec.start + USUAL_TIMESTAMP_AT, c.length)
    PyDict_SetItem(into, TIMESTAMP_STR, PyFloat_FromDouble(rec.timestamp))
    PyDict_SetItem(into, NAME_STR, fast_string(c, i + USUAL_NAME_AFTER_TIMESTAMP, &nxt))
    if c.buf[nxt] != 44:
        return 0
    PyDict_SetItem(into, CONTEXT_STR, fast_value(c, nxt + USUAL_CONTEXT_AFTER_NAME, &nxt))
    return 0


cdef int fast_fill_entry(Cursor *c, EntryRecord *rec, object into) except -1:
    """``fill_entry`` for a document the fast scan validated."""
    cdef const unsigned char *b = c.buf
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t i
    cdef Py_ssize_t nxt = 0
    cdef JournalKey which = OTHER_KEY
    if rec.usual:
        return usual_fill_entry(c, rec, into)
    i = fast_ws(b, rec.start + 1, n)
    while True:
        key = fast_entry_key(c, i, &nxt, &which)
        i = fast_ws(b, fast_ws(b, nxt, n) + 1, n)
        if which == TIMESTAMP_KEY and rec.timestamp_form == FLOAT_TIMESTAMP:
            nxt = skip_number_text(b, i, n)
            PyDict_SetItem(into, key, PyFloat_FromDouble(rec.timestamp))
        else:
            PyDict_SetItem(into, key, fast_value(c, i, &nxt))
        i = fast_ws(b, nxt, n)
        if b[i] == 125:
            return 0
        i = fast_ws(b, i + 1, n)


# Live responses carry one event each, so a job's events come in several responses: there
# they share one JobID object through this small cache of the latest ids seen.
cdef enum:
    JOBID_SLOTS = 256

cdef object jobid_cache = [None] * JOBID_SLOTS


cdef object new_jobid(object value):
    """``JobID(value)`` for an int: what JobID.__new__ does for one is int.__new__(JobID,
    value), here through int's own slot, without a Python-level call."""
    cdef tuple args = (value,)
    return (<PyTypeObject *>int).tp_new(JobID, <PyObject *>args, NULL)


cdef object recent_jobid(object value):
    """A JobID for ``value``: the one made last time for the same id, or a new one."""
    cdef Py_ssize_t slot = hash(value) & (JOBID_SLOTS - 1)
    cached = jobid_cache[slot]
    # JobID keeps int's ==: an id compares equal exactly when it is the same number
    if cached is not None and PyObject_RichCompareBool(cached, value, Py_EQ):
        return cached
    cached = new_jobid(value)
    jobid_cache[slot] = cached
    return cached


@cython.no_gc
cdef class Response:
    """One decoded journal response: its job id, its entries and lazy ``jobspec``/``R``.

    Entries are kept as offsets into the payload until events are built from them.
    """

    cdef _Document doc
    cdef object _id
    cdef EntryRecord *records
    cdef Py_ssize_t count
    cdef Py_ssize_t capacity
    cdef Py_ssize_t jobspec_start, jobspec_stop, R_start, R_stop
    cdef RawJSON _jobspec, _R
    cdef object jobid
    cdef bint has_events
    cdef bint fast_scanned     # the fast scan validated it: the fast builder may read it
    cdef const unsigned char *buf  # doc's bytes, at hand without a trip through doc
    cdef Py_ssize_t length

    def __cinit__(self):
        self.jobspec_start = self.R_start = -1

    def __init__(self):
        raise TypeError("Response objects are made by decode_response(), not directly")

    def __dealloc__(self):
        free(self.records)

    cdef EntryRecord *append_record(self) except NULL:
        cdef EntryRecord *grown
        cdef Py_ssize_t capacity
        if self.count == self.capacity:
            capacity = self.capacity * 2 if self.capacity else 16
            grown = <EntryRecord *>realloc(self.records, capacity * sizeof(EntryRecord))
            if grown == NULL:
                raise MemoryError()
            self.records = grown
            self.capacity = capacity
        self.count += 1
        return &self.records[self.count - 1]

    cdef RawJSON raw(self, Py_ssize_t start, Py_ssize_t stop):
        cdef RawJSON value
        if start < 0:
            return None
        value = RawJSON.__new__(RawJSON)
        value.doc = self.doc
        value.start = start
        value.stop = stop
        return value

    @property
    def id(self):
        """The job id (an int), or None when the response has none (resource journal)."""
        return self._id

    def __len__(self):
        return self.count

    def timestamps(self):
        """The entries' timestamps, as floats, in payload order."""
        return [self.records[k].timestamp for k in range(self.count)]

    @property
    def jobspec(self):
        """The response's ``jobspec``, decoded on first access; None when absent."""
        if self._jobspec is None:
            self._jobspec = self.raw(self.jobspec_start, self.jobspec_stop)
        return None if self._jobspec is None else self._jobspec.get()

    @property
    def R(self):
        """The response's ``R``, decoded on first access; None when absent."""
        if self._R is None:
            self._R = self.raw(self.R_start, self.R_stop)
        return None if self._R is None else self._R.get()

    cdef object shared_jobid(self):
        """The JobID every event of this response shares (-1 when there is no id)."""
        if self.jobid is None:
            self.jobid = new_jobid(self._id if self._id is not None else -1)
        return self.jobid

    cdef object lazy_jobspec(self):
        if self._jobspec is None:
            self._jobspec = self.raw(self.jobspec_start, self.jobspec_stop)
        return self._jobspec

    cdef object lazy_R(self):
        if self._R is None:
            self._R = self.raw(self.R_start, self.R_stop)
        return self._R

    cdef object entry_dict(self, Cursor *c, EntryRecord *rec, object into):
        self.fill_event(c, rec, into)
        return into

    cdef int fill_event(self, Cursor *c, EntryRecord *rec, object into) except -1:
        """Fill ``into`` with one entry; a missing timestamp is the scan's clock reading."""
        if self.fast_scanned:
            fast_fill_entry(c, rec, into)
        else:
            fill_entry(c, rec, into)
        if rec.timestamp_form == NO_TIMESTAMP:
            PyDict_SetItem(into, TIMESTAMP_STR, PyFloat_FromDouble(rec.timestamp))
        return 0

    def entries(self):
        """The ``events`` array as ``json.loads`` gives it (missing timestamps filled)."""
        cdef Cursor c
        cdef Py_ssize_t k
        cdef list out = []
        if self.count == 0:  # nothing to read (and no payload, if not made by the decoder)
            return out
        init_cursor(&c, self.doc)
        try:
            for k in range(self.count):
                out.append(self.entry_dict(&c, &self.records[k], {}))
        finally:
            free(c.scratch)
        return out

    def job_events(self, since=None):
        """The entries as :class:`JournalEvent` objects, those newer than ``since`` only."""
        return self.build_job_events(-INFINITY if since is None else since)

    cdef list build_job_events(self, double floor):
        cdef Cursor c
        cdef Py_ssize_t k
        cdef list out = []
        if self.count == 0:  # nothing to read (and no payload, if not made by the decoder)
            return out
        cdef object jobid = self.shared_jobid()
        init_cursor(&c, self.doc)
        try:
            for k in range(self.count):
                if self.records[k].timestamp > floor:
                    out.append(self.job_event(&c, &self.records[k], jobid))
        finally:
            free(c.scratch)
        return out

    cdef JournalEvent job_event(self, Cursor *c, EntryRecord *rec, object jobid):
        cdef JournalEvent event = JournalEvent.__new__(JournalEvent)
        self.fill_event(c, rec, event)
        if not rec.has_context:
            PyDict_SetItem(event, CONTEXT_STR, PyDict_New())
        event._jobid = jobid
        if self._id is None or self._id == -1:  # the jobid is -1: an empty event
            return event
        if rec.name == SUBMIT_NAME:
            event._jobspec = self.lazy_jobspec()
        elif rec.name == ALLOC_NAME:
            event._R = self.lazy_R()
        return event

    def resource_events(self, since=None):
        """The entries as :class:`ResourceJournalEvent` objects newer than ``since``."""
        return self.build_resource_events(-INFINITY if since is None else since)

    cdef list build_resource_events(self, double floor):
        cdef Cursor c
        cdef Py_ssize_t k
        cdef list out = []
        if self.count == 0:  # nothing to read (and no payload, if not made by the decoder)
            return out
        init_cursor(&c, self.doc)
        try:
            for k in range(self.count):
                if self.records[k].timestamp > floor:
                    out.append(self.resource_event(&c, &self.records[k]))
        finally:
            free(c.scratch)
        return out

    cdef ResourceJournalEvent resource_event(self, Cursor *c, EntryRecord *rec):
        cdef ResourceJournalEvent event = ResourceJournalEvent.__new__(ResourceJournalEvent)
        self.entry_dict(c, rec, event)
        if not rec.has_context:
            PyDict_SetItem(event, CONTEXT_STR, PyDict_New())
        event._R = self.lazy_R()
        return event

    # -- rows for a database: the entries as the payload has them, no events built --
    # A row is the caller's prefix, then ROW_FIELDS values: position, timestamp, name,
    # context.

    @property
    def jobspec_text(self):
        """The response's ``jobspec`` as its JSON text in the payload; None when absent."""
        return self.slice_text(self.jobspec_start, self.jobspec_stop)

    @property
    def R_text(self):
        """The response's ``R`` as its JSON text in the payload; None when absent."""
        return self.slice_text(self.R_start, self.R_stop)

    cdef object slice_text(self, Py_ssize_t start, Py_ssize_t stop):
        if start < 0:
            return None
        # the scan validated the payload as UTF-8, escapes stay escapes in the text
        return PyUnicode_DecodeUTF8(<const char *>(self.buf + start), stop - start,
                                    "surrogatepass")

    def rows(self, tuple prefix, Py_ssize_t start=0, Py_ssize_t offset=0):
        """The entries from index ``start`` on, one tuple each: ``prefix`` followed by
        (position, timestamp, name, context), where position is the entry's index plus
        ``offset`` and context is JSON text (``{}`` when the entry has none)."""
        return self.build_rows(prefix, max(start, 0), offset)

    cdef list build_rows(self, tuple prefix, Py_ssize_t start, Py_ssize_t offset):
        cdef Cursor c
        cdef Py_ssize_t k
        cdef list out = []
        if start >= self.count:
            return out
        init_cursor(&c, self.doc)
        try:
            for k in range(start, self.count):
                out.append(self.entry_row(&c, &self.records[k], prefix, k + offset))
        finally:
            free(c.scratch)
        return out

    cdef tuple entry_row(self, Cursor *c, EntryRecord *rec, tuple prefix, Py_ssize_t position):
        cdef Py_ssize_t width = PyTuple_GET_SIZE(prefix)
        cdef Py_ssize_t k
        cdef tuple row = PyTuple_New(width + ROW_FIELDS)
        for k in range(width):
            set_tuple_item(row, k, <object>PyTuple_GET_ITEM(prefix, k))
        set_tuple_item(row, width, PyLong_FromSsize_t(position))
        set_tuple_item(row, width + 1, PyFloat_FromDouble(rec.timestamp))
        self.fill_name_and_context(c, rec, row, width + 2)
        return row

    cdef int fill_name_and_context(self, Cursor *c, EntryRecord *rec, tuple row,
                                   Py_ssize_t at) except -1:
        """Put the entry's name at ``row[at]`` and its context text at ``row[at + 1]``: the
        payload's own slice for flux-core's usual layout, compact JSON otherwise."""
        cdef Py_ssize_t i
        cdef Py_ssize_t after_name = 0
        cdef Py_ssize_t stop
        if self.fast_scanned and rec.usual:
            i = skip_number_text(self.buf, rec.start + USUAL_TIMESTAMP_AT, self.length)
            set_tuple_item(row, at, fast_string(c, i + USUAL_NAME_AFTER_TIMESTAMP, &after_name))
            if not rec.has_context:
                set_tuple_item(row, at + 1, EMPTY_CONTEXT_TEXT)
                return 0
            i = after_name + USUAL_CONTEXT_AFTER_NAME
            stop = fast_value_end(self.buf, i, self.length)
            set_tuple_item(row, at + 1, self.slice_text(i, stop))
            return 0
        entry = self.entry_dict(c, rec, {})
        set_tuple_item(row, at, entry[NAME_STR])
        if rec.has_context:
            set_tuple_item(row, at + 1, compact_json(entry[CONTEXT_STR]))
        else:
            set_tuple_item(row, at + 1, EMPTY_CONTEXT_TEXT)
        return 0


cdef inline void set_tuple_item(tuple row, Py_ssize_t k, object value) noexcept:
    """``row[k] = value`` in a new tuple: SET_ITEM steals a reference, so take one."""
    Py_INCREF(value)
    PyTuple_SET_ITEM(row, k, value)


cdef void init_cursor(Cursor *c, _Document doc) noexcept:
    c.buf = doc.buf
    c.length = doc.length
    c.depth = 0
    c.scratch = NULL
    c.scratch_cap = 0


cdef int malformed(str what, Py_ssize_t pos) except -1:
    raise _Fail("!" + what, pos)


cdef double timestamp_value(object value, Py_ssize_t index, Py_ssize_t pos) except? -1.0:
    """The timestamp of event ``index`` as a double; refuses what is not a JSON number."""
    if type(value) is float:
        return <double>value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            pass
    malformed("event %d: timestamp is not a number" % index, pos)


cdef Py_ssize_t scan_timestamp(Cursor *c, Py_ssize_t i, Py_ssize_t index,
                               EntryRecord *rec) except -1:
    """Read the timestamp at ``i`` into ``rec`` (no float object on the usual path);
    the offset after it. Refuses what is not a JSON number."""
    cdef double *stamp = &rec.timestamp
    cdef Decimal d
    cdef bint is_float = False
    cdef Py_ssize_t end = 0
    cdef unsigned char ch = c.buf[i] if i < c.length else 0
    if is_digit(ch) or (ch == 45 and i + 1 < c.length and is_digit(c.buf[i + 1])):
        end = match_number(c, i, &d, &is_float)
        if is_float:
            if d.digits <= 19 and fj_decimal_to_double(d.mantissa, d.exp10, d.negative, stamp):
                rec.timestamp_form = FLOAT_TIMESTAMP
                return end
        elif d.digits <= 18:
            stamp[0] = <double><long long>d.mantissa
            if d.negative:
                stamp[0] = -stamp[0]
            rec.timestamp_form = OTHER_TIMESTAMP
            return end
        value = number_from_text(c, i, end, is_float, &d)
    else:
        value = parse_value(c, i, &end)
    stamp[0] = timestamp_value(value, index, i)
    rec.timestamp_form = OTHER_TIMESTAMP
    return end


cdef Py_ssize_t scan_name(Cursor *c, Py_ssize_t i, Py_ssize_t index,
                          EntryRecord *rec) except -1:
    """Validate the name at ``i`` (a string) and note in ``rec`` which event it names."""
    cdef const unsigned char *text
    cdef Py_ssize_t length, end = 0
    if i >= c.length or c.buf[i] != 34:
        end = skip_value(c, i)
        malformed("event %d: name is not a string" % index, i)
    keep = string_text(c, i, &end, &text, &length)  # holds escaped text while read
    rec.name = name_from_bytes(text, length)
    return end


cdef Py_ssize_t scan_entry(Cursor *c, Py_ssize_t i, Response r, Py_ssize_t index) except -1:
    """Record one entry of ``events`` (its ``{`` at ``i``); returns the offset after it."""
    cdef Py_ssize_t nxt = 0
    cdef EntryRecord *rec
    cdef JournalKey which = OTHER_KEY
    cdef bint has_name = False
    if i >= c.length or c.buf[i] != 123:
        nxt = skip_value(c, i)
        malformed("event %d is not an object" % index, i)
    rec = r.append_record()
    rec.start = i
    rec.timestamp_form = NO_TIMESTAMP
    rec.name = OTHER_NAME
    rec.has_context = False
    rec.usual = False
    enter_container(c, i)
    i = skip_ws(c, i + 1)
    if i >= c.length or c.buf[i] != 125:
        while True:
            i = expect_colon(c, scan_key(c, i, &which))
            rec = &r.records[r.count - 1]
            if which == TIMESTAMP_KEY:
                nxt = scan_timestamp(c, i, index, rec)
            elif which == NAME_KEY:
                nxt = scan_name(c, i, index, rec)
                has_name = True
            else:
                nxt = skip_value(c, i)
                rec.has_context |= which == CONTEXT_KEY
            i = next_member(c, nxt, 125)
            if i < 0:
                i = skip_ws(c, nxt)
                break
    c.depth -= 1
    rec = &r.records[r.count - 1]
    if rec.timestamp_form == NO_TIMESTAMP:
        rec.timestamp = _time.time()
    if not has_name:
        malformed("event %d has no name" % index, rec.start)
    return i + 1


cdef Py_ssize_t scan_events(Cursor *c, Py_ssize_t i, Response r) except -1:
    """Record every entry of the ``events`` array at ``i``; returns the offset after it."""
    cdef Py_ssize_t nxt = 0
    cdef Py_ssize_t index = 0
    if i >= c.length or c.buf[i] != 91:
        nxt = skip_value(c, i)
        malformed("events is not an array", i)
    r.count = 0
    r.has_events = True
    enter_container(c, i)
    i = skip_ws(c, i + 1)
    if i >= c.length or c.buf[i] != 93:
        while True:
            nxt = scan_entry(c, i, r, index)
            index += 1
            i = next_member(c, nxt, 93)
            if i < 0:
                i = skip_ws(c, nxt)
                break
    c.depth -= 1
    return i + 1


cdef int scan_response(Cursor *c, Response r) except -1:
    """Fill ``r`` from a journal response object; every value is validated."""
    cdef Py_ssize_t nxt = 0
    cdef Py_ssize_t i = skip_ws(c, 0)
    cdef JournalKey which = OTHER_KEY
    if i >= c.length or c.buf[i] != 123:
        nxt = skip_value(c, i)
        malformed("not a JSON object", i)
    enter_container(c, i)
    i = skip_ws(c, i + 1)
    if i >= c.length or c.buf[i] != 125:
        while True:
            i = expect_colon(c, scan_key(c, i, &which))
            if which == EVENTS_KEY:
                nxt = scan_events(c, i, r)
            elif which == ID_KEY:
                value = parse_value(c, i, &nxt)
                if type(value) is not int:
                    malformed("id is not an integer", i)
                r._id = value
            else:
                nxt = skip_value(c, i)
                if which == JOBSPEC_KEY:
                    r.jobspec_start, r.jobspec_stop = i, nxt
                    r._jobspec = None
                elif which == R_KEY:
                    r.R_start, r.R_stop = i, nxt
                    r._R = None
            i = next_member(c, nxt, 125)
            if i < 0:
                i = skip_ws(c, nxt)
                break
    c.depth -= 1
    i = skip_ws(c, i + 1)
    if i != c.length:
        fail("Extra data", i)
    if not r.has_events:
        malformed('no "events" array', 0)
    return 0


# ---------------------------------------------------------------------------
# The fast scan: plain C over well-formed journal responses
#
# It accepts nothing json.loads refuses, and gives up (returns -1 or 0) at anything it does
# not handle itself: an error of any kind, escapes in keys or names, numbers it cannot
# convert exactly, deep nesting, NaN and Infinity. The precise scan above then runs from
# the start and says exactly what json.loads would.
# ---------------------------------------------------------------------------

cdef enum:
    FAST_MAX_DEPTH = 64        # journal payloads nest fewer than 20 levels
    FAST_MAX_NUMBER = 320      # longer number texts go to the precise scan


cdef inline Py_ssize_t fast_string_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset after the string whose opening quote is at ``i - 1``, or -1."""
    cdef Py_ssize_t start = i
    cdef bint ascii = True
    cdef unsigned char ch
    while True:
        i = skip_plain_ascii(b, i, n)
        if i >= n:
            return -1
        ch = b[i]
        if ch == 34:
            break
        if ch == 92:
            if i + 1 >= n:
                return -1
            ch = b[i + 1]
            if ch == 117:
                if (i + 5 >= n or hex_value(b[i + 2]) < 0 or hex_value(b[i + 3]) < 0
                        or hex_value(b[i + 4]) < 0 or hex_value(b[i + 5]) < 0):
                    return -1
                i += 6
            elif (ch == 34 or ch == 92 or ch == 47 or ch == 98 or ch == 102 or ch == 110
                    or ch == 114 or ch == 116):
                i += 2
            else:
                return -1
        elif ch < 0x20:
            return -1
        else:
            ascii = False
            i += 1
    if not ascii and utf8_invalid_at(b, start, i) >= 0:
        return -1
    return i + 1


cdef inline Py_ssize_t fast_key_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                             JournalKey *which) noexcept nogil:
    """After a key with no escapes at ``i`` and its colon: the offset of its value, or -1."""
    cdef Py_ssize_t j
    if i >= n or b[i] != 34:
        return -1
    j = skip_plain_ascii(b, i + 1, n)
    if j >= n or b[j] != 34:
        return -1
    if which != NULL:
        which[0] = key_from_bytes(b + i + 1, j - i - 1)
    j = fast_ws(b, j + 1, n)
    if j >= n or b[j] != 58:
        return -1
    return fast_ws(b, j + 1, n)


cdef inline Py_ssize_t digits_end(const unsigned char *b, Py_ssize_t i,
                                  Py_ssize_t n) noexcept nogil:
    while i < n and is_digit(b[i]):
        i += 1
    return i


cdef inline Py_ssize_t number_text_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """``number_end`` without the value: where json's number grammar stops, or -1."""
    cdef Py_ssize_t k
    if b[i] == 45:
        i += 1
        if i >= n:
            return -1
    if b[i] == 48:
        i += 1
    elif is_digit(b[i]):
        i = digits_end(b, i + 1, n)
    else:
        return -1
    if i + 1 < n and b[i] == 46 and is_digit(b[i + 1]):
        i = digits_end(b, i + 2, n)
    if i + 1 < n and (b[i] == 101 or b[i] == 69):
        k = i + 1
        if k + 1 < n and (b[k] == 45 or b[k] == 43):
            k += 1
        if is_digit(b[k]):
            i = digits_end(b, k + 1, n)
    return i


cdef inline Py_ssize_t fast_scalar_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset after the string, number, true, false or null at ``i``, or -1."""
    cdef Py_ssize_t j
    cdef unsigned char ch = b[i]
    if ch == 34:
        return fast_string_end(b, i + 1, n)
    if is_digit(ch) or ch == 45:
        j = number_text_end(b, i, n)
        return j if 0 <= j - i <= FAST_MAX_NUMBER else -1
    if ch == 116 and i + 4 <= n and memcmp(b + i, b"true", 4) == 0:
        return i + 4
    if ch == 102 and i + 5 <= n and memcmp(b + i, b"false", 5) == 0:
        return i + 5
    if ch == 110 and i + 4 <= n and memcmp(b + i, b"null", 4) == 0:
        return i + 4
    return -1


cdef Py_ssize_t fast_value_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset after the JSON value at ``i`` (validated, not built), or -1.

    Iterative: nesting is kept on a small stack of closing brackets.
    """
    cdef unsigned char closer[FAST_MAX_DEPTH]
    cdef int depth = 0
    cdef unsigned char ch
    while True:
        # a value starts at i
        if i >= n:
            return -1
        ch = b[i]
        if ch == 123 or ch == 91:
            i = fast_ws(b, i + 1, n)
            if i < n and b[i] == ch + 2:      # {} or []
                i += 1
            else:
                if depth == FAST_MAX_DEPTH:
                    return -1
                closer[depth] = ch + 2
                depth += 1
                if ch == 123:
                    i = fast_key_end(b, i, n, NULL)
                    if i < 0:
                        return -1
                continue
        else:
            i = fast_scalar_end(b, i, n)
            if i < 0:
                return -1
        # after a value: close what ends here, then find the next value
        while True:
            if depth == 0:
                return i
            i = fast_ws(b, i, n)
            if i >= n:
                return -1
            if b[i] == closer[depth - 1]:
                depth -= 1
                i += 1
                continue
            if b[i] != 44:
                return -1
            i = fast_ws(b, i + 1, n)
            if closer[depth - 1] == 125:
                i = fast_key_end(b, i, n, NULL)
                if i < 0:
                    return -1
            break


cdef inline Py_ssize_t fast_timestamp_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                                   EntryRecord *rec) noexcept nogil:
    """Read a timestamp the fast way into ``rec``: the offset after it, or -1."""
    cdef Decimal d
    cdef bint is_float
    cdef Py_ssize_t j
    if i >= n or not (is_digit(b[i]) or b[i] == 45):
        return -1
    j = number_end(b, i, n, &d, &is_float)
    if j < 0:
        return -1
    if is_float:
        if d.digits > 19 or not fj_decimal_to_double(d.mantissa, d.exp10, d.negative,
                                                     &rec.timestamp):
            return -1
        rec.timestamp_form = FLOAT_TIMESTAMP
    else:
        if d.digits > 18:
            return -1
        rec.timestamp = <double><long long>d.mantissa
        if d.negative:
            rec.timestamp = -rec.timestamp
        rec.timestamp_form = OTHER_TIMESTAMP
    return j


cdef inline bint text_at(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                         const char *text, Py_ssize_t length) noexcept nogil:
    return i + length <= n and memcmp(b + i, text, length) == 0


cdef inline Py_ssize_t usual_entry_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                                EntryRecord *rec) noexcept nogil:
    """The entry at ``i`` as flux-core writes it, ``{"timestamp":T,"name":"N"}`` with
    an optional ``,"context":C`` last: the offset after it, or -1 for any other layout."""
    cdef Py_ssize_t j
    if not text_at(b, i, n, b'{"timestamp":', USUAL_TIMESTAMP_AT):
        return -1
    i = fast_timestamp_end(b, i + USUAL_TIMESTAMP_AT, n, rec)
    if i < 0 or not text_at(b, i, n, b',"name":"', USUAL_NAME_AFTER_TIMESTAMP):
        return -1
    i += USUAL_NAME_AFTER_TIMESTAMP
    j = skip_plain_ascii(b, i, n)
    if j >= n or b[j] != 34:
        return -1
    rec.name = name_from_bytes(b + i, j - i)
    i = j + 1
    if text_at(b, i, n, b',"context":', USUAL_CONTEXT_AFTER_NAME):
        i = fast_value_end(b, i + USUAL_CONTEXT_AFTER_NAME, n)
        if i < 0:
            return -1
        rec.has_context = True
    if i >= n or b[i] != 125:
        return -1
    return i + 1


cdef Py_ssize_t fast_entry_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                               EntryRecord *rec) noexcept nogil:
    """Record the entry whose ``{`` is at ``i``: the offset after it, or -1."""
    cdef Py_ssize_t usual
    cdef JournalKey which = OTHER_KEY
    cdef bint has_name = False
    cdef Py_ssize_t j
    rec.start = <int>i
    rec.timestamp_form = NO_TIMESTAMP
    rec.name = OTHER_NAME
    rec.has_context = False
    usual = usual_entry_end(b, i, n, rec)
    if usual >= 0:
        rec.usual = rec.timestamp_form == FLOAT_TIMESTAMP
        return usual
    rec.timestamp_form = NO_TIMESTAMP
    rec.name = OTHER_NAME
    rec.has_context = False
    rec.usual = False
    i = fast_ws(b, i + 1, n)
    while True:
        i = fast_key_end(b, i, n, &which)
        if i < 0:
            return -1
        if which == TIMESTAMP_KEY:
            i = fast_timestamp_end(b, i, n, rec)
        elif which == NAME_KEY:
            if i >= n or b[i] != 34:
                return -1
            j = skip_plain_ascii(b, i + 1, n)
            if j >= n or b[j] != 34:
                return -1
            rec.name = name_from_bytes(b + i + 1, j - i - 1)
            has_name = True
            i = j + 1
        else:
            i = fast_value_end(b, i, n)
            rec.has_context |= which == CONTEXT_KEY
        if i < 0:
            return -1
        i = fast_ws(b, i, n)
        if i >= n:
            return -1
        if b[i] == 125:
            break
        if b[i] != 44:
            return -1
        i = fast_ws(b, i + 1, n)
    if not has_name or rec.timestamp_form == NO_TIMESTAMP:
        return -1
    return i + 1


cdef Py_ssize_t fast_events_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                                Response r) except -2:
    """Record the ``events`` array at ``i``: the offset after it, or -1."""
    if i >= n or b[i] != 91:
        return -1
    r.count = 0
    r.has_events = True
    i = fast_ws(b, i + 1, n)
    if i < n and b[i] == 93:
        return i + 1
    while True:
        if i >= n or b[i] != 123:
            return -1
        i = fast_entry_end(b, i, n, r.append_record())
        if i < 0:
            return -1
        i = fast_ws(b, i, n)
        if i >= n:
            return -1
        if b[i] == 93:
            return i + 1
        if b[i] != 44:
            return -1
        i = fast_ws(b, i + 1, n)


cdef bint fast_scan_response(const unsigned char *b, Py_ssize_t n, Response r) except -1:
    """Fill ``r`` the fast way; False (``r`` half filled) when the precise scan must."""
    cdef JournalKey which = OTHER_KEY
    cdef Py_ssize_t i = fast_ws(b, 0, n)
    cdef Py_ssize_t j
    cdef Decimal d
    cdef bint is_float
    if i >= n or b[i] != 123:
        return False
    i = fast_ws(b, i + 1, n)
    while True:
        i = fast_key_end(b, i, n, &which)
        if i < 0:
            return False
        if which == EVENTS_KEY:
            j = fast_events_end(b, i, n, r)
        elif which == ID_KEY:
            j = number_end(b, i, n, &d, &is_float) if i < n else -1
            if j < 0 or is_float or d.digits > 18:
                return False
            r._id = PyLong_FromLongLong(-<long long>d.mantissa if d.negative
                                        else <long long>d.mantissa)
        else:
            j = fast_value_end(b, i, n)
            if j >= 0 and which == JOBSPEC_KEY:
                r.jobspec_start, r.jobspec_stop = i, j
            elif j >= 0 and which == R_KEY:
                r.R_start, r.R_stop = i, j
        if j < 0:
            return False
        i = fast_ws(b, j, n)
        if i >= n:
            return False
        if b[i] == 125:
            break
        if b[i] != 44:
            return False
        i = fast_ws(b, i + 1, n)
    return r.has_events and fast_ws(b, i + 1, n) == n


cdef void clear_response(Response r) noexcept:
    """Undo a fast scan that gave up, so that the precise scan starts afresh."""
    r.count = 0
    r.has_events = False
    r._id = None
    r.jobspec_start = r.R_start = -1
    r.jobspec_stop = r.R_stop = 0


def decode_response(data):
    """Decode one journal response payload into a :class:`Response`.

    Raises :class:`fluxjournal.errors.MalformedResponse` (a ``ValueError``) when the
    payload is not JSON, or not a journal response: no ``events`` array, an entry that is
    not an object or has no string ``name``, a non-numeric ``timestamp``, a non-integer ``id``.
    """
    return decode_payload(data)


cdef Response decode_payload(object data):
    cdef Response r = Response.__new__(Response)
    cdef Cursor c
    r.doc = _Document.__new__(_Document)
    try:
        r.doc.load(data)
    except JSONDecodeError as exc:
        raise MalformedResponse(f"invalid JSON: {exc}", data) from exc
    if r.doc.length > INT_MAX:
        raise MalformedResponse("larger than 2 GiB", None)
    r.buf = r.doc.buf
    r.length = r.doc.length
    if fast_scan_response(r.doc.buf, r.doc.length, r):
        r.fast_scanned = True
        return r
    clear_response(r)
    init_cursor(&c, r.doc)
    try:
        scan_response(&c, r)
    except _Fail as failure:
        problem = failure.args
        if problem[0].startswith("!"):
            # json.loads would refuse the payload before its shape is looked at
            problem = json_problem(r.doc) or problem
            if problem[0].startswith("!"):
                raise MalformedResponse(problem[0][1:], data) from None
        exc = r.doc.error(problem)
        raise MalformedResponse(f"invalid JSON: {exc}", data) from exc
    finally:
        free(c.scratch)
    return r


cdef tuple json_problem(_Document doc):
    """Why json.loads refuses the document, as a failure tuple; None when it does not."""
    cdef Cursor c
    cdef Py_ssize_t i
    init_cursor(&c, doc)
    try:
        i = skip_ws(&c, skip_value(&c, skip_ws(&c, 0)))
        if i != c.length:
            fail("Extra data", i)
    except _Fail as failure:
        return failure.args
    finally:
        free(c.scratch)
    return None


# ---------------------------------------------------------------------------
# History: compact records until the sentinel, then a heap merge by timestamp
# ---------------------------------------------------------------------------

cdef struct HistoryRecord:
    double timestamp
    const unsigned char *text  # the entry's "{" in its payload: prefetched before building
    int response               # index into History.responses
    unsigned char timestamp_form   # the rest of the entry's EntryRecord, so that building
    unsigned char name             # reads only this record, the Response and the payload
    unsigned char has_context
    unsigned char usual


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fj_prefetch(p) __builtin_prefetch((const void *)(p))
    #else
    #define fj_prefetch(p) ((void)(p))
    #endif
    """
    void fj_prefetch(const void *p) noexcept nogil

#: Events built ahead of the one being built, whose payload and Response are prefetched:
#: in time order, consecutive events come from different jobs scattered across memory.
cdef Py_ssize_t PREFETCH_DISTANCE = 4


cdef struct RunHead:
    double timestamp           # of the run's next record
    int next                   # that record's index: its arrival position, for ties
    int end                    # one past the run's last record


cdef inline bint comes_first(RunHead *a, RunHead *b) noexcept nogil:
    """Run ``a``'s next record sorts before ``b``'s: earlier timestamp, or it arrived first."""
    return a.timestamp < b.timestamp or (a.timestamp == b.timestamp and a.next < b.next)


cdef void sift_down(RunHead *heap, Py_ssize_t size, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t child
    cdef RunHead item = heap[k]
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and comes_first(&heap[child + 1], &heap[child]):
            child += 1
        if not comes_first(&heap[child], &item):
            break
        heap[k] = heap[child]
        k = child
    heap[k] = item


cdef void sift_up(RunHead *heap, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t parent
    cdef RunHead item = heap[k]
    while k > 0:
        parent = (k - 1) // 2
        if not comes_first(&item, &heap[parent]):
            break
        heap[k] = heap[parent]
        k = parent
    heap[k] = item


cdef inline unsigned long long time_key(double timestamp) noexcept nogil:
    """An unsigned key that sorts as the timestamp does (-0.0 as 0.0)."""
    cdef unsigned long long bits
    if timestamp == 0.0:
        timestamp = 0.0
    memcpy(&bits, &timestamp, 8)
    if bits >> 63:
        return ~bits
    return bits | (1ULL << 63)


cdef enum:
    RADIX_BITS = 11
    RADIX_BUCKETS = 1 << RADIX_BITS


cdef void sort_by_first_record(RunHead *runs, RunHead *scratch, Py_ssize_t n) noexcept nogil:
    """Sort run heads by timestamp, ties in arrival order (the order they come in): an
    insertion sort for a few, else a stable LSD radix sort, 11 bits a pass."""
    cdef Py_ssize_t counts[RADIX_BUCKETS]
    cdef Py_ssize_t k, j, total, c
    cdef int digit, shift
    cdef RunHead item
    cdef RunHead *src = runs
    cdef RunHead *dst = scratch
    cdef RunHead *swap
    if n < 64:
        for k in range(1, n):
            item = runs[k]
            j = k
            while j > 0 and comes_first(&item, &runs[j - 1]):
                runs[j] = runs[j - 1]
                j -= 1
            runs[j] = item
        return
    for digit in range((64 + RADIX_BITS - 1) // RADIX_BITS):
        shift = digit * RADIX_BITS
        memset(counts, 0, sizeof(counts))
        for k in range(n):
            counts[(time_key(src[k].timestamp) >> shift) & (RADIX_BUCKETS - 1)] += 1
        if counts[(time_key(src[0].timestamp) >> shift) & (RADIX_BUCKETS - 1)] == n:
            continue  # every head has the same digit here: nothing moves
        total = 0
        for k in range(RADIX_BUCKETS):
            c = counts[k]
            counts[k] = total
            total += c
        for k in range(n):
            c = (time_key(src[k].timestamp) >> shift) & (RADIX_BUCKETS - 1)
            dst[counts[c]] = src[k]
            counts[c] += 1
        swap = src
        src = dst
        dst = swap
    if src != runs:
        memcpy(runs, src, n * sizeof(RunHead))


cdef void merge_runs(HistoryRecord *records, Py_ssize_t *run_starts, Py_ssize_t nruns,
                     Py_ssize_t count, RunHead *waiting, RunHead *heap, int *order) noexcept nogil:
    """Write into ``order`` the record indices of all runs merged: a stable sort by time.

    Runs wait, sorted by their first record, until that record is the next to go out; the
    heap holds only the runs under way (the jobs active at that point of the history), so
    it stays small and in cache however long the history is. ``heap`` has room for
    ``nruns`` heads and is used as scratch for the sort first.
    """
    cdef Py_ssize_t k, size = 0, p = 0, out = 0
    cdef RunHead *top
    if nruns == 0:
        return
    for k in range(nruns):
        waiting[k].next = <int>run_starts[k]
        waiting[k].end = <int>(run_starts[k + 1] if k + 1 < nruns else count)
        waiting[k].timestamp = records[waiting[k].next].timestamp
    sort_by_first_record(waiting, heap, nruns)
    while out < count:
        while p < nruns and (size == 0 or comes_first(&waiting[p], &heap[0])):
            heap[size] = waiting[p]
            sift_up(heap, size)
            size += 1
            p += 1
        top = &heap[0]
        order[out] = top.next
        out += 1
        top.next += 1
        if top.next == top.end:
            size -= 1
            heap[0] = heap[size]
        else:
            top.timestamp = records[top.next].timestamp
        if size > 0:
            sift_down(heap, size, 0)


cdef inline void kept_record(HistoryRecord *out, EntryRecord *entry,
                             const unsigned char *buf, Py_ssize_t response) noexcept nogil:
    out.timestamp = entry.timestamp
    out.text = buf + entry.start
    out.response = <int>response
    out.timestamp_form = entry.timestamp_form
    out.name = entry.name
    out.has_context = entry.has_context
    out.usual = entry.usual


@cython.no_gc
cdef class History:
    """The journal's history, held as compact records until the sentinel arrives.

    ``add`` keeps each response (its payload and entry offsets) and one small record per
    entry newer than ``since``; ``finish`` merges the per-response runs by timestamp, ties
    in arrival order; ``take`` then builds events only as they are delivered, and lets go
    of a payload once all its events are out.
    """

    cdef list responses
    cdef HistoryRecord *records
    cdef Py_ssize_t count, capacity
    cdef Py_ssize_t *run_starts
    cdef Py_ssize_t nruns, runs_capacity
    cdef int *order                   # after finish(): record indices in delivery order
    cdef Py_ssize_t *pending          # per response: its records not yet delivered
    cdef Py_ssize_t pending_capacity
    cdef Py_ssize_t delivered
    cdef double since
    cdef bint finished
    cdef bint resource

    def __init__(self, since=0.0, resource=False):
        self.responses = []
        # It only ever holds Responses (which the collector does not track) and None: with
        # millions of them, every full collection would walk it for nothing.
        PyObject_GC_UnTrack(<PyObject *>self.responses)
        self.since = since
        self.resource = resource

    def __dealloc__(self):
        free(self.records)
        free(self.run_starts)
        free(self.order)
        free(self.pending)

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t capacity
        cdef void *grown
        if self.count + more > self.capacity:
            capacity = max(self.capacity * 2, self.count + more, 1024)
            grown = realloc(self.records, capacity * sizeof(HistoryRecord))
            if grown == NULL:
                raise MemoryError()
            self.records = <HistoryRecord *>grown
            self.capacity = capacity
        if self.nruns + more + 1 > self.runs_capacity:
            capacity = max(self.runs_capacity * 2, self.nruns + more + 1, 256)
            grown = realloc(self.run_starts, capacity * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError()
            self.run_starts = <Py_ssize_t *>grown
            self.runs_capacity = capacity
        if len(self.responses) + 1 > self.pending_capacity:
            capacity = max(self.pending_capacity * 2, 256)
            grown = realloc(self.pending, capacity * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError()
            self.pending = <Py_ssize_t *>grown
            self.pending_capacity = capacity
        return 0

    def add(self, Response response not None):
        """Keep the entries of one backlog response that are newer than ``since``."""
        return self.add_response(response)

    cdef Py_ssize_t add_response(self, Response response) except -1:
        cdef Py_ssize_t k, kept = 0
        cdef Py_ssize_t index = len(self.responses)
        cdef double previous = -INFINITY
        cdef double stamp
        if self.finished:
            raise RuntimeError("History.add() after finish()")
        if index >= INT_MAX or self.count + response.count >= INT_MAX:
            raise OverflowError("History holds at most 2**31 - 1 responses and events")
        self.reserve(response.count)
        for k in range(response.count):
            stamp = response.records[k].timestamp
            if not stamp > self.since:
                continue
            if kept == 0 or stamp < previous:   # a new run: this response, or out of order
                self.run_starts[self.nruns] = self.count
                self.nruns += 1
            previous = stamp
            kept_record(&self.records[self.count], &response.records[k], response.buf, index)
            self.count += 1
            kept += 1
        if kept:
            self.pending[index] = kept
            self.responses.append(response)
        return kept

    def finish(self):
        """Merge the runs; after this, events come out in timestamp order."""
        self.merge()

    cdef int merge(self) except -1:
        cdef RunHead *waiting
        cdef RunHead *heap
        if self.finished:
            return 0
        waiting = <RunHead *>malloc(max(self.nruns, 1) * sizeof(RunHead))
        heap = <RunHead *>malloc(max(self.nruns, 1) * sizeof(RunHead))
        self.order = <int *>malloc(max(self.count, 1) * sizeof(int))
        if waiting == NULL or heap == NULL or self.order == NULL:
            free(waiting)
            free(heap)
            free(self.order)
            self.order = NULL
            raise MemoryError()
        with nogil:
            merge_runs(self.records, self.run_starts, self.nruns, self.count, waiting, heap,
                       self.order)
        free(waiting)
        free(heap)
        free(self.run_starts)
        self.run_starts = NULL
        self.finished = True
        return 0

    cdef inline HistoryRecord *delivery(self, Py_ssize_t k) noexcept:
        """The record delivered k-th."""
        return &self.records[self.order[k]]

    cdef inline void prefetch(self, Py_ssize_t k) noexcept:
        """Ask for what building the k-th record will read: the record itself a few
        events ahead, then (once it is in) its Response and payload text."""
        cdef HistoryRecord *rec
        if k + PREFETCH_DISTANCE < self.count:
            fj_prefetch(self.delivery(k + PREFETCH_DISTANCE))
        if k < self.count:
            rec = self.delivery(k)
            fj_prefetch(rec.text)
            fj_prefetch(PyList_GET_ITEM(self.responses, rec.response))

    def __len__(self):
        """Events still to deliver."""
        return self.count - self.delivered

    cdef object build(self, HistoryRecord *rec):
        cdef Response response = <Response>self.responses[rec.response]
        cdef EntryRecord entry
        cdef Cursor c
        cdef object event
        entry.timestamp = rec.timestamp
        entry.start = <int>(rec.text - response.buf)
        entry.timestamp_form = rec.timestamp_form
        entry.name = rec.name
        entry.has_context = rec.has_context
        entry.usual = rec.usual
        c.buf = response.buf
        c.length = response.length
        c.depth = 0
        c.scratch = NULL
        c.scratch_cap = 0
        try:
            if self.resource:
                event = response.resource_event(&c, &entry)
            else:
                event = response.job_event(&c, &entry, response.shared_jobid())
        finally:
            free(c.scratch)
        self.pending[rec.response] -= 1
        if self.pending[rec.response] == 0:
            self.responses[rec.response] = None
        return event

    def next(self):
        """Build and return the next event in timestamp order, or None when none is left."""
        return self.next_event()

    cdef object next_event(self):
        if not self.finished:
            raise RuntimeError("History.next() before finish()")
        if self.delivered == self.count:
            return None
        self.prefetch(self.delivered + PREFETCH_DISTANCE)
        event = self.build(self.delivery(self.delivered))
        self.delivered += 1  # only once built: a failed build leaves the event to deliver
        return event

    def take(self, Py_ssize_t limit=-1):
        """Build and return up to ``limit`` events (all when -1), in timestamp order."""
        cdef list out = []
        cdef Py_ssize_t stop
        if not self.finished:
            raise RuntimeError("History.take() before finish()")
        stop = self.count if limit < 0 else min(self.count, self.delivered + limit)
        while self.delivered < stop:
            self.prefetch(self.delivered + PREFETCH_DISTANCE)
            out.append(self.build(self.delivery(self.delivered)))
            self.delivered += 1
        return out


include "_receive.pxi"
include "_consumer.pxi"


# ---------------------------------------------------------------------------
# Jobs as job-list reports them
# ---------------------------------------------------------------------------
# The compiled twin of fluxjournal.joblist.JobRecord (whose docstrings give job-list's
# rules): the same fields from the same entries, the state in C. Each step below is the
# Python function or method of the same name (less its underscore); what the Python
# version reads with a try, this one does too, and a value the Python version checks is
# checked here the same way, so that a malformed jobspec, R or context gives the same row.

cdef extern from "<sys/wait.h>":
    bint WIFSIGNALED(int status) nogil
    int WTERMSIG(int status) nogil
    bint WIFEXITED(int status) nogil
    int WEXITSTATUS(int status) nogil

cdef extern from *:
    """
    static inline int fj_mul_overflows(long long a, long long b, long long *out) {
        return __builtin_mul_overflow(a, b, out);
    }
    """
    bint fj_mul_overflows(long long a, long long b, long long *out) noexcept nogil

# flux_job_state_t and flux_job_result_t, as joblist.py has them
cdef enum:
    ST_NEW = 1
    ST_DEPEND = 2
    ST_PRIORITY = 4
    ST_SCHED = 8
    ST_RUN = 16
    ST_CLEANUP = 32
    ST_INACTIVE = 64
    ST_PENDING = ST_DEPEND | ST_PRIORITY | ST_SCHED
    ST_RUNNING = ST_RUN | ST_CLEANUP
    RES_COMPLETED = 1
    RES_FAILED = 2
    RES_CANCELED = 4
    RES_TIMEOUT = 8

cdef enum:
    CANCELED_RETURNCODE = -128
    C_INT_MIN = -2147483647 - 1
    C_INT_MAX = 2147483647

cdef long long INT64_MIN = LLONG_MIN
cdef long long INT64_MAX = LLONG_MAX
cdef Py_ssize_t C_MAX_IDS = MAX_IDS
cdef long long C_MAX_CORE_PAIRS = 1 << 24  # joblist.MAX_CORE_PAIRS

cdef tuple STATE_NAME_STRS = ("NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP",
                              "INACTIVE")
cdef tuple RESULT_NAME_STRS = ("COMPLETED", "FAILED", "CANCELED", "TIMEOUT")
cdef tuple JOBSPEC_UPDATE_ROOTS = ("resources", "tasks", "attributes")
cdef tuple MALFORMED = (KeyError, IndexError, TypeError, AttributeError, ValueError,
                        OverflowError)
cdef tuple MALFORMED_TOTAL = (KeyError, IndexError, TypeError, ValueError, OverflowError)
cdef str EMPTY_IDSET = ""
cdef object ZERO = 0
#: The default of a ``.get`` whose result is only read (never changed).
cdef dict NOTHING = {}
#: What ``item()`` gives where ``container[key]`` raises KeyError, IndexError or TypeError.
cdef object MISSING = object()


cdef enum JobEvent:
    EV_NONE, EV_SUBMIT, EV_VALIDATE, EV_DEPEND, EV_PRIORITY, EV_ALLOC, EV_FINISH,
    EV_CLEAN, EV_URGENCY, EV_EXCEPTION, EV_JOBSPEC_UPDATE, EV_RESOURCE_UPDATE,
    EV_DEPENDENCY_ADD, EV_DEPENDENCY_REMOVE, EV_FLUX_RESTART


#: The names job-list acts on, for a name that is not a plain str (a dict lookup then
#: matches as the Python version's does).
cdef dict JOB_EVENT_CODES = {
    "submit": EV_SUBMIT, "validate": EV_VALIDATE, "depend": EV_DEPEND,
    "priority": EV_PRIORITY, "alloc": EV_ALLOC, "finish": EV_FINISH, "clean": EV_CLEAN,
    "urgency": EV_URGENCY, "exception": EV_EXCEPTION, "jobspec-update": EV_JOBSPEC_UPDATE,
    "resource-update": EV_RESOURCE_UPDATE, "dependency-add": EV_DEPENDENCY_ADD,
    "dependency-remove": EV_DEPENDENCY_REMOVE, "flux-restart": EV_FLUX_RESTART,
}


cdef inline bint is_name(const unsigned char *p, const char *word, Py_ssize_t n) noexcept nogil:
    return memcmp(p, word, n) == 0


cdef JobEvent job_event_from_bytes(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """Which event job-list acts on the ASCII name ``p[:n]`` is: by length, then bytes."""
    if n == 5:
        if is_name(p, b"alloc", 5):
            return EV_ALLOC
        if is_name(p, b"clean", 5):
            return EV_CLEAN
    elif n == 6:
        if is_name(p, b"submit", 6):
            return EV_SUBMIT
        if is_name(p, b"depend", 6):
            return EV_DEPEND
        if is_name(p, b"finish", 6):
            return EV_FINISH
    elif n == 7:
        if is_name(p, b"urgency", 7):
            return EV_URGENCY
    elif n == 8:
        if is_name(p, b"validate", 8):
            return EV_VALIDATE
        if is_name(p, b"priority", 8):
            return EV_PRIORITY
    elif n == 9:
        if is_name(p, b"exception", 9):
            return EV_EXCEPTION
    elif n == 12:
        if is_name(p, b"flux-restart", 12):
            return EV_FLUX_RESTART
    elif n == 14:
        if is_name(p, b"jobspec-update", 14):
            return EV_JOBSPEC_UPDATE
        if is_name(p, b"dependency-add", 14):
            return EV_DEPENDENCY_ADD
    elif n == 15:
        if is_name(p, b"resource-update", 15):
            return EV_RESOURCE_UPDATE
    elif n == 17:
        if is_name(p, b"dependency-remove", 17):
            return EV_DEPENDENCY_REMOVE
    return EV_NONE


cdef int job_event_of(object name) except -1:
    """The event ``name`` names (a JobEvent); EV_NONE for one job-list does not act on."""
    if PyUnicode_CheckExact(name):
        if not PyUnicode_IS_ASCII(name):
            return EV_NONE
        return job_event_from_bytes(<const unsigned char *>PyUnicode_DATA(name),
                                    PyUnicode_GET_LENGTH(name))
    code = JOB_EVENT_CODES.get(name)  # TypeError for an unhashable name, as in Python
    return EV_NONE if code is None else <int>code


@cython.boundscheck(True)
@cython.wraparound(True)
cdef object row_item(object row, Py_ssize_t k):
    """``row[k]`` (k < 0: from the end) for a row that is not a tuple of three or more."""
    return row[k]


# -- JSON values, checked as joblist.py checks them ----------------------------------

cdef object decode_json(object text):
    """This module's ``loads``."""
    cdef _Document doc = _Document.__new__(_Document)
    doc.load(text)
    return decode_document(doc)


cdef object decoded_object(object text):
    """The JSON object ``text`` holds; None when there is no text or it is no object."""
    if text is None:
        return None
    value = decode_json(text)
    return value if isinstance(value, dict) else None


cdef dict context_of(object text):
    value = decode_json(text)
    return <dict>value if isinstance(value, dict) else {}


# What a text that recurs gives is kept, so that it is worked out once: a context's value
# (the same few contexts make most events), where it is only read and never changed, and
# the fields a jobspec gives a job (the same jobspec makes a run of jobs). Each cache is
# emptied when full; long texts are not kept (at most 256 x 16 KiB of jobspec text).
cdef enum:
    CACHE_ENTRIES = 256
    CONTEXT_MAX_TEXT = 256
    JOBSPEC_MAX_TEXT = 1 << 14

cdef dict CONTEXT_CACHE = {}
cdef dict JOBSPEC_CACHE = {}


cdef inline bint cacheable(object text, Py_ssize_t longest):
    return PyUnicode_CheckExact(text) and PyUnicode_GET_LENGTH(text) <= longest


cdef int remember(dict cache, object text, object value) except -1:
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    cache[text] = value
    return 0


cdef dict read_only_context(object text):
    """``context_of(text)``, for a handler that only reads it: shared with the earlier
    events of the same context."""
    cdef PyObject *hit
    if not cacheable(text, CONTEXT_MAX_TEXT):
        return context_of(text)
    hit = PyDict_GetItem(CONTEXT_CACHE, text)
    if hit != NULL:
        return <dict>hit
    context = context_of(text)
    remember(CONTEXT_CACHE, text, context)
    return context


cdef inline object get(object mapping, object key, object default):
    """``mapping.get(key, default)``: a dict's own lookup for a dict, the method otherwise
    (AttributeError for what has none, as in Python)."""
    cdef PyObject *value
    if PyDict_CheckExact(mapping):
        value = PyDict_GetItem(mapping, key)
        return default if value == NULL else <object>value
    return mapping.get(key, default)


cdef object first_item(object container):
    """``item(container, 0)``."""
    if PyList_CheckExact(container):
        return <object>PyList_GET_ITEM(container, 0) if PyList_GET_SIZE(container) else MISSING
    return item(container, 0)


@cython.boundscheck(True)
@cython.wraparound(True)
cdef object item(object container, object key):
    """``container[key]``; MISSING where that raises KeyError, IndexError or TypeError."""
    cdef PyObject *value
    if PyDict_CheckExact(container):
        value = PyDict_GetItem(container, key)
        return MISSING if value == NULL else <object>value
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        return MISSING


cdef bint int64_of(object value, long long low, long long high, long long *out) except -1:
    """Put ``value`` in ``out`` if it is a JSON integer from ``low`` to ``high``."""
    cdef int overflow = 0
    cdef long long n
    if not PyLong_CheckExact(value):
        return False
    n = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or n < low or n > high:
        return False
    out[0] = n
    return True


cdef bint context_int(dict context, str key, long long low, long long high,
                      long long *out) except -1:
    """Put ``context[key]`` in ``out`` when it is there and an integer in range (``_integer``:
    a value of another type reads as if it were absent)."""
    cdef PyObject *value = PyDict_GetItem(context, key)
    if value == NULL:
        return False
    return int64_of(<object>value, low, high, out)


cdef object context_str(dict context, str key):
    """``_string(context.get(key))``."""
    value = context.get(key)
    return value if PyUnicode_CheckExact(value) else None


cdef object jobspec_text_value(object value):
    """``_text(value)``: a string of the jobspec or None; TypeError for anything else."""
    if value is not None and not PyUnicode_CheckExact(value):
        raise TypeError(f"not a string: {value!r}")
    return value


cdef long long checked_count(object value) except? -1:
    """``_checked(value)``: a JSON integer of 64 bits; TypeError or OverflowError else."""
    cdef int overflow = 0
    cdef long long n
    if not PyLong_CheckExact(value):
        raise TypeError(f"not an integer: {value!r}")
    n = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        raise OverflowError(f"integer out of range: {value}")
    return n


cdef long long product(long long a, long long b) except? -1:
    """``_product(a, b)``: ``a * b``; OverflowError when it leaves 64 bits."""
    cdef long long out
    if fj_mul_overflows(a, b, &out):
        raise OverflowError(f"integer out of range: {a} * {b}")
    return out


cdef str command_name(object arg0):
    """``_command_name``: the command's last path part (AttributeError if not a str)."""
    cdef Py_ssize_t n, slash
    if not PyUnicode_CheckExact(arg0):
        raise AttributeError("the command's first word is not a string")
    n = PyUnicode_GET_LENGTH(arg0)
    slash = PyUnicode_FindChar(arg0, 47, 0, n, -1)  # the last "/"
    return <str>arg0 if slash < 0 or slash == n - 1 else PyUnicode_Substring(arg0, slash + 1, n)


cdef object number_value(object value):
    """``float(value)``, as a float object."""
    return PyNumber_Float(value)


cdef double expiration_of(object value) except? -1.0:
    """``float(value) if value > 0 else 0.0``."""
    cdef double d
    if PyFloat_CheckExact(value):
        d = PyFloat_AS_DOUBLE(value)
        return d if d > 0 else 0.0
    return PyFloat_AS_DOUBLE(number_value(value)) if value > ZERO else 0.0


cdef int set_path(dict target, str path, object value) except -1:
    """``_set_path``: ``target[a][b][c] = value`` for ``a.b.c``, making the levels it lacks;
    not done when ``value`` would then lie deeper than MAX_DEPTH."""
    cdef list keys = path.split(".")
    cdef Py_ssize_t k
    cdef object here = target
    if nested_deeper_than(value, C_MAX_DEPTH - len(keys)):
        return 0
    for k in range(len(keys) - 1):
        key = keys[k]
        if not isinstance(here.get(key), dict):
            here[key] = {}
        here = here[key]
    here[keys[len(keys) - 1]] = value
    return 0


cdef bint nested_deeper_than(object value, Py_ssize_t levels) except -1:
    """``_nested_deeper_than``: whether ``value`` holds containers more than ``levels``
    deep (walked with a list for a stack: what it holds, level by level)."""
    cdef list pending = [(value, 1)]
    cdef Py_ssize_t level
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict):
            children = (<dict>node).values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > levels:
            return True
        for child in children:
            pending.append((child, level + 1))
    return False


# -- the resources of a jobspec: depth first, with a stack of our own -----------------

cdef struct Vertex:
    PyObject *entry       # borrowed: the jobspec holds it, and nothing changes it here
    long long factor      # the product of the counts above it


cdef struct ResourceCounts:
    long long nnodes, nslots, slot_size
    bint exclusive


cdef enum:
    VERTICES_AT_HAND = 16


cdef struct VertexStack:
    Vertex *items             # at_hand, or once that is too small, on the heap
    Py_ssize_t count, capacity
    Vertex at_hand[VERTICES_AT_HAND]


cdef int push_reversed(VertexStack *stack, list entries, long long factor) except -1:
    """Push ``entries`` so that they come off in document order."""
    cdef Py_ssize_t n = PyList_GET_SIZE(entries)
    cdef Py_ssize_t need = stack.count + n
    cdef Py_ssize_t k, capacity
    cdef Vertex *grown
    if need > stack.capacity:
        capacity = max(need, 2 * stack.capacity)
        if stack.items == stack.at_hand:
            grown = <Vertex *>malloc(capacity * sizeof(Vertex))
            if grown != NULL:
                memcpy(grown, stack.at_hand, stack.count * sizeof(Vertex))
        else:
            grown = <Vertex *>realloc(stack.items, capacity * sizeof(Vertex))
        if grown == NULL:
            raise MemoryError()
        stack.items = grown
        stack.capacity = capacity
    for k in range(n - 1, -1, -1):
        stack.items[stack.count].entry = <PyObject *>PyList_GET_ITEM(entries, k)
        stack.items[stack.count].factor = factor
        stack.count += 1
    return 0


cdef list resource_array(object value):
    """``_array(value)``: a list of resources; TypeError for anything else."""
    if not PyList_CheckExact(value):
        raise TypeError(f"resources are not an array: {value!r}")
    return <list>value


cdef int resource_counts(object resources, ResourceCounts *found) except -1:
    """``_resource_counts``: as job-list's jj_get_counts reads them, depth first, in
    document order; raises what the Python version raises on a malformed one."""
    cdef VertexStack pending
    pending.items = pending.at_hand
    pending.count = 0
    pending.capacity = VERTICES_AT_HAND
    try:
        return walk_resources(&pending, resources, found)
    finally:
        if pending.items != pending.at_hand:
            free(pending.items)


cdef int walk_resources(VertexStack *pending, object resources,
                        ResourceCounts *found) except -1:
    cdef Vertex vertex
    cdef long long count, factor
    cdef PyObject *item
    found.nnodes = found.nslots = found.slot_size = 0
    found.exclusive = False
    push_reversed(pending, resource_array(resources), 1)
    while pending.count:
        pending.count -= 1
        vertex = pending.items[pending.count]
        entry = <object>vertex.entry
        if not isinstance(entry, dict):
            raise TypeError("a resource is not an object")
        item = PyDict_GetItem(entry, "count")
        if item == NULL:
            raise KeyError("count")
        count = checked_count(<object>item)
        item = PyDict_GetItem(entry, "type")
        if item == NULL:
            raise KeyError("type")
        kind = <object>item
        factor = product(vertex.factor, count)
        if PyUnicode_CheckExact(kind):
            if kind == "node":
                found.nnodes = factor
                if (<dict>entry).get("exclusive"):
                    found.exclusive = True
            elif kind == "slot":
                found.nslots = count
            elif kind == "core":
                found.slot_size = count
        item = PyDict_GetItem(entry, "with")
        if item != NULL:
            push_reversed(pending, resource_array(<object>item), factor)
    return 0


# -- idsets and hostlists: one id or one host here, hostlist.py for the rest ----------

cdef bint plain_id(object text, long long *out) except -1:
    """Put the id of an idset of one id written in ASCII digits (most jobs) in ``out``:
    what ``decode_idset`` gives for it."""
    cdef const unsigned char *p
    cdef Py_ssize_t n, k
    cdef long long value = 0
    if not PyUnicode_CheckExact(text) or not PyUnicode_IS_ASCII(text):
        return False
    n = PyUnicode_GET_LENGTH(text)
    if n < 1 or n > 18:
        return False
    p = <const unsigned char *>PyUnicode_DATA(text)
    for k in range(n):
        if not is_digit(p[k]):
            return False
        value = value * 10 + (p[k] - 48)
    out[0] = value
    return True


cdef long long core_count(object text) except -1:
    """``len(set(decode_idset(text)))``."""
    cdef long long value
    if plain_id(text, &value):
        return 1
    return len(set(decode_idset(text)))


cdef list idset_ids(object text):
    """``decode_idset(text)``."""
    cdef long long value
    if plain_id(text, &value):
        return [PyLong_FromLongLong(value)]
    return decode_idset(text)


cdef bint one_host(str text) except -1:
    """True for a hostlist that is one host (no ``,`` nor ``[``): ``expand_hostlist``
    gives it as it is."""
    cdef const unsigned char *p
    cdef Py_ssize_t k
    if not PyUnicode_IS_ASCII(text):
        return False
    p = <const unsigned char *>PyUnicode_DATA(text)
    for k in range(PyUnicode_GET_LENGTH(text)):
        if p[k] == 44 or p[k] == 91:
            return False
    return True


cdef list first_hosts(object nodelist, Py_ssize_t needed):
    """``_hosts``: the first ``needed`` hosts of an R's ``nodelist``."""
    cdef list hosts = []
    for hostlist in nodelist:
        if len(hosts) >= needed:
            break
        if not PyUnicode_CheckExact(hostlist):
            raise TypeError(f"not a hostlist: {hostlist!r}")
        if one_host(hostlist):
            hosts.append(hostlist)
        else:
            hosts += expand_hostlist(hostlist, needed - len(hosts))
    return hosts


cdef struct RankSummary:
    Py_ssize_t nnodes
    long long ncores


cdef object rank_cores(object R_lite, RankSummary *summary):
    """``_cores_by_rank``, summed: the ranks' idset text, and in ``summary`` how many ranks
    and cores. One entry naming one rank (most jobs) takes no sets."""
    cdef dict cores = {}
    cdef long long named = 0, pairs = 0, rank
    cdef list ids, ranks
    cdef Py_ssize_t k
    cdef PyObject *have
    cdef object entry
    if PyList_CheckExact(R_lite) and PyList_GET_SIZE(R_lite) == 1:
        entry = <object>PyList_GET_ITEM(R_lite, 0)
        if PyDict_CheckExact(entry):
            children = get(entry, "children", NOTHING)
            text = get(entry, "rank", None)
            if PyDict_CheckExact(children) and plain_id(text, &rank):
                summary.nnodes = 1
                summary.ncores = core_count(get(children, "core", EMPTY_IDSET))
                return text if text == "0" or (<str>text)[0] != "0" else str(rank)
    for entry in R_lite:
        ids = idset_ids(get(get(entry, "children", NOTHING), "core", EMPTY_IDSET))
        ranks = idset_ids(entry["rank"])
        named += len(ranks)
        pairs += len(ranks) * len(ids)
        if named > C_MAX_IDS or pairs > C_MAX_CORE_PAIRS:
            raise ValueError("R_lite names too many ranks or cores")
        shared = frozenset(ids)
        for k in range(len(ranks)):
            rank_id = ranks[k]
            have = PyDict_GetItem(cores, rank_id)
            if have == NULL:
                cores[rank_id] = shared
            elif have != <PyObject *>shared:
                if type(<object>have) is frozenset:
                    cores[rank_id] = set(<object>have)
                    have = PyDict_GetItem(cores, rank_id)
                (<set>have).update(shared)
    summary.nnodes = len(cores)
    summary.ncores = 0
    for ids_of_rank in cores.values():
        summary.ncores += len(ids_of_rank)
    return encode_idset(sorted(cores))


cdef object hostlist_text(list hosts):
    """``encode_hostlist(hosts)``."""
    if PyList_GET_SIZE(hosts) == 1:
        return <object>PyList_GET_ITEM(hosts, 0)
    return encode_hostlist(hosts)


# -- the record ------------------------------------------------------------------------

@cython.final
@cython.no_gc
cdef class JobspecFields:
    """The fields parsing a jobspec gave a job that had none: any job that has none gets
    the same from the same text."""

    cdef object name, cwd, queue, project, bank
    cdef double duration
    cdef long long nnodes, ntasks, ncores, tasks_per_node, tasks_per_core

    @staticmethod
    cdef JobspecFields of(JobRecord job):
        cdef JobspecFields fields = JobspecFields.__new__(JobspecFields)
        fields.name, fields.cwd, fields.queue = job.name, job.cwd, job.queue
        fields.project, fields.bank, fields.duration = job.project, job.bank, job.duration
        fields.nnodes, fields.ntasks, fields.ncores = job.nnodes, job.ntasks, job.ncores
        fields.tasks_per_node, fields.tasks_per_core = job.tasks_per_node, job.tasks_per_core
        return fields

    cdef void give(self, JobRecord job) noexcept:
        job.name, job.cwd, job.queue = self.name, self.cwd, self.queue
        job.project, job.bank, job.duration = self.project, self.bank, self.duration
        job.nnodes, job.ntasks, job.ncores = self.nnodes, self.ntasks, self.ncores
        job.tasks_per_node, job.tasks_per_core = self.tasks_per_node, self.tasks_per_core



@cython.final
@cython.no_gc
cdef class JobRecord:
    """One job's job-list state, brought up to date one eventlog entry at a time (the
    compiled twin of :class:`fluxjournal.joblist.JobRecord`; rows' timestamps are numbers,
    as ``Response.rows()`` gives them)."""

    cdef readonly object id
    cdef long long userid, urgency, priority
    cdef bint has_userid, has_urgency
    cdef int state, states_mask, states_events_mask
    cdef readonly double t_submit
    cdef double t_depend, t_priority, t_sched, t_run, t_cleanup, t_inactive
    cdef long long submit_version
    cdef long long ntasks, ncores, nnodes, tasks_per_node, tasks_per_core
    cdef double duration, expiration
    cdef long long waitstatus
    cdef bint success, exception_occurred
    cdef int result
    cdef long long exception_severity
    cdef object exception_type, exception_note
    cdef object name, cwd, queue, project, bank, ranks, nodelist
    cdef list dependencies
    cdef object jobspec_text, R_text

    def __init__(self, jobid):
        self.id = jobid
        self.has_userid = self.has_urgency = False
        self.priority = 0
        self.state = self.states_mask = self.states_events_mask = ST_NEW
        self.t_submit = self.t_depend = self.t_priority = self.t_sched = 0.0
        self.t_run = self.t_cleanup = self.t_inactive = 0.0
        self.submit_version = -1
        self.ntasks = self.ncores = self.nnodes = -1
        self.duration = self.expiration = -1.0
        self.waitstatus = -1
        self.success = self.exception_occurred = False
        self.result = RES_FAILED
        self.exception_severity = 0
        self.exception_type = self.exception_note = None
        self.name = self.cwd = self.queue = self.project = self.bank = None
        self.ranks = self.nodelist = None
        self.tasks_per_node = self.tasks_per_core = 0
        self.dependencies = None
        self.jobspec_text = self.R_text = None

    @property
    def inactive(self):
        """True once the job is over: no more events will come."""
        return self.state == ST_INACTIVE

    # -- taking events -----------------------------------------------------------------

    def apply(self, rows, jobspec_text, R_text):
        """Take entries (rows of ``Response.rows()``) and the response's jobspec and R."""
        if jobspec_text is not None and self.jobspec_text is None:
            self.jobspec_text = jobspec_text
        if R_text is not None and self.R_text is None:
            self.R_text = R_text
        for row in rows:
            self.take_row(row)

    cdef int take_row(self, object row) except -1:
        """Act on one row: its name picks the handler, its timestamp and context follow."""
        cdef Py_ssize_t n
        cdef int event
        if PyTuple_CheckExact(row) and PyTuple_GET_SIZE(row) >= 3:
            n = PyTuple_GET_SIZE(row)
            event = job_event_of(<object>PyTuple_GET_ITEM(row, n - 2))
            if event == EV_NONE:
                return 0
            return self.take(event, <object>PyTuple_GET_ITEM(row, n - 3),
                             <object>PyTuple_GET_ITEM(row, n - 1))
        event = job_event_of(row_item(row, -2))
        if event == EV_NONE:
            return 0
        return self.take(event, row_item(row, -3), row_item(row, -1))

    cdef int take(self, int event, object timestamp, object text) except -1:
        """Call the handler of ``event`` (the timestamp is read by those that keep it)."""
        cdef double t
        if event == EV_DEPENDENCY_ADD:
            return self.on_dependency_add(text)
        if event == EV_DEPENDENCY_REMOVE:
            return self.on_dependency_remove(text)
        if event == EV_RESOURCE_UPDATE:
            return self.on_resource_update(text)
        t = PyFloat_AS_DOUBLE(timestamp) if PyFloat_CheckExact(timestamp) else PyFloat_AsDouble(timestamp)
        if event == EV_SUBMIT:
            return self.on_submit(t, text)
        if event == EV_VALIDATE:
            return self.transition(ST_DEPEND, t, False)
        if event == EV_DEPEND:
            return self.transition(ST_PRIORITY, t, False)
        if event == EV_PRIORITY:
            return self.on_priority(t, text)
        if event == EV_ALLOC:
            return self.transition(ST_RUN, t, False)
        if event == EV_FINISH:
            return self.on_finish(t, text)
        if event == EV_CLEAN:
            return self.transition(ST_INACTIVE, t, False)
        if event == EV_URGENCY:
            return self.on_urgency(t, text)
        if event == EV_EXCEPTION:
            return self.on_exception(t, text)
        if event == EV_JOBSPEC_UPDATE:
            return self.on_jobspec_update(t, text)
        if event == EV_FLUX_RESTART:
            return self.revert(t)
        return 0

    cdef int on_submit(self, double t, object text) except -1:
        cdef dict context = read_only_context(text)
        self.has_userid = context_int(context, "userid", INT64_MIN, INT64_MAX, &self.userid)
        self.has_urgency = context_int(context, "urgency", INT64_MIN, INT64_MAX,
                                       &self.urgency)
        self.submit_version = -1
        context_int(context, "version", INT64_MIN, INT64_MAX, &self.submit_version)
        self.t_submit = t
        return 0

    cdef int on_priority(self, double t, object text) except -1:
        context_int(read_only_context(text), "priority", INT64_MIN, INT64_MAX, &self.priority)
        if self.state == ST_PRIORITY:
            self.transition(ST_SCHED, t, True)
        return 0

    cdef int on_finish(self, double t, object text) except -1:
        self.waitstatus = -1
        context_int(read_only_context(text), "status", C_INT_MIN, C_INT_MAX, &self.waitstatus)
        if self.waitstatus == 0 and not (self.exception_occurred
                                         and self.exception_severity == 0):
            self.success = True
        return self.transition(ST_CLEANUP, t, False)

    cdef int on_urgency(self, double t, object text) except -1:
        if context_int(read_only_context(text), "urgency", INT64_MIN, INT64_MAX, &self.urgency):
            self.has_urgency = True
        return self.revert(t)

    cdef int on_exception(self, double t, object text) except -1:
        cdef dict context = read_only_context(text)
        cdef long long severity = 0
        context_int(context, "severity", INT64_MIN, INT64_MAX, &severity)
        if not self.exception_occurred or severity < self.exception_severity:
            self.exception_occurred = True
            self.exception_severity = severity
            self.exception_type = context_str(context, "type")
            self.exception_note = context_str(context, "note")
        if severity == 0:
            self.transition(ST_CLEANUP, t, False)
        return 0

    cdef int on_jobspec_update(self, double t, object text) except -1:
        jobspec = decoded_object(self.jobspec_text)
        if jobspec is not None:
            for path, value in context_of(text).items():
                if path.split(".", 1)[0] in JOBSPEC_UPDATE_ROOTS:
                    set_path(jobspec, path, value)
            self.jobspec_text = compact_json(jobspec)
            self.parse_jobspec()
        return self.revert(t)

    cdef int on_resource_update(self, object text) except -1:
        R = decoded_object(self.R_text)
        if R is not None:
            context = context_of(text)
            if "expiration" in context:
                set_path(R, "execution.expiration", context["expiration"])
                self.R_text = compact_json(R)
            self.parse_R()
        return 0

    cdef int on_dependency_add(self, object text) except -1:
        description = context_str(context_of(text), "description")
        if self.dependencies is None:
            self.dependencies = []
        if description not in self.dependencies:
            self.dependencies.append(description)
        return 0

    cdef int on_dependency_remove(self, object text) except -1:
        description = context_str(context_of(text), "description")
        if self.dependencies and description in self.dependencies:
            self.dependencies.remove(description)
        return 0

    # -- the state machine, as job_state.c runs it -------------------------------------

    cdef int transition(self, int state, double t, bint conditional) except -1:
        if (not conditional and state & self.states_events_mask
                and state != ST_PRIORITY and state != ST_SCHED):
            return 0  # a state is entered once, but for the two a job may go back to
        self.states_events_mask |= state
        if state == ST_DEPEND:
            self.parse_jobspec()
        elif state == ST_RUN:
            self.parse_R()
        elif state == ST_INACTIVE:
            if self.success:
                self.result = RES_COMPLETED
            elif self.exception_occurred:
                if self.exception_type == "cancel":
                    self.result = RES_CANCELED
                elif self.exception_type == "timeout":
                    self.result = RES_TIMEOUT
        self.enter(state, t)
        return 0

    cdef int revert(self, double t) except -1:
        """Back from SCHED to PRIORITY (urgency, jobspec-update, flux-restart)."""
        if self.state != ST_SCHED:
            return 0
        self.states_events_mask |= ST_PRIORITY
        self.states_mask &= ~(ST_SCHED | ST_PRIORITY)
        self.enter(ST_PRIORITY, t)
        return 0

    cdef void enter(self, int state, double t) noexcept:
        self.state = state
        if state == ST_DEPEND:
            self.t_depend = t
        elif state == ST_PRIORITY:
            if self.t_priority == 0.0:
                self.t_priority = t
        elif state == ST_SCHED:
            if self.t_sched == 0.0:
                self.t_sched = t
        elif state == ST_RUN:
            self.t_run = t
        elif state == ST_CLEANUP:
            self.t_cleanup = t
        elif state == ST_INACTIVE:
            self.t_inactive = t
        self.states_mask |= state

    # -- jobspec and R, as job_data.c reads them ---------------------------------------

    cdef int parse_jobspec(self) except -1:
        """``_parse_jobspec``. A job that has no jobspec fields yet (nearly every one: its
        fields are then a function of the text alone) takes those an earlier job had from
        the same text."""
        cdef PyObject *hit
        cdef object text = self.jobspec_text
        if not (cacheable(text, JOBSPEC_MAX_TEXT) and self.has_no_jobspec_fields()):
            return self.parse_jobspec_text()
        hit = PyDict_GetItem(JOBSPEC_CACHE, text)
        if hit != NULL:
            (<JobspecFields>hit).give(self)
            return 0
        self.parse_jobspec_text()
        return remember(JOBSPEC_CACHE, text, JobspecFields.of(self))

    cdef bint has_no_jobspec_fields(self) noexcept:
        return (self.name is None and self.cwd is None and self.queue is None
                and self.project is None and self.bank is None and self.duration == -1.0
                and self.nnodes == -1 and self.ntasks == -1 and self.ncores == -1
                and self.tasks_per_node == 0 and self.tasks_per_core == 0)

    cdef int parse_jobspec_text(self) except -1:
        jobspec = decoded_object(self.jobspec_text)
        if jobspec is None:
            return 0
        try:
            system = self.read_attributes(jobspec)
        except MALFORMED:
            return 0
        try:
            self.read_counts(jobspec, system)
        except MALFORMED:
            return 0
        return 0

    @cython.boundscheck(True)
    @cython.wraparound(True)
    cdef object read_attributes(self, dict jobspec):
        """The name, cwd, queue, duration, project and bank; the ``system`` attributes."""
        system = get(get(jobspec, "attributes", NOTHING), "system", NOTHING)
        job = get(system, "job", None)
        self.name = jobspec_text_value(get(job, "name", None) if isinstance(job, dict) else None)
        if self.name is None:
            self.name = command_name(jobspec["tasks"][0]["command"][0])
        self.cwd = jobspec_text_value(get(system, "cwd", None))
        self.queue = jobspec_text_value(get(system, "queue", None))
        self.duration = PyFloat_AS_DOUBLE(number_value(system["duration"]))
        self.project = jobspec_text_value(get(system, "project", self.project))
        self.bank = jobspec_text_value(get(system, "bank", self.bank))
        return system

    cdef int read_counts(self, dict jobspec, object system) except -1:
        """nnodes, ntasks and ncores from the resources (raises on malformed ones)."""
        cdef ResourceCounts found
        cdef long long nslots
        resource_counts(jobspec["resources"], &found)
        if found.nslots <= 0 or found.slot_size <= 0:
            return 0
        nslots = found.nslots
        if found.nnodes:
            nslots = product(nslots, found.nnodes)
        self.nnodes = found.nnodes if found.nnodes else -1
        self.count_tasks(jobspec, system, found.nnodes, nslots, found.slot_size)
        if found.nnodes and found.exclusive:
            self.ncores = -1
        else:
            self.ncores = product(nslots, found.slot_size)
        return 0

    @cython.boundscheck(True)
    @cython.wraparound(True)
    cdef int count_tasks(self, dict jobspec, object system, long long nnodes,
                         long long nslots, long long slot_size) except -1:
        cdef long long count
        options = get(get(system, "shell", NOTHING), "options", NOTHING)
        per_resource = get(options, "per-resource", None) if isinstance(options, dict) else None
        if isinstance(per_resource, dict):
            kind = (<dict>per_resource).get("type")
            if PyUnicode_CheckExact(kind) and kind == "node":
                count = checked_count((<dict>per_resource).get("count", 1))
                if nnodes:
                    self.ntasks = product(nnodes, count)
                else:
                    self.tasks_per_node = count
                    self.ntasks = -1
                return 0
            if PyUnicode_CheckExact(kind) and kind == "core":
                count = checked_count((<dict>per_resource).get("count", 1))
                if not nnodes:
                    self.ntasks = product(product(nslots, slot_size), count)
                else:
                    self.tasks_per_core = count
                    self.ntasks = -1
                return 0
        self.ntasks = nslots
        total = item(item(first_item(item(jobspec, "tasks")), "count"), "total")
        if total is not MISSING:  # item(MISSING, ...) is MISSING: object() has no items
            try:
                self.ntasks = checked_count(PyNumber_Long(total))
            except MALFORMED_TOTAL:
                pass
        return 0

    cdef int parse_R(self) except -1:
        cdef RankSummary summary
        cdef double expiration
        cdef long long ntasks
        R = decoded_object(self.R_text)
        if R is None:
            return 0
        try:
            execution = R["execution"]
            expiration = expiration_of(get(execution, "expiration", -1.0))
            ranks = rank_cores(execution["R_lite"], &summary)
            hosts = first_hosts(get(execution, "nodelist", ()), summary.nnodes)
            ntasks = self.ntasks
            if self.tasks_per_node:
                ntasks = product(summary.nnodes, self.tasks_per_node)
            if self.tasks_per_core:
                ntasks = product(summary.ncores, self.tasks_per_core)
        except MALFORMED:
            return 0
        self.expiration = expiration
        self.nnodes = summary.nnodes
        self.ncores = summary.ncores
        self.ntasks = ntasks
        self.ranks = ranks
        self.nodelist = hostlist_text(hosts)
        return 0

    # -- what flux jobs -a --json says --------------------------------------------------

    def fields(self):
        """The values of :data:`fluxjournal.schema.JOB_FIELDS`, in that order."""
        cdef int mask = self.states_mask
        cdef bint over = mask & ST_INACTIVE
        cdef bint ran = mask & ST_RUN
        cdef bint told = over and self.exception_occurred
        cdef object state_name = state_name_of(self.state)
        cdef object result = result_name_of(self.result) if over else None
        cdef object t_depend = None
        cdef object runtime = None
        if self.t_cleanup > 0 and self.t_run > 0 and self.t_cleanup - self.t_run != 0.0:
            runtime = self.t_cleanup - self.t_run
        if self.submit_version < 1:
            t_depend = time_or_none(self.t_submit)
        elif mask & ST_DEPEND:
            t_depend = time_or_none(self.t_depend)
        cdef tuple row = PyTuple_New(36)
        set_tuple_item(row, 0, PyLong_FromLongLong(self.userid) if self.has_userid else None)
        set_tuple_item(row, 1, PyLong_FromLongLong(self.urgency) if self.has_urgency else None)
        set_tuple_item(row, 2, PyLong_FromLongLong(self.priority) if mask & ST_SCHED else None)
        set_tuple_item(row, 3, state_name)
        set_tuple_item(row, 4, state_name if self.state & (ST_PENDING | ST_RUNNING) else result)
        set_tuple_item(row, 5, result)
        set_tuple_item(row, 6, (True if self.success else False) if over else None)
        set_tuple_item(row, 7, PyLong_FromLongLong(self.waitstatus)
                       if self.waitstatus >= 0 else None)
        set_tuple_item(row, 8, self.returncode(over))
        set_tuple_item(row, 9, True if told else False)
        set_tuple_item(row, 10, self.exception_type if told else None)
        set_tuple_item(row, 11, PyLong_FromLongLong(self.exception_severity) if told else None)
        set_tuple_item(row, 12, self.exception_note if told else None)
        set_tuple_item(row, 13, time_or_none(self.t_submit))
        set_tuple_item(row, 14, t_depend)
        set_tuple_item(row, 15, time_or_none(self.t_priority))
        set_tuple_item(row, 16, time_or_none(self.t_sched))
        set_tuple_item(row, 17, time_or_none(self.t_run) if ran else None)
        set_tuple_item(row, 18, time_or_none(self.t_cleanup) if mask & ST_CLEANUP else None)
        set_tuple_item(row, 19, time_or_none(self.t_inactive) if over else None)
        set_tuple_item(row, 20, runtime)
        set_tuple_item(row, 21, self.duration if self.duration >= 0 else None)
        set_tuple_item(row, 22, time_or_none(self.expiration)
                       if ran and self.expiration >= 0 else None)
        set_tuple_item(row, 23, count_or_none(self.ntasks))
        set_tuple_item(row, 24, count_or_none(self.ncores))
        set_tuple_item(row, 25, count_or_none(self.nnodes))
        set_tuple_item(row, 26, self.ranks if ran else None)
        set_tuple_item(row, 27, self.nodelist if ran else None)
        set_tuple_item(row, 28, self.name or None)
        set_tuple_item(row, 29, self.cwd or None)
        set_tuple_item(row, 30, self.queue or None)
        set_tuple_item(row, 31, self.project or None)
        set_tuple_item(row, 32, self.bank or None)
        set_tuple_item(row, 33, compact_json(self.dependencies)
                       if self.dependencies is not None else "[]")
        set_tuple_item(row, 34, self.jobspec_text)
        set_tuple_item(row, 35, self.R_text)
        return row

    cdef object returncode(self, bint over):
        cdef int status
        if self.waitstatus >= 0:
            status = <int>self.waitstatus
            if WIFSIGNALED(status):
                return -WTERMSIG(status)
            if WIFEXITED(status):
                return WEXITSTATUS(status)
            return None
        if not over:
            return None
        if self.result == RES_CANCELED:
            return CANCELED_RETURNCODE
        return 1 if self.result == RES_FAILED else None


cdef inline object time_or_none(double t):
    """``t or None``."""
    return PyFloat_FromDouble(t) if t != 0.0 else None


cdef inline object count_or_none(long long n):
    return PyLong_FromLongLong(n) if n >= 0 else None


cdef object state_name_of(int state):
    cdef Py_ssize_t k = 0
    while k < 6 and not (state & (1 << k)):
        k += 1
    return STATE_NAME_STRS[k]


cdef object result_name_of(int result):
    cdef Py_ssize_t k = 0
    while k < 3 and not (result & (1 << k)):
        k += 1
    return RESULT_NAME_STRS[k]
