"""The pure-Python twin of ``fluxjournal._core``: same names, same results, no compiler.

It is used when the extension cannot be loaded or ``FLUXJOURNAL_NO_EXTENSIONS=1`` is
set. It leans on :func:`json.loads` and adds what ``_core`` promises on top of it: the
nesting limit, errors that name a position in the input as given, and the response checks.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

from fluxjournal.errors import Document, JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID
from fluxjournal.jsontext import EMPTY_CONTEXT_TEXT, compact_json

#: Containers nested deeper than this are refused, as in ``_core``.
MAX_DEPTH = 512

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_NUMBERS = re.compile(r'"(?:[^"\\]|\\.)*"|(-?\d+)(\.\d+)?([eE][-+]?\d+)?')
#: Decodes text without json.loads's check for a leading BOM, which applies to str input only.
_DECODER = json.JSONDecoder()


def _long_integer_at(text: str) -> int:
    """Offset of the first integer longer than ``int()`` accepts (json.loads's ValueError)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or float("inf")
    for match in _NUMBERS.finditer(text):
        digits, fraction, exponent = match.groups()
        if digits and not fraction and not exponent and len(digits.lstrip("-")) > limit:
            return match.start()
    return 0


def _too_deep_at(text: str) -> int | None:
    """Offset of the bracket that opens container number MAX_DEPTH + 1, or None."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


def _as_text(data: Any) -> tuple[str, int]:
    """Decode bytes as json.loads does; return the text and the bytes skipped before it."""
    if isinstance(data, str):
        return data, 0
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            "the JSON object must be str, bytes, bytearray or memoryview, "
            f"not {type(data).__name__}"
        )
    raw = bytes(data)
    encoding = json.detect_encoding(raw)
    skip = 3 if encoding == "utf-8-sig" else 0
    try:
        return raw[skip:].decode("utf-8" if skip else encoding, "surrogatepass"), skip
    except UnicodeDecodeError as exc:
        if encoding.startswith("utf-8"):
            raise JSONDecodeError("Invalid UTF-8 sequence", data, exc.start + skip) from None
        raise JSONDecodeError(f"Invalid {encoding} data", data, exc.start) from None


def loads(data: Document) -> Any:
    """Decode one JSON document exactly as ``json.loads`` would (see ``_core.loads``)."""
    text, skip = _as_text(data)
    positions_in_bytes = not isinstance(data, str) and json.detect_encoding(bytes(data[:4])) in (
        "utf-8",
        "utf-8-sig",
    )
    source = data if isinstance(data, str) or positions_in_bytes else text

    def error(msg: str, pos: int) -> JSONDecodeError:
        if positions_in_bytes:
            pos = len(text[:pos].encode("utf-8", "surrogatepass")) + skip
        return JSONDecodeError(msg, source, pos)

    deep = _too_deep_at(text)
    try:
        value = json.loads(text) if isinstance(data, str) else _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        if deep is not None and deep <= exc.pos:
            raise error(f"Nesting deeper than {MAX_DEPTH} levels", deep) from None
        raise error(exc.msg, exc.pos) from None
    except RecursionError:
        raise error(f"Nesting deeper than {MAX_DEPTH} levels", deep or 0) from None
    except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
        raise error(str(exc), _long_integer_at(text)) from None
    if deep is not None:
        raise error(f"Nesting deeper than {MAX_DEPTH} levels", deep)
    return value


class JournalEventBase(dict):
    """One journal event: a dict with ``timestamp``, ``name`` and ``context`` keys.

    A missing ``timestamp`` is set to the current time in the caller's dict, and a
    missing ``context`` becomes ``{}``, as flux-core's ``JournalEventBase`` does.
    """

    def __init__(self, event: Any) -> None:
        if "timestamp" not in event:
            event["timestamp"] = time.time()
        if isinstance(event, str):
            event = loads(event)
        super().__init__(event)
        if "context" not in self:
            self["context"] = {}

    @property
    def name(self) -> Any:
        """The event name (RFC 21)."""
        return self["name"]

    @property
    def timestamp(self) -> Any:
        """Seconds since the epoch."""
        return self["timestamp"]

    @property
    def context(self) -> Any:
        """The context dict; ``{}`` when the entry had none."""
        return self["context"]

    @property
    def context_string(self) -> str:
        """The context as compact JSON with sorted keys, or ``""`` when it is empty."""
        if not self["context"]:
            return ""
        return json.dumps(
            self["context"], ensure_ascii=False, separators=(",", ":"), sort_keys=True
        )

    def is_empty(self) -> bool:
        """True for an event without a name, which marks the end of the history."""
        return "name" not in self

    def __str__(self) -> str:
        if self.is_empty():
            return f"{self.timestamp:<0.5f} End of historical data stream"
        return " ".join([f"{self.timestamp:<0.5f}", self.name, self.context_string])


class JournalEvent(JournalEventBase):
    """An event of the job-manager journal, for job ``jobid``.

    ``jobspec`` is kept only on ``submit`` and ``R`` only on ``alloc``; a ``jobid`` of -1
    makes the empty event that marks the end of the history.
    """

    def __init__(self, jobid: Any, event: Any, jobspec: Any = None, R: Any = None) -> None:
        super().__init__(event)
        self.jobid = JobID(jobid)
        self.jobspec = None
        self.R = None
        if self.is_empty():
            return
        if self.name == "submit":
            self.jobspec = jobspec
        elif self.name == "alloc":
            self.R = R

    def is_empty(self) -> bool:
        """True for the sentinel: the event whose jobid is -1."""
        return self.jobid == -1

    def __str__(self) -> str:
        if self.is_empty():
            return "-1: End of historical data stream"
        parts = [
            f"{self.jobid.f58}:",
            f"{self.timestamp:<0.5f}",
            self.name,
            self.context_string,
            self.jobspec and f"jobspec={self.jobspec}",
            self.R and f"R={self.R}",
        ]
        return " ".join([part for part in parts if part])


class ResourceJournalEvent(JournalEventBase):
    """An event of the resource journal; ``R`` is kept on every event."""

    def __init__(self, event: Any, R: Any = None) -> None:
        super().__init__(event)
        self.R = R


SENTINEL_EVENT = JournalEvent(-1, {})


def _check_entry(entry: Any, index: int) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"event {index} is not an object")
    for key, value in entry.items():
        if key == "timestamp":
            if type(value) not in (int, float):
                raise ValueError(f"event {index}: timestamp is not a number")
            try:
                float(value)
            except OverflowError:
                raise ValueError(f"event {index}: timestamp is not a number") from None
        elif key == "name" and type(value) is not str:
            raise ValueError(f"event {index}: name is not a string")
    if "name" not in entry:
        raise ValueError(f"event {index} has no name")
    if "timestamp" not in entry:
        entry["timestamp"] = time.time()


def _check_response(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    for key, value in doc.items():
        if key == "events":
            if not isinstance(value, list):
                raise ValueError("events is not an array")
            for index, entry in enumerate(value):
                _check_entry(entry, index)
        elif key == "id" and type(value) is not int:
            raise ValueError("id is not an integer")
    if "events" not in doc:
        raise ValueError('no "events" array')


def _job_event(jobid: JobID, entry: dict, jobspec: Any, R: Any) -> JournalEvent:
    """A JournalEvent sharing one JobID per response (``JobID(jobid)`` would copy it)."""
    event = JournalEvent.__new__(JournalEvent)
    dict.__init__(event, entry)
    if "context" not in event:
        event["context"] = {}
    event.jobid = jobid
    event.jobspec = jobspec if jobid != -1 and entry["name"] == "submit" else None
    event.R = R if jobid != -1 and entry["name"] == "alloc" else None
    return event


class Response:
    """One decoded journal response: its job id, its entries, ``jobspec`` and ``R``."""

    __slots__ = ("id", "_entries", "jobspec", "R", "jobid")

    def __init__(self, doc: dict) -> None:
        self.id = doc.get("id")
        self.jobid = JobID(self.id if self.id is not None else -1)
        self._entries = doc["events"]
        self.jobspec = doc.get("jobspec")
        self.R = doc.get("R")

    def __len__(self) -> int:
        return len(self._entries)

    def timestamps(self) -> list[float]:
        """The entries' timestamps, as floats, in payload order."""
        return [float(entry["timestamp"]) for entry in self._entries]

    def entries(self) -> list[dict]:
        """The ``events`` array as ``json.loads`` gives it (missing timestamps filled)."""
        return [dict(entry) for entry in self._entries]

    def job_events(self, since: float | None = None) -> list[JournalEvent]:
        """The entries as :class:`JournalEvent` objects, those newer than ``since`` only."""
        floor = float("-inf") if since is None else since
        return [
            _job_event(self.jobid, entry, self.jobspec, self.R)
            for entry in self._entries
            if float(entry["timestamp"]) > floor
        ]

    def resource_events(self, since: float | None = None) -> list[ResourceJournalEvent]:
        """The entries as :class:`ResourceJournalEvent` objects newer than ``since``."""
        floor = float("-inf") if since is None else since
        return [
            ResourceJournalEvent(dict(entry), self.R)
            for entry in self._entries
            if float(entry["timestamp"]) > floor
        ]

    @property
    def jobspec_text(self) -> str | None:
        """The response's ``jobspec`` as JSON text; None when absent."""
        return None if self.jobspec is None else compact_json(self.jobspec)

    @property
    def R_text(self) -> str | None:
        """The response's ``R`` as JSON text; None when absent."""
        return None if self.R is None else compact_json(self.R)

    def rows(self, prefix: tuple, start: int = 0, offset: int = 0) -> list[tuple]:
        """The entries from index ``start`` on, one tuple each: ``prefix`` followed by
        (position, timestamp, name, context), where position is the entry's index plus
        ``offset`` and context is JSON text (``{}`` when the entry has none)."""
        entries = self._entries
        return [
            (
                *prefix,
                index + offset,
                float(entries[index]["timestamp"]),
                entries[index]["name"],
                _context_text(entries[index]),
            )
            for index in range(max(start, 0), len(entries))
        ]


def _context_text(entry: dict) -> str:
    if "context" not in entry:
        return EMPTY_CONTEXT_TEXT
    return compact_json(entry["context"])


def decode_response(data: Document) -> Response:
    """Decode one journal response payload into a :class:`Response` (see ``_core``)."""
    try:
        doc = loads(data)
    except JSONDecodeError as exc:
        raise MalformedResponse(f"invalid JSON: {exc}", data) from exc
    try:
        _check_response(doc)
    except ValueError as exc:
        raise MalformedResponse(str(exc), data) from None
    return Response(doc)


class History:
    """The journal's history until the sentinel, delivered in timestamp order (see ``_core``)."""

    def __init__(self, since: float = 0.0, resource: bool = False) -> None:
        self.since = since
        self.resource = resource
        self.finished = False
        self._kept: list[tuple[float, Response, dict]] = []
        self._order: list[tuple[float, Response, dict]] = []
        self._delivered = 0

    def add(self, response: Response) -> int:
        """Keep the entries of one backlog response that are newer than ``since``."""
        if self.finished:
            raise RuntimeError("History.add() after finish()")
        kept = [
            (float(entry["timestamp"]), response, entry)
            for entry in response._entries
            if float(entry["timestamp"]) > self.since
        ]
        self._kept.extend(kept)
        return len(kept)

    def finish(self) -> None:
        """Sort the kept entries by timestamp, ties in arrival order (a stable sort)."""
        if not self.finished:
            self._order = sorted(self._kept, key=lambda item: item[0])
            self._kept = []
            self.finished = True

    def __len__(self) -> int:
        return len(self._order) - self._delivered

    def next(self) -> Any:
        """Build and return the next event in timestamp order, or None when none is left."""
        if not self.finished:
            raise RuntimeError("History.next() before finish()")
        if self._delivered == len(self._order):
            return None
        return self.take(1)[0]

    def take(self, limit: int = -1) -> list:
        """Build and return up to ``limit`` events (all when -1), in timestamp order."""
        if not self.finished:
            raise RuntimeError("History.take() before finish()")
        stop = len(self._order) if limit < 0 else min(len(self._order), self._delivered + limit)
        out = []
        for _stamp, response, entry in self._order[self._delivered : stop]:
            if self.resource:
                out.append(ResourceJournalEvent(dict(entry), response.R))
            else:
                out.append(_job_event(response.jobid, entry, response.jobspec, response.R))
        self._delivered = stop
        return out


class ConsumerCore:
    """The state journal consumers deliver from (see ``_core.ConsumerCore``).

    The twin has no compiled path: ``_take_ready()`` always leaves the work to the
    consumer's own Python code.
    """

    backlog: Any
    processing_inactive: Any
    _history: Any
    _sentinel_pending: Any
    rpc: Any

    def _arm_core(
        self,
        compiled: bool,
        resource: bool = False,
        sentinel_by_id: bool = False,
        drain_limit: int = 256,
    ) -> None:
        """Say how responses are handled from now on; the twin always hands them to Python."""

    def _take_ready(self) -> bool:
        """False: the consumer takes the ready responses itself."""
        return False

    def poll(self, timeout: float = -1.0) -> Any:
        """Return the next event, waiting up to ``timeout`` seconds (-1: for ever).

        Raises TimeoutError when nothing arrives in time (a later call carries on), and
        returns None once the stream has ended. A response that cannot be decoded raises
        :class:`~fluxjournal.MalformedResponse`; the next call carries on after it.
        """
        if not self.processing_inactive:
            if self._history is not None:
                event = self._history.next()
                if event is not None:
                    return event
            elif not self._sentinel_pending and self.backlog:
                return self.backlog.popleft()
        return self._poll(timeout)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Any]:
        """Every event until the end of the stream (start() is called if needed).

        Events are taken one at a time, so breaking out of the loop and calling poll()
        later loses nothing.
        """
        if self.rpc is None:
            self.start()  # type: ignore[attr-defined]
        poll = self.poll
        while True:
            event = poll()
            if event is None:
                return
            yield event


# The pure-Python JobRecord lives in joblist.py, with job-list's rules and constants; it
# decodes with this module's loads (joblist imports this module in turn, after JobRecord).
from fluxjournal.joblist import JobRecord  # noqa: E402, F401
