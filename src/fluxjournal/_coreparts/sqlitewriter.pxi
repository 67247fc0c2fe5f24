# ---------------------------------------------------------------------------
# Writing rows with SQLite's C API, in the library the sqlite3 module loaded
# ---------------------------------------------------------------------------
# Nothing is linked at build time and no second SQLite is ever loaded: the functions are
# looked up (dlsym) in the shared library the ``_sqlite3`` extension depends on, opened
# with RTLD_NOLOAD, so only a library already in the process is used. The connection is
# the ``sqlite3 *`` of the store's own ``sqlite3.Connection`` (the first member after
# PyObject_HEAD of pysqlite_Connection, CPython 3.9 to 3.13), checked before use: its main
# file must be the store's and its autocommit state the Connection's. So the store's
# transaction (BEGIN IMMEDIATE ... COMMIT, run by the sqlite3 module) holds these rows too.
# Where any of that fails, SQLiteWriter.open raises RuntimeError saying why and the store
# writes through ``executemany``. The SQL is the caller's (storage/schema.py).

from cpython.unicode cimport PyUnicode_AsUTF8AndSize

cdef extern from "<dlfcn.h>" nogil:
    void *dlopen(const char *filename, int flags)
    void *dlsym(void *handle, const char *symbol)
    int RTLD_LAZY
    int RTLD_NOLOAD
    ctypedef struct Dl_info:
        const char *dli_fname
    int dladdr(const void *addr, Dl_info *info)

cdef extern from "<string.h>" nogil:
    const void *memchr(const void *s, int c, size_t n)

cdef extern from *:
    """
    struct sqlite3;
    struct sqlite3_stmt;
    typedef struct sqlite3 fj_sqlite3;
    typedef struct sqlite3_stmt fj_stmt;
    """
    ctypedef struct fj_sqlite3
    ctypedef struct fj_stmt

ctypedef int (*sq_prepare_f)(fj_sqlite3 *db, const char *sql, int nbyte, fj_stmt **stmt,
                             const char **tail) noexcept nogil
ctypedef int (*sq_bind_int64_f)(fj_stmt *stmt, int index, long long value) noexcept nogil
ctypedef int (*sq_bind_double_f)(fj_stmt *stmt, int index, double value) noexcept nogil
ctypedef int (*sq_bind_text_f)(fj_stmt *stmt, int index, const char *text, int nbyte,
                               void (*destructor)(void *) noexcept nogil) noexcept nogil
ctypedef int (*sq_bind_null_f)(fj_stmt *stmt, int index) noexcept nogil
ctypedef int (*sq_stmt_f)(fj_stmt *stmt) noexcept nogil
ctypedef const char *(*sq_errmsg_f)(fj_sqlite3 *db) noexcept nogil
ctypedef const char *(*sq_db_filename_f)(fj_sqlite3 *db, const char *name) noexcept nogil
ctypedef int (*sq_db_int_f)(fj_sqlite3 *db) noexcept nogil
ctypedef int (*sq_version_f)() noexcept nogil

cdef struct SQLiteCalls:
    sq_prepare_f prepare_v2
    sq_bind_int64_f bind_int64
    sq_bind_double_f bind_double
    sq_bind_text_f bind_text
    sq_bind_null_f bind_null
    sq_stmt_f step
    sq_stmt_f reset
    sq_stmt_f finalize
    sq_stmt_f bind_parameter_count
    sq_errmsg_f errmsg
    sq_db_filename_f db_filename
    sq_db_int_f get_autocommit
    sq_version_f libversion_number

cdef enum:
    SQ_OK = 0
    SQ_ROW = 100
    SQ_DONE = 101
    # the primary result codes the sqlite3 module maps to its exceptions
    SQ_INTERNAL = 2
    SQ_PERM = 3
    SQ_NOMEM = 7
    SQ_NOTFOUND = 12
    SQ_TOOBIG = 18
    SQ_CONSTRAINT = 19
    SQ_MISMATCH = 20
    SQ_MISUSE = 21
    SQ_RANGE = 25

#: The functions used, by name, in the order of SQLiteCalls.
SQLITE_FUNCTIONS = (
    "sqlite3_prepare_v2", "sqlite3_bind_int64", "sqlite3_bind_double", "sqlite3_bind_text",
    "sqlite3_bind_null", "sqlite3_step", "sqlite3_reset", "sqlite3_finalize",
    "sqlite3_bind_parameter_count", "sqlite3_errmsg", "sqlite3_db_filename",
    "sqlite3_get_autocommit", "sqlite3_libversion_number",
)

