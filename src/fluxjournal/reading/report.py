"""Usage and utilization of an archived instance over a period, as ``fluxjournal report``
gives them (what Slurm sites read in ``sreport``).

- **utilization**, of cores and of nodes: the capacity (the instance's R, from when it
  was defined), what jobs held (each job's cores from ``alloc`` to ``free``, or to
  ``clean``, or to the present for a job still running, clipped to the period), what was
  down (a rank offline or drained, less what jobs held on it then: a node drained under
  a job is allocated, not down) and the rest, idle;
- **usage by** user, bank, project or queue: the jobs over in the period and how they
  ended, the core- and node-hours held in it, the queue wait (submit to alloc) of the
  jobs that started in it, the runtime of those that ended in it;
- **job sizes**: core-hours held, by the jobs' core counts.

The sums, counts, means, medians and 95th percentiles are the database's work
(:mod:`fluxjournal.storage.queries`); here are only the few figures that need the
resource eventlog (down time, nodes).
Times are seconds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from fluxjournal.joblist.hostlist import decode_idset
from fluxjournal.joblist.rset import cores_by_rank
from fluxjournal.reading.jobview import username
from fluxjournal.reading.resources import Interval, Resources, clipped, timeline, union_length
from fluxjournal.storage.contract import StoreError
from fluxjournal.storage.queries import GROUPINGS, ReportFilter
from fluxjournal.storage.schema import SPANS_SINCE

#: Less than this of a bin left at the period's end is rounding, not one more bin.
BIN_ROUNDING = 1e-9
#: ``--sizes``' default bins: job core counts.
DEFAULT_SIZES = (1, 8, 64, 512)
RESULTS = ("completed", "failed", "canceled", "timeout")


class Usage(NamedTuple):
    """One group's line of ``--by``."""

    group: Any
    jobs: int
    completed: int
    failed: int
    canceled: int
    timeout: int
    core_seconds: float
    node_seconds: float
    wait_mean: float | None
    wait_median: float | None
    wait_p95: float | None
    runtime_mean: float | None
    runtime_median: float | None


class Report(NamedTuple):
    """One instance's report over a period."""

    instance: str
    start: float
    end: float
    utilization: Utilization | None
    #: usage lines by grouping (``user``, ...), most core-hours first
    by: dict[str, list[Usage]]
    sizes: list[dict[str, Any]] | None


class Utilization(NamedTuple):
    """Capacity, allocated, down and idle, in core-seconds and in node-seconds."""

    cores: int
    nodes: int
    core_seconds: dict[str, float]
    node_seconds: dict[str, float]


def percentiles(rows: Sequence[tuple]) -> dict[tuple[str, Any], tuple[float | None, ...]]:
    """Per measure and group, the median and the 95th percentile, from the rows of
    :meth:`~fluxjournal.storage.queries.ReportQueries.percentiles`."""
    return {(measure, group): (median, p95) for measure, group, median, p95 in rows}


#: The sums of a row of the usage query after its group and size bin, and where the
#: core-seconds and the count of jobs that held resources stand among them.
USAGE_SUMS, CORES_AT, HELD_AT = 12, 5, 7


def _mean(total: Any, count: Any) -> float | None:
    return float(total) / int(count) if count else None


def summary(
    archive: Any, where: ReportFilter, grouping: str, bounds: Sequence[int]
) -> tuple[list[Usage], list[dict[str, Any]]]:
    """The usage of each group (most core-hours first) and the job sizes: two passes
    over the period's jobs, one of sums, one of the percentiles of waits and runtimes."""
    queries = archive.report_queries
    spread = percentiles(archive.rows(*queries.percentiles(where, grouping, None)))
    groups: dict[Any, list] = {}
    bins: dict[int, list] = defaultdict(lambda: [0, 0.0])
    for row in archive.rows(*queries.usage(where, grouping, bounds)):
        group, size, *sums = row
        line = groups.setdefault(group, [0] * USAGE_SUMS)
        for index, value in enumerate(sums):
            line[index] += value or 0
        bins[int(size)][0] += int(sums[HELD_AT] or 0)
        bins[int(size)][1] += float(sums[CORES_AT] or 0.0)
    lines = []
    for group, sums in groups.items():
        jobs, completed, failed, canceled, timeout, cores, nodes, _, waits, started = sums[:10]
        runtimes, ran = sums[10], sums[11]
        if not jobs and not cores and not started:
            continue  # jobs that touched the period in no way counted here
        lines.append(
            Usage(
                group,
                int(jobs),
                int(completed),
                int(failed),
                int(canceled),
                int(timeout),
                float(cores),
                float(nodes),
                _mean(waits, started),
                *spread.get(("wait", group), (None, None)),
                _mean(runtimes, ran),
                spread.get(("runtime", group), (None, None))[0],
            )
        )
    lines.sort(key=lambda line: (-line.core_seconds, str(line.group)))
    return lines, _sizes(bins, bounds)


