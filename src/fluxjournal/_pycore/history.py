"""The twin's history: every response until the sentinel, delivered in timestamp order."""

from __future__ import annotations

import threading
from typing import Any

from fluxjournal._pycore.events import ResourceJournalEvent
from fluxjournal._pycore.response import Response, job_event


class History:
    """The journal's history until the sentinel, delivered in timestamp order (see ``_core``)."""

    def __init__(self, since: float = 0.0, resource: bool = False) -> None:
        if "finished" in vars(self):  # as _core's: entries kept so far belong to the first
            raise RuntimeError("History is already initialised")
        self.since = since
        self.resource = resource
        self.finished = False
        self._kept: list[tuple[float, Response, dict]] = []
        self._order: list[tuple[float, Response, dict]] = []
        self._delivered = 0
        # Threads may switch inside the sort: an add() from another thread then waits, so
        # that it is either in the sort or refused after it, never lost in between.
        self._changing = threading.Lock()

    def add(self, response: Response) -> int:
        """Keep the entries of one backlog response that are newer than ``since``."""
        with self._changing:
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
        with self._changing:
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
                out.append(job_event(response.jobid, entry, response.jobspec, response.R))
        self._delivered = stop
        return out
