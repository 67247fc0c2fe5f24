# ---------------------------------------------------------------------------
# Jobs as job-list reports them
# ---------------------------------------------------------------------------
# The compiled twin of fluxjournal._pycore.JobRecord (whose docstrings give job-list's
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

# flux_job_state_t and flux_job_result_t (fluxjournal.joblist.states): literals, since C
# switches and masks need them at compile time; ENUM_VALUES lets a test hold them to the
# shared values
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
cdef long long C_MAX_CORE_PAIRS = MAX_CORE_PAIRS

cdef tuple STATE_NAME_STRS = tuple(STATE_NAMES[1 << bit] for bit in range(len(STATE_NAMES)))
cdef tuple RESULT_NAME_STRS = tuple(RESULT_NAMES[1 << bit] for bit in range(len(RESULT_NAMES)))
cdef tuple JOBSPEC_UPDATE_ROOTS = _JOBSPEC_UPDATE_ROOTS

#: The enum literals above by their names in fluxjournal.joblist.states, for the test that
#: holds them equal.
ENUM_VALUES = {
    "NEW": ST_NEW, "DEPEND": ST_DEPEND, "PRIORITY": ST_PRIORITY, "SCHED": ST_SCHED,
    "RUN": ST_RUN, "CLEANUP": ST_CLEANUP, "INACTIVE": ST_INACTIVE, "PENDING": ST_PENDING,
    "RUNNING": ST_RUNNING, "COMPLETED": RES_COMPLETED, "FAILED": RES_FAILED,
    "CANCELED": RES_CANCELED, "TIMEOUT": RES_TIMEOUT,
    "CANCELED_RETURNCODE": CANCELED_RETURNCODE, "INT_MIN": C_INT_MIN, "INT_MAX": C_INT_MAX,
}
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
    EV_DEPENDENCY_ADD, EV_DEPENDENCY_REMOVE, EV_FLUX_RESTART, EV_FREE


#: The names job-list acts on, for a name that is not a plain str (a dict lookup then
#: matches as the Python version's does).
cdef dict JOB_EVENT_CODES = {
    "submit": EV_SUBMIT, "validate": EV_VALIDATE, "depend": EV_DEPEND,
    "priority": EV_PRIORITY, "alloc": EV_ALLOC, "finish": EV_FINISH, "clean": EV_CLEAN,
    "urgency": EV_URGENCY, "exception": EV_EXCEPTION, "jobspec-update": EV_JOBSPEC_UPDATE,
    "resource-update": EV_RESOURCE_UPDATE, "dependency-add": EV_DEPENDENCY_ADD,
    "dependency-remove": EV_DEPENDENCY_REMOVE, "flux-restart": EV_FLUX_RESTART,
    "free": EV_FREE,
}


cdef inline bint is_name(const unsigned char *p, const char *word, Py_ssize_t n) noexcept nogil:
    return memcmp(p, word, n) == 0


