# ---------------------------------------------------------------------------
# Bytes by name
# ---------------------------------------------------------------------------
# The ASCII bytes JSON's grammar (and the journal's keys) are written in.

cdef enum:
    TAB = 9
    NEWLINE = 10
    CARRIAGE_RETURN = 13
    SPACE = 32                   # also the first byte a string may hold unescaped
    FIRST_PRINTABLE = 32
    QUOTE = 34                   # "
    PLUS = 43
    COMMA = 44
    MINUS = 45
    DOT = 46
    SLASH = 47
    DIGIT_ZERO = 48
    DIGIT_ONE = 49
    DIGIT_NINE = 57
    COLON = 58
    UPPER_A = 65
    UPPER_E = 69
    UPPER_F = 70
    UPPER_I = 73                 # Infinity
    UPPER_N = 78                 # NaN
    UPPER_R = 82                 # the key "R"
    OPEN_BRACKET = 91            # [
    BACKSLASH = 92
    CLOSE_BRACKET = 93           # ]
    LOWER_A = 97
    LOWER_B = 98
    LOWER_D = 100
    LOWER_E = 101
    LOWER_F = 102
    LOWER_I = 105
    LOWER_N = 110
    LOWER_R = 114
    LOWER_T = 116
    LOWER_U = 117
    OPEN_BRACE = 123             # {
    CLOSE_BRACE = 125            # }


cdef inline unsigned char closer_of(unsigned char opener) noexcept nogil:
    """The byte that closes the container ``opener`` (``{`` or ``[``) opens."""
    return CLOSE_BRACE if opener == OPEN_BRACE else CLOSE_BRACKET


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


cdef inline bint is_ws(unsigned char ch) noexcept nogil:
    # compact JSON has none: one comparison says so (every whitespace byte is <= SPACE)
    return ch <= SPACE and (ch == SPACE or ch == NEWLINE or ch == CARRIAGE_RETURN or ch == TAB)