def usage(archive: Any, where: ReportFilter, grouping: str) -> list[Usage]:
    """The usage of each group, most core-hours first."""
    return summary(archive, where, grouping, DEFAULT_SIZES)[0]


def _sizes(found: dict[int, list], bounds: Sequence[int]) -> list[dict[str, Any]]:
    out = []
    for index, low in enumerate(bounds):
        high = bounds[index + 1] - 1 if index + 1 < len(bounds) else None
        jobs, seconds = found.get(index, (0, 0.0))
        out.append({"cores": [low, high], "jobs": jobs, "core_seconds": seconds})
    below = found.get(-1)
    if below and below[0]:
        out.insert(0, {"cores": [0, bounds[0] - 1], "jobs": below[0], "core_seconds": below[1]})
    return out


def check_version(archive: Any) -> None:
    """Refuse an archive made before the spans of allocations were stored (each job's
    ``free``, each node's span): a report reads them."""
    if archive.version < SPANS_SINCE:
        raise StoreError(
            f"{archive.location} has schema version {archive.version}; a report needs "
            f"version {SPANS_SINCE}: run fluxjournal ingest on it once to bring it up to date"
        )


def resources(archive: Any, where: ReportFilter) -> Resources | None:
    """The instance's resources from its stored eventlog; None when none is stored."""
    rows = archive.rows(*archive.report_queries.resource_events(where.instance))
    return timeline(rows, min(where.end, where.now)) if rows else None


def _cores_on(archive: Any, where: ReportFilter, jobids: Sequence[int], rank: int) -> dict:
    """How many cores of ``rank`` each job held (from the jobs' R)."""
    if not jobids:
        return {}
    rows = archive.rows(*archive.report_queries.job_r(where.instance, list(jobids)))
    return {jobid: cores_by_rank(R).get(rank, 0) for jobid, R in rows if R}


def held_on_rank(
    archive: Any, where: ReportFilter, running: list[tuple], rank: int, span: Interval
) -> list[tuple[float, float, int]]:
    """The jobs' spans on ``rank`` within ``span``: (start, end, cores held there)."""
    queries = archive.report_queries
    found = [
        (jobid, s, e)
        for jobid, s, e in archive.rows(*queries.held_on(where, rank, span.start, span.end))
    ]
    found += [
        (jobid, s, e)
        for jobid, ranks, s, e in running
        if ranks and rank in decode_idset(ranks) and s < span.end and e > span.start
    ]
    cores = _cores_on(archive, where, [jobid for jobid, _, _ in found], rank)
    return [(max(s, span.start), min(e, span.end), cores.get(jobid, 0)) for jobid, s, e in found]


def down_segments(
    archive: Any, where: ReportFilter, res: Resources, running: list[tuple]
) -> list[tuple[float, float, float, float]]:
    """The down time of the period as segments (start, end, cores down, nodes down):
    each rank's down intervals less what jobs held on it then."""
    counted = res.counted(where.start, min(where.end, where.now))
    if counted is None:
        return []
    segments = []
    for rank, intervals in res.down.items():
        total = res.cores.get(rank, 0)
        for span in clipped(intervals, counted.start, counted.end):
            held = held_on_rank(archive, where, running, rank, span)
            cuts = sorted({span.start, span.end, *(t for s, e, _ in held for t in (s, e))})
            for a, b in zip(cuts, cuts[1:]):
                busy = sum(c for s, e, c in held if s <= a and e >= b)
                taken = any(s <= a and e >= b for s, e, _ in held)
                segments.append((a, b, max(total - busy, 0), 0.0 if taken else 1.0))
    return segments


def node_seconds_held(archive: Any, where: ReportFilter, running: list[tuple]) -> float:
    """Node-seconds held: per rank, the union of the spans of the jobs on it."""
    queries = archive.report_queries
    per_rank = {int(rank): float(t or 0.0) for rank, t in archive.rows(*queries.node_union(where))}
    tails: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for _, ranks, s, e in running:
        for rank in decode_idset(ranks) if ranks else []:
            tails[rank].append((s, e))
    for rank, spans in tails.items():
        start = min(s for s, _ in spans)
        over = [(s, e) for _, s, e in archive.rows(*queries.held_on(where, rank, start, where.end))]
        tail = Interval(start, where.end)
        inside = union_length(clipped([Interval(*x) for x in over], *tail))
        both = clipped([Interval(*x) for x in (*over, *spans)], *tail)
        per_rank[rank] = per_rank.get(rank, 0.0) - inside + union_length(both)
    return sum(per_rank.values())


