"""The report's figures computed the plain way, straight from a journal's events (and the
resource eventlog): what ``fluxjournal report``'s SQL is checked against.

Nothing here comes from fluxjournal: the events are read as RFC 21 and RFC 20 describe
them, each figure summed job by job over exact intervals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def idset(text: str) -> list[int]:
    ids: list[int] = []
    for part in text.strip("[]").split(","):
        if part:
            low, _, high = part.partition("-")
            ids.extend(range(int(low), int(high or low) + 1))
    return ids


def cores_per_rank(R: dict) -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in R["execution"]["R_lite"]:
        count = len(idset(entry["children"].get("core", "")))
        for rank in idset(entry["rank"]):
            out[rank] = out.get(rank, 0) + count
    return out


@dataclass
class Job:
    id: int
    userid: int
    queue: str | None
    t_submit: float
    t_alloc: float | None = None
    t_free: float | None = None
    t_cleanup: float | None = None
    t_clean: float | None = None
    result: str | None = None
    cores: dict[int, int] = field(default_factory=dict)

    @property
    def ncores(self) -> int:
        return sum(self.cores.values())

    @property
    def nnodes(self) -> int:
        return len(self.cores)

    def span(self, start: float, end: float, now: float) -> tuple[float, float] | None:
        """The part of [start, end) the job held its allocation: alloc to free (or
        clean, or now)."""
        if self.t_alloc is None:
            return None
        stop = self.t_free if self.t_free is not None else self.t_clean
        stop = now if stop is None else stop
        a, b = max(self.t_alloc, start), min(stop, end)
        return (a, b) if b > a else None


def jobs_of(payloads: list[bytes]) -> dict[int, Job]:
    """Every job of a journal, from its events, R and jobspec."""
    jobs: dict[int, Job] = {}
    for payload in payloads:
        response = json.loads(payload)
        jobid = response.get("id", -1)
        if jobid < 0:
            continue
        for event in response.get("events", []):
            name, t, context = event["name"], event["timestamp"], event.get("context", {})
            if name == "submit":
                system = (response.get("jobspec") or {}).get("attributes", {}).get("system", {})
                jobs[jobid] = Job(jobid, context["userid"], system.get("queue"), t)
            job = jobs[jobid]
            fatal = name == "exception" and context.get("severity") == 0
            if name == "alloc" and job.t_alloc is None:
                job.t_alloc = t
            elif name == "free":
                job.t_free = t
            elif name == "clean":
                job.t_clean = t
            if (name == "finish" or fatal) and job.t_cleanup is None:
                job.t_cleanup = t
            if fatal and job.result is None:
                kind = context.get("type")
                job.result = {"cancel": "CANCELED", "timeout": "TIMEOUT"}.get(kind, "FAILED")
            if name == "finish" and job.result is None:
                job.result = "COMPLETED" if context.get("status") == 0 else "FAILED"
        if response.get("R") and jobid in jobs:
            jobs[jobid].cores = cores_per_rank(response["R"])
    return jobs


def quantile(values: list[float], fraction: float) -> float | None:
    """Linear between the two nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def usage_by_user(jobs: dict[int, Job], start: float, end: float, now: float) -> dict:
    """Per user: jobs over in the period and their results, core- and node-seconds, wait
    mean/median/p95 of the jobs started in it, runtime mean/median of those over in it."""
    out: dict[int, dict[str, Any]] = {}
    for job in jobs.values():
        line = out.setdefault(
            job.userid,
            {
                "jobs": 0,
                "COMPLETED": 0,
                "FAILED": 0,
                "CANCELED": 0,
                "TIMEOUT": 0,
                "core_seconds": 0.0,
                "node_seconds": 0.0,
                "waits": [],
                "runtimes": [],
            },
        )
        over = job.t_clean is not None and start <= job.t_clean < end
        if over:
            line["jobs"] += 1
            line[job.result] += 1
            if job.t_alloc is not None:
                line["runtimes"].append(job.t_cleanup - job.t_alloc)
        span = job.span(start, end, now)
        if span:
            line["core_seconds"] += job.ncores * (span[1] - span[0])
            line["node_seconds"] += job.nnodes * (span[1] - span[0])
        if job.t_alloc is not None and start <= job.t_alloc < end:
            line["waits"].append(job.t_alloc - job.t_submit)
    return {
        user: line
        for user, line in out.items()
        if line["jobs"] or line["core_seconds"] or line["waits"]
    }