cdef inline Py_ssize_t ws_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset of the first byte at or after ``i`` that is not JSON whitespace."""
    while i < n and is_ws(b[i]):
        i += 1
    return i


cdef inline Py_ssize_t skip_ws(Cursor *c, Py_ssize_t i) noexcept nogil:
    return ws_end(c.buf, i, c.length)


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
    if n == 2 and p[0] == LOWER_I and p[1] == LOWER_D:
        return ID_KEY
    if n == 6 and memcmp(p, b"events", 6) == 0:
        return EVENTS_KEY
    if n == 7 and memcmp(p, b"jobspec", 7) == 0:
        return JOBSPEC_KEY
    if n == 1 and p[0] == UPPER_R:
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
    if DIGIT_ZERO <= ch <= DIGIT_NINE:
        return ch - 48
    if LOWER_A <= ch <= LOWER_F:
        return ch - 87
    if UPPER_A <= ch <= UPPER_F:
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
        quote = word ^ (ones * QUOTE)
        backslash = word ^ (ones * BACKSLASH)
        control = word - ones * FIRST_PRINTABLE  # borrows into the high bit for bytes < 0x20
        found = (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | control
                 | word) & highs
        if found:
            return i + fj_lowest_byte(found)
        i += 8
    while i < n:
        if buf[i] == QUOTE or buf[i] == BACKSLASH or buf[i] < 0x20 or buf[i] >= 0x80:
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
        if ch == QUOTE or ch == BACKSLASH:
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
    if c.buf[j] == BACKSLASH:
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
    if c.buf[j] == BACKSLASH:
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
    cdef Py_ssize_t cp = 0  # every branch sets it; gcc cannot see that fail() never returns
    cdef Py_ssize_t low, u_pos
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
        if c.buf[j] == QUOTE:
            end[0] = j + 1
            break
        j += 1
        if j >= n:
            fail("Unterminated string starting at", begin)
        ch = c.buf[j]
        if ch == LOWER_U:  # \uXXXX
            u_pos = j
            if j + 5 > n - 1:
                fail("Invalid \\uXXXX escape", u_pos)
            cp = read_hex4(c, j + 1, u_pos)
            j += 5
            if 0xD800 <= cp <= 0xDBFF and j + 6 < n and c.buf[j] == BACKSLASH and c.buf[j + 1] == LOWER_U:
                low = read_hex4(c, j + 2, j + 1)
                if 0xDC00 <= low <= 0xDFFF:
                    cp = 0x10000 + (((cp - 0xD800) << 10) | (low - 0xDC00))
                    j += 6
        else:
            if ch == QUOTE or ch == BACKSLASH or ch == SLASH:
                cp = ch
            elif ch == LOWER_B:
                cp = 8
            elif ch == LOWER_F:
                cp = 12
            elif ch == LOWER_N:
                cp = 10
            elif ch == LOWER_R:
                cp = 13
            elif ch == LOWER_T:
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
    return DIGIT_ZERO <= ch <= DIGIT_NINE


cdef struct Decimal:
    unsigned long long mantissa   # the digits, while there are at most 19 of them
    Py_ssize_t digits             # significant digits seen (leading zeros not counted)
    Py_ssize_t exp10              # the decimal exponent of the last digit
    bint negative


cdef enum:
    SMALL_NUMBER_TEXT = 64       # number texts shorter than this are copied on the stack


cdef object number_from_text(Cursor *c, Py_ssize_t start, Py_ssize_t stop, bint is_float,
                             Decimal *d):
    """Convert the validated number text [start, stop) exactly as ``float()``/``int()`` do."""
    cdef char small[SMALL_NUMBER_TEXT]
    cdef bytes big
    cdef const char *text
    cdef Py_ssize_t n = stop - start
    cdef double value
    if d.digits <= 18 and not is_float:
        return PyLong_FromLongLong(-<long long>d.mantissa if d.negative else <long long>d.mantissa)
    if is_float and d.digits <= 19 and fj_decimal_to_double(d.mantissa, d.exp10, d.negative, &value):
        return PyFloat_FromDouble(value)
    if n < SMALL_NUMBER_TEXT:
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


#: The smallest limit ``sys.set_int_max_str_digits()`` accepts (0, no limit, aside): an
#: integer with no more digits than this is always converted, so the limit is only read
#: for longer ones.
cdef Py_ssize_t INT_DIGITS_FLOOR = 640
#: ``sys.get_int_max_str_digits``, on the Pythons that limit ``int()`` (3.11, and the
#: security releases of 3.7 to 3.10); None on the others.
cdef object get_int_max_str_digits = getattr(_sys, "get_int_max_str_digits", None)


cdef int check_int_digits(Cursor *c, Py_ssize_t start, Py_ssize_t stop,
                          Decimal *d) except -1:
    """Refuse, with ``int()``'s own message, an integer that ``int()`` would refuse for
    its length: ``json.loads`` refuses the whole document for it, so validating a value
    without building it must too, or a payload could pass the scan and fail to build."""
    cdef Py_ssize_t limit
    if d.digits <= INT_DIGITS_FLOOR or get_int_max_str_digits is None:
        return 0
    limit = get_int_max_str_digits()
    if limit == 0 or d.digits <= limit:
        return 0
    number_from_text(c, start, stop, False, d)  # raises int()'s error, as a failure
    return 0


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
    cdef Py_ssize_t digits = d.digits
    cdef Py_ssize_t exp10 = d.exp10
    cdef unsigned char ch
    if digits == 0:
        while i < n and buf[i] == DIGIT_ZERO:
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
    an exponent. An integer longer than ``int()`` converts is refused here, as
    ``json.loads`` refuses it.
    """
    cdef Py_ssize_t end = number_end(c.buf, i, c.length, d, is_float)
    if end < 0:
        fail("Expecting value", i)
    if not is_float[0]:
        check_int_digits(c, i, end, d)
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
    d.negative = buf[i] == MINUS
    if d.negative:
        i += 1
        if i > last:
            return -1
    if DIGIT_ONE <= buf[i] <= DIGIT_NINE:
        i = take_digits(buf, i, n, d, False)
    elif buf[i] == DIGIT_ZERO:
        i += 1
    else:
        return -1
    if i < last and buf[i] == DOT and is_digit(buf[i + 1]):
        is_float[0] = True
        i = take_digits(buf, i + 1, n, d, True)
    if i < last and (buf[i] == LOWER_E or buf[i] == UPPER_E):
        e_start = i
        i += 1
        if i < last and (buf[i] == MINUS or buf[i] == PLUS):
            exp_negative = buf[i] == MINUS
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
    if ch == LOWER_N and matches(c, i, "null", 4):
        end[0] = i + 4
        return NULL_LITERAL
    if ch == LOWER_T and matches(c, i, "true", 4):
        end[0] = i + 4
        return TRUE_LITERAL
    if ch == LOWER_F and matches(c, i, "false", 5):
        end[0] = i + 5
        return FALSE_LITERAL
    if ch == UPPER_N and matches(c, i, "NaN", 3):
        end[0] = i + 3
        return NAN_LITERAL
    if ch == UPPER_I and matches(c, i, "Infinity", 8):
        end[0] = i + 8
        return INF_LITERAL
    if ch == MINUS and matches(c, i, "-Infinity", 9):
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
    if ch == QUOTE:
        return parse_string(c, i + 1, end)
    if ch == OPEN_BRACE:
        return parse_object(c, i + 1, end, None)
    if ch == OPEN_BRACKET:
        return parse_array(c, i + 1, end)
    if is_digit(ch) or (ch == MINUS and i + 1 < c.length and is_digit(c.buf[i + 1])):
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
    if ch == QUOTE:
        return skip_string(c, i + 1)
    if ch == OPEN_BRACE:
        return skip_object(c, i + 1)
    if ch == OPEN_BRACKET:
        return skip_array(c, i + 1)
    if is_digit(ch) or (ch == MINUS and i + 1 < c.length and is_digit(c.buf[i + 1])):
        return match_number(c, i, &d, &is_float)
    if literal_at(c, i, &end) != NOT_A_LITERAL:
        return end
    return match_number(c, i, &d, &is_float)


