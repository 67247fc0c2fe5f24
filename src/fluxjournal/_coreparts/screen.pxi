# ---------------------------------------------------------------------------
# The screen: plain C over well-formed journal responses
#
# It accepts nothing json.loads refuses, and gives up (returns -1 or 0) at anything it does
# not handle itself: an error of any kind, escapes in keys or names, numbers it cannot
# convert exactly, deep nesting, NaN and Infinity. The precise scan (response.pxi) then runs from
# the start and says exactly what json.loads would.
# ---------------------------------------------------------------------------

cdef enum:
    SCREEN_MAX_DEPTH = 64        # journal payloads nest fewer than 20 levels
    SCREEN_MAX_NUMBER = 320      # longer number texts go to the precise scan


cdef inline Py_ssize_t screen_string_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset after the string whose opening quote is at ``i - 1``, or -1."""
    cdef Py_ssize_t start = i
    cdef bint ascii = True
    cdef unsigned char ch
    while True:
        i = skip_plain_ascii(b, i, n)
        if i >= n:
            return -1
        ch = b[i]
        if ch == QUOTE:
            break
        if ch == BACKSLASH:
            if i + 1 >= n:
                return -1
            ch = b[i + 1]
            if ch == LOWER_U:
                if (i + 5 >= n or hex_value(b[i + 2]) < 0 or hex_value(b[i + 3]) < 0
                        or hex_value(b[i + 4]) < 0 or hex_value(b[i + 5]) < 0):
                    return -1
                i += 6
            elif (ch == QUOTE or ch == BACKSLASH or ch == SLASH or ch == LOWER_B or ch == LOWER_F or ch == LOWER_N
                    or ch == LOWER_R or ch == LOWER_T):
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


cdef inline Py_ssize_t screen_key_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                             JournalKey *which) noexcept nogil:
    """After a key with no escapes at ``i`` and its colon: the offset of its value, or -1."""
    cdef Py_ssize_t j
    if i >= n or b[i] != QUOTE:
        return -1
    j = skip_plain_ascii(b, i + 1, n)
    if j >= n or b[j] != QUOTE:
        return -1
    if which != NULL:
        which[0] = key_from_bytes(b + i + 1, j - i - 1)
    j = ws_end(b, j + 1, n)
    if j >= n or b[j] != COLON:
        return -1
    return ws_end(b, j + 1, n)


cdef inline Py_ssize_t digits_end(const unsigned char *b, Py_ssize_t i,
                                  Py_ssize_t n) noexcept nogil:
    while i < n and is_digit(b[i]):
        i += 1
    return i


cdef inline Py_ssize_t number_text_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """``number_end`` without the value: where json's number grammar stops, or -1."""
    cdef Py_ssize_t k
    if b[i] == MINUS:
        i += 1
        if i >= n:
            return -1
    if b[i] == DIGIT_ZERO:
        i += 1
    elif is_digit(b[i]):
        i = digits_end(b, i + 1, n)
    else:
        return -1
    if i + 1 < n and b[i] == DOT and is_digit(b[i + 1]):
        i = digits_end(b, i + 2, n)
    if i + 1 < n and (b[i] == LOWER_E or b[i] == UPPER_E):
        k = i + 1
        if k + 1 < n and (b[k] == MINUS or b[k] == PLUS):
            k += 1
        if is_digit(b[k]):
            i = digits_end(b, k + 1, n)
    return i


cdef inline Py_ssize_t screen_scalar_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset after the string, number, true, false or null at ``i``, or -1."""
    cdef Py_ssize_t j
    cdef unsigned char ch = b[i]
    if ch == QUOTE:
        return screen_string_end(b, i + 1, n)
    if is_digit(ch) or ch == MINUS:
        j = number_text_end(b, i, n)
        return j if 0 <= j - i <= SCREEN_MAX_NUMBER else -1
    if ch == LOWER_T and i + 4 <= n and memcmp(b + i, b"true", 4) == 0:
        return i + 4
    if ch == LOWER_F and i + 5 <= n and memcmp(b + i, b"false", 5) == 0:
        return i + 5
    if ch == LOWER_N and i + 4 <= n and memcmp(b + i, b"null", 4) == 0:
        return i + 4
    return -1


cdef Py_ssize_t screen_value_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset after the JSON value at ``i`` (validated, not built), or -1.

    Iterative: nesting is kept on a small stack of closing brackets.
    """
    cdef unsigned char closer[SCREEN_MAX_DEPTH]
    cdef int depth = 0
    cdef unsigned char ch
    while True:
        # a value starts at i
        if i >= n:
            return -1
        ch = b[i]
        if ch == OPEN_BRACE or ch == OPEN_BRACKET:
            i = ws_end(b, i + 1, n)
            if i < n and b[i] == closer_of(ch):      # {} or []
                i += 1
            else:
                if depth == SCREEN_MAX_DEPTH:
                    return -1
                closer[depth] = closer_of(ch)
                depth += 1
                if ch == OPEN_BRACE:
                    i = screen_key_end(b, i, n, NULL)
                    if i < 0:
                        return -1
                continue
        else:
            i = screen_scalar_end(b, i, n)
            if i < 0:
                return -1
        # after a value: close what ends here, then find the next value
        while True:
            if depth == 0:
                return i
            i = ws_end(b, i, n)
            if i >= n:
                return -1
            if b[i] == closer[depth - 1]:
                depth -= 1
                i += 1
                continue
            if b[i] != COMMA:
                return -1
            i = ws_end(b, i + 1, n)
            if closer[depth - 1] == CLOSE_BRACE:
                i = screen_key_end(b, i, n, NULL)
                if i < 0:
                    return -1
            break


