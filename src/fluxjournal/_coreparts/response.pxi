# ---------------------------------------------------------------------------
# Journal responses
# ---------------------------------------------------------------------------

# Records are kept for every history event until it is delivered: 16 bytes each.
cdef enum TimestampForm:
    NO_TIMESTAMP               # the entry has none: the scan's clock reading is used
    FLOAT_TIMESTAMP            # a float, converted exactly by the scan: build it from the record
    OTHER_TIMESTAMP            # an int or a literal: built again from the text


# flux-core writes an entry as {"timestamp":T,"name":"N"} with an optional ,"context":C
# last; the screen marks entries so laid out "usual", and these are its fixed parts.
cdef extern from *:
    """
    #define FJ_USUAL_OPENING "{\\"timestamp\\":"
    #define FJ_USUAL_BEFORE_NAME ",\\"name\\":\\""
    #define FJ_USUAL_BEFORE_CONTEXT ",\\"context\\":"
    enum {
        FJ_USUAL_TIMESTAMP_AT = sizeof(FJ_USUAL_OPENING) - 1,
        FJ_USUAL_NAME_AFTER_TIMESTAMP = sizeof(FJ_USUAL_BEFORE_NAME) - 1,
        FJ_USUAL_CONTEXT_AFTER_NAME = sizeof(FJ_USUAL_BEFORE_CONTEXT) - 1
    };
    """
    const char *USUAL_OPENING "FJ_USUAL_OPENING"            # {"timestamp":
    const char *USUAL_BEFORE_NAME "FJ_USUAL_BEFORE_NAME"    # ,"name":"
    const char *USUAL_BEFORE_CONTEXT "FJ_USUAL_BEFORE_CONTEXT"  # ,"context":
    enum:
        USUAL_TIMESTAMP_AT "FJ_USUAL_TIMESTAMP_AT"          # where T starts
        USUAL_NAME_AFTER_TIMESTAMP "FJ_USUAL_NAME_AFTER_TIMESTAMP"  # from the end of T to N
        USUAL_CONTEXT_AFTER_NAME "FJ_USUAL_CONTEXT_AFTER_NAME"  # from after N's quote to C


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
    while i < n and (is_digit(buf[i]) or buf[i] == DOT or buf[i] == MINUS or buf[i] == PLUS
                     or buf[i] == LOWER_E or buf[i] == UPPER_E):
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
    if j >= 0 and ascii and c.buf[j] == QUOTE:
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
    if i < c.length and c.buf[i] != CLOSE_BRACE:
        while i >= 0:
            key = entry_key(c, i, &nxt, &which)
            i = expect_colon(c, nxt)
            if (which == TIMESTAMP_KEY and rec.timestamp_form == FLOAT_TIMESTAMP
                    and is_digit(c.buf[i if c.buf[i] != MINUS else i + 1])):
                nxt = skip_number_text(c.buf, i, c.length)
                PyDict_SetItem(into, key, PyFloat_FromDouble(rec.timestamp))
            else:
                PyDict_SetItem(into, key, parse_value(c, i, &nxt))
            i = next_member(c, nxt, CLOSE_BRACE)
    c.depth -= 1
    return 0


# The trusted builder: values of a document the screen validated, so that nothing is
# checked again. Keys there are plain ASCII; strings with escapes or other bytes go to
# the precise routine. Nesting is at most SCREEN_MAX_DEPTH deep.

