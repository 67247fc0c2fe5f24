# ---------------------------------------------------------------------------
# The consumer: the compiled core's whole state machine
# ---------------------------------------------------------------------------
# States, as docs/CONTRACT.md names them: waiting for the history (processing_inactive,
# responses kept in ``history``), delivering the history (``history`` merged, not yet
# spent), the sentinel (``sentinel_pending``), live (events queued in ``backlog``) and
# ended (``ended``). A bad response raises once and changes no state. The twin in
# _pycore/consumer.py is the same machine in Python; neither shares code with the other.
#
# One thread at a time: every call that moves the machine (start, poll, poll_batch, the
# iterator, set_callback, the response callback) first claims the consumer for its
# thread, and a call from another thread while the claim is held raises RuntimeError.
# The claim is needed because the GIL is let go inside those calls (in the wait, and at
# any call into Python: the handle's future, a hook, the user's callback, a finaliser
# run by an allocation), and a second thread there would take or reset the same
# response, read a History another thread is merging, or wait for ever on a stream the
# other one ended. The same thread may come back in (a callback that polls). stop()
# only sends the cancel, so it works from any thread: that is how a blocked poll() is
# ended from outside.

cdef object NO_EVENT = object()
cdef Py_ssize_t C_DRAIN_LIMIT = DRAIN_LIMIT


cdef void raise_from_reactor(object handle, object exc) except *:
    """Make ``reactor_run()`` raise ``exc`` without disarming the stream's callback."""
    set_exception = getattr(type(handle), "set_exception", None)
    stop_error = getattr(handle, "reactor_stop_error", None)
    if set_exception is None or stop_error is None:
        raise exc
    set_exception(exc)
    stop_error()