cdef inline Py_ssize_t screen_timestamp_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                                   EntryRecord *rec) noexcept nogil:
    """Read a timestamp, on the screen, into ``rec``: the offset after it, or -1."""
    cdef Decimal d
    cdef bint is_float
    cdef Py_ssize_t j
    if i >= n or not (is_digit(b[i]) or b[i] == MINUS):
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
    if not text_at(b, i, n, USUAL_OPENING, USUAL_TIMESTAMP_AT):
        return -1
    i = screen_timestamp_end(b, i + USUAL_TIMESTAMP_AT, n, rec)
    if i < 0 or not text_at(b, i, n, USUAL_BEFORE_NAME, USUAL_NAME_AFTER_TIMESTAMP):
        return -1
    i += USUAL_NAME_AFTER_TIMESTAMP
    j = skip_plain_ascii(b, i, n)
    if j >= n or b[j] != QUOTE:
        return -1
    rec.name = name_from_bytes(b + i, j - i)
    i = j + 1
    if text_at(b, i, n, USUAL_BEFORE_CONTEXT, USUAL_CONTEXT_AFTER_NAME):
        i = screen_value_end(b, i + USUAL_CONTEXT_AFTER_NAME, n)
        if i < 0:
            return -1
        rec.has_context = True
    if i >= n or b[i] != CLOSE_BRACE:
        return -1
    return i + 1


cdef Py_ssize_t screen_entry_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
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
    i = ws_end(b, i + 1, n)
    while True:
        i = screen_key_end(b, i, n, &which)
        if i < 0:
            return -1
        if which == TIMESTAMP_KEY:
            i = screen_timestamp_end(b, i, n, rec)
        elif which == NAME_KEY:
            if i >= n or b[i] != QUOTE:
                return -1
            j = skip_plain_ascii(b, i + 1, n)
            if j >= n or b[j] != QUOTE:
                return -1
            rec.name = name_from_bytes(b + i + 1, j - i - 1)
            has_name = True
            i = j + 1
        else:
            i = screen_value_end(b, i, n)
            rec.has_context |= which == CONTEXT_KEY
        if i < 0:
            return -1
        i = ws_end(b, i, n)
        if i >= n:
            return -1
        if b[i] == CLOSE_BRACE:
            break
        if b[i] != COMMA:
            return -1
        i = ws_end(b, i + 1, n)
    if not has_name or rec.timestamp_form == NO_TIMESTAMP:
        return -1
    return i + 1


cdef Py_ssize_t screen_events_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t n,
                                Response r) except -2:
    """Record the ``events`` array at ``i``: the offset after it, or -1."""
    if i >= n or b[i] != OPEN_BRACKET:
        return -1
    r.count = 0
    r.has_events = True
    i = ws_end(b, i + 1, n)
    if i < n and b[i] == CLOSE_BRACKET:
        return i + 1
    while True:
        if i >= n or b[i] != OPEN_BRACE:
            return -1
        i = screen_entry_end(b, i, n, r.append_record())
        if i < 0:
            return -1
        i = ws_end(b, i, n)
        if i >= n:
            return -1
        if b[i] == CLOSE_BRACKET:
            return i + 1
        if b[i] != COMMA:
            return -1
        i = ws_end(b, i + 1, n)


cdef bint screen_response(const unsigned char *b, Py_ssize_t n, Response r) except -1:
    """Fill ``r`` on the screen; False (``r`` half filled) when the precise scan must."""
    cdef JournalKey which = OTHER_KEY
    cdef Py_ssize_t i = ws_end(b, 0, n)
    cdef Py_ssize_t j
    cdef Decimal d
    cdef bint is_float
    if i >= n or b[i] != OPEN_BRACE:
        return False
    i = ws_end(b, i + 1, n)
    while True:
        i = screen_key_end(b, i, n, &which)
        if i < 0:
            return False
        if which == EVENTS_KEY:
            j = screen_events_end(b, i, n, r)
        elif which == ID_KEY:
            j = number_end(b, i, n, &d, &is_float) if i < n else -1
            if j < 0 or is_float or d.digits > 18:
                return False
            r._id = PyLong_FromLongLong(-<long long>d.mantissa if d.negative
                                        else <long long>d.mantissa)
        else:
            j = screen_value_end(b, i, n)
            if j >= 0 and which == JOBSPEC_KEY:
                r.jobspec_start, r.jobspec_stop = i, j
            elif j >= 0 and which == R_KEY:
                r.R_start, r.R_stop = i, j
        if j < 0:
            return False
        i = ws_end(b, j, n)
        if i >= n:
            return False
        if b[i] == CLOSE_BRACE:
            break
        if b[i] != COMMA:
            return False
        i = ws_end(b, i + 1, n)
    return r.has_events and ws_end(b, i + 1, n) == n


cdef void clear_response(Response r) noexcept:
    """Undo a screen that gave up, so that the precise scan starts afresh."""
    r.count = 0
    r.has_events = False
    r._id = None
    r.jobspec_start = r.R_start = -1
    r.jobspec_stop = r.R_stop = 0