def utilization(
    archive: Any, where: ReportFilter, allocated: float | None = None
) -> Utilization | None:
    """Capacity, allocated, down and idle of the period; None without a stored resource
    eventlog (nothing says what the capacity was). ``allocated``: the core-seconds held,
    when a summary of every job has summed them already."""
    res = resources(archive, where)
    if res is None or res.defined is None:
        return None
    queries = archive.report_queries
    counted = res.counted(where.start, min(where.end, where.now))
    length = counted.end - counted.start if counted else 0.0
    if allocated is None:
        ((allocated, _),) = archive.rows(*queries.allocated(where))
    running = list(archive.rows(*queries.running(where)))
    down = down_segments(archive, where, res, running)
    core_capacity = res.total_cores * length
    node_capacity = res.total_nodes * length
    core_down = sum((b - a) * cores for a, b, cores, _ in down)
    node_down = sum((b - a) * nodes for a, b, _, nodes in down)
    core_allocated = float(allocated or 0.0)
    node_allocated = node_seconds_held(archive, where, running)
    return Utilization(
        res.total_cores,
        res.total_nodes,
        _split(core_capacity, core_allocated, core_down),
        _split(node_capacity, node_allocated, node_down),
    )


def _split(capacity: float, allocated: float, down: float) -> dict[str, float]:
    return {
        "capacity": capacity,
        "allocated": allocated,
        "down": down,
        "idle": max(capacity - allocated - down, 0.0),
    }


def group_name(grouping: str, group: Any) -> Any:
    """A group as people read it: a user by the name passwd gives the uid here (the uid
    where it has none), nothing for a job without the grouping's value."""
    if grouping == "user" and isinstance(group, int):
        return username(group)
    return group if group is not None else ""


def groupings() -> tuple[str, ...]:
    """What ``--by`` takes."""
    return tuple(GROUPINGS)


def _spread(
    totals: list[float], start: float, width: float, a: float, b: float, weight: float
) -> None:
    """Add ``weight`` per second of [a, b) to the bins it covers."""
    first = max(int((a - start) // width), 0)
    last = min(int((b - start) // width), len(totals) - 1)
    for index in range(first, last + 1):
        lo = max(a, start + index * width)
        hi = min(b, start + (index + 1) * width)
        if hi > lo:
            totals[index] += (hi - lo) * weight


class Series(NamedTuple):
    """The period in bins of ``width`` seconds: what the plots draw."""

    starts: list[float]
    width: float
    capacity: list[float]
    allocated: list[float]
    down: list[float]
    wait_median: list[float | None]
    wait_p95: list[float | None]
    endings: dict[str, list[int]]

    @property
    def idle(self) -> list[float]:
        return [max(c - a - d, 0.0) for c, a, d in zip(self.capacity, self.allocated, self.down)]


def series(archive: Any, where: ReportFilter, width: float) -> Series:
    """Core-seconds of capacity, allocated and down per bin; the median and 95th
    percentile wait of the jobs started in each bin; the jobs ended in each, by result."""
    queries = archive.report_queries
    # the bins that cover the period (a last one cut short), not one more for a rounding
    count = max(math.ceil((where.end - where.start) / width - BIN_ROUNDING), 1)
    starts = [where.start + index * width for index in range(count)]
    allocated = [0.0] * count
    for index, seconds in archive.rows(*queries.binned(where, width)):
        if 0 <= int(index) < count:
            allocated[int(index)] += float(seconds or 0.0)
    for cores, s, e in archive.rows(*queries.spanning(where, width)):
        _spread(allocated, where.start, width, s, e, cores)
    capacity, down = [0.0] * count, [0.0] * count
    res = resources(archive, where)
    counted = res.counted(where.start, min(where.end, where.now)) if res else None
    if res is not None and counted is not None:
        _spread(capacity, where.start, width, counted.start, counted.end, res.total_cores)
        running = list(archive.rows(*queries.running(where)))
        for a, b, cores, _ in down_segments(archive, where, res, running):
            _spread(down, where.start, width, a, b, cores)
    # by bin, the waits alone
    binned_waits = percentiles(archive.rows(*queries.percentiles(where, None, width)))
    waits = {index: value for (_, index), value in binned_waits.items()}
    endings = {result: [0] * count for result in RESULTS}
    for index, result, number in archive.rows(*queries.endings(where, width)):
        if result and result.lower() in endings and 0 <= int(index) < count:
            endings[result.lower()][int(index)] += int(number)
    return Series(
        starts,
        width,
        capacity,
        allocated,
        down,
        [waits.get(index, (None, None))[0] for index in range(count)],
        [waits.get(index, (None, None))[1] for index in range(count)],
        endings,
    )
