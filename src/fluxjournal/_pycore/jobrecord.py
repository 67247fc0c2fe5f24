"""A job as flux-core's job-list module reports it, derived from its eventlog.

:class:`JobRecord` follows job-list's rules (flux-core 0.88.0, ``src/modules/job-list``:
the RFC 21 state machine as ``job_state.c`` applies it, jobspec and R parsed as
``job_data.c`` does) and gives the fields in the names and forms ``flux jobs -a --json``
prints (``flux.job.info.JobInfo``): state and result as names, ``status``, ``returncode``,
the exception flattened into ``exception_*``. A field ``flux jobs`` leaves out is None.

Two fields of ``flux jobs`` depend on the moment it runs and are not kept: ``runtime`` of
a running job (None until the job leaves RUN) and ``t_remaining``.

What the eventlog, jobspec and R hold is read with its JSON types checked, so that every
field keeps the type of its column: a context value of another type (or an integer beyond
64 bits) reads as if it were absent, and a jobspec or R that is not as job-list reads it
leaves the fields it would give unknown. The work is bounded by the size of the input.

This is the pure-Python implementation (``fluxjournal._pycore.JobRecord``);
``fluxjournal._core.JobRecord`` is the compiled one, with the same results.
"""

from __future__ import annotations

import os
from typing import Any

from fluxjournal._pycore.loads import loads
from fluxjournal.joblist.hostlist import (
    MAX_IDS,
    decode_idset,
    encode_hostlist,
    encode_idset,
    expand_hostlist,
)
from fluxjournal.joblist.states import (
    CANCELED,
    CANCELED_RETURNCODE,
    CLEANUP,
    COMPLETED,
    DEPEND,
    FAILED,
    INACTIVE,
    INT64_MAX,
    INT64_MIN,
    INT_MAX,
    INT_MIN,
    JOBSPEC_UPDATE_ROOTS,
    MAX_CORE_PAIRS,
    NEW,
    PENDING,
    PRIORITY,
    RESULT_NAMES,
    RUN,
    RUNNING,
    SCHED,
    STATE_NAMES,
    TIMEOUT,
)
from fluxjournal.wire.jsontext import compact_json
from fluxjournal.wire.protocol import MAX_DEPTH

#: Where a row of ``Response.rows()`` keeps timestamp, name and context (from its end).
_TIMESTAMP, _NAME, _CONTEXT = -3, -2, -1

#: What reading a malformed jobspec or R raises.
_MALFORMED = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)


