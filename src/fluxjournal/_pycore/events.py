"""The twin's journal events: dicts with the job id, jobspec and R beside them."""

from __future__ import annotations

import json
import time
from typing import Any

from fluxjournal._pycore.loads import loads
from fluxjournal.jobid import JobID


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
