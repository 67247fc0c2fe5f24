"""The simulated instance's job model: jobs' lives, submissions, and the instance when asked.

Each job is made from its own seed, shaped like the jobs of the captures, so that
SimulatedFlux can make any job again, in any order, and hold a history of millions of jobs
in a few bytes a job. Everything here is deterministic given its seeds.
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable

__all__ = [
    "Event",
    "Instance",
    "Job",
    "JobMaker",
    "Progress",
    "Submissions",
    "entry",
    "idset",
    "scatter",
]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_FLUID_TS_SHIFT = 24  # RFC 19: timestamp:40 | generator id:14 | sequence:10
_FLUID_SEQ_LIMIT = 1 << 10


def _f58(jobid: int) -> str:
    """A job id in F58 (RFC 19), as flux writes it in dependency descriptions."""
    digits = []
    while True:
        jobid, rem = divmod(jobid, 58)
        digits.append(_B58[rem])
        if not jobid:
            return "ƒ" + "".join(reversed(digits))


def _num(x: float) -> str:
    """A real as jansson writes it: %.17g, with ".0" when that reads as an integer."""
    s = f"{x:.17g}"
    return s if ("." in s or "e" in s) else s + ".0"


def idset(lo: int, hi: int) -> str:
    """The ids ``lo`` to ``hi`` as an RFC 22 idset."""
    return str(lo) if lo == hi else f"{lo}-{hi}"


# Kinds of job and their share of the simulated mix: the shapes seen in the captures.
_COMPLETE, _FAILED, _TIMEOUT, _CANCEL_RUN, _CANCEL_PENDING = range(5)
_HELD_CANCEL, _HELD_RELEASE, _URGENCY, _AFTEROK, _BEGIN_TIME = range(5, 10)
_KIND_SHARES = (
    (_COMPLETE, 0.63),
    (_FAILED, 0.10),
    (_TIMEOUT, 0.04),
    (_CANCEL_RUN, 0.04),
    (_CANCEL_PENDING, 0.03),
    (_HELD_CANCEL, 0.03),
    (_HELD_RELEASE, 0.03),
    (_URGENCY, 0.03),
    (_AFTEROK, 0.04),
    (_BEGIN_TIME, 0.03),
)
_KIND_BOUNDS = tuple(itertools.accumulate(share for _, share in _KIND_SHARES))

_USERIDS = (1001, 1002, 1003, 1004, 1005)
_OWNER = 0  # the instance owner, in whose name timeouts are raised
_RLIMIT = (
    '{"cpu":-1,"fsize":-1,"data":-1,"stack":8388608,"core":0,"nofile":20000,'
    '"as":-1,"rss":-1,"nproc":96365}'
)
_RES_SINGLE = '[{"type":"slot","count":1,"with":[{"type":"core","count":1}],"label":"task"}]'
_RES_DOUBLE = _RES_SINGLE.replace('"count":1,"with"', '"count":2,"with"')
_RES_NODE = '[{"type":"node","count":1,"exclusive":true,"with":' + _RES_SINGLE + "}]"
_JOB_NAMES = ("analysis", "build", "named", "sim", "train")
_PROJECTS = ("alpha", "beta", "gamma")
_MEMOS = ('{"purpose":"test-capture"}', '{"note":"live"}')
_SLEEPS = (1, 2, 5, 10, 30)
#: How long after its start a job that is a Flux instance posts its ``uri`` memo.
_CHILD_MEMO_DELAY = 0.0004

_RELEASE = ',"context":{"ranks":"all","final":true}'
_TIMEOUT_EXCEPTION = (
    f',"context":{{"type":"timeout","severity":0,"userid":{_OWNER},'
    '"note":"resource allocation expired"}'
)


def _jobspec(
    resources: str, command: str, duration: str, name: str, project: str, dependency: str
) -> str:
    """A redacted jobspec (RFC 25 V1) shaped like the captured ones."""
    job = f'"job":{{"name":"{name}"}},' if name else ""
    user = f',"user":{{"project":"{project}"}}' if project else ""
    return (
        f'{{"resources":{resources},"tasks":[{{"command":{command},"slot":"task",'
        f'"count":{{"per_slot":1}}}}],"attributes":{{"system":{{"duration":{duration},'
        f'"cwd":"/tmp",{job}"shell":{{"options":{{"rlimit":{_RLIMIT}}}}}{dependency}}}'
        f'{user}}},"version":1}}'
    )


def _resource_set(rank: int, core: str, starttime: float, expiration: float, nslots: int) -> str:
    """A redacted R (RFC 20) for one rank, shaped like the captured ones."""
    return (
        f'{{"version":1,"execution":{{"R_lite":[{{"rank":"{rank}","children":'
        f'{{"core":"{core}"}}}}],"starttime":{_num(starttime)},'
        f'"expiration":{_num(expiration)},"nslots":{nslots},"nodelist":["node{rank}"]}}}}'
    )


#: An event as the simulation keeps it: (timestamp, name, ',"context":{...}' or "").
Event = tuple[float, str, str]


def entry(event: Event) -> str:
    """An RFC 18 eventlog entry as compact JSON."""
    return f'{{"timestamp":{_num(event[0])},"name":"{event[1]}"{event[2]}}}'


class Job:
    """One simulated job: its eventlog, redacted jobspec and R."""

    __slots__ = ("jobid", "events", "jobspec", "R", "t_alloc")

    def __init__(
        self,
        jobid: int,
        events: list[Event],
        jobspec: str,
        R: str | None,
        t_alloc: float | None,
    ) -> None:
        self.jobid = jobid
        self.events = events
        self.jobspec = jobspec
        self.R = R
        self.t_alloc = t_alloc

    @property
    def t_clean(self) -> float:
        return self.events[-1][0]


class JobMaker:
    """Makes a job's whole life from its own seed, so jobs can be made in any order.

    ``child_uri(key, t_start)``, when given, is the URI of the Flux instance that job
    ``key`` is, or None for a job that is not one.
    """

    def __init__(
        self,
        nodes: int,
        cores: int,
        child_uri: Callable[[int, float], str | None] | None = None,
    ) -> None:
        self.nodes = nodes
        self.cores = cores
        self.child_uri = child_uri
        self.rng = random.Random()

    def make(
        self,
        key: int,
        jobid: int,
        t_submit: float,
        dep_id: int | None,
        *,
        short: bool = False,
        pad: float = 0.0,
        pad_run: bool = False,
    ) -> Job:
        """The job seeded by ``key``, submitted at ``t_submit``.

        ``short`` keeps every wait and run brief (for a job that must be over soon).
        ``pad`` lengthens its wait (for resources, its begin time or its cancel), or its
        run when ``pad_run`` and it runs (for a job that must still be active later).
        """
        rng = self.rng
        rng.seed(key)
        rand = rng.random
        uniform = rng.uniform
        # Every draw that shapes the job comes first, so that pads shift it, nothing more.
        draw = rand()
        kind = next((k for (k, _), b in zip(_KIND_SHARES, _KIND_BOUNDS) if draw < b), 0)
        if kind == _AFTEROK and dep_id is None:
            kind = _COMPLETE
        uid = _USERIDS[int(rand() * len(_USERIDS))]
        named = rand() < 0.1
        name = _JOB_NAMES[int(rand() * len(_JOB_NAMES))] if named else ""
        project = _PROJECTS[int(rand() * len(_PROJECTS))] if named else ""
        shape = rand()
        memo = rand() < 0.04
        pick = rand()
        coin = rand()
        sleep = _SLEEPS[int(rand() * len(_SLEEPS))]
        rank = int(rand() * self.nodes)
        first = int(rand() * self.cores)
        wait = rng.expovariate(1 / 0.4) if rand() < 0.9 else rng.expovariate(1 / 60)
        delay = rng.expovariate(1 / 20.0)
        if short:
            wait %= 0.0135
            delay = 0.01 + delay % 0.09
        runs = kind not in (_CANCEL_PENDING, _HELD_CANCEL)
        run_pad = pad if pad_run and runs else 0.0
        wait_pad = pad - run_pad
        held = kind in (_HELD_CANCEL, _HELD_RELEASE)
        urgency = 0 if held else 16
        cancel = f',"context":{{"type":"cancel","severity":0,"note":"","userid":{uid}}}'

        events: list[Event] = []
        add = events.append
        t = t_submit
        submit = f'{{"userid":{uid},"urgency":{urgency},"flags":0,"version":1}}'
        add((t, "submit", ',"context":' + submit))
        dependency = ""
        if kind == _AFTEROK:
            target = _f58(dep_id or 0)
            desc = f',"context":{{"description":"after-success={target}"}}'
            t += uniform(0.0110, 0.0125)
            add((t, "dependency-add", desc))
            t += uniform(0.00005, 0.00015)
            add((t, "dependency-remove", desc))
            t += uniform(0.00004, 0.0001)
            add((t, "validate", ""))
            dependency = f',"dependencies":[{{"scheme":"afterok","value":"{target}"}}]'
        elif kind == _BEGIN_TIME:
            begin = t_submit + (0.05 if short else 0.5 + delay) + wait_pad
            wait_pad = 0.0
            desc = f',"context":{{"description":"begin-time={begin:.3f}"}}'
            t += uniform(0.0110, 0.0125)
            add((t, "dependency-add", desc))
            t += uniform(0.00003, 0.0001)
            add((t, "validate", ""))
            t = max(t, begin) + uniform(0.001, 0.002)
            add((t, "dependency-remove", desc))
            dependency = f',"dependencies":[{{"scheme":"begin-time","value":"{begin:.6f}"}}]'
        else:
            t += uniform(0.011, 0.016)
            add((t, "validate", ""))
        t += uniform(0.0055, 0.012)
        add((t, "depend", ""))
        t += uniform(0.00002, 0.00015)
        add((t, "priority", f',"context":{{"priority":{urgency}}}'))

        command = '["true"]'
        resources = _RES_SINGLE
        duration = "0"
        R = None
        t_alloc = None
        if not runs:
            hold = delay + wait_pad
            if memo or (held and coin < 0.3):
                add((t + hold * 0.5 + 0.0005, "memo", ',"context":' + _MEMOS[1]))
            t += hold + 0.001
            add((t, "exception", cancel))
            t += uniform(0.00001, 0.00006)
            add((t, "clean", ""))
        else:
            if kind in (_HELD_RELEASE, _URGENCY):
                new = 16 if held else (8, 20, 24, 31)[int(coin * 4)]
                t += (delay if held else delay * 0.05) + 0.001
                add((t, "urgency", f',"context":{{"userid":{uid},"urgency":{new}}}'))
                t += uniform(0.0001, 0.00015)
                add((t, "priority", f',"context":{{"priority":{new}}}'))
            # The allocation: rank and cores, and the scheduler's summary of them.
            cores = self.cores
            if shape < 0.05 and cores >= 2:
                first = min(first, cores - 2)
                core, nslots, resources = f"{first}-{first + 1}", 2, _RES_DOUBLE
                summary = f"rank{rank}/core[{first}-{first + 1}]"
            elif shape < 0.08:
                core, nslots, resources = idset(0, cores - 1), 1, _RES_NODE
                summary = f"rank{rank}/core" + (f"[0-{cores - 1}]" if cores > 1 else "0")
            else:
                core, nslots = str(first), 1
                summary = f"rank{rank}/core{first}"
            annotation = (
                f',"context":{{"annotations":{{"sched":{{"resource_summary":"{summary}"}}}}}}'
            )
            t += 0.0065 + wait + wait_pad
            starttime = t - uniform(0.002, 0.006)
            # The scheduler's annotations event is journaled just before alloc but is not
            # kept in the eventlog, so only live responses carry it.
            add((t - uniform(0.00001, 0.00009), "annotations", annotation))
            t_alloc = t
            add((t, "alloc", annotation))
            if memo:
                t += uniform(0.002, 0.006)
                add((t, "memo", ',"context":' + _MEMOS[0]))
            t += uniform(0.004, 0.012)
            add((t, "start", ""))
            uri = self.child_uri(key, t) if self.child_uri is not None else None
            if uri is not None:  # its broker's memo, as it starts (no draw: nothing shifts)
                add((t + _CHILD_MEMO_DELAY, "memo", f',"context":{{"uri":"{uri}"}}'))

            quick = uniform(0.03, 0.07)
            expiration = 0.0
            if kind == _TIMEOUT:
                limit = (0.01 if short else (1.0, 10.0, 60.0)[int(pick * 3)]) + run_pad
                command = f'["sleep","{int(limit) * 2 + 2}"]'
                duration = _num(limit)
                expiration = starttime + limit
                t = max(t, expiration) + uniform(0.003, 0.013)
                add((t, "exception", _TIMEOUT_EXCEPTION))
                t += uniform(0.0013, 0.017)
                status = 36352 if coin < 0.5 else 14  # the shell's 128+SIGALRM, or SIGALRM
            elif kind == _CANCEL_RUN:
                command = f'["sleep","{30 if short else sleep * 12}"]'
                t += (0.05 if short else 0.2 + delay) + run_pad
                add((t, "exception", cancel))
                t += uniform(0.005, 0.012)
                status = 36608  # 128+SIGTERM
            elif kind == _FAILED:
                command = '["false"]'
                t += quick + run_pad
                status = 256
            elif short or pick < 0.55 or nslots == 2:
                command = '["hostname"]' if nslots == 2 or pick < 0.2 else '["true"]'
                t += quick + run_pad
                status = 0
            else:
                command = f'["sleep","{sleep}"]'
                t += sleep + uniform(0.005, 0.02) + run_pad
                status = 0
            add((t, "finish", f',"context":{{"status":{status}}}'))
            t += uniform(0.0012, 0.008)
            add((t, "release", _RELEASE))
            t += uniform(0.00001, 0.00008)
            add((t, "free", ""))
            t += uniform(0.000005, 0.00002)
            add((t, "clean", ""))
            R = _resource_set(rank, core, starttime, expiration, nslots)

        jobspec = _jobspec(resources, command, duration, name, project, dependency)
        return Job(jobid, events, jobspec, R, t_alloc)


class Submissions:
    """The instance's submit times and FLUIDs in order: bursts of jobs, pauses between.

    A FLUID (RFC 19) is ``timestamp << 24 | generator << 10 | sequence``, the timestamp in
    milliseconds since the instance's FLUID epoch; all jobs here are ingested on rank 0
    (generator 0). The submit event follows the id by a fraction of a millisecond, so ids
    increase with submit times and decode to them.
    """

    def __init__(self, rng: random.Random, epoch: float, interval: float) -> None:
        self.rng = rng
        self.epoch = epoch
        self.interval = interval
        self.t = epoch + 1.0
        self.left = 0
        self.ms = -1
        self.seq = 0

    def pause_until(self, t: float) -> None:
        """Let no job be submitted before ``t``."""
        if self.t < t:
            self.t = t
            self.left = 0

    def state(self) -> tuple[Any, ...]:
        return (self.rng.getstate(), self.t, self.left, self.ms, self.seq)

    @classmethod
    def resume(cls, state: tuple[Any, ...], epoch: float, interval: float) -> Submissions:
        rng = random.Random()
        rng.setstate(state[0])
        submissions = cls(rng, epoch, interval)
        submissions.t, submissions.left, submissions.ms, submissions.seq = state[1:]
        return submissions

    def next(self) -> tuple[float, int]:
        """The next job's submit time and id."""
        rng = self.rng
        if self.left == 0:
            self.left = 1 + min(int(rng.expovariate(0.4)), 15)
            self.t += 0.001 + rng.expovariate(1 / self.interval)
        else:
            self.t += rng.uniform(0.00012, 0.0005)
        self.left -= 1
        ms = int((self.t - self.epoch) * 1000)
        if ms != self.ms:
            self.seq = 0
        else:
            self.seq += 1
            if self.seq == _FLUID_SEQ_LIMIT:  # the generator waits for the next millisecond
                ms += 1
                self.t = self.epoch + ms / 1000 + 0.00001
                self.seq = 0
        self.ms = ms
        return self.t + rng.uniform(0.00002, 0.0001), ms << _FLUID_TS_SHIFT | self.seq