class JobRecord:
    """One job's job-list state, brought up to date one eventlog entry at a time."""

    __slots__ = (
        "id",
        "userid",
        "urgency",
        "priority",
        "state",
        "states_mask",
        "states_events_mask",
        "t_submit",
        "t_depend",
        "t_priority",
        "t_sched",
        "t_run",
        "t_cleanup",
        "t_inactive",
        "t_free",
        "submit_version",
        "ntasks",
        "ncores",
        "nnodes",
        "duration",
        "expiration",
        "waitstatus",
        "success",
        "result",
        "exception_occurred",
        "exception_severity",
        "exception_type",
        "exception_note",
        "name",
        "cwd",
        "queue",
        "project",
        "bank",
        "ranks",
        "nodelist",
        "tasks_per_node",
        "tasks_per_core",
        "dependencies",
        "jobspec_text",
        "R_text",
    )

    def __init__(self, jobid: int) -> None:
        self.id = jobid
        self.userid: int | None = None
        self.urgency: int | None = None
        self.priority = 0
        self.state = NEW
        self.states_mask = NEW
        self.states_events_mask = NEW
        self.t_submit = self.t_depend = self.t_priority = self.t_sched = 0.0
        self.t_run = self.t_cleanup = self.t_inactive = 0.0
        #: where the allocation ended (the ``free`` entry): not job-list's, stored beside
        self.t_free: float | None = None
        self.submit_version = -1
        self.ntasks = self.ncores = self.nnodes = -1
        self.duration = -1.0
        self.expiration = -1.0
        self.waitstatus = -1
        self.success = False
        self.result = FAILED
        self.exception_occurred = False
        self.exception_severity: int | None = None
        self.exception_type: str | None = None
        self.exception_note: str | None = None
        self.name: str | None = None
        self.cwd: str | None = None
        self.queue: str | None = None
        self.project: str | None = None
        self.bank: str | None = None
        self.ranks: str | None = None
        self.nodelist: str | None = None
        self.tasks_per_node = 0
        self.tasks_per_core = 0
        self.dependencies: list[str] | None = None
        # kept as text: decoded when read, so that a job holds no dicts for the collector
        self.jobspec_text: str | None = None
        self.R_text: str | None = None

    @property
    def inactive(self) -> bool:
        """True once the job is over: no more events will come."""
        return self.state == INACTIVE

    # -- taking events -----------------------------------------------------------------

    def apply(self, rows: list[tuple], jobspec_text: str | None, R_text: str | None) -> None:
        """Take entries (rows of ``Response.rows()``) and the response's jobspec and R."""
        if jobspec_text is not None and self.jobspec_text is None:
            self.jobspec_text = jobspec_text
        if R_text is not None and self.R_text is None:
            self.R_text = R_text
        handlers = _HANDLERS
        for row in rows:
            handler = handlers.get(row[_NAME])
            if handler is not None:
                handler(self, row[_TIMESTAMP], row[_CONTEXT])

    def _context(self, text: str) -> dict:
        value = loads(text)
        return value if isinstance(value, dict) else {}

    def _on_submit(self, t: float, text: str) -> None:
        context = self._context(text)
        self.userid = _integer(context.get("userid"), None)
        self.urgency = _integer(context.get("urgency"), None)
        self.submit_version = _integer(context.get("version", -1), -1)
        self.t_submit = t

    def _on_validate(self, t: float, text: str) -> None:
        self._transition(DEPEND, t)

    def _on_depend(self, t: float, text: str) -> None:
        self._transition(PRIORITY, t)

    def _on_priority(self, t: float, text: str) -> None:
        self.priority = _integer(self._context(text).get("priority", self.priority), self.priority)
        if self.state == PRIORITY:
            self._transition(SCHED, t, conditional=True)

    def _on_alloc(self, t: float, text: str) -> None:
        self._transition(RUN, t)

    def _on_finish(self, t: float, text: str) -> None:
        self.waitstatus = _integer(self._context(text).get("status", -1), -1, INT_MIN, INT_MAX)
        if self.waitstatus == 0 and not (self.exception_occurred and self.exception_severity == 0):
            self.success = True
        self._transition(CLEANUP, t)

    def _on_clean(self, t: float, text: str) -> None:
        self._transition(INACTIVE, t)

    def _on_free(self, t: float, text: str) -> None:
        self.t_free = t

    def _on_urgency(self, t: float, text: str) -> None:
        self.urgency = _integer(self._context(text).get("urgency", self.urgency), self.urgency)
        self._revert(t)

    def _on_exception(self, t: float, text: str) -> None:
        context = self._context(text)
        severity = _integer(context.get("severity", 0), 0)
        if not self.exception_occurred or severity < self.exception_severity:
            self.exception_occurred = True
            self.exception_severity = severity
            self.exception_type = _string(context.get("type"))
            self.exception_note = _string(context.get("note"))
        if severity == 0:
            self._transition(CLEANUP, t)

    def _on_jobspec_update(self, t: float, text: str) -> None:
        jobspec = self._jobspec()
        if jobspec is not None:
            for path, value in self._context(text).items():
                if path.split(".", 1)[0] in JOBSPEC_UPDATE_ROOTS:
                    _set_path(jobspec, path, value)
            self.jobspec_text = compact_json(jobspec)
            self._parse_jobspec()
        self._revert(t)

    def _on_resource_update(self, t: float, text: str) -> None:
        R = self._R()
        if R is not None:
            context = self._context(text)
            if "expiration" in context:
                _set_path(R, "execution.expiration", context["expiration"])
                self.R_text = compact_json(R)
            self._parse_R()

    def _on_dependency_add(self, t: float, text: str) -> None:
        description = _string(self._context(text).get("description"))
        if self.dependencies is None:
            self.dependencies = []
        if description not in self.dependencies:
            self.dependencies.append(description)

    def _on_dependency_remove(self, t: float, text: str) -> None:
        description = _string(self._context(text).get("description"))
        if self.dependencies and description in self.dependencies:
            self.dependencies.remove(description)

    def _on_flux_restart(self, t: float, text: str) -> None:
        self._revert(t)

    # -- the state machine, as job_state.c runs it -------------------------------------

    def _transition(self, state: int, t: float, conditional: bool = False) -> None:
        if not conditional and state & self.states_events_mask and state not in (PRIORITY, SCHED):
            return  # a state is entered once, but for the two a job may go back to
        self.states_events_mask |= state
        if state == DEPEND:
            self._parse_jobspec()
        elif state == RUN:
            self._parse_R()
        elif state == INACTIVE:
            if self.success:
                self.result = COMPLETED
            elif self.exception_occurred:
                if self.exception_type == "cancel":
                    self.result = CANCELED
                elif self.exception_type == "timeout":
                    self.result = TIMEOUT
        self._enter(state, t)

    def _revert(self, t: float) -> None:
        """Back from SCHED to PRIORITY (urgency, jobspec-update, flux-restart)."""
        if self.state != SCHED:
            return
        self.states_events_mask |= PRIORITY
        self.states_mask &= ~(SCHED | PRIORITY)
        self._enter(PRIORITY, t)

    def _enter(self, state: int, t: float) -> None:
        self.state = state
        if state == DEPEND:
            self.t_depend = t
        elif state == PRIORITY:
            if self.t_priority == 0.0:
                self.t_priority = t
        elif state == SCHED:
            if self.t_sched == 0.0:
                self.t_sched = t
        elif state == RUN:
            self.t_run = t
        elif state == CLEANUP:
            self.t_cleanup = t
        elif state == INACTIVE:
            self.t_inactive = t
        self.states_mask |= state

    # -- jobspec and R, as job_data.c reads them ---------------------------------------

    def _jobspec(self) -> dict | None:
        return _decoded_object(self.jobspec_text)

    def _R(self) -> dict | None:
        return _decoded_object(self.R_text)

    def _parse_jobspec(self) -> None:
        jobspec = self._jobspec()
        if jobspec is None:
            return
        try:
            system = jobspec.get("attributes", {}).get("system", {})
            job = system.get("job")
            self.name = _text(job.get("name") if isinstance(job, dict) else None)
            if self.name is None:
                self.name = _command_name(jobspec["tasks"][0]["command"][0])
            self.cwd = _text(system.get("cwd"))
            self.queue = _text(system.get("queue"))
            self.duration = float(system["duration"])
            self.project = _text(system.get("project", self.project))
            self.bank = _text(system.get("bank", self.bank))
        except _MALFORMED:
            return
        try:
            nnodes, nslots, slot_size, exclusive = _resource_counts(jobspec["resources"])
            if nslots <= 0 or slot_size <= 0:
                return
            if nnodes:
                nslots = _product(nslots, nnodes)
            self.nnodes = nnodes if nnodes else -1
            self._count_tasks(jobspec, system, nnodes, nslots, slot_size)
            self.ncores = -1 if nnodes and exclusive else _product(nslots, slot_size)
        except _MALFORMED:
            return

    def _count_tasks(
        self, jobspec: dict, system: dict, nnodes: int, nslots: int, slot_size: int
    ) -> None:
        options = system.get("shell", {}).get("options", {})
        per_resource = options.get("per-resource") if isinstance(options, dict) else None
        if isinstance(per_resource, dict):
            kind = per_resource.get("type")
            if kind == "node":
                count = _checked(per_resource.get("count", 1))
                if nnodes:
                    self.ntasks = _product(nnodes, count)
                else:
                    self.tasks_per_node = count
                    self.ntasks = -1
                return
            if kind == "core":
                count = _checked(per_resource.get("count", 1))
                if not nnodes:
                    self.ntasks = _product(_product(nslots, slot_size), count)
                else:
                    self.tasks_per_core = count
                    self.ntasks = -1
                return
        try:
            self.ntasks = _checked(int(jobspec["tasks"][0]["count"]["total"]))
        except (KeyError, IndexError, TypeError, ValueError, OverflowError):
            self.ntasks = nslots

    def _parse_R(self) -> None:
        R = self._R()
        if R is None:
            return
        try:
            execution = R["execution"]
            expiration = execution.get("expiration", -1.0)
            expiration = float(expiration) if expiration > 0 else 0.0
            cores = _cores_by_rank(execution["R_lite"])
            hosts = _hosts(execution.get("nodelist", []), len(cores))
            nnodes = len(cores)
            ncores = sum(len(ids) for ids in cores.values())
            ntasks = self.ntasks
            if self.tasks_per_node:
                ntasks = _product(nnodes, self.tasks_per_node)
            if self.tasks_per_core:
                ntasks = _product(ncores, self.tasks_per_core)
        except _MALFORMED:
            return
        self.expiration = expiration
        self.nnodes = nnodes
        self.ncores = ncores
        self.ntasks = ntasks
        self.ranks = encode_idset(sorted(cores))
        self.nodelist = encode_hostlist(hosts)

    # -- what flux jobs -a --json says --------------------------------------------------

    def fields(self) -> tuple:
        """The values of :data:`fluxjournal.storage.schema.JOB_FIELDS`, in that order."""
        mask = self.states_mask
        over = bool(mask & INACTIVE)
        ran = bool(mask & RUN)
        state_name = STATE_NAMES[self.state]
        result = RESULT_NAMES[self.result] if over else None
        status = state_name if self.state & (PENDING | RUNNING) else result
        runtime = None
        if self.t_cleanup > 0 and self.t_run > 0:
            runtime = self.t_cleanup - self.t_run or None
        t_depend: float | None = None
        if self.submit_version < 1:
            t_depend = self.t_submit or None
        elif mask & DEPEND:
            t_depend = self.t_depend or None
        return (
            self.userid,
            self.urgency,
            self.priority if mask & SCHED else None,
            state_name,
            status,
            result,
            self.success if over else None,
            self.waitstatus if self.waitstatus >= 0 else None,
            self._returncode(over),
            self.exception_occurred if over else False,
            self.exception_type if over and self.exception_occurred else None,
            self.exception_severity if over and self.exception_occurred else None,
            self.exception_note if over and self.exception_occurred else None,
            self.t_submit or None,
            t_depend,
            self.t_priority or None,
            self.t_sched or None,
            (self.t_run or None) if ran else None,
            (self.t_cleanup or None) if mask & CLEANUP else None,
            (self.t_inactive or None) if over else None,
            runtime,
            self.duration if self.duration >= 0 else None,
            (self.expiration or None) if ran and self.expiration >= 0 else None,
            self.ntasks if self.ntasks >= 0 else None,
            self.ncores if self.ncores >= 0 else None,
            self.nnodes if self.nnodes >= 0 else None,
            self.ranks if ran else None,
            self.nodelist if ran else None,
            self.name or None,
            self.cwd or None,
            self.queue or None,
            self.project or None,
            self.bank or None,
            compact_json(self.dependencies) if self.dependencies is not None else "[]",
            self.jobspec_text,
            self.R_text,
        )

    def _returncode(self, over: bool) -> int | None:
        if self.waitstatus >= 0:
            status = self.waitstatus
            if os.WIFSIGNALED(status):
                return -os.WTERMSIG(status)
            if os.WIFEXITED(status):
                return os.WEXITSTATUS(status)
            return None
        if not over:
            return None
        if self.result == CANCELED:
            return CANCELED_RETURNCODE
        return 1 if self.result == FAILED else None


