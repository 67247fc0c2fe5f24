"""SimulatedFlux: a fake handle on a simulated job manager, with history and live events.

It serves a deterministic, lazily made job history of any size, the sentinel, then live
events, so that consumers and stores can be tested and benchmarked at scale without a
broker; the jobs themselves come from :mod:`fluxjournal.testing.simulation`.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, Callable

from fluxjournal.testing.handle import (
    JOB_JOURNAL_TOPIC,
    JOB_SENTINEL,
    RESOURCE_JOURNAL_TOPIC,
    RESOURCE_SENTINEL,
    FakeFlux,
    Stream,
)
from fluxjournal.testing.simulation import (
    Event,
    Instance,
    Job,
    JobMaker,
    Progress,
    Submissions,
    entry,
    idset,
    scatter,
)

__all__ = ["SimulatedFlux"]

#: Which jobs are Flux instances: those whose key, spread by this odd number, falls below
#: the share asked for, in thousandths.
_SPREAD = 2654435761
_PER_MILLE = 1000
#: What a simulated instance's URI carries, and how each value is read back.
_URI_PARAMETERS: dict[str, Callable[[str], Any]] = {
    "jobs": int,
    "seed": int,
    "live": int,
    "epoch": float,
    "rate": float,
    "instances": float,
    "ends": lambda text: text == "1",
}


def _uri_value(value: Any) -> str:
    """A parameter's value as the URI carries it (empty for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


#: The live events whose response carries a key of the job's besides the event.
_SENT_WITH = {"submit": "jobspec", "alloc": "R"}


def _event_filter(request: dict[str, Any]) -> Callable[[str], bool] | None:
    """The job manager's allow/deny check for a request; None when all pass."""
    allow = request.get("allow")
    deny = request.get("deny")
    if allow is None and deny is None:
        return None
    return lambda name: (allow is None or name in allow) and (deny is None or name not in deny)


def _backlog_response(
    job: Job, eventlog: list[Event], allowed: Callable[[str], bool] | None
) -> bytes:
    """A job's backlog response: its eventlog less what the filter drops, its jobspec, and
    its R once it is allocated."""
    sent = eventlog if allowed is None else [e for e in eventlog if allowed(e[1])]
    entries = ",".join(map(entry, sent))
    allocated = job.t_alloc is not None and job.t_alloc <= eventlog[-1][0]
    R = f',"R":{job.R}' if allocated else ""
    return f'{{"id":{job.jobid},"events":[{entries}],"jobspec":{job.jobspec}{R}}}'.encode()


#: The most entries of a resource journal's history response, as the resource module
#: batches them.
_RESOURCE_BATCH = 100
#: The longest pause, in seconds, between two changes of the simulated resources.
_RESOURCE_PAUSE = 60.0
#: The shares of the changes that are a restart of the instance, and (below it, the
#: restarts included) a node going offline.
_RESTART_SHARE = 0.05
_OFFLINE_SHARE = 0.3


def _logged(t: float, name: str, context: str) -> str:
    """A resource eventlog entry's text."""
    return entry((t, name, ',"context":' + context))


def _batches(entries: list[str]) -> list[str]:
    """History responses holding ``entries``, up to :data:`_RESOURCE_BATCH` each."""
    return [
        '{"events":[' + ",".join(entries[i : i + _RESOURCE_BATCH]) + "]}"
        for i in range(0, len(entries), _RESOURCE_BATCH)
    ]