class Instance:
    """The simulated instance when it is asked: which jobs are over, which are active.

    Keeps each job's submit time and id (16 bytes a job) and the backlog's hash-table
    order; the jobs themselves are made again whenever they are sent.
    """

    def __init__(self, jobs: int, active: int, seed: int, epoch: float, interval: float):
        rng = random.Random(f"fluxjournal.testing:{seed}:submissions")
        submissions = Submissions(rng, epoch, interval)
        self.times = array("d")
        self.ids = array("q")
        for _ in range(jobs):
            t, jobid = submissions.next()
            self.times.append(t)
            self.ids.append(jobid)
        self.n_inactive = jobs - active
        # A job is inactive when its eventlog ends before the request, so the request
        # leaves the last inactive job half a second to finish.
        request = self.times[-1] + rng.uniform(0.001, 0.05) if jobs else epoch + 1.0
        if self.n_inactive:
            request = max(request, self.times[self.n_inactive - 1] + 0.5)
        self.request_time = request
        submissions.pause_until(request + 0.001)
        self.after = submissions.state()
        # zhashx iteration order: neither time nor id order, fixed for the instance.
        self.inactive_order = array("q", range(self.n_inactive))
        self.active_order = array("q", range(self.n_inactive, jobs))
        rng.shuffle(self.inactive_order)
        rng.shuffle(self.active_order)