def allocated(jobs: dict[int, Job], start: float, end: float, now: float) -> float:
    total = 0.0
    for job in jobs.values():
        span = job.span(start, end, now)
        if span:
            total += job.ncores * (span[1] - span[0])
    return total


def sizes(jobs: dict[int, Job], start: float, end: float, now: float, bounds) -> list:
    bins = [[0, 0.0] for _ in bounds]
    for job in jobs.values():
        span = job.span(start, end, now)
        if span:
            index = max(i for i, low in enumerate(bounds) if job.ncores >= low)
            bins[index][0] += 1
            bins[index][1] += job.ncores * (span[1] - span[0])
    return bins


def union(intervals) -> float:
    total, reach = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def node_seconds_held(jobs: dict[int, Job], start: float, end: float, now: float) -> float:
    per_rank: dict[int, list] = {}
    for job in jobs.values():
        span = job.span(start, end, now)
        if span:
            for rank in job.cores:
                per_rank.setdefault(rank, []).append(span)
    return sum(union(spans) for spans in per_rank.values())


def down_intervals(resource_events: list[dict], until: float) -> tuple[dict, dict, float]:
    """Each rank's down intervals (offline or drained), its cores, when first defined."""
    online: set[int] = set()
    drained: set[int] = set()
    cores: dict[int, int] = {}
    defined = None
    since: dict[int, float] = {}
    down: dict[int, list] = {}
    ranks: set[int] = set()
    for event in resource_events:
        name, t, context = event["name"], event["timestamp"], event.get("context", {})
        if name == "resource-define":
            cores = cores_per_rank(event["R"])
            defined = t if defined is None else defined
            ranks |= set(cores)
        elif name == "restart":
            ranks |= set(idset(context.get("ranks", "")))
            online = set(idset(context.get("online", "")))
        elif name == "online":
            online |= set(idset(context["idset"]))
        elif name == "offline":
            online -= set(idset(context["idset"]))
        elif name == "drain":
            drained |= set(idset(context["idset"]))
        elif name == "undrain":
            drained -= set(idset(context["idset"]))
        else:
            continue
        for rank in sorted(ranks):
            is_down = rank not in online or rank in drained
            if is_down and rank not in since:
                since[rank] = t
            elif not is_down and rank in since:
                a = since.pop(rank)
                if t > a:
                    down.setdefault(rank, []).append((a, t))
    for rank, a in since.items():
        if until > a:
            down.setdefault(rank, []).append((a, until))
    return down, cores, defined


def utilization(
    jobs: dict[int, Job], resource_events: list[dict], start: float, end: float, now: float
) -> dict[str, dict[str, float]]:
    """Core- and node-seconds of capacity, allocated, down and idle, second by exact
    piece: a rank is down while offline or drained, less what jobs held on it then."""
    stop = min(end, now)
    down, cores, defined = down_intervals(resource_events, stop)
    begin = max(start, defined)
    length = max(stop - begin, 0.0)
    out = {
        "cores": {"capacity": sum(cores.values()) * length, "down": 0.0},
        "nodes": {"capacity": len(cores) * length, "down": 0.0},
    }
    out["cores"]["allocated"] = allocated(jobs, start, end, now)
    out["nodes"]["allocated"] = node_seconds_held(jobs, start, end, now)
    for rank, intervals in down.items():
        for a, b in intervals:
            a, b = max(a, begin), min(b, stop)
            if b <= a:
                continue
            held = []
            for job in jobs.values():
                span = job.span(a, b, now)
                if span and rank in job.cores:
                    held.append((span[0], span[1], job.cores[rank]))
            cuts = sorted({a, b, *(t for s, e, _ in held for t in (s, e))})
            for x, y in zip(cuts, cuts[1:]):
                busy = sum(c for s, e, c in held if s <= x and e >= y)
                taken = any(s <= x and e >= y for s, e, _ in held)
                out["cores"]["down"] += (y - x) * max(cores.get(rank, 0) - busy, 0)
                out["nodes"]["down"] += 0.0 if taken else (y - x)
    for kind in out.values():
        kind["idle"] = max(kind["capacity"] - kind["allocated"] - kind["down"], 0.0)
    return out
