"""The twin's journal responses: checked as the compiled core checks them, rows for ingest."""

from __future__ import annotations

import json
import time
from typing import Any

from fluxjournal._pycore.events import JournalEvent, ResourceJournalEvent
from fluxjournal._pycore.loads import as_text, loads
from fluxjournal.errors import Document, JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID
from fluxjournal.wire import protocol
from fluxjournal.wire.jsontext import EMPTY_CONTEXT_TEXT, compact_json


def _check_entry(entry: Any, index: int) -> None:
    if not isinstance(entry, dict):
        raise ValueError(protocol.EVENT_NOT_AN_OBJECT.format(index))
    for key, value in entry.items():
        if key == "timestamp":
            if type(value) not in (int, float):
                raise ValueError(protocol.TIMESTAMP_NOT_A_NUMBER.format(index))
            try:
                float(value)
            except OverflowError:
                raise ValueError(protocol.TIMESTAMP_NOT_A_NUMBER.format(index)) from None
        elif key == "name" and type(value) is not str:
            raise ValueError(protocol.NAME_NOT_A_STRING.format(index))
    if "name" not in entry:
        raise ValueError(protocol.EVENT_WITHOUT_NAME.format(index))
    if "timestamp" not in entry:
        entry["timestamp"] = time.time()


def _check_response(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise ValueError(protocol.NOT_AN_OBJECT)
    for key, value in doc.items():
        if key == "events":
            if not isinstance(value, list):
                raise ValueError(protocol.EVENTS_NOT_AN_ARRAY)
            for index, entry in enumerate(value):
                _check_entry(entry, index)
        elif key == "id" and type(value) is not int:
            raise ValueError(protocol.ID_NOT_AN_INTEGER)
    if "events" not in doc:
        raise ValueError(protocol.NO_EVENTS)


def job_event(jobid: JobID, entry: dict, jobspec: Any, R: Any) -> JournalEvent:
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
            job_event(self.jobid, entry, self.jobspec, self.R)
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


def _longer_than(data: Any, limit: int) -> bool:
    """Whether the UTF-8 text of ``data``, as ``loads`` reads it, is longer than ``limit``
    bytes (False for what is no document at all: ``loads`` says why)."""
    if isinstance(data, str):
        # a character takes at most 4 bytes: only a long text needs encoding to tell
        return len(data) * 4 > limit and len(data.encode("utf-8", "surrogatepass")) > limit
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return False
    size = memoryview(data).nbytes
    if size <= limit:
        return False
    encoding = json.detect_encoding(bytes(data[:4]))
    if encoding == "utf-8":
        return True
    if encoding == "utf-8-sig":
        return size - 3 > limit
    return _longer_than(as_text(data)[0], limit)


def decode_response(data: Document) -> Response:
    """Decode one journal response payload into a :class:`Response` (see ``_core``)."""
    if _longer_than(data, protocol.MAX_RESPONSE_BYTES):
        raise MalformedResponse(protocol.TOO_LARGE, data)
    try:
        doc = loads(data)
    except JSONDecodeError as exc:
        raise MalformedResponse(protocol.INVALID_JSON.format(exc), data) from exc
    try:
        _check_response(doc)
    except ValueError as exc:
        raise MalformedResponse(str(exc), data) from None
    return Response(doc)