#: The CPython releases whose ``pysqlite_Connection`` is known to start with ``sqlite3 *db``
#: (tests/test_sqlite_writer.py checks it on the running one).
CONNECTION_LAYOUT_CHECKED = ((3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
#: Set to 1 to write through the sqlite3 module's executemany even where C could.
SQLITE_EXECUTEMANY_ENV = "FLUXJOURNAL_SQLITE_EXECUTEMANY"

cdef SQLiteCalls sq
cdef object sqlite_problem = None    # why the C writer cannot be used; "" once resolved
cdef object sqlite_library = None    # the file the functions were found in


cdef object resolve_sqlite_calls():
    """Fill ``sq`` from the library the sqlite3 module loaded; None, else why not."""
    global sqlite_problem, sqlite_library
    cdef void *handle
    cdef void *found[13]
    cdef Dl_info info
    cdef Py_ssize_t k
    if sqlite_problem is not None:
        return sqlite_problem or None
    try:
        import _sqlite3
        import sqlite3
    except ImportError as exc:
        sqlite_problem = f"the sqlite3 module does not import ({exc})"
        return sqlite_problem
    path = getattr(_sqlite3, "__file__", None)
    if not path:
        sqlite_problem = "the sqlite3 module is built into the interpreter (no library to use)"
        return sqlite_problem
    encoded = _os.fsencode(path)
    handle = dlopen(<bytes>encoded, RTLD_LAZY | RTLD_NOLOAD)
    if handle == NULL:
        sqlite_problem = f"{path} cannot be reopened (dlopen)"
        return sqlite_problem
    for k, name in enumerate(SQLITE_FUNCTIONS):
        symbol = name.encode()
        found[k] = dlsym(handle, <bytes>symbol)
        if found[k] == NULL:
            sqlite_problem = f"{name} is not exported by {path} or the SQLite it links"
            return sqlite_problem
    sq.prepare_v2 = <sq_prepare_f>found[0]
    sq.bind_int64 = <sq_bind_int64_f>found[1]
    sq.bind_double = <sq_bind_double_f>found[2]
    sq.bind_text = <sq_bind_text_f>found[3]
    sq.bind_null = <sq_bind_null_f>found[4]
    sq.step = <sq_stmt_f>found[5]
    sq.reset = <sq_stmt_f>found[6]
    sq.finalize = <sq_stmt_f>found[7]
    sq.bind_parameter_count = <sq_stmt_f>found[8]
    sq.errmsg = <sq_errmsg_f>found[9]
    sq.db_filename = <sq_db_filename_f>found[10]
    sq.get_autocommit = <sq_db_int_f>found[11]
    sq.libversion_number = <sq_version_f>found[12]
    major, minor, patch = sqlite3.sqlite_version_info
    if sq.libversion_number() != major * 1000000 + minor * 1000 + patch:
        sqlite_problem = (f"the SQLite found beside {path} is not the one the sqlite3 module "
                          f"reports ({sqlite3.sqlite_version})")
        return sqlite_problem
    if dladdr(found[5], &info) != 0 and info.dli_fname != NULL:
        sqlite_library = _os.fsdecode(<bytes>info.dli_fname)
    else:
        sqlite_library = path
    sqlite_problem = ""
    return None


def sqlite_writer_library():
    """The file the C writer's SQLite functions come from; None when they cannot be used."""
    resolve_sqlite_calls()
    return sqlite_library if sqlite_problem == "" else None


cdef object sqlite_error(fj_sqlite3 *db, int rc):
    """The sqlite3 module's exception for result code ``rc``, with SQLite's message."""
    import sqlite3
    cdef const char *text = sq.errmsg(db)
    message = text.decode("utf-8", "replace") if text != NULL else f"SQLite error {rc}"
    primary = rc & 0xFF
    if primary == SQ_NOMEM:
        return MemoryError()
    if primary in (SQ_INTERNAL, SQ_NOTFOUND):
        kind = sqlite3.InternalError
    elif primary in (SQ_CONSTRAINT, SQ_MISMATCH):
        kind = sqlite3.IntegrityError
    elif primary == SQ_TOOBIG:
        kind = sqlite3.DataError
    elif primary in (SQ_MISUSE, SQ_RANGE):
        kind = sqlite3.InterfaceError
    elif primary in (1, SQ_PERM, 4, 5, 6, 8, 9, 10, 13, 14, 15, 16, 17):
        # ERROR, PERM, ABORT, BUSY, LOCKED, READONLY, INTERRUPT, IOERR, FULL, CANTOPEN,
        # PROTOCOL, EMPTY, SCHEMA
        kind = sqlite3.OperationalError
    else:
        kind = sqlite3.DatabaseError
    return kind(message)


# -- values bound from Python objects (job rows, rows a response could not give as a span)

cdef enum ValueKind:
    V_NULL, V_INT, V_DOUBLE, V_TEXT

cdef struct Value:
    int kind
    long long i
    double d
    const char *text
    Py_ssize_t length


cdef int value_of(object o, Value *v) except -1:
    """``o`` as a value to bind, as the sqlite3 module binds it; a str's UTF-8 is its own
    cached copy (alive while ``o`` is)."""
    cdef int overflow = 0
    if o is None:
        v.kind = V_NULL
    elif PyUnicode_CheckExact(o) or isinstance(o, str):
        v.text = PyUnicode_AsUTF8AndSize(o, &v.length)
        if v.length > INT_MAX:
            raise OverflowError("string longer than INT_MAX bytes")
        v.kind = V_TEXT
    elif isinstance(o, float):
        v.d = PyFloat_AsDouble(o)
        v.kind = V_DOUBLE
    elif isinstance(o, int):
        v.i = PyLong_AsLongLongAndOverflow(o, &overflow)
        if overflow:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        v.kind = V_INT
    else:
        raise TypeError(f"a row holds a value of type {type(o).__name__}, which is not stored")
    return 0


cdef inline int bind_value(fj_stmt *stmt, int index, const Value *v) noexcept nogil:
    if v.kind == V_INT:
        return sq.bind_int64(stmt, index, v.i)
    if v.kind == V_DOUBLE:
        return sq.bind_double(stmt, index, v.d)
    if v.kind == V_TEXT:
        return sq.bind_text(stmt, index, v.text, <int>v.length, NULL)
    return sq.bind_null(stmt, index)


cdef int bind_values(fj_stmt *stmt, tuple values, int *index) except -1:
    """Bind ``values`` from parameter ``index[0]`` on, which is left past them: SQLITE_OK,
    else the first error code (the values after it are still checked)."""
    cdef Value v
    cdef Py_ssize_t k
    cdef int rc = SQ_OK
    for k in range(PyTuple_GET_SIZE(values)):
        value_of(<object>PyTuple_GET_ITEM(values, k), &v)
        if rc == SQ_OK:
            rc = bind_value(stmt, index[0], &v)
        index[0] += 1
    return rc


cdef inline int step_once(fj_stmt *stmt) noexcept nogil:
    """Run a bound INSERT: SQLITE_DONE, else the error code (the statement is reset)."""
    cdef int rc = sq.step(stmt)
    if rc == SQ_DONE or rc == SQ_ROW:
        rc = sq.reset(stmt)
        return SQ_DONE if rc == SQ_OK else rc
    sq.reset(stmt)
    return rc


# -- event rows straight from a response ----------------------------------------------

cdef struct SpanRow:
    double timestamp
    int name_at
    int name_length
    int context_at
    int context_length         # -1: the entry has no context, "{}" is stored


@cython.final
@cython.auto_pickle(False)
cdef class EventSpan:
    """Entries of one response as event rows, kept as offsets into its payload: what
    ``Response.rows()`` would give, without a Python object per row. Made by
    ``Response.span()`` for entries laid out as flux-core writes them."""

    cdef Response response
    cdef long long instance, jobid
    cdef Py_ssize_t first_position
    cdef SpanRow *rows
    cdef Py_ssize_t count
    cdef readonly object jobid_object

    def __init__(self):
        raise TypeError("EventSpan objects are made by Response.span()")

    def __dealloc__(self):
        free(self.rows)

    def __len__(self):
        return self.count

    @property
    def jobid(self):
        """The job id of every row."""
        return self.jobid_object

    @property
    def last_timestamp(self):
        """The timestamp of the last row."""
        return self.rows[self.count - 1].timestamp

    def holds_name(self, str name not None):
        """True when a row's event name is ``name``."""
        cdef const char *text
        cdef Py_ssize_t length, k
        text = PyUnicode_AsUTF8AndSize(name, &length)
        for k in range(self.count):
            if (self.rows[k].name_length == length
                    and memcmp(self.response.buf + self.rows[k].name_at, text, length) == 0):
                return True
        return False

    def as_rows(self):
        """The rows as ``Response.rows()`` gives them (tuples): for the rare reader that
        needs them as objects."""
        cdef list out = []
        cdef Py_ssize_t k
        cdef SpanRow *row
        for k in range(self.count):
            row = &self.rows[k]
            out.append((self.instance, self.jobid_object, self.first_position + k, row.timestamp,
                        self.text(row.name_at, row.name_length),
                        self.text(row.context_at, row.context_length)))
        return out

    cdef object text(self, int at, int length):
        if length < 0:
            return EMPTY_CONTEXT_TEXT
        return self.response.slice_text(at, at + length)

    cdef int write(self, fj_stmt *stmt) noexcept nogil:
        """Insert every row: SQLITE_DONE, else the first error's code."""
        cdef const char *buf = <const char *>self.response.buf
        cdef Py_ssize_t k
        cdef SpanRow *row
        cdef int rc
        for k in range(self.count):
            row = &self.rows[k]
            rc = sq.bind_int64(stmt, 1, self.instance)
            if rc == SQ_OK:
                rc = sq.bind_int64(stmt, 2, self.jobid)
            if rc == SQ_OK:
                rc = sq.bind_int64(stmt, 3, self.first_position + k)
            if rc == SQ_OK:
                rc = sq.bind_double(stmt, 4, row.timestamp)
            if rc == SQ_OK:
                rc = sq.bind_text(stmt, 5, buf + row.name_at, row.name_length, NULL)
            if rc == SQ_OK:
                if row.context_length < 0:
                    rc = sq.bind_text(stmt, 6, "{}", 2, NULL)
                else:
                    rc = sq.bind_text(stmt, 6, buf + row.context_at, row.context_length, NULL)
            if rc != SQ_OK:
                sq.reset(stmt)
                return rc
            rc = step_once(stmt)
            if rc != SQ_DONE:
                return rc
        return SQ_DONE


cdef EventSpan make_span(Response r, object instance, Py_ssize_t start, Py_ssize_t offset):
    """The entries of ``r`` from ``start`` as a span, or None unless every one is laid out
    as flux-core writes it, with a plain ASCII name and a context whose text needs no
    check (no encoded surrogate, which the sqlite3 module would refuse to bind)."""
    cdef EventSpan span
    cdef EntryRecord *rec
    cdef SpanRow *row
    cdef Py_ssize_t k, i, name_end, context_end
    cdef const unsigned char *b = r.buf
    cdef Py_ssize_t n = r.length
    if not r.screened or r._id is None or start >= r.count:
        return None
    for k in range(start, r.count):
        if not r.records[k].usual:
            return None
    span = EventSpan.__new__(EventSpan)
    span.response = r
    span.instance = instance
    span.jobid_object = r._id
    span.jobid = r._id
    span.first_position = start + offset
    span.rows = <SpanRow *>malloc((r.count - start) * sizeof(SpanRow))
    if span.rows == NULL:
        raise MemoryError()
    for k in range(start, r.count):
        rec = &r.records[k]
        row = &span.rows[k - start]
        row.timestamp = rec.timestamp
        i = skip_number_text(b, rec.start + USUAL_TIMESTAMP_AT, n) + USUAL_NAME_AFTER_TIMESTAMP
        name_end = skip_plain_ascii(b, i, n)
        if name_end >= n or b[name_end] != QUOTE:
            return None  # escapes or other bytes: Response.rows() reads it
        row.name_at = <int>i
        row.name_length = <int>(name_end - i)
        row.context_length = -1
        row.context_at = 0
        if rec.has_context:
            i = name_end + 1 + USUAL_CONTEXT_AFTER_NAME
            context_end = screen_value_end(b, i, n)
            if context_end < 0 or memchr(b + i, 0xED, context_end - i) != NULL:
                return None
            row.context_at = <int>i
            row.context_length = <int>(context_end - i)
        span.count += 1
    return span


# -- the writer -----------------------------------------------------------------------

cdef enum:
    EVENT_PARAMETERS = 6


@cython.final
@cython.auto_pickle(False)
cdef class SQLiteWriter:
    """Inserts event rows and upserts job rows through SQLite's C API, on the connection
    of a ``sqlite3.Connection``, inside the transaction its owner began; statements
    prepared once. :meth:`close` before the connection closes."""

    cdef object connection
    cdef fj_sqlite3 *db
    cdef fj_stmt *insert_events
    cdef fj_stmt *upsert_jobs
    cdef int job_parameters

    def __init__(self):
        raise TypeError("use SQLiteWriter.open()")

    def __dealloc__(self):
        self.finalize()

    cdef void finalize(self) noexcept:
        if self.insert_events != NULL:
            sq.finalize(self.insert_events)
            self.insert_events = NULL
        if self.upsert_jobs != NULL:
            sq.finalize(self.upsert_jobs)
            self.upsert_jobs = NULL
        self.db = NULL

    @staticmethod
    def open(connection, path, str insert_events not None, str upsert_jobs not None):
        """A writer on ``connection`` (a ``sqlite3.Connection`` of the file ``path``, in
        autocommit mode, not in a transaction). Raises RuntimeError saying why when the
        C API cannot be used on it."""
        cdef SQLiteWriter writer
        cdef fj_sqlite3 *db
        cdef const char *name
        import sqlite3
        if _os.environ.get(SQLITE_EXECUTEMANY_ENV, "") not in ("", "0"):
            raise RuntimeError(f"{SQLITE_EXECUTEMANY_ENV} is set")
        problem = resolve_sqlite_calls()
        if problem is not None:
            raise RuntimeError(problem)
        if _sys.version_info[:2] not in CONNECTION_LAYOUT_CHECKED:
            raise RuntimeError(f"the layout of sqlite3.Connection is not known on Python "
                               f"{_sys.version_info[0]}.{_sys.version_info[1]}")
        if type(connection) is not sqlite3.Connection:
            raise RuntimeError(f"not a sqlite3.Connection: {type(connection).__name__}")
        if connection.in_transaction:
            raise RuntimeError("the connection is in a transaction")
        connection.total_changes  # raises ProgrammingError on a closed connection
        db = (<fj_sqlite3 **>(<char *><PyObject *>connection + sizeof(PyObject)))[0]
        if db == NULL:
            raise RuntimeError("the connection has no sqlite3 handle")
        name = sq.db_filename(db, "main")
        if name == NULL or name[0] == 0:
            raise RuntimeError("the connection's database is not a file")
        if _os.path.realpath(_os.fsdecode(<bytes>name)) != _os.path.realpath(path):
            raise RuntimeError("the connection's sqlite3 handle is not where it was looked for")
        if sq.get_autocommit(db) == 0:
            raise RuntimeError("the connection's sqlite3 handle is in a transaction")
        writer = SQLiteWriter.__new__(SQLiteWriter)
        writer.connection = connection
        writer.db = db
        writer.insert_events = writer.prepare(insert_events)
        writer.upsert_jobs = writer.prepare(upsert_jobs)
        if sq.bind_parameter_count(writer.insert_events) != EVENT_PARAMETERS:
            writer.finalize()
            raise RuntimeError("the events INSERT does not take the six values of a row")
        writer.job_parameters = sq.bind_parameter_count(writer.upsert_jobs)
        return writer

    cdef fj_stmt *prepare(self, str sql) except NULL:
        cdef fj_stmt *stmt = NULL
        cdef bytes text = sql.encode("utf-8")
        cdef int rc = sq.prepare_v2(self.db, text, <int>len(text) + 1, &stmt, NULL)
        if rc != SQ_OK or stmt == NULL:
            error = sqlite_error(self.db, rc)
            self.finalize()
            raise error
        return stmt

    def close(self):
        """Finalize the statements; the connection stays its owner's."""
        self.finalize()
        self.connection = None

    cdef int ready(self) except -1:
        """Refuse to write outside the owner's transaction, or on a closed writer."""
        if self.db == NULL:
            raise RuntimeError("the SQLite writer is closed")
        if sq.get_autocommit(self.db) != 0:
            raise RuntimeError("the SQLite writer writes inside a transaction only")
        return 0

    def write(self, instance, chunks, jobs):
        """Insert the event rows of ``chunks`` (each an EventSpan, or a list of rows as
        ``Response.rows()`` gives them) and upsert a job row per item of ``jobs``:
        (jobid, nevents, record, uri), the row being ``instance, jobid, nevents,
        *record.fields(), uri, record.t_free``. In the transaction the caller began; on an
        error it raises the sqlite3 module's exception, and the caller rolls back."""
        self.ready()
        for chunk in chunks:
            if type(chunk) is EventSpan:
                self.write_span(<EventSpan>chunk)
            else:
                for row in chunk:
                    self.write_tuple(self.insert_events, row, None)
        for jobid, nevents, record, uri in jobs:
            self.write_tuple(self.upsert_jobs, (instance, jobid, nevents), record.fields(),
                             (uri, record.t_free))
        return None

    cdef int write_span(self, EventSpan span) except -1:
        cdef int rc
        with nogil:
            rc = span.write(self.insert_events)
        if rc != SQ_DONE:
            raise sqlite_error(self.db, rc)
        return 0

    cdef int write_tuple(self, fj_stmt *stmt, tuple head, tuple middle,
                         tuple tail=None) except -1:
        """Bind ``head + middle + tail`` (a job row when ``middle`` is given: the fields
        between its key and what is stored after them) and step."""
        cdef int index = 1
        cdef int rc = SQ_OK
        cdef int wanted = EVENT_PARAMETERS if middle is None else self.job_parameters
        cdef Py_ssize_t width = len(head)
        if middle is not None:
            if tail is None:
                raise ValueError("a job row needs what is stored after its fields")
            width += len(middle) + len(tail)
        if width != wanted:
            raise ValueError(f"a row of {width} values for a statement of {wanted}")
        rc = bind_values(stmt, head, &index)
        if middle is not None:
            if rc == SQ_OK:
                rc = bind_values(stmt, middle, &index)
            if rc == SQ_OK:
                rc = bind_values(stmt, tail, &index)
        if rc != SQ_OK:
            sq.reset(stmt)
            raise sqlite_error(self.db, rc)
        rc = step_once(stmt)
        if rc != SQ_DONE:
            raise sqlite_error(self.db, rc)
        return 0

    def insert_prebuilt(self, PrebuiltRows rows not None):
        """Insert rows made beforehand (:class:`PrebuiltRows`): what SQLite itself costs,
        for ``fluxjournal bench --ingest``. In the caller's transaction."""
        cdef fj_stmt *stmt
        cdef int rc = SQ_DONE
        cdef Py_ssize_t r, k
        self.ready()
        stmt = self.upsert_jobs if rows.jobs else self.insert_events
        if rows.width != (self.job_parameters if rows.jobs else EVENT_PARAMETERS):
            raise ValueError("the rows do not have the statement's number of values")
        with nogil:
            for r in range(rows.count):
                for k in range(rows.width):
                    rc = bind_value(stmt, <int>k + 1, &rows.values[r * rows.width + k])
                    if rc != SQ_OK:
                        sq.reset(stmt)
                        break
                if rc != SQ_OK:
                    break
                rc = step_once(stmt)
                if rc != SQ_DONE:
                    break
        if rc != SQ_DONE and rc != SQ_OK:
            raise sqlite_error(self.db, rc)
        return rows.count


@cython.final
@cython.auto_pickle(False)
cdef class PrebuiltRows:
    """Rows of values held in C, made from tuples beforehand, for
    :meth:`SQLiteWriter.insert_prebuilt`; ``jobs``: job rows (the upsert), else event rows."""

    cdef Value *values
    cdef Py_ssize_t count, width
    cdef bint jobs
    cdef list keep                 # the tuples, whose strs hold the text bound

    def __cinit__(self, rows, bint jobs=False):
        cdef Py_ssize_t r, k
        cdef tuple row
        self.keep = [tuple(row) for row in rows]
        self.jobs = jobs
        self.count = len(self.keep)
        self.width = len(self.keep[0]) if self.keep else 0
        self.values = <Value *>malloc(max(self.count * self.width, 1) * sizeof(Value))
        if self.values == NULL:
            raise MemoryError()
        for r in range(self.count):
            row = self.keep[r]
            if len(row) != self.width:
                raise ValueError("rows of different widths")
            for k in range(self.width):
                value_of(<object>PyTuple_GET_ITEM(row, k), &self.values[r * self.width + k])

    def __dealloc__(self):
        free(self.values)

    def __len__(self):
        return self.count
