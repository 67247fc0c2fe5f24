"""A stored job as ``flux jobs`` shows it: job-list's fields and the ones flux jobs derives.

:class:`JobView` stands for one row of the jobs table, with every field a ``flux jobs``
format may name (``status_abbrev``, ``contextual_time``, ``inactive_reason``,
``returncode``, ``runtime``, ``t_remaining``, ``username``, the job ID in each of its
forms, ...), computed the way flux-core's ``flux.job.info.JobInfo`` computes them, and
:meth:`JobView.to_dict` gives the object of ``flux jobs --json``. Times that depend on the
present (the runtime of a running job, its time left) are taken at the listing's ``now``.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
from datetime import datetime
from functools import cache
from typing import Any

from fluxjournal.joblist import states
from fluxjournal.reading.textformat import fsd

#: The one-letter state names (``state_single``, ``status_abbrev``).
STATE_LETTERS = {
    "NEW": "N",
    "DEPEND": "D",
    "PRIORITY": "P",
    "SCHED": "S",
    "RUN": "R",
    "CLEANUP": "C",
    "INACTIVE": "I",
}
RESULT_ABBREVIATIONS = {"COMPLETED": "CD", "FAILED": "F", "CANCELED": "CA", "TIMEOUT": "TO"}
STATE_EMOJI = {
    "NEW": "\U0001f381",
    "DEPEND": "\U0001f6d1",
    "PRIORITY": "\U0001f6a6",
    "SCHED": "\U0001f4c5",
    "RUN": "\U0001f3c3",
    "CLEANUP": "\U0001f5d1",
    "INACTIVE": "\U0001f480",
}
RESULT_EMOJI = {"COMPLETED": "\U0001f600", "FAILED": "\U0001f4a9", "CANCELED": "\U0001f4a5"}
RESULT_EMOJI["TIMEOUT"] = "\u231b"
#: ``result_emoji`` of a job with no result yet: an ideographic space.
NO_RESULT_EMOJI = "\u3000"
PENDING_STATES = frozenset(("DEPEND", "PRIORITY", "SCHED"))
ACTIVE_STATES = frozenset(("DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP"))
RUNNING_STATES = frozenset(("RUN", "CLEANUP"))
BEGIN_TIME = "begin-time="

#: job-list's fields that ``flux jobs`` gives a value when job-list has none, and that
#: value: a time never reached is 0.0, the rest empty text.
DEFAULTS: dict[str, Any] = {
    "t_depend": 0.0,
    "t_priority": 0.0,
    "t_sched": 0.0,
    "t_run": 0.0,
    "t_cleanup": 0.0,
    "t_inactive": 0.0,
    "duration": 0.0,
    "expiration": 0.0,
    "name": "",
    "cwd": "",
    "queue": "",
    "project": "",
    "bank": "",
    "ntasks": "",
    "ncores": "",
    "nnodes": "",
    "priority": "",
    "ranks": "",
    "nodelist": "",
    "success": "",
    "result": "",
    "waitstatus": "",
}
#: The keys of ``flux jobs --json`` after the defaults, in its order.
DICT_PROPERTIES = (
    "id",
    "t_submit",
    "t_remaining",
    "state",
    "result",
    "username",
    "userid",
    "urgency",
    "runtime",
    "status",
    "returncode",
    "dependencies",
)
#: Keys whose zero means unset in ``flux jobs --json`` (besides every ``t_`` key).
ZERO_MEANS_UNSET = ("runtime", "expiration")


@cache
def username(userid: int) -> str:
    """The name passwd gives the uid on this machine, or the uid itself."""
    try:
        return pwd.getpwuid(userid).pw_name
    except (KeyError, OverflowError):
        return str(userid)


class Empty:
    """What an annotation that is not there reads as: empty whatever is asked of it."""

    def __getattr__(self, name: str) -> Empty:
        return Empty()

    def __str__(self) -> str:
        return ""

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format("", spec.rstrip("bcdoxXeEfFgGn%"))


class Annotations:
    """A job's annotations, read as attributes along their keys (``sched.t_estimate``);
    a missing key reads as :class:`Empty`; printed, the JSON object (nothing when empty)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getattr__(self, name: str) -> Any:
        if name == "data":
            raise AttributeError(name)
        try:
            value = self.data[name]
        except (KeyError, TypeError):
            return Empty()
        return Annotations(value) if isinstance(value, dict) else value

    def __str__(self) -> str:
        return json.dumps(self.data) if self.data else ""

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class ExceptionInfo:
    """The job's exception as ``flux jobs`` reads it: occurred, severity, type, note."""

    __slots__ = ("occurred", "severity", "type", "note")

    def __init__(self, occurred: Any, severity: Any, kind: Any, note: Any) -> None:
        self.occurred = occurred
        self.severity = severity
        self.type = kind
        self.note = note

    def as_dict(self) -> dict[str, Any]:
        return {
            "occurred": self.occurred,
            "severity": self.severity,
            "type": self.type,
            "note": self.note,
        }