class SimulatedFlux(FakeFlux):
    """A handle on a simulated flux-core 0.88.0 instance, its job history and live jobs.

    ``jobs`` jobs have been submitted at :attr:`request_time`; the last ``active`` of them
    (``jobs // 20`` by default) are still pending or running, the others are over. From
    then on ``live`` events are posted: the rest of the active jobs' lives and new
    submissions. A journal request finds the instance after the first ``posted`` of those
    (0 by default, at most ``live``, else ValueError), at :attr:`asked_at`: its backlog
    holds each job's eventlog as it then is (jobs submitted meanwhile included, those
    whose eventlog now ends with ``clean`` inactive), and its live events are the other
    ``live - posted``. After them the stream stays open, silent, until it is cancelled.

    ``keep_inactive`` is the job manager's purge (``job-manager.inactive-num-limit``):
    the backlog holds only that many inactive jobs, those whose ``clean`` is latest when
    asked; older ones are purged. None (the default) keeps them all; active jobs are never
    purged.

    Everything is a function of the arguments, ``seed`` included: payloads are
    byte-identical from run to run, and every request sees the instance at the same moment
    (requests do not move it on). Jobs are made lazily, as they are sent, so a history of
    millions of jobs holds 16 bytes a job in memory; ``posted`` keeps what its events add,
    and ``keep_inactive`` makes every inactive job once to find the latest.

    Jobs follow the captures: completed and failed jobs, timeouts, jobs cancelled while
    running, pending or held, held jobs released, urgency changes, afterok and begin-time
    dependencies, memos, named jobs with user attributes, 2-slot and node-exclusive jobs,
    the scheduler's ``annotations`` before ``alloc`` (live only: it is not kept in the
    eventlog). Timestamps increase within a job. Job ids are FLUIDs whose timestamp is the
    submit time in ms since :attr:`epoch`.

    ``job-manager.events-journal``: the backlog (inactive jobs then active ones with
    ``full``, active ones only without), each in a fixed hash-table order, the sentinel,
    then live events one per response in the order the job manager posts them: events of
    different jobs may be posted out of timestamp order (a few ms late), those of one job
    never are. ``allow``/``deny`` filter entries as the service does: every job still gets
    its backlog response, and filtered live events are not sent (``live`` and ``posted``
    count events posted, sent or not). On cancel, the backlog and sentinel still come
    whole, but live events not yet received are dropped, since the job manager would have
    posted them after the cancel; then ENODATA. ``rate`` paces live responses (per
    second); by default all are ready.

    ``resource.journal``: ``restart`` and rank 0's ``online``, ``resource-define`` alone
    with R, the other ranks' ``online`` and ``drains`` drain/undrain pairs in batches of up
    to 100, then the sentinel ``{"events":[]}``. Then ``resource_live`` changes, one entry
    a response (paced by ``resource_rate``, per second; at most ``resource_pause`` seconds
    apart in their timestamps), the first ``resource_posted`` of
    them already in the history (in its batches): a node drained or undrained, going
    offline or online, and now and then the instance restarted (``restart``, rank 0
    ``online``, ``resource-define`` with R again, the other ranks ``online``). On cancel
    the live entries not yet received are dropped; ``ends`` ends this stream too. The job
    journal is the same whatever these are.

    The other arguments: ``nodes`` and ``cores`` (per node) make up the cluster jobs run
    on (hosts ``node0``, ``node1``, ...); ``epoch`` is the instance's start and FLUID
    epoch (Unix time); ``interval`` is the mean pause, in seconds, between bursts of
    submissions. :meth:`journal_payloads` and :meth:`resource_payloads` give the payloads
    without going through a handle.
    """

    _topics = (JOB_JOURNAL_TOPIC, RESOURCE_JOURNAL_TOPIC)

    def __init__(
        self,
        jobs: int = 1000,
        seed: int = 0,
        live: int = 0,
        *,
        posted: int = 0,
        keep_inactive: int | None = None,
        active: int | None = None,
        nodes: int = 4,
        cores: int = 4,
        epoch: float = 1795837729.578,
        interval: float = 1.0,
        rate: float | None = None,
        drains: int = 1,
        instances: float = 0.0,
        ends: bool = False,
        resource_live: int = 0,
        resource_posted: int = 0,
        resource_rate: float | None = None,
        resource_pause: float = _RESOURCE_PAUSE,
    ) -> None:
        super().__init__()
        if not 0.0 <= instances <= 1.0:
            raise ValueError(f"instances must be a share between 0 and 1, not {instances}")
        if active is None:
            active = jobs // 20
        if min(jobs, live, active, drains) < 0 or active > jobs:
            raise ValueError("jobs, live, drains must be >= 0 and 0 <= active <= jobs")
        if not 0 <= posted <= live:
            raise ValueError(f"posted must be between 0 and live ({live}), not {posted}")
        if not 0 <= resource_posted <= resource_live:
            raise ValueError(
                f"resource_posted must be between 0 and resource_live ({resource_live}), "
                f"not {resource_posted}"
            )
        if not resource_pause > 0:
            raise ValueError("resource_pause must be > 0")
        if resource_rate is not None and resource_rate <= 0:
            raise ValueError("resource_rate must be > 0")
        if keep_inactive is not None and keep_inactive < 0:
            raise ValueError("keep_inactive must be None or >= 0")
        if nodes < 1 or cores < 1 or interval <= 0 or (rate is not None and rate <= 0):
            raise ValueError("nodes, cores, interval and rate must be > 0")
        self.jobs = jobs
        self.seed = int(seed)
        self.live = live
        self.posted = posted
        self.keep_inactive = keep_inactive
        self.active = active
        self.nodes = nodes
        self.cores = cores
        self.epoch = float(epoch)
        self.interval = float(interval)
        self.rate = rate
        self.drains = drains
        self.instances = float(instances)
        self.ends = ends
        self.resource_live = resource_live
        self.resource_posted = resource_posted
        self.resource_rate = resource_rate
        #: the longest pause, in seconds, between two resource changes
        self.resource_pause = resource_pause
        # Worked out when first needed, under the lock (reentrant: one needs the other).
        self._lock = threading.RLock()
        self._instance: Instance | None = None
        self._after_posted: Progress | None = None
        self._latest_before_request: dict[int, set[int]] = {}  # by how many
        # Job i is seeded with key_base | i: any job can be made alone, in any order.
        self._key_base = random.Random(f"fluxjournal.testing:{seed}:jobs").getrandbits(22) << 40

    def _state(self) -> Instance:
        with self._lock:
            if self._instance is None:
                self._instance = Instance(
                    self.jobs, self.active, self.seed, self.epoch, self.interval
                )
            return self._instance

    def _progress(self) -> Progress:
        """What the first ``posted`` posted events did (worked out once, posting them)."""
        with self._lock:
            if self._after_posted is None:
                progress = Progress(self._state().request_time, self.jobs)
                for post, event, job, index in itertools.islice(self._posts(), self.posted):
                    progress.add(post, event, job, index)
                self._after_posted = progress
            return self._after_posted

    @property
    def request_time(self) -> float:
        """The moment the history ends and posting starts: ``jobs`` jobs are submitted,
        the last ``active`` of them active; the live events are posted after it."""
        return self._state().request_time

    @property
    def asked_at(self) -> float:
        """The moment a journal request finds the instance: the post time of the
        ``posted``-th posted event, :attr:`request_time` when ``posted`` is 0."""
        return self._progress().asked_at

    def _history_job(self, maker: JobMaker, index: int) -> Job:
        """Job ``index`` of the ``jobs`` submitted before the request, whole."""
        state = self._state()
        ids, times, request = state.ids, state.times, state.request_time
        dep_id = ids[index - 1 - index % 7] if index else None
        key = self._key_base | index
        job = maker.make(key, ids[index], times[index], dep_id)
        if index < state.n_inactive:
            if job.t_clean >= request:
                job = maker.make(key, ids[index], times[index], dep_id, short=True)
        elif job.t_clean <= request:
            extra = 0.05 + maker.rng.expovariate(1 / 30.0)
            pad_run = maker.rng.random() < 0.5
            pad = request - job.t_clean + extra
            job = maker.make(key, ids[index], times[index], dep_id, pad=pad, pad_run=pad_run)
        return job

    def _backlog(self, full: bool, allowed: Callable[[str], bool] | None) -> Iterator[bytes]:
        """A request's backlog responses, one a job, then the sentinel."""
        progress = self._progress()
        request = self.request_time
        maker = self._maker()
        order = self._active_jobs(progress)
        if full:
            order = itertools.chain(self._inactive_jobs(progress), order)
        for index in order:
            job, eventlog = self._eventlog(maker, index, request, progress)
            yield _backlog_response(job, eventlog, allowed)
        yield JOB_SENTINEL

    def _eventlog(
        self, maker: JobMaker, index: int, request: float, progress: Progress
    ) -> tuple[Job, list[Event]]:
        """Job ``index`` and its eventlog when asked: its events up to the request, then
        those among the posted ones (a prefix of the rest: one job's are posted in order),
        without ``annotations``, which the eventlog does not keep."""
        added = progress.added.get(index)
        if index >= self.jobs:
            return progress.new_jobs[index], added or []
        job = self._history_job(maker, index)
        eventlog = [e for e in job.events if e[0] <= request and e[1] != "annotations"]
        if added:
            eventlog += added
        return job, eventlog

    def _inactive_jobs(self, progress: Progress) -> Iterator[int]:
        """The inactive jobs' indices in hash-table order, the purged ones left out."""
        order = scatter(self._state().inactive_order, sorted(progress.cleaned), self._key_base)
        kept = self._kept_by_purge(progress)
        return order if kept is None else (index for index in order if index in kept)

    def _active_jobs(self, progress: Progress) -> Iterator[int]:
        """The active jobs' indices in hash-table order."""
        order = scatter(self._state().active_order, progress.new_active_jobs(), self._key_base)
        over = progress.cleaned
        return order if not over else (index for index in order if index not in over)

    def _kept_by_purge(self, progress: Progress) -> set[int] | None:
        """The inactive jobs the purge has kept when asked; None when it kept them all."""
        keep = self.keep_inactive
        cleaned = progress.cleaned
        if keep is None or keep >= self._state().n_inactive + len(cleaned):
            return None
        # A job that became inactive after the request did so later than all before it.
        kept = set(heapq.nlargest(keep, cleaned, key=cleaned.__getitem__))
        return kept | self._last_inactive_at_request(keep - len(kept))

    def _last_inactive_at_request(self, count: int) -> set[int]:
        """The ``count`` jobs whose ``clean`` is the latest before the request (made once)."""
        if count <= 0:
            return set()
        with self._lock:
            cache = self._latest_before_request
            if count not in cache:
                maker = self._maker()

                def t_clean(index: int) -> float:
                    return self._history_job(maker, index).t_clean

                inactive = range(self._state().n_inactive)
                cache[count] = set(heapq.nlargest(count, inactive, key=t_clean))
            return cache[count]

    def _events_after_request(self) -> Iterator[tuple[float, Event, Job, int]]:
        """Every event after the request, in timestamp order, with its job and its index."""
        state = self._state()
        request = state.request_time
        maker = self._maker()
        heap: list[tuple[float, int, Event, Iterator[Event], Job, int]] = []
        order = itertools.count()

        def follow(job: Job, index: int, events: Iterator[Event]) -> None:
            event = next(events, None)
            if event is not None:
                heapq.heappush(heap, (event[0], next(order), event, events, job, index))

        for index in range(state.n_inactive, self.jobs):
            job = self._history_job(maker, index)
            follow(job, index, (e for e in job.events if e[0] > request))
        recent = deque(state.ids[-8:], maxlen=8)
        submissions = Submissions.resume(state.after, self.epoch, self.interval)
        next_index = self.jobs
        t_next, id_next = submissions.next()
        while True:
            if not heap or t_next <= heap[0][0]:
                dep_id = recent[next_index % len(recent)] if recent else None
                job = maker.make(self._key_base | next_index, id_next, t_next, dep_id)
                follow(job, next_index, iter(job.events))
                recent.append(id_next)
                next_index += 1
                t_next, id_next = submissions.next()
                continue
            t, _, event, events, job, index = heapq.heappop(heap)
            yield t, event, job, index
            follow(job, index, events)

    def _posts(self) -> Iterator[tuple[float, Event, Job, int]]:
        """Every event after the request as the job manager posts it, in posting order:
        its post time, the event, its job and the job's index.

        Some events (never a submit) are posted up to 15 ms after their timestamp, but
        never before an earlier event of their job: events of different jobs come out of
        timestamp order now and then, as on a real broker, and those of one job never do.
        Post times never decrease.
        """
        rng = random.Random(f"fluxjournal.testing:{self.seed}:posting")
        last_post: dict[int, float] = {}
        queue: list[tuple[float, int, Event, Job, int]] = []
        for seq, (t, event, job, index) in enumerate(self._events_after_request()):
            while queue and queue[0][0] <= t:
                post, _, sent, owner, owner_index = heapq.heappop(queue)
                yield post, sent, owner, owner_index
            name = event[1]
            late = rng.random() < 0.1 and name != "submit"
            post = t + rng.uniform(0.0, 0.015) if late else t
            post = max(post, last_post.get(job.jobid, post))
            if name == "clean":
                last_post.pop(job.jobid, None)
            else:
                last_post[job.jobid] = post
            heapq.heappush(queue, (post, seq, event, job, index))

    def _live(self, allowed: Callable[[str], bool] | None) -> Iterator[bytes]:
        """A request's live responses: the posted events after the first ``posted``, up
        to ``live`` posted in all, those the filter lets through."""
        for _, event, job, _ in itertools.islice(self._posts(), self.posted, self.live):
            name = event[1]
            if allowed is None or allowed(name):
                extra = _SENT_WITH.get(name)
                value = f',"{extra}":{getattr(job, extra)}' if extra else ""
                yield f'{{"id":{job.jobid},"events":[{entry(event)}]{value}}}'.encode()

    def journal_payloads(
        self,
        full: bool = True,
        allow: Mapping[str, Any] | None = None,
        deny: Mapping[str, Any] | None = None,
    ) -> Iterator[bytes]:
        """Every payload a job journal request gets: backlog, sentinel, live (lazily)."""
        request: dict[str, Any] = {"full": full}
        if allow is not None:
            request["allow"] = allow
        if deny is not None:
            request["deny"] = deny
        allowed = _event_filter(request)
        return itertools.chain(self._backlog(full, allowed), self._live(allowed))

    def _hosts_and_ranks(self) -> tuple[str, str]:
        """The nodes' hostlist and idset."""
        nodes = self.nodes
        return ("node0" if nodes == 1 else f"node[0-{nodes - 1}]"), idset(0, nodes - 1)

    def _resource_R(self) -> str:
        """The R that ``resource-define`` defines: every node, ``cores`` cores each."""
        hosts, ranks = self._hosts_and_ranks()
        return (
            f'{{"version":1,"execution":{{"R_lite":[{{"rank":"{ranks}","children":'
            f'{{"core":"{idset(0, self.cores - 1)}"}}}}],"starttime":0.0,'
            f'"expiration":0.0,"nodelist":["{hosts}"]}}}}'
        )

    def _resource_history(self) -> tuple[list[str], str, list[str], float]:
        """The resource eventlog up to the first change: its first response's entries,
        ``resource-define``, the entries after it, and the time of the last one."""
        nodes = self.nodes
        hosts, ranks = self._hosts_and_ranks()
        t = self.epoch - 0.9
        head = [
            _logged(t, "restart", f'{{"ranks":"{ranks}","online":"","nodelist":"{hosts}"}}'),
            _logged(t + 0.28, "online", '{"idset":"0"}'),
        ]
        define = _logged(t + 0.46, "resource-define", '{"method":"dynamic-discovery"}')
        rest = []
        t += 0.65
        if nodes > 1:
            rest.append(_logged(t, "online", f'{{"idset":"{idset(1, nodes - 1)}"}}'))
        rng = random.Random(f"fluxjournal.testing:{self.seed}:resource")
        for _ in range(self.drains):
            rank = int(rng.random() * nodes)
            t += rng.uniform(0.1, 600.0)
            rest.append(
                _logged(
                    t,
                    "drain",
                    f'{{"idset":"{rank}","nodelist":"node{rank}",'
                    f'"reason":"testing","overwrite":0}}',
                )
            )
            t += rng.uniform(0.1, 600.0)
            rest.append(
                _logged(t, "undrain", f'{{"idset":"{rank}","nodelist":"node{rank}","overwrite":0}}')
            )
        return head, define, rest, t

    def _resource_changes(self, t: float) -> list[tuple[str, str | None]]:
        """The ``resource_live`` changes after time ``t``: (entry, the R its response
        carries or None), a node's state at a time, so that each change makes sense."""
        nodes = self.nodes
        hosts, ranks = self._hosts_and_ranks()
        rng = random.Random(f"fluxjournal.testing:{self.seed}:resource-changes")
        drained: set[int] = set()
        offline: set[int] = set()
        out: list[tuple[str, str | None]] = []
        while len(out) < self.resource_live:
            t += rng.uniform(0.1, self.resource_pause)
            roll = rng.random()
            rank = int(rng.random() * nodes)
            node = f'"idset":"{rank}","nodelist":"node{rank}"'
            if roll < _RESTART_SHARE:
                out.append(
                    (
                        _logged(
                            t, "restart", f'{{"ranks":"{ranks}","online":"","nodelist":"{hosts}"}}'
                        ),
                        None,
                    )
                )
                out.append((_logged(t + 0.28, "online", '{"idset":"0"}'), None))
                define = _logged(t + 0.46, "resource-define", '{"method":"dynamic-discovery"}')
                out.append((define, self._resource_R()))
                if nodes > 1:
                    back = f'{{"idset":"{idset(1, nodes - 1)}"}}'
                    out.append((_logged(t + 0.65, "online", back), None))
                offline.clear()
                t += 0.65
            elif rank in offline:
                offline.discard(rank)
                out.append((_logged(t, "online", f'{{"idset":"{rank}"}}'), None))
            elif roll < _OFFLINE_SHARE and rank != 0:
                offline.add(rank)
                out.append((_logged(t, "offline", f'{{"idset":"{rank}"}}'), None))
            elif rank in drained:
                drained.discard(rank)
                out.append((_logged(t, "undrain", f'{{{node},"overwrite":0}}'), None))
            else:
                drained.add(rank)
                reason = f'"reason":"maintenance {len(out)}","overwrite":0'
                out.append((_logged(t, "drain", f"{{{node},{reason}}}"), None))
        return out[: self.resource_live]

    def resource_payloads(self) -> list[bytes]:
        """Every payload a resource journal request gets, up to its sentinel."""
        history, _ = self._resource_journal()
        return history

    def resource_live_payloads(self) -> list[bytes]:
        """The live payloads a resource journal request gets after its sentinel."""
        _, live = self._resource_journal()
        return live

    def _resource_journal(self) -> tuple[list[bytes], list[bytes]]:
        """The history (batches of up to 100 entries, ``resource-define`` alone with R;
        the sentinel) and the live responses (one entry each) of a request."""
        head, define, rest, t = self._resource_history()
        changes = self._resource_changes(t)
        payloads = [
            '{"events":[' + ",".join(head) + "]}",
            f'{{"events":[{define}],"R":{self._resource_R()}}}',
        ]
        batch = list(rest)
        for entry_text, R in changes[: self.resource_posted]:
            if R is None:
                batch.append(entry_text)
                continue
            payloads += _batches(batch)
            batch = []
            payloads.append(f'{{"events":[{entry_text}],"R":{R}}}')
        payloads += _batches(batch)
        live = [
            f'{{"events":[{entry_text}]}}' if R is None else f'{{"events":[{entry_text}],"R":{R}}}'
            for entry_text, R in changes[self.resource_posted :]
        ]
        return [p.encode() for p in payloads] + [RESOURCE_SENTINEL], [p.encode() for p in live]

    def _open_stream(self, topic: str, request: dict[str, Any]) -> Stream:
        if topic == RESOURCE_JOURNAL_TOPIC:
            history, live = self._resource_journal()
            return Stream(
                iter(history),
                iter(live),
                live_survives_cancel=False,
                ends=self.ends,
                rate=self.resource_rate,
            )
        allowed = _event_filter(request)
        return Stream(
            self._backlog(bool(request.get("full", False)), allowed),
            self._live(allowed),
            live_survives_cancel=False,
            ends=self.ends,
            rate=self.rate,
        )

    # -- jobs that are Flux instances ---------------------------------------------------

    def _maker(self) -> JobMaker:
        return JobMaker(self.nodes, self.cores, self._child_uri if self.instances else None)

    def _child_uri(self, key: int, t_start: float) -> str | None:
        """The URI of the instance job ``key`` is, when it is one: a simulation of its
        own, seeded by the job, that starts with the job and whose stream ends like that
        of an instance that shuts down; its jobs may be instances in turn."""
        if (key * _SPREAD) % _PER_MILLE >= self.instances * _PER_MILLE:
            return None
        child = SimulatedFlux(
            jobs=3 + key % 17,
            seed=key & 0xFFFFFFFF,
            live=20 + key % 40,
            epoch=round(t_start, 6),
            instances=self.instances,
            ends=True,
        )
        return child.uri

    @property
    def uri(self) -> str:
        """A URI that :meth:`from_uri` (and ``fluxjournal ingest --uri``) opens as this
        simulation: ``simulated:`` and its parameters (those the URI carries)."""
        values = ",".join(f"{name}={_uri_value(getattr(self, name))}" for name in _URI_PARAMETERS)
        return f"simulated:{values}"

    @classmethod
    def from_uri(cls, uri: str) -> SimulatedFlux:
        """The simulation ``uri`` (from :attr:`uri`) names; ValueError for another URI."""
        scheme, _, text = uri.partition(":")
        if scheme != "simulated":
            raise ValueError(f"not a simulated instance's URI: {uri!r}")
        params: dict[str, Any] = {}
        for item in filter(None, text.split(",")):
            name, _, value = item.partition("=")
            kind = _URI_PARAMETERS.get(name)
            if kind is None:
                raise ValueError(f"{uri!r}: no parameter {name!r}")
            params[name] = None if value == "" else kind(value)
        return cls(**params)