cdef int enter_container(Cursor *c, Py_ssize_t bracket) except -1:
    c.depth += 1
    if c.depth > C_MAX_DEPTH:
        fail(TOO_DEEP, bracket)
    return 0


cdef inline int expect_key(Cursor *c, Py_ssize_t i) except -1:
    if i >= c.length or c.buf[i] != QUOTE:
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
    if c.buf[j] == BACKSLASH:
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


#: From CPython 3.13 on (gh-113149), json names a trailing comma: "Illegal trailing comma
#: before end of array" (or object), at the comma. Earlier versions go on to the next
#: member and say what they found missing there ("Expecting value", "Expecting property
#: name enclosed in double quotes"). Errors are what the running Python's json says.
cdef bint TRAILING_COMMA_NAMED = _sys.version_info >= (3, 13)


cdef int fail_trailing_comma(unsigned char close, Py_ssize_t comma) except -1:
    if close == CLOSE_BRACKET:
        fail("Illegal trailing comma before end of array", comma)
    fail("Illegal trailing comma before end of object", comma)


cdef inline Py_ssize_t next_member(Cursor *c, Py_ssize_t i, unsigned char close) except -2:
    """After a member or an element: the offset of the next one, or -1 at ``close``."""
    cdef Py_ssize_t comma
    i = skip_ws(c, i)
    if i < c.length and c.buf[i] == close:
        return -1
    if i >= c.length or c.buf[i] != COMMA:
        fail("Expecting ',' delimiter", i)
    comma = i
    i = skip_ws(c, i + 1)
    if TRAILING_COMMA_NAMED and i < c.length and c.buf[i] == close:
        fail_trailing_comma(close, comma)
    return i


cdef inline Py_ssize_t expect_colon(Cursor *c, Py_ssize_t i) except -1:
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != COLON:
        fail("Expecting ':' delimiter", i)
    return skip_ws(c, i + 1)