_HANDLERS = {
    "submit": JobRecord._on_submit,
    "validate": JobRecord._on_validate,
    "depend": JobRecord._on_depend,
    "priority": JobRecord._on_priority,
    "alloc": JobRecord._on_alloc,
    "finish": JobRecord._on_finish,
    "clean": JobRecord._on_clean,
    "free": JobRecord._on_free,
    "urgency": JobRecord._on_urgency,
    "exception": JobRecord._on_exception,
    "jobspec-update": JobRecord._on_jobspec_update,
    "resource-update": JobRecord._on_resource_update,
    "dependency-add": JobRecord._on_dependency_add,
    "dependency-remove": JobRecord._on_dependency_remove,
    "flux-restart": JobRecord._on_flux_restart,
}


def _decoded_object(text: str | None) -> dict | None:
    """The JSON object ``text`` holds; None when there is no text or it is no object."""
    if text is None:
        return None
    value = loads(text)
    return value if isinstance(value, dict) else None


def _integer(value: Any, default: Any, low: int = INT64_MIN, high: int = INT64_MAX) -> Any:
    """``value`` if it is a JSON integer from ``low`` to ``high``, else ``default``: a
    context value of another type reads as if it were absent."""
    return value if type(value) is int and low <= value <= high else default


def _string(value: Any) -> str | None:
    """``value`` if it is a string, else None (a context value of another type)."""
    return value if type(value) is str else None