cdef class ConsumerCore:
    """The delivery state of a journal consumer, and every transition of it, in C.

    ``JournalConsumerBase`` below adds flux-core's constructor and hooks. Responses are
    read through libflux-core's own functions when the stream's future is flux-python's
    (``receives_natively``), through the future's Python methods otherwise.
    """

    cdef public object handle
    cdef public object rpc
    cdef public object backlog
    cdef public object processing_inactive
    cdef public object since
    cdef public object include_sentinel
    cdef public object cb
    cdef public object cb_args
    cdef public object cb_kwargs
    cdef object reader              # the PayloadReader, when not receiving natively
    cdef fj_future_t *future        # the stream's future, when receiving natively
    cdef object future_owner        # the flux-python future that owns ``future``: held here,
                                    # so that no assignment to ``rpc`` can free it under us
    cdef ThenToken token            # the armed C then-callback, if any
    cdef History history            # the history, until it is spent (stock path only)
    cdef bint stock                 # decoded by this module, not through the hooks
    cdef bint resource              # stock events are ResourceJournalEvent objects
    cdef bint sentinel_by_id        # the sentinel is the response with id -1
    cdef bint sentinel_pending
    cdef bint ended
    cdef bint seen_idle             # the last drain left the reader with nothing ready
    cdef unsigned long owner        # the thread inside a call, while ``claims`` > 0
    cdef Py_ssize_t claims          # how deep that thread is in (a callback may poll)

    @property
    def receives_natively(self):
        """True when responses are taken through libflux-core's functions, from C."""
        return self.future != NULL

    # -- one thread at a time -------------------------------------------------------------

    cdef int claim(self) except -1:
        """Claim the consumer for this thread; RuntimeError while another thread holds it.

        Nothing between the test and the set gives the GIL away, so two threads cannot
        both pass it. Every claim is undone by :meth:`unclaim`, in a ``finally``.
        """
        cdef unsigned long me = PyThread_get_thread_ident()
        if self.claims and self.owner != me:
            raise RuntimeError(IN_USE_MESSAGE.format(type(self).__name__))
        self.owner = me
        self.claims += 1
        return 0

    cdef inline void unclaim(self) noexcept:
        self.claims -= 1

    # -- starting and stopping ----------------------------------------------------------

    def start(self):
        """Send the request (again, with the same options, if called twice) and return self."""
        self.claim()
        try:
            return self.start_stream()
        finally:
            self.unclaim()

    cdef object start_stream(self):
        rpc = self.handle.rpc(self.topic, self.request_payload, 0, FLUX_RPC_STREAMING)
        self.leave_stream()
        self.rpc = rpc
        self.future = <fj_future_t *>native_future(rpc)
        self.future_owner = rpc if self.future != NULL else None
        self.reader = None if self.future != NULL else reader_for(rpc)
        kind = stock_kind(type(self))
        self.stock = kind is not None
        self.resource = kind == RESOURCE_KIND
        if self.stock and self.processing_inactive and self.history is None:
            self.history = History(self.since, self.resource)
        self.sentinel_by_id = bool(self._sentinel_is_id())
        self.ended = False
        self.seen_idle = False
        self.set_then_cb()
        return self

    cdef int forget_streams(self) except -1:
        """Back to what a new consumer holds: ``__init__`` run again starts afresh, as it
        does in flux-core and in the twin, instead of keeping a spent history."""
        self.leave_stream()
        self.reader = None
        self.future = NULL
        self.future_owner = None
        self.history = None
        self.stock = self.resource = self.sentinel_by_id = False
        self.sentinel_pending = self.ended = self.seen_idle = False
        return 0

    cdef void leave_stream(self) noexcept:
        """Let go of the current stream's callback (its late responses are dropped)."""
        if self.token is not None:
            self.token.consumer = None
            self.token = None

    def stop(self):
        """Cancel the request; the events already sent are still delivered, then the end."""
        self.handle.rpc(
            self.cancel_topic,
            {"matchtag": self.rpc.pimpl.get_matchtag()},
            0,
            FLUX_RPC_NORESPONSE,
        )

    def __enter__(self):
        return self.start() if self.rpc is None else self

    def __exit__(self, *exc_info):
        if self.rpc is not None and not self.ended:
            self.stop()

    # -- delivery -----------------------------------------------------------------------

    def poll(self, timeout=-1.0):
        """Return the next event, waiting up to ``timeout`` seconds (-1: for ever).

        Raises TimeoutError when nothing arrives in time (a later call carries on), and
        returns None once the stream has ended. A response that cannot be decoded raises
        :class:`~fluxjournal.MalformedResponse`; the next call carries on after it.
        """
        return self.deliver(timeout)

    cdef object deliver(self, object timeout):
        if self.rpc is None:
            raise RuntimeError("poll() called before start()")
        self.claim()
        try:
            return self.deliver_claimed(timeout)
        finally:
            self.unclaim()

    cdef object deliver_claimed(self, object timeout):
        cdef object event
        while True:
            if not self.processing_inactive:
                event = self.next_event()
                if event is not NO_EVENT:
                    return event
                if self.ended:
                    return None
            self.receive(timeout)

    def poll_batch(self, Py_ssize_t limit=64, timeout=-1.0):
        """Return up to ``limit`` events at once: waits like :meth:`poll` for the first,
        then takes whatever else is ready. An empty list means the stream has ended.

        Small batches are the quick ones: events that wait in a long list fall out of the
        CPU caches and are walked by the cycle collector.
        """
        cdef list out = []
        if self.rpc is None:
            raise RuntimeError("poll_batch() called before start()")
        self.claim()
        try:
            while True:
                if not self.processing_inactive:
                    self.next_events(out, limit)
                    if out or self.ended:
                        return out
                self.receive(timeout)
        finally:
            self.unclaim()

    def __iter__(self):
        """Every event until the end of the stream (start() is called if needed).

        Events are taken one at a time, so breaking out of the loop and calling poll()
        later loses nothing.
        """
        if self.rpc is None:
            self.start()
        cdef EventIterator iterator = EventIterator.__new__(EventIterator)
        iterator.consumer = self
        iterator.direct = type(self).poll is ConsumerCore.poll
        return iterator

    cdef object next_event(self):
        """The next deliverable event: history, then the sentinel, then live; or NO_EVENT."""
        cdef object event
        if self.history is not None:
            event = self.history.next_event()
            if event is not None:
                return event
            self.history = None
        if self.sentinel_pending:
            self.sentinel_pending = False
            return self.SENTINEL_EVENT
        if self.backlog:
            return self.backlog.popleft()
        return NO_EVENT

    cdef int next_events(self, list out, Py_ssize_t limit) except -1:
        if self.history is not None:
            out.extend(self.history.take(limit - len(out)))
            if len(self.history):
                return 0
            self.history = None
        if self.sentinel_pending and len(out) < limit:
            self.sentinel_pending = False
            out.append(self.SENTINEL_EVENT)
        backlog = self.backlog
        while backlog and len(out) < limit:
            out.append(backlog.popleft())
        return 0

    # -- callbacks ----------------------------------------------------------------------

    def set_callback(self, event_cb, *args, **kwargs):
        """Call ``event_cb(event, *args, **kwargs)`` from the Flux reactor for every event.

        It may be set before or after :meth:`start`; setting it again replaces it. At the
        end of the stream the reactor runs out of work and ``reactor_run()`` returns.
        """
        self.claim()
        try:
            self.cb = event_cb
            self.cb_args = args
            self.cb_kwargs = kwargs
            self.set_then_cb()
        finally:
            self.unclaim()
        return self

    cdef int set_then_cb(self) except -1:
        cdef ThenToken token
        if self.rpc is None or self.cb is None:
            return 0
        if self.future == NULL:
            try:
                self.rpc.then(self._on_response)
            except OSError:
                pass  # the then callback is already set
            return 0
        if self.token is not None:
            return 0
        token = ThenToken.__new__(ThenToken)
        token.consumer = self
        token.future = self.future
        token.owner = self.future_owner
        if flux_calls.then(self.future, -1.0, native_continuation, <void *>token) < 0:
            return 0  # as flux-core: a future that refuses a callback is left without one
        Py_INCREF(token)  # the armed callback's own reference, dropped at the end
        self.token = token
        return 0

    def _on_response(self, future):
        """The then-callback of futures read through their Python methods."""
        self.on_response()

    cdef int on_response(self) except -1:
        """Take every ready response, then hand the events to the user's callback."""
        self.claim()
        try:
            return self.on_response_claimed()
        finally:
            self.unclaim()

    cdef int on_response_claimed(self) except -1:
        cdef object bad = None
        cdef object event
        try:
            self.drain()
        except MalformedResponse as exc:
            bad = exc
        except OSError:
            pass  # as flux-core: an error response ends the stream quietly
        if not self.processing_inactive and self.cb is not None:
            cb, args, kwargs = self.cb, self.cb_args, self.cb_kwargs
            while True:
                event = self.next_event()
                if event is NO_EVENT:
                    break
                cb(event, *args, **kwargs)
        if bad is not None:
            raise_from_reactor(self.handle, bad)
        return 0

    # -- receiving ----------------------------------------------------------------------

    cdef int receive(self, object timeout) except -1:
        """Wait for a response (TimeoutError after ``timeout``), then take the ready ones."""
        if self.future != NULL:
            if not flux_calls.is_ready(self.future):
                self.wait_natively(timeout)
        elif self.seen_idle or not self.reader.ready():
            # a wait on a future that became ready meanwhile returns at once
            self.seen_idle = False
            self.reader.wait(timeout)
        self.drain()
        return 0

    cdef int wait_natively(self, object timeout) except -1:
        """flux_future_wait_for in slices, the GIL released, Python's signals checked."""
        cdef double left = timeout
        cdef double step
        cdef int rc, errnum
        cdef fj_future_t *f = self.future
        owner = self.future_owner  # holds the future while the GIL is released
        while True:
            step = WAIT_SLICE if left < 0 or left > WAIT_SLICE else left
            with nogil:
                rc = flux_calls.wait_for(f, step)
                errnum = c_errno
            if rc == 0:
                return 0
            if errnum != C_ETIMEDOUT:
                owner.wait_for(timeout)  # flux-python's own wait says what went wrong
                return 0
            PyErr_CheckSignals()
            if left >= 0:
                left -= step
                if left <= 0:
                    raise OSError(C_ETIMEDOUT, _os_strerror(C_ETIMEDOUT))

    cdef int drain(self) except -1:
        """Take the ready response, then every other that is ready (up to DRAIN_LIMIT)."""
        cdef Py_ssize_t k
        if self.future != NULL:
            return self.drain_natively()
        reader = self.reader
        ready, take, reset = reader.ready, reader.take, reader.reset
        for k in range(C_DRAIN_LIMIT):
            try:
                payload = take()
            except OSError as exc:
                if exc.errno != ENODATA:
                    raise  # left in place: every later poll raises it, as flux-core does
                reset()
                self.end_of_stream()
                return 0
            reset()
            self.process(b"" if payload is None else payload)
            if not ready():
                self.seen_idle = True
                return 0
        return 0

    cdef int drain_natively(self) except -1:
        cdef const void *data = NULL
        cdef size_t length = 0
        cdef int errnum
        cdef Py_ssize_t k
        cdef fj_future_t *f = self.future
        owner = self.future_owner  # holds the future even if a hook starts another stream
        for k in range(C_DRAIN_LIMIT):
            if flux_calls.get_raw(f, &data, &length) < 0:
                errnum = c_errno
                if errnum != C_ENODATA:
                    raise future_error(f, errnum)  # left in place, as flux-core does
                flux_calls.reset(f)
                self.end_of_stream()
                return 0
            payload = payload_of(data, length)
            flux_calls.reset(f)
            self.process(payload)
            if self.future != f or not flux_calls.is_ready(f):
                return 0
        return 0

    cdef int end_of_stream(self) except -1:
        self.ended = True
        if self.processing_inactive:  # the stream ended inside the history
            if self.stock:
                if self.history is not None:
                    self.history.merge()
            else:
                self.backlog = deque(sorted(self.backlog, key=event_timestamp))
            self.processing_inactive = False
        return 0

    cdef int process(self, object payload) except -1:
        """Decode one response; keep it in the history, or queue its live events."""
        cdef Response response
        if not self.stock:
            return self.process_general(payload)
        response = decode_payload(payload)
        if self.processing_inactive:
            if self.history is None:
                raise RuntimeError("the history arrives with no History to keep it")
            if self.is_sentinel(response):
                self.history.merge()
                self.processing_inactive = False
                self.sentinel_pending = bool(self.include_sentinel)
            else:
                self.check_job_id(response, payload)
                self.history.add_response(response)
        elif self.resource:
            self.backlog.extend(response.build_resource_events(self.since))
        else:
            self.check_job_id(response, payload)
            if response.jobid is None and response._id is not None:
                response.set_jobid(recent_jobid(response._id))
            self.backlog.extend(response.build_job_events(self.since))
        return 0

    cdef int check_job_id(self, Response response, object payload) except -1:
        """Refuse a job journal response with events and no ``id``: flux-core's consumer
        fails making their JobID (JobID(None)), and an event needs its job."""
        if not self.resource and response._id is None and response.count:
            raise MalformedResponse(NO_JOB_ID, payload)
        return 0

    cdef bint is_sentinel(self, Response response):
        if self.sentinel_by_id:
            return response._id is not None and response._id == -1
        return response.count == 0

    cdef int process_general(self, object payload) except -1:
        """One response on the general path: flux-core's hooks, on the decoded dict."""
        try:
            resp = loads(payload)
        except JSONDecodeError as exc:
            raise MalformedResponse(INVALID_JSON.format(exc), payload) from exc
        if self.processing_inactive and self.is_empty_response(resp):
            self.processing_inactive = False
            self.backlog = deque(sorted(self.backlog, key=event_timestamp))
            if self.include_sentinel:
                self.backlog.append(self.SENTINEL_EVENT)
            return 0
        kwargs = self.process_response(resp)
        since = self.since
        for entry in resp["events"]:
            event = self.create_event(entry, **kwargs)
            if event.timestamp > since:
                self.backlog.append(event)
        return 0