class DependencyList(list):
    """``dependencies``: printed as its items joined by commas; like flux jobs' list, it
    takes no format spec but ``h`` (which prints it as text)."""

    def __str__(self) -> str:
        return ",".join(self)


def dependency_text(dependency: str, today: datetime) -> str:
    """A dependency as ``flux jobs`` prints it: ``begin-time=T`` as ``begin@HH:MM``
    (with the date when not ``today``, and ``:SS`` when not on the minute)."""
    if not dependency.startswith(BEGIN_TIME):
        return dependency
    when = datetime.fromtimestamp(float(dependency[len(BEGIN_TIME) :])).astimezone()
    text = f"begin@{when:%H:%M}" if when.date() == today.date() else f"begin@{when:%b%d-%H:%M}"
    return text + (f":{when:%S}" if when.second > 0 else "")


class cached:  # noqa: N801 - named as the decorator it is
    """A field computed on first use and kept in the job's own attributes (a lighter
    ``functools.cached_property``: a job is read by one thread)."""

    def __init__(self, compute: Any) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, job: Any, owner: type | None = None) -> Any:
        if job is None:
            return self
        value = job.__dict__[self.name] = self.compute(job)
        return value


class JobView:
    """One job: the stored fields as attributes (job-list's defaults, class attributes,
    where it has none) and every derived field of ``flux jobs``."""

    #: the URI of a job that is itself an instance; None (printed so) for the others
    uri: str | None = None

    def __init__(self, fields: dict[str, Any], now: float) -> None:
        self.__dict__.update(fields)
        self.now = now

    # -- the job's identity and owner --------------------------------------------------

    @cached
    def username(self) -> str:
        return username(self.userid)

    @cached
    def state_single(self) -> str:
        return STATE_LETTERS.get(self.state, "")

    @cached
    def state_emoji(self) -> str:
        return STATE_EMOJI.get(self.state, "")

    @cached
    def result_abbrev(self) -> str:
        return RESULT_ABBREVIATIONS.get(self.result, "")

    @cached
    def result_emoji(self) -> str:
        return RESULT_EMOJI.get(self.result, NO_RESULT_EMOJI)

    @cached
    def status(self) -> str:
        if self.state in ACTIVE_STATES:
            return self.state
        return self.result

    @cached
    def status_abbrev(self) -> str:
        if self.state in ACTIVE_STATES:
            return STATE_LETTERS[self.state]
        return RESULT_ABBREVIATIONS.get(self.result, "")

    @cached
    def status_emoji(self) -> str:
        if self.state in ACTIVE_STATES:
            return STATE_EMOJI[self.state]
        return RESULT_EMOJI.get(self.result, NO_RESULT_EMOJI)

    # -- times -------------------------------------------------------------------------

    @cached
    def runtime(self) -> float:
        if self.t_cleanup > 0 and self.t_run > 0:
            return self.t_cleanup - self.t_run
        if self.t_run > 0:
            return self.now - self.t_run
        return 0.0

    @property
    def t_remaining(self) -> float:
        if self.status != "RUN":
            return 0.0
        left = self.expiration - self.now
        return left if left > 0.0 else 0.0

    @cached
    def contextual_time(self) -> float:
        return self.duration if self.state in PENDING_STATES else self.runtime

    # -- how it went -------------------------------------------------------------------

    @cached
    def exception(self) -> ExceptionInfo:
        fields = self.__dict__
        return ExceptionInfo(
            _or_empty(fields.get("exception_occurred")),
            _or_empty(fields.get("exception_severity")),
            _or_empty(fields.get("exception_type")),
            _or_empty(fields.get("exception_note")),
        )

    @cached
    def returncode(self) -> int | str:
        status = self.waitstatus
        if not isinstance(status, int) or isinstance(status, bool):
            if self.result == "CANCELED":
                return states.CANCELED_RETURNCODE
            if self.result == "FAILED":
                return 1
            return ""
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        return ""

    @cached
    def inactive_reason(self) -> str:
        if self.state != "INACTIVE":
            return ""
        exc = self.exception
        if self.result == "CANCELED":
            if exc.occurred and exc.type == "cancel" and exc.note:
                return f"Canceled: {exc.note}"
            return "Canceled"
        if self.result == "FAILED":
            return self._failure()
        if self.result == "TIMEOUT":
            return "Timeout"
        return f"Exit {self.returncode}"

    def _failure(self) -> str:
        exc = self.exception
        if exc.occurred and exc.type != "exec" and exc.severity == 0:
            note = f" note={exc.note}" if exc.note else ""
            return f"Exception: type={exc.type}{note}"
        code = self.returncode
        if code > 128:
            try:
                return signal.strsignal(code - 128) or f"Signaled {code - 128}"
            except ValueError:
                return f"Signaled {code - 128}"
        return {
            126: "Command invoked cannot execute",
            127: "command not found",
            128: "Invalid argument to exit",
        }.get(code, f"Exit {code}")

    # -- where and why -----------------------------------------------------------------

    @cached
    def annotations(self) -> Annotations:
        data = dict(self.__dict__.get("alloc_annotations") or {})
        if self.__dict__.get("uri"):
            user = dict(data.get("user") or {})
            user["uri"] = self.__dict__["uri"]
            data["user"] = user
        return Annotations(data)

    @property
    def sched(self) -> Any:
        return self.annotations.sched

    @property
    def user(self) -> Any:
        return self.annotations.user

    @property
    def instance(self) -> Empty:
        """A nested instance's live figures (``instance.*``): the archive has none, so
        each prints empty, as ``flux jobs`` prints them for a job that is not running."""
        return Empty()

    @cached
    def dependencies(self) -> DependencyList:
        stored = self.__dict__.get("stored_dependencies") or []
        today = datetime.fromtimestamp(self.now)
        return DependencyList(dependency_text(dep, today) for dep in stored)

    @cached
    def contextual_info(self) -> str:
        state = self.state
        if state == "PRIORITY":
            return "priority-wait"
        if state == "DEPEND":
            return f"depends:{self.dependencies}"
        if state == "SCHED":
            estimate = self.sched.t_estimate
            if isinstance(estimate, (int, float)) and not isinstance(estimate, bool):
                eta = estimate - self.now
                return f"eta:{'now' if eta < 0 else fsd(eta)}"
            if self.urgency == 0:
                return "held"
            if self.priority == 0:
                return "priority-hold"
            return ""
        return self.nodelist

    # -- flux jobs --json --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The object ``flux jobs --json`` prints for this job: unset values left out."""
        result: dict[str, Any] = {}
        for key in (*DEFAULTS, *DICT_PROPERTIES):
            if key not in result:
                result[key] = getattr(self, key)
        result["jobid"] = self.id.f58
        annotations = json.loads(json.dumps(self.annotations.data))
        result["annotations"] = annotations
        result["exception"] = self.exception.as_dict()
        uri = self.__dict__.get("uri")
        if uri:
            result["uri"] = uri
        for key in list(result):
            value = result[key]
            unset_zero = key.startswith("t_") or key in ZERO_MEANS_UNSET
            if _is_empty_text(value) or (unset_zero and value == 0):
                del result[key]
        if not self.exception.occurred:
            result["exception"] = {"occurred": False}
        if uri:
            del annotations["user"]["uri"]
            if not annotations["user"]:
                del annotations["user"]
        return result


for _name, _default in DEFAULTS.items():
    setattr(JobView, _name, _default)


def _or_empty(value: Any) -> Any:
    return "" if value is None else value


def _is_empty_text(value: Any) -> bool:
    return isinstance(value, str) and value == ""