cdef JobEvent job_event_from_bytes(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """Which event job-list acts on the ASCII name ``p[:n]`` is: by length, then bytes."""
    if n == 4:
        if is_name(p, b"free", 4):
            return EV_FREE
    elif n == 5:
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


cdef inline bint event_reads_time(int event) noexcept nogil:
    """False for the handlers that keep no time (a bad timestamp is not looked at)."""
    return not (event == EV_DEPENDENCY_ADD or event == EV_DEPENDENCY_REMOVE
                or event == EV_RESOURCE_UPDATE)


cdef inline bint event_reads_context(int event) noexcept nogil:
    """False for the handlers that read no context."""
    return not (event == EV_VALIDATE or event == EV_DEPEND or event == EV_ALLOC
                or event == EV_CLEAN or event == EV_FLUX_RESTART or event == EV_FREE)


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


# -- JSON values, checked as the twin (_pycore/jobrecord.py) checks them ----------------------------------

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
@cython.auto_pickle(False)
cdef class JobRecord:
    """One job's job-list state, brought up to date one eventlog entry at a time (the
    compiled twin of :class:`fluxjournal._pycore.JobRecord`; rows' timestamps are numbers,
    as ``Response.rows()`` gives them). Its id and texts are the caller's objects, so the
    cycle collector watches it."""

    cdef readonly object id
    cdef long long userid, urgency, priority
    cdef bint has_userid, has_urgency
    cdef int state, states_mask, states_events_mask
    cdef readonly double t_submit
    cdef double t_depend, t_priority, t_sched, t_run, t_cleanup, t_inactive
    cdef double free_time
    cdef bint freed
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
        self.free_time = 0.0
        self.freed = False
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

    @property
    def t_free(self):
        """Where the allocation ended (the ``free`` entry; None before): not job-list's,
        stored beside its fields."""
        return self.free_time if self.freed else None

    # -- taking events -----------------------------------------------------------------

    def apply(self, rows, jobspec_text, R_text):
        """Take entries (rows of ``Response.rows()``) and the response's jobspec and R."""
        if jobspec_text is not None and self.jobspec_text is None:
            self.jobspec_text = jobspec_text
        if R_text is not None and self.R_text is None:
            self.R_text = R_text
        if type(rows) is EventSpan:
            self.take_span(<EventSpan>rows)
            return
        for row in rows:
            self.take_row(row)

    cdef int take_span(self, EventSpan span) except -1:
        """Act on the rows of a span: the name is read in the payload, and the context
        made a str only for the events whose handler reads it."""
        cdef Py_ssize_t k
        cdef SpanRow *row
        cdef int event
        for k in range(span.count):
            row = &span.rows[k]
            event = job_event_from_bytes(span.response.buf + row.name_at, row.name_length)
            if event != EV_NONE:
                self.take_at(event, row.timestamp,
                             span.text(row.context_at, row.context_length)
                             if event_reads_context(event) else None)
        return 0

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
        cdef double t = 0.0
        if event_reads_time(event):
            t = (PyFloat_AS_DOUBLE(timestamp) if PyFloat_CheckExact(timestamp)
                 else PyFloat_AsDouble(timestamp))
        return self.take_at(event, t, text)

    cdef int take_at(self, int event, double t, object text) except -1:
        """Call the handler of ``event``, at time ``t``."""
        if event == EV_DEPENDENCY_ADD:
            return self.on_dependency_add(text)
        if event == EV_DEPENDENCY_REMOVE:
            return self.on_dependency_remove(text)
        if event == EV_RESOURCE_UPDATE:
            return self.on_resource_update(text)
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
        if event == EV_FREE:
            self.free_time = t
            self.freed = True
            return 0
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

    # -- pickling ------------------------------------------------------------------------

    def __reduce__(self):
        return restore_job_record, (type(self), (
            self.R_text, self.bank, self.cwd, self.dependencies, self.duration,
            self.exception_note, self.exception_occurred, self.exception_severity,
            self.exception_type, self.expiration, self.free_time, self.freed,
            self.has_urgency, self.has_userid, self.id, self.jobspec_text, self.name,
            self.ncores, self.nnodes, self.nodelist, self.ntasks, self.priority,
            self.project, self.queue, self.ranks, self.result, self.state,
            self.states_events_mask, self.states_mask, self.submit_version, self.success,
            self.t_cleanup, self.t_depend, self.t_inactive, self.t_priority, self.t_run,
            self.t_sched, self.t_submit, self.tasks_per_core, self.tasks_per_node,
            self.urgency, self.userid, self.waitstatus,
        ))

    def __setstate__(self, tuple state):
        """The fields of :meth:`__reduce__`'s state, or of 0.1.0's (no free yet)."""
        if len(state) == PICKLED_FIELDS_0_1_0:
            at = PICKLED_BEFORE_FREE_0_1_0
            state = state[:at] + (0.0, False) + state[at:]
        (
            self.R_text, self.bank, self.cwd, self.dependencies, self.duration,
            self.exception_note, self.exception_occurred, self.exception_severity,
            self.exception_type, self.expiration, self.free_time, self.freed,
            self.has_urgency, self.has_userid, self.id, self.jobspec_text, self.name,
            self.ncores, self.nnodes, self.nodelist, self.ntasks, self.priority,
            self.project, self.queue, self.ranks, self.result, self.state,
            self.states_events_mask, self.states_mask, self.submit_version, self.success,
            self.t_cleanup, self.t_depend, self.t_inactive, self.t_priority, self.t_run,
            self.t_sched, self.t_submit, self.tasks_per_core, self.tasks_per_node,
            self.urgency, self.userid, self.waitstatus,
        ) = state

    # -- what flux jobs -a --json says --------------------------------------------------

    def fields(self):
        """The values of :data:`fluxjournal.storage.schema.JOB_FIELDS`, in that order."""
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




# -- pickles ------------------------------------------------------------------------------
# A JobRecord pickles as its fields in the order of their names, as Cython's own pickling
# of 0.1.0 did. 0.1.0's pickles call Cython's loader by its name with a checksum of those
# names; its record had no ``free_time`` and ``freed``, which sort after its first ten
# fields (``R_text`` to ``expiration``): such a state loads as a record that saw no free.

#: The checksums of 0.1.0's fields (Cython's three: SHA-256, SHA-1 and MD5 of the names).
cdef tuple PICKLE_CHECKSUMS_0_1_0 = (0x5289082, 0x4bd6856, 0xef77e79)
#: How many fields a state of 0.1.0 has, and how many of them sort before ``free_time``.
cdef Py_ssize_t PICKLED_FIELDS_0_1_0 = 41
cdef Py_ssize_t PICKLED_BEFORE_FREE_0_1_0 = 10


def restore_job_record(record_type, tuple state):
    """A JobRecord from its pickled state."""
    record = record_type.__new__(record_type)
    record.__setstate__(state)
    return record


def load_pickle_of_0_1_0(record_type, long checksum, state):
    """What 0.1.0's pickles of a JobRecord call: a blank record, whose state comes next
    (or with it)."""
    if checksum not in PICKLE_CHECKSUMS_0_1_0:
        raise pickle.PickleError(f"a JobRecord pickled by another fluxjournal ({checksum:#x})")
    record = record_type.__new__(record_type)
    if state is not None:
        record.__setstate__(state)
    return record


globals()["__pyx_unpickle_JobRecord"] = load_pickle_of_0_1_0