def _text(value: Any) -> str | None:
    """``value``, a string of the jobspec or None; TypeError for anything else."""
    if value is not None and type(value) is not str:
        raise TypeError(f"not a string: {value!r}")
    return value


def _checked(value: Any) -> int:
    """``value``, a count of the jobspec: a JSON integer of 64 bits; TypeError or
    OverflowError for anything else."""
    if type(value) is not int:
        raise TypeError(f"not an integer: {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise OverflowError(f"integer out of range: {value}")
    return value


def _product(a: int, b: int) -> int:
    """``a * b``; OverflowError when it leaves 64 bits."""
    return _checked(a * b)


def _command_name(arg0: str) -> str:
    """The job name job-list gives a job without one: the command's last path part."""
    slash = arg0.rfind("/")
    return arg0 if slash < 0 or slash == len(arg0) - 1 else arg0[slash + 1 :]


def _resource_counts(resources: list) -> tuple[int, int, int, bool]:
    """(nodes, slots, cores per slot, exclusive) of a jobspec's resources, as job-list's
    jj_get_counts reads them: depth first, in document order, the last of a type winning;
    a node's count multiplied by the counts above it."""
    nnodes = nslots = slot_size = 0
    exclusive = False
    pending = [(entry, 1) for entry in reversed(_array(resources))]
    while pending:
        entry, factor = pending.pop()
        count = _checked(entry["count"])
        kind = entry["type"]
        factor = _product(factor, count)
        if kind == "node":
            nnodes = factor
            if entry.get("exclusive"):
                exclusive = True
        elif kind == "slot":
            nslots = count
        elif kind == "core":
            slot_size = count
        if "with" in entry:
            pending.extend((child, factor) for child in reversed(_array(entry["with"])))
    return nnodes, nslots, slot_size, exclusive


def _array(value: Any) -> list:
    """``value``, a list of resources; TypeError for anything else."""
    if type(value) is not list:
        raise TypeError(f"resources are not an array: {value!r}")
    return value


def _cores_by_rank(R_lite: Any) -> dict[int, frozenset[int] | set[int]]:
    """The core ids of each rank an R's ``R_lite`` names. A rank named by one entry shares
    that entry's set; ValueError past MAX_IDS ranks or MAX_CORE_PAIRS (rank, core) pairs."""
    cores: dict[int, frozenset[int] | set[int]] = {}
    named = pairs = 0
    for entry in R_lite:
        ids = decode_idset(entry.get("children", {}).get("core", ""))
        ranks = decode_idset(entry["rank"])
        named += len(ranks)
        pairs += len(ranks) * len(ids)
        if named > MAX_IDS or pairs > MAX_CORE_PAIRS:
            raise ValueError("R_lite names too many ranks or cores")
        shared = frozenset(ids)
        for rank in ranks:
            have = cores.get(rank)
            if have is None:
                cores[rank] = shared
            elif have is not shared:
                if type(have) is frozenset:
                    have = cores[rank] = set(have)
                have.update(shared)
    return cores


def _hosts(nodelist: Any, needed: int) -> list[str]:
    """The first ``needed`` hosts of an R's ``nodelist`` (entries past them are not read)."""
    hosts: list[str] = []
    for hostlist in nodelist:
        if len(hosts) >= needed:
            break
        if type(hostlist) is not str:
            raise TypeError(f"not a hostlist: {hostlist!r}")
        hosts += expand_hostlist(hostlist, needed - len(hosts))
    return hosts


def _set_path(target: dict, path: str, value: Any) -> None:
    """``target[a][b][c] = value`` for the path ``a.b.c``, making the levels it lacks; not
    done when ``value`` would then lie deeper than the decoders read (MAX_DEPTH)."""
    keys = path.split(".")
    if _nested_deeper_than(value, MAX_DEPTH - len(keys)):
        return
    for key in keys[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value


def _nested_deeper_than(value: Any, levels: int) -> bool:
    """Whether ``value`` holds containers more than ``levels`` deep (a list or object is
    one level, what it holds the next)."""
    pending = [(value, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > levels:
            return True
        pending.extend((child, level + 1) for child in children)
    return False