_MASK64 = (1 << 64) - 1


def _hash_fraction(key: int) -> float:
    """A fixed pseudo-random number in [0, 1) for ``key`` (splitmix64's finaliser)."""
    z = (key + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return ((z ^ (z >> 31)) >> 11) / (1 << 53)


def scatter(order: Sequence[int], extra: Iterable[int], salt: int) -> Iterator[int]:
    """``order`` with the indices of ``extra`` spread through it, each at a place fixed by
    a hash of ``salt | index``: how a hash table that jobs were added to iterates."""
    size = len(order) + 1
    places = sorted((int(_hash_fraction(salt | index) * size), index) for index in extra)
    if not places:
        yield from order
        return
    k = 0
    for position, index in enumerate(order):
        while k < len(places) and places[k][0] <= position:
            yield places[k][1]
            k += 1
        yield index
    for _, index in places[k:]:
        yield index


class Progress:
    """What the first posted events did to the instance: the eventlog entries they added.

    Keyed by job index (submission order): the jobs submitted after the request have
    indices from ``first_new`` on. ``asked_at`` is the post time of the last of them.
    """

    __slots__ = ("asked_at", "first_new", "added", "new_jobs", "cleaned")

    def __init__(self, asked_at: float, first_new: int) -> None:
        self.asked_at = asked_at
        self.first_new = first_new
        self.added: dict[int, list[Event]] = {}  # a job's new entries, in order
        self.new_jobs: dict[int, Job] = {}  # jobs submitted since the request
        self.cleaned: dict[int, float] = {}  # jobs that became inactive: clean's timestamp

    def add(self, post: float, event: Event, job: Job, index: int) -> None:
        """Count one more event, posted at ``post``: its job's eventlog keeps it unless it
        is ``annotations``."""
        self.asked_at = post
        if event[1] != "annotations":
            self.added.setdefault(index, []).append(event)
        if index >= self.first_new:
            self.new_jobs.setdefault(index, job)
        if event[1] == "clean":
            self.cleaned[index] = event[0]

    def new_active_jobs(self) -> list[int]:
        """The jobs submitted since the request that are still active, in index order."""
        return sorted(index for index in self.new_jobs if index not in self.cleaned)