def event_timestamp(event):
    """The sort key of the general path's history, as flux-core sorts it."""
    return event.timestamp


@cython.final
@cython.auto_pickle(False)
cdef class EventIterator:
    """What iterating over a consumer gives: ``poll()`` until the stream ends."""

    cdef ConsumerCore consumer
    cdef bint direct             # the consumer's poll() is ConsumerCore's own

    def __iter__(self):
        return self

    def __next__(self):
        event = self.consumer.deliver(-1.0) if self.direct else self.consumer.poll()
        if event is None:
            raise StopIteration
        return event


class JournalConsumerBase(ConsumerCore, metaclass=ABCMeta):
    """Consume a journal-style streaming RPC: the history in time order, then live events.

    Behaves as flux-core's ``flux.abc.JournalConsumerBase`` (docs/CONTRACT.md, section 3):
    ``start()`` sends the request, ``poll()`` or a callback from ``set_callback()``
    delivers events, ``stop()`` cancels. With ``full``, nothing is delivered until the
    history is complete; it then comes in timestamp order (ties in arrival order),
    followed by ``SENTINEL_EVENT`` when ``include_sentinel``. Events with a timestamp
    ``<= since`` are dropped.

    The stock classes decode each payload with :func:`decode_response` and keep the
    history in a :class:`History`; a subclass that overrides one of flux-core's hooks
    gets them called on decoded dicts, as flux-core calls them.
    """

    SENTINEL_EVENT = JournalEventBase({})

    #: This module: the decoder and event classes the consumer builds with.
    core = _sys.modules[__name__]

    #: JOB_KIND or RESOURCE_KIND on the stock classes: how the stock path builds events.
    _stock_kind = None

    def __init__(self, flux_handle, topic, cancel_topic=None, full=True, since=0.0,
                 include_sentinel=False):
        (<ConsumerCore?>self).forget_streams()
        self.handle = flux_handle
        self.topic = topic
        self.cancel_topic = cancel_topic
        if self.cancel_topic is None:
            self.cancel_topic = f"{self.topic}-cancel"
        self.backlog = deque()
        self.full = full
        self.since = since
        self.rpc = None
        self.cb = None
        self.cb_args = []
        self.cb_kwargs = {}
        self.processing_inactive = self.full
        self.include_sentinel = include_sentinel

    @abstractmethod
    def process_response(self, resp):
        """Return the keyword arguments passed to :meth:`create_event` for one response."""
        return {}

    @abstractmethod
    def create_event(self, entry, **kwargs):
        """Return the event object for one entry of a response's ``events`` array."""
        return JournalEventBase(entry)

    def is_empty_response(self, resp):
        """True for the response that marks the end of the history."""
        return len(resp["events"]) == 0

    @property
    def request_payload(self):
        """The body of the journal request."""
        return {}

    def _sentinel_is_id(self):
        """True when the end of the history is the response with id -1, not an empty one."""
        return False


