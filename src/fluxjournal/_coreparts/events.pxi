# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------
# RawJSON and Response hold values the user can change (a decoded jobspec, a JobID), so
# the cycle collector must see through them. Until they hold one, they hold only a
# payload's bytes and ints, which no cycle can run through: they are made untracked,
# as CPython untracks a dict of atoms, and tracked from the moment they take such a value,
# so that a history of millions of Responses costs the collector nothing while it loads.

cdef inline void untrack(object o) noexcept:
    """Stop the cycle collector watching ``o``, a new object that holds no container."""
    PyObject_GC_UnTrack(<PyObject *>o)


cdef inline void track(object o) noexcept:
    """Have the cycle collector watch ``o`` (again): it now holds what a cycle may run
    through."""
    if not PyObject_GC_IsTracked(o):
        PyObject_GC_Track(<PyObject *>o)


cdef class RawJSON:
    """A JSON value kept as its bytes inside a retained payload, decoded on first use.

    Tracked by the cycle collector once decoded: the value is the user's to change.
    """

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
            track(self)
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