cdef object parse_object(Cursor *c, Py_ssize_t i, Py_ssize_t *end, object into):
    """The object whose ``{`` is at ``i - 1``, filled into ``into`` (or a new dict)."""
    cdef Py_ssize_t nxt = 0
    cdef object key
    cdef object result = into if into is not None else PyDict_New()
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != CLOSE_BRACE:
        while i >= 0:
            key = parse_key(c, i, &nxt)
            i = expect_colon(c, nxt)
            PyDict_SetItem(result, key, parse_value(c, i, &nxt))
            i = next_member(c, nxt, CLOSE_BRACE)
        i = skip_ws(c, nxt)
    c.depth -= 1
    end[0] = i + 1
    return result


cdef Py_ssize_t skip_object(Cursor *c, Py_ssize_t i) except -1:
    """Validate the object whose ``{`` is at ``i - 1``; the offset after it."""
    cdef Py_ssize_t nxt = i
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != CLOSE_BRACE:
        while i >= 0:
            expect_key(c, i)
            i = expect_colon(c, skip_string(c, i + 1))
            nxt = skip_value(c, i)
            i = next_member(c, nxt, CLOSE_BRACE)
        i = skip_ws(c, nxt)
    c.depth -= 1
    return i + 1


cdef object parse_array(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The array whose ``[`` is at ``i - 1``."""
    cdef Py_ssize_t nxt = 0
    cdef list result = PyList_New(0)
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != CLOSE_BRACKET:
        while i >= 0:
            PyList_Append(result, parse_value(c, i, &nxt))
            i = next_member(c, nxt, CLOSE_BRACKET)
        i = skip_ws(c, nxt)
    c.depth -= 1
    end[0] = i + 1
    return result


cdef Py_ssize_t skip_array(Cursor *c, Py_ssize_t i) except -1:
    """Validate the array whose ``[`` is at ``i - 1``; the offset after it."""
    cdef Py_ssize_t nxt = i
    enter_container(c, i - 1)
    i = skip_ws(c, i)
    if i >= c.length or c.buf[i] != CLOSE_BRACKET:
        while i >= 0:
            nxt = skip_value(c, i)
            i = next_member(c, nxt, CLOSE_BRACKET)
        i = skip_ws(c, nxt)
    c.depth -= 1
    return i + 1


# ---------------------------------------------------------------------------
# Documents: holding the input, mapping failures back to it
# ---------------------------------------------------------------------------

@cython.no_gc
cdef class _Document:
    """The UTF-8 bytes of one input document and the Python object that owns them.

    The cycle collector need not see it: ``owner`` is always an exact bytes or str (a
    subclass instance, which could carry attributes, is copied), and a document that
    outlives its decoding is ``settle()``d, so that ``source`` is one too.
    """

    cdef object owner        # exact bytes, or an exact ASCII str, whose buffer we read
    cdef object source       # what the caller passed, for error positions
    cdef Py_ssize_t offset   # bytes skipped at the start (a UTF-8 BOM)
    cdef bint is_text        # positions are reported in characters
    cdef const unsigned char *buf
    cdef Py_ssize_t length

    cdef int load(self, object data) except -1:
        cdef Py_buffer view
        self.source = data
        if isinstance(data, str):
            # a subclass (whose instances may hold anything) is read through an exact copy
            return self.load_text(data if PyUnicode_CheckExact(data)
                                  else PyUnicode_FromObject(data))
        if isinstance(data, bytes):
            self.owner = data if PyBytes_CheckExact(data) else PyBytes_FromObject(data)
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

    cdef int settle(self) except -1:
        """Let go of what the caller passed, for a document kept after its decoding:
        errors found later are told against an exact str or bytes equal to it."""
        if not self.is_text:
            self.source = self.owner
        elif not PyUnicode_CheckExact(self.source):
            self.source = PyUnicode_FromObject(self.source)
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
    As for ``json.loads``, there is no limit on the size but memory: positions, lengths
    and the digits of a number are counted in ``Py_ssize_t``.
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
