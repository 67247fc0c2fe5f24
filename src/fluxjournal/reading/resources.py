"""A Flux instance's resources over time, from its resource eventlog: how many cores each
rank has, and when each rank is down (offline, or drained).

The eventlog (what ``fluxjournal ingest`` stores from ``resource.journal``) holds a
``resource-define`` with the instance's R; ``restart`` (the ranks, and which of them are
online at the instance's start: the others are offline); ``online`` and ``offline``;
``drain`` and ``undrain``. A rank counts as down while it is offline or drained
(``torpid`` and ``lively`` change nothing here). Capacity starts with the first
definition: before it the instance has no resources to count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from fluxjournal.joblist.hostlist import decode_idset
from fluxjournal.joblist.rset import cores_by_rank


class Interval(NamedTuple):
    start: float
    end: float


class Resources(NamedTuple):
    """Cores per rank, when they count, and each rank's down intervals."""

    #: cores of each rank (the latest definition's)
    cores: dict[int, int]
    #: from when the resources count (the first definition), None when never defined
    defined: float | None
    #: each rank's down intervals, in order; an open one ends at ``until``
    down: dict[int, list[Interval]]

    @property
    def total_cores(self) -> int:
        return sum(self.cores.values())

    @property
    def total_nodes(self) -> int:
        return len(self.cores)

    def counted(self, start: float, end: float) -> Interval | None:
        """The part of [start, end) in which the resources count."""
        if self.defined is None:
            return None
        begin = max(start, self.defined)
        return Interval(begin, end) if end > begin else None


def _ids(context: dict[str, Any], key: str) -> list[int]:
    text = context.get(key)
    return decode_idset(text) if isinstance(text, str) and text else []


def _context(value: Any) -> dict[str, Any]:
    if isinstance(value, (str, bytes)):
        value = json.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


def timeline(events: Iterable[tuple], until: float) -> Resources:
    """The resources of the eventlog ``events`` (timestamp, name, context, R), each
    rank's down intervals up to ``until``."""
    cores: dict[int, int] = {}
    defined: float | None = None
    online: set[int] = set()
    drained: set[int] = set()
    known: set[int] = set()
    since: dict[int, float] = {}  # a rank down since when
    down: dict[int, list[Interval]] = {}

    def settle(rank: int, t: float) -> None:
        """Record where ``rank`` goes down or up at ``t``."""
        is_down = rank not in online or rank in drained
        if is_down and rank not in since:
            since[rank] = t
        elif not is_down and rank in since:
            start = since.pop(rank)
            if t > start:
                down.setdefault(rank, []).append(Interval(start, t))

    for timestamp, name, context_text, R in events:
        context = _context(context_text)
        touched: list[int] = []
        if name == "resource-define" and R:
            cores = cores_by_rank(R)
            if defined is None:
                defined = timestamp
            touched = list(cores)
            known.update(cores)
        elif name == "restart":
            ranks = _ids(context, "ranks")
            known.update(ranks)
            online = set(_ids(context, "online"))
            touched = sorted(known)
        elif name == "online":
            touched = _ids(context, "idset")
            online.update(touched)
        elif name == "offline":
            touched = _ids(context, "idset")
            online.difference_update(touched)
        elif name == "drain":
            touched = _ids(context, "idset")
            drained.update(touched)
        elif name == "undrain":
            touched = _ids(context, "idset")
            drained.difference_update(touched)
        known.update(touched)
        for rank in touched:
            settle(rank, timestamp)
    for rank, start in since.items():
        if until > start:
            down.setdefault(rank, []).append(Interval(start, until))
    return Resources(cores, defined, down)


def clipped(intervals: Iterable[Interval], start: float, end: float) -> list[Interval]:
    """The parts of ``intervals`` inside [start, end)."""
    out = []
    for a, b in intervals:
        a, b = max(a, start), min(b, end)
        if b > a:
            out.append(Interval(a, b))
    return out


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """The length of the union of intervals."""
    total, reach = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= reach:
            continue
        total += b - max(a, reach)
        reach = b
    return total
