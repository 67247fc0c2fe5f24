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

    The cycle collector does not walk it (see ``__cinit__``): a consumer's History is its
    own, and drops each Response as soon as that Response's events are delivered.
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
    cdef bint initialised             # __init__ has run: it may not run again
    cdef bint merging                 # finish() runs without the GIL: nothing may change

    def __cinit__(self, *args, **kwargs):
        # Every index a record holds is into this list: it is made here, once, so that no
        # call from Python can replace it under the records.
        self.responses = []
        # It only ever holds Responses and None, and nothing else reaches it: with millions
        # of them, every full collection would walk it. A Response it holds stays alive
        # for the collector, so a cycle the user makes through one (once its events are
        # out) is collected when the History lets go of it.
        PyObject_GC_UnTrack(<PyObject *>self.responses)

    def __init__(self, since=0.0, resource=False):
        if self.initialised:
            raise RuntimeError("History is already initialised")
        self.since = since
        self.resource = resource
        self.initialised = True

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

    cdef int check_idle(self, str what) except -1:
        """Refuse ``what`` while another thread merges: the merge reads the records
        without the GIL, so nothing may grow, move or read them meanwhile."""
        if self.merging:
            raise RuntimeError(f"History.{what}() while it is being merged")
        return 0

    cdef Py_ssize_t add_response(self, Response response) except -1:
        cdef Py_ssize_t k, kept = 0
        cdef Py_ssize_t index
        cdef double previous = -INFINITY
        cdef double stamp
        self.check_idle("add")
        index = len(self.responses)
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
        """Merge the runs into ``order``, the GIL released: ``merging`` holds off every
        other call that would change or read the records until it is done."""
        cdef RunHead *waiting
        cdef RunHead *heap
        cdef int *order
        self.check_idle("finish")
        if self.finished:
            return 0
        waiting = <RunHead *>malloc(max(self.nruns, 1) * sizeof(RunHead))
        heap = <RunHead *>malloc(max(self.nruns, 1) * sizeof(RunHead))
        order = <int *>malloc(max(self.count, 1) * sizeof(int))
        if waiting == NULL or heap == NULL or order == NULL:
            free(waiting)
            free(heap)
            free(order)
            raise MemoryError()
        self.merging = True
        with nogil:
            merge_runs(self.records, self.run_starts, self.nruns, self.count, waiting, heap,
                       order)
        self.merging = False
        free(waiting)
        free(heap)
        free(self.run_starts)
        self.run_starts = NULL
        self.order = order
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
        """The event of ``rec``, built from its Response's payload. A value the scan
        accepted that can no longer be built raises MalformedResponse."""
        cdef Response response = <Response>self.responses[rec.response]
        cdef EntryRecord entry
        cdef Cursor c
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
                return response.resource_event(&c, &entry)
            return response.job_event(&c, &entry, response.shared_jobid())
        except _Fail as failure:
            raise response.unbuildable(failure) from None
        finally:
            free(c.scratch)

    cdef object deliver_next(self, bint skip_malformed):
        """Build the next event in order and count it delivered, letting go of its
        Response once all of that Response's events are out.

        An event that raises is left to deliver, but for a MalformedResponse when
        ``skip_malformed``: that one is counted delivered too, so that the history moves
        past it (the error is raised once).
        """
        cdef HistoryRecord *rec = self.delivery(self.delivered)
        cdef Py_ssize_t index = rec.response
        self.prefetch(self.delivered + PREFETCH_DISTANCE)
        try:
            event = self.build(rec)
        except MalformedResponse:
            if skip_malformed:
                self.spend(index)
            raise
        self.spend(index)
        return event

    cdef int spend(self, Py_ssize_t index) except -1:
        """One more event of response ``index`` is delivered."""
        self.delivered += 1
        self.pending[index] -= 1
        if self.pending[index] == 0:
            self.responses[index] = None
        return 0

    def next(self):
        """Build and return the next event in timestamp order, or None when none is left."""
        return self.next_event()

    cdef object next_event(self):
        self.check_idle("next")
        if not self.finished:
            raise RuntimeError("History.next() before finish()")
        if self.delivered == self.count:
            return None
        return self.deliver_next(True)

    def take(self, Py_ssize_t limit=-1):
        """Build and return up to ``limit`` events (all when -1), in timestamp order.

        When building one raises, the events built before it are returned and the error
        is raised by the next call instead: none is lost.
        """
        cdef list out = []
        cdef Py_ssize_t stop
        self.check_idle("take")
        if not self.finished:
            raise RuntimeError("History.take() before finish()")
        stop = self.count if limit < 0 else min(self.count, self.delivered + limit)
        while self.delivered < stop:
            try:
                event = self.deliver_next(len(out) == 0)
            except BaseException:
                if out:
                    break  # the next call builds it again, first, and raises then
                raise
            out.append(event)
        return out