class JournalConsumer(JournalConsumerBase):
    """Consume the job-manager journal (``job-manager.events-journal``): every job event.

    A drop-in for ``flux.job.JournalConsumer``. ``allow`` and ``deny`` (mappings or
    iterables of event names) are passed to the service as event-name filters, an
    extension flux-core's Python API lacks; with them, only ``id == -1`` is the sentinel.
    """

    SENTINEL_EVENT = SENTINEL_EVENT
    _stock_kind = JOB_KIND

    def __init__(self, flux_handle, full=True, since=0.0, include_sentinel=False, *,
                 allow=None, deny=None):
        super().__init__(flux_handle, JOB_TOPIC, full=full, since=since,
                         include_sentinel=include_sentinel)
        self.allow = names_object(allow)
        self.deny = names_object(deny)

    @property
    def request_payload(self):
        payload = {"full": self.full}
        if self.allow is not None:
            payload["allow"] = self.allow
        if self.deny is not None:
            payload["deny"] = self.deny
        return payload

    def process_response(self, resp):
        """The job id, jobspec and R of one response, for :meth:`create_event`."""
        return {"jobid": resp.get("id"), "jobspec": resp.get("jobspec"), "R": resp.get("R")}

    def create_event(self, entry, jobid=-1, jobspec=None, R=None):
        """One :class:`JournalEvent` from one entry."""
        return JournalEvent(jobid, entry, jobspec=jobspec, R=R)

    def _sentinel_is_id(self):
        # with event filters the service still sends the sentinel, but a response whose
        # events were all filtered out is empty too
        return self.allow is not None or self.deny is not None


class ResourceJournalConsumer(JournalConsumerBase):
    """Consume the resource journal (``resource.journal``); it always sends its history.

    A drop-in for ``flux.resource.ResourceJournalConsumer``: events are
    :class:`ResourceJournalEvent` objects, each keeping its response's ``R``.
    """

    _stock_kind = RESOURCE_KIND

    def __init__(self, flux_handle, since=0.0, include_sentinel=False):
        super().__init__(flux_handle, RESOURCE_TOPIC, full=True, since=since,
                         include_sentinel=include_sentinel)

    def process_response(self, resp):
        """The response's R, for :meth:`create_event`."""
        return {"R": resp.get("R")}

    def create_event(self, entry, R=None):
        """One :class:`ResourceJournalEvent` from one entry."""
        return ResourceJournalEvent(entry, R)