cdef object trusted_string(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The string whose opening quote is at ``i - 1``."""
    cdef Py_ssize_t j = skip_plain_ascii(c.buf, i, c.length)
    if c.buf[j] != QUOTE:
        return parse_string(c, i, end)
    end[0] = j + 1
    return ascii_str(c.buf + i, j - i)


cdef object trusted_value(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The value at ``i``."""
    cdef Decimal d
    cdef bint is_float = False
    cdef unsigned char ch = c.buf[i]
    if ch == QUOTE:
        return trusted_string(c, i + 1, end)
    if ch == OPEN_BRACE:
        return trusted_object(c, i, end)
    if ch == OPEN_BRACKET:
        return trusted_array(c, i, end)
    if ch == LOWER_T:
        end[0] = i + 4
        return True
    if ch == LOWER_F:
        end[0] = i + 5
        return False
    if ch == LOWER_N:
        end[0] = i + 4
        return None
    end[0] = number_end(c.buf, i, c.length, &d, &is_float)
    return number_from_text(c, i, end[0], is_float, &d)


cdef object trusted_object(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The object whose ``{`` is at ``i``."""
    cdef dict result = PyDict_New()
    cdef const unsigned char *b = c.buf
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t nxt = 0
    i = ws_end(b, i + 1, n)
    if b[i] != CLOSE_BRACE:
        while True:
            key = trusted_string(c, i + 1, &nxt)
            i = ws_end(b, ws_end(b, nxt, n) + 1, n)
            PyDict_SetItem(result, key, trusted_value(c, i, &nxt))
            i = ws_end(b, nxt, n)
            if b[i] == CLOSE_BRACE:
                break
            i = ws_end(b, i + 1, n)
    end[0] = i + 1
    return result


cdef object trusted_array(Cursor *c, Py_ssize_t i, Py_ssize_t *end):
    """The array whose ``[`` is at ``i``."""
    cdef list result = PyList_New(0)
    cdef const unsigned char *b = c.buf
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t nxt = 0
    i = ws_end(b, i + 1, n)
    if b[i] != CLOSE_BRACKET:
        while True:
            PyList_Append(result, trusted_value(c, i, &nxt))
            i = ws_end(b, nxt, n)
            if b[i] == CLOSE_BRACKET:
                break
            i = ws_end(b, i + 1, n)
    end[0] = i + 1
    return result


cdef object trusted_entry_key(Cursor *c, Py_ssize_t i, Py_ssize_t *end, JournalKey *which):
    """The key at ``i``: the shared str for the journal's own keys."""
    cdef Py_ssize_t j = skip_plain_ascii(c.buf, i + 1, c.length)
    end[0] = j + 1
    return entry_key_str(c.buf + i + 1, j - i - 1, which)


cdef int usual_fill_entry(Cursor *c, EntryRecord *rec, object into) except -1:
    """Fill ``into`` from an entry the screen found laid out as ``usual_entry_end``
    reads it, with a float timestamp."""
    cdef Py_ssize_t nxt = 0
    cdef Py_ssize_t i = skip_number_text(c.buf, rec.start + USUAL_TIMESTAMP_AT, c.length)
    PyDict_SetItem(into, TIMESTAMP_STR, PyFloat_FromDouble(rec.timestamp))
    PyDict_SetItem(into, NAME_STR, trusted_string(c, i + USUAL_NAME_AFTER_TIMESTAMP, &nxt))
    if c.buf[nxt] != COMMA:
        return 0
    PyDict_SetItem(into, CONTEXT_STR, trusted_value(c, nxt + USUAL_CONTEXT_AFTER_NAME, &nxt))
    return 0


cdef int trusted_fill_entry(Cursor *c, EntryRecord *rec, object into) except -1:
    """``fill_entry`` for a document the screen validated."""
    cdef const unsigned char *b = c.buf
    cdef Py_ssize_t n = c.length
    cdef Py_ssize_t i
    cdef Py_ssize_t nxt = 0
    cdef JournalKey which = OTHER_KEY
    if rec.usual:
        return usual_fill_entry(c, rec, into)
    i = ws_end(b, rec.start + 1, n)
    while True:
        key = trusted_entry_key(c, i, &nxt, &which)
        i = ws_end(b, ws_end(b, nxt, n) + 1, n)
        if which == TIMESTAMP_KEY and rec.timestamp_form == FLOAT_TIMESTAMP:
            nxt = skip_number_text(b, i, n)
            PyDict_SetItem(into, key, PyFloat_FromDouble(rec.timestamp))
        else:
            PyDict_SetItem(into, key, trusted_value(c, i, &nxt))
        i = ws_end(b, nxt, n)
        if b[i] == CLOSE_BRACE:
            return 0
        i = ws_end(b, i + 1, n)


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


cdef class Response:
    """One decoded journal response: its job id, its entries and lazy ``jobspec``/``R``.

    Entries are kept as offsets into the payload until events are built from them. The
    decoder makes it untracked by the cycle collector; it is tracked once it holds its
    JobID or a RawJSON, through which the user's values may lead back to it.
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
    cdef bint screened         # the screen validated it: the trusted builder may read it
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
        untrack(value)  # until it is decoded, it holds only the payload
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
        cdef RawJSON raw = self.lazy_jobspec()
        return None if raw is None else raw.get()

    @property
    def R(self):
        """The response's ``R``, decoded on first access; None when absent."""
        cdef RawJSON raw = self.lazy_R()
        return None if raw is None else raw.get()

    cdef object shared_jobid(self):
        """The JobID every event of this response shares (-1 when there is no id)."""
        if self.jobid is None:
            self.set_jobid(new_jobid(self._id if self._id is not None else -1))
        return self.jobid

    cdef int set_jobid(self, object jobid) except -1:
        """Keep the JobID this response's events share (the user may give it attributes)."""
        self.jobid = jobid
        track(self)
        return 0

    cdef RawJSON lazy_jobspec(self):
        if self._jobspec is None and self.jobspec_start >= 0:
            self._jobspec = self.raw(self.jobspec_start, self.jobspec_stop)
            track(self)
        return self._jobspec

    cdef RawJSON lazy_R(self):
        if self._R is None and self.R_start >= 0:
            self._R = self.raw(self.R_start, self.R_stop)
            track(self)
        return self._R

    cdef object entry_dict(self, Cursor *c, EntryRecord *rec, object into):
        self.fill_event(c, rec, into)
        return into

    cdef int fill_event(self, Cursor *c, EntryRecord *rec, object into) except -1:
        """Fill ``into`` with one entry; a missing timestamp is the scan's clock reading."""
        if self.screened:
            trusted_fill_entry(c, rec, into)
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
        except _Fail as failure:
            raise self.unbuildable(failure) from None
        finally:
            free(c.scratch)
        return out

    cdef object unbuildable(self, object failure):
        """The MalformedResponse for a value the scan accepted that can no longer be
        built: an integer longer than ``sys.get_int_max_str_digits()`` allows since it was
        lowered. Internal failures never leave the module."""
        exc = self.doc.error(failure.args)
        return MalformedResponse(INVALID_JSON.format(exc), self.doc.owner)

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
        except _Fail as failure:
            raise self.unbuildable(failure) from None
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
        except _Fail as failure:
            raise self.unbuildable(failure) from None
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

    def rows(self, tuple prefix not None, Py_ssize_t start=0, Py_ssize_t offset=0):
        """The entries from index ``start`` on, one tuple each: ``prefix`` followed by
        (position, timestamp, name, context), where position is the entry's index plus
        ``offset`` and context is JSON text (``{}`` when the entry has none)."""
        return self.build_rows(prefix, max(start, 0), offset)

    def span(self, instance, Py_ssize_t start=0, Py_ssize_t offset=0):
        """The rows ``rows((instance, self.id), start, offset)`` would give, as an
        :class:`EventSpan` (offsets into the payload, no object per row) for the
        ``SQLiteWriter``; None when an entry is not laid out as flux-core writes it, or
        there is none from ``start``: then ``rows()`` gives them."""
        return make_span(self, instance, max(start, 0), offset)

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
        except _Fail as failure:
            raise self.unbuildable(failure) from None
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
        if self.screened and rec.usual:
            i = skip_number_text(self.buf, rec.start + USUAL_TIMESTAMP_AT, self.length)
            set_tuple_item(row, at, trusted_string(c, i + USUAL_NAME_AFTER_TIMESTAMP, &after_name))
            if not rec.has_context:
                set_tuple_item(row, at + 1, EMPTY_CONTEXT_TEXT)
                return 0
            i = after_name + USUAL_CONTEXT_AFTER_NAME
            stop = screen_value_end(self.buf, i, self.length)
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


cdef bint timestamp_value(object value, double *out) except -1:
    """Store a JSON number as a double; False for anything else (or an int too large)."""
    if type(value) is float:
        out[0] = <double>value
        return True
    if type(value) is int:
        try:
            out[0] = float(value)
            return True
        except OverflowError:
            pass
    return False


# A value that breaks the journal's shape (an entry's non-string name, an id that is not
# an integer, ...) is refused only if it is the last of its key: json.loads, and so
# flux-core, keeps the last of duplicate keys. Until then the scan notes where it was.

cdef Py_ssize_t scan_timestamp(Cursor *c, Py_ssize_t i, EntryRecord *rec,
                               Py_ssize_t *bad_at) except -1:
    """Read the timestamp at ``i`` into ``rec`` (no float object on the usual path);
    the offset after it. ``bad_at`` is set to ``i`` when it is not a JSON number, to -1
    when it is."""
    cdef double *stamp = &rec.timestamp
    cdef Decimal d
    cdef bint is_float = False
    cdef Py_ssize_t end = 0
    cdef unsigned char ch = c.buf[i] if i < c.length else 0
    if is_digit(ch) or (ch == MINUS and i + 1 < c.length and is_digit(c.buf[i + 1])):
        end = match_number(c, i, &d, &is_float)
        if is_float:
            if d.digits <= 19 and fj_decimal_to_double(d.mantissa, d.exp10, d.negative, stamp):
                rec.timestamp_form = FLOAT_TIMESTAMP
                bad_at[0] = -1
                return end
        elif d.digits <= 18:
            stamp[0] = <double><long long>d.mantissa
            if d.negative:
                stamp[0] = -stamp[0]
            rec.timestamp_form = OTHER_TIMESTAMP
            bad_at[0] = -1
            return end
        value = number_from_text(c, i, end, is_float, &d)
    else:
        value = parse_value(c, i, &end)
    if timestamp_value(value, stamp):
        rec.timestamp_form = OTHER_TIMESTAMP
        bad_at[0] = -1
    else:
        rec.timestamp_form = NO_TIMESTAMP
        bad_at[0] = i
    return end


cdef Py_ssize_t scan_name(Cursor *c, Py_ssize_t i, EntryRecord *rec,
                          Py_ssize_t *bad_at) except -1:
    """Note in ``rec`` which event the name at ``i`` names; the offset after it.
    ``bad_at`` is set to ``i`` when it is not a string, to -1 when it is."""
    cdef const unsigned char *text
    cdef Py_ssize_t length, end = 0
    if i >= c.length or c.buf[i] != QUOTE:
        rec.name = OTHER_NAME
        bad_at[0] = i
        return skip_value(c, i)
    keep = string_text(c, i, &end, &text, &length)  # holds escaped text while read
    rec.name = name_from_bytes(text, length)
    bad_at[0] = -1
    return end


cdef Py_ssize_t scan_entry(Cursor *c, Py_ssize_t i, Response r, Py_ssize_t index) except -1:
    """Record one entry of ``events`` (its ``{`` at ``i``); returns the offset after it."""
    cdef Py_ssize_t nxt = 0
    cdef EntryRecord *rec
    cdef JournalKey which = OTHER_KEY
    cdef bint has_name = False
    cdef bint timestamp_first = False  # a timestamp key came before any name key
    cdef Py_ssize_t bad_timestamp = -1, bad_name = -1
    if i >= c.length or c.buf[i] != OPEN_BRACE:
        nxt = skip_value(c, i)
        malformed(EVENT_NOT_AN_OBJECT.format(index), i)
    rec = r.append_record()
    rec.start = i
    rec.timestamp_form = NO_TIMESTAMP
    rec.name = OTHER_NAME
    rec.has_context = False
    rec.usual = False
    enter_container(c, i)
    i = skip_ws(c, i + 1)
    if i >= c.length or c.buf[i] != CLOSE_BRACE:
        while True:
            i = expect_colon(c, scan_key(c, i, &which))
            rec = &r.records[r.count - 1]
            if which == TIMESTAMP_KEY:
                timestamp_first |= not has_name
                nxt = scan_timestamp(c, i, rec, &bad_timestamp)
            elif which == NAME_KEY:
                nxt = scan_name(c, i, rec, &bad_name)
                has_name = True
            else:
                nxt = skip_value(c, i)
                rec.has_context |= which == CONTEXT_KEY
            i = next_member(c, nxt, CLOSE_BRACE)
            if i < 0:
                i = skip_ws(c, nxt)
                break
    c.depth -= 1
    rec = &r.records[r.count - 1]
    # the twin's order: the first of the keys (as json.loads's dict has them) whose last
    # value is bad, then a missing name
    if bad_timestamp >= 0 and (timestamp_first or bad_name < 0):
        malformed(TIMESTAMP_NOT_A_NUMBER.format(index), bad_timestamp)
    if bad_name >= 0:
        malformed(NAME_NOT_A_STRING.format(index), bad_name)
    if rec.timestamp_form == NO_TIMESTAMP:
        rec.timestamp = _time.time()
    if not has_name:
        malformed(EVENT_WITHOUT_NAME.format(index), rec.start)
    return i + 1


cdef Py_ssize_t scan_events(Cursor *c, Py_ssize_t i, Response r) except -1:
    """Record every entry of the ``events`` array at ``i``; returns the offset after it."""
    cdef Py_ssize_t nxt = 0
    cdef Py_ssize_t index = 0
    if i >= c.length or c.buf[i] != OPEN_BRACKET:
        nxt = skip_value(c, i)
        malformed(EVENTS_NOT_AN_ARRAY, i)
    r.count = 0
    r.has_events = True
    enter_container(c, i)
    i = skip_ws(c, i + 1)
    if i >= c.length or c.buf[i] != CLOSE_BRACKET:
        while True:
            nxt = scan_entry(c, i, r, index)
            index += 1
            i = next_member(c, nxt, CLOSE_BRACKET)
            if i < 0:
                i = skip_ws(c, nxt)
                break
    c.depth -= 1
    return i + 1


cdef int scan_response(Cursor *c, Response r) except -1:
    """Fill ``r`` from a journal response object; every value is validated."""
    cdef Py_ssize_t nxt = 0
    cdef Py_ssize_t i = skip_ws(c, 0)
    cdef Py_ssize_t depth
    cdef JournalKey which = OTHER_KEY
    cdef tuple events_problem = None, id_problem = None  # of the last events, the last id
    cdef bint events_first = False  # an events key came before any id key
    cdef bint seen_id = False
    if i >= c.length or c.buf[i] != OPEN_BRACE:
        nxt = skip_value(c, i)
        malformed(NOT_AN_OBJECT, i)
    enter_container(c, i)
    i = skip_ws(c, i + 1)
    if i >= c.length or c.buf[i] != CLOSE_BRACE:
        while True:
            i = expect_colon(c, scan_key(c, i, &which))
            if which == EVENTS_KEY:
                events_first |= not seen_id
                depth = c.depth
                try:
                    nxt = scan_events(c, i, r)
                    events_problem = None
                except _Fail as failure:
                    if not failure.args[0].startswith("!"):
                        raise
                    events_problem = failure.args
                    c.depth = depth
                    nxt = skip_value(c, i)
            elif which == ID_KEY:
                seen_id = True
                value = parse_value(c, i, &nxt)
                if type(value) is int:
                    r._id = value
                    id_problem = None
                else:
                    id_problem = ("!" + ID_NOT_AN_INTEGER, i)
            else:
                nxt = skip_value(c, i)
                if which == JOBSPEC_KEY:
                    r.jobspec_start, r.jobspec_stop = i, nxt
                    r._jobspec = None
                elif which == R_KEY:
                    r.R_start, r.R_stop = i, nxt
                    r._R = None
            i = next_member(c, nxt, CLOSE_BRACE)
            if i < 0:
                i = skip_ws(c, nxt)
                break
    c.depth -= 1
    i = skip_ws(c, i + 1)
    if i != c.length:
        fail("Extra data", i)
    for problem in ((events_problem, id_problem) if events_first else (id_problem, events_problem)):
        if problem is not None:
            raise _Fail(*problem)
    if not r.has_events:
        malformed(NO_EVENTS, 0)
    return 0


# ---------------------------------------------------------------------------
# decode_response: the screen first (screen.pxi), the precise scan above when it declines
# ---------------------------------------------------------------------------

#: Entries are kept as 32-bit offsets into their payload (see EntryRecord).
cdef Py_ssize_t C_MAX_RESPONSE_BYTES = MAX_RESPONSE_BYTES


def decode_response(data):
    """Decode one journal response payload into a :class:`Response`.

    Raises :class:`fluxjournal.errors.MalformedResponse` (a ``ValueError``) when the
    payload is not JSON, or not a journal response: no ``events`` array, an entry that is
    not an object or has no string ``name``, a non-numeric ``timestamp``, a non-integer ``id``;
    or when its UTF-8 text is longer than ``protocol.MAX_RESPONSE_BYTES`` (2 GiB).
    """
    return decode_payload(data)


cdef Response decode_payload(object data):
    cdef Response r = Response.__new__(Response)
    cdef Cursor c
    untrack(r)  # until it holds a JobID or a RawJSON (see events.pxi)
    r.doc = _Document.__new__(_Document)
    try:
        r.doc.load(data)
    except JSONDecodeError as exc:
        raise MalformedResponse(INVALID_JSON.format(exc), data) from exc
    if r.doc.length > C_MAX_RESPONSE_BYTES:
        raise MalformedResponse(TOO_LARGE, data)
    r.buf = r.doc.buf
    r.length = r.doc.length
    if screen_response(r.doc.buf, r.doc.length, r):
        r.screened = True
        r.doc.settle()
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
        raise MalformedResponse(INVALID_JSON.format(exc), data) from exc
    finally:
        free(c.scratch)
    r.doc.settle()
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
