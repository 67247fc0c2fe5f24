"""The active jobs of a live instance, beside the archive's others: one listing.

``fluxjournal jobs --db ARCHIVE --uri URI`` asks the instance's job-list for its pending
and running jobs (what the archive may not have caught up with yet) and the archive for
the jobs that are over (the purged ones too); a job is listed once, as the instance has
it when it is active. The instance is found in the archive by the name ``fluxjournal
ingest`` stored it under.
"""

from __future__ import annotations

from typing import Any

from fluxjournal.jobid import JobID
from fluxjournal.joblist.hostlist import encode_idset
from fluxjournal.reading.archive import RESULT_WORDS, STATE_WORDS, Selection, include_targets
from fluxjournal.reading.jobview import JobView

#: Keys of ``flux jobs --json`` that a job view computes itself.
_DERIVED_KEYS = ("runtime", "returncode", "status", "t_remaining", "username", "jobid")
#: flux-core's "every user" (``FLUX_USERID_UNKNOWN``).
ANY_USER = 0xFFFFFFFF


class LiveError(Exception):
    """The instance cannot be asked: one line saying why."""


def active_words(selection: Selection) -> list[str]:
    """The ``-f`` words of the selection that name active states."""
    words = selection.filters or ("pending", "running")
    return [word for word in words if word in STATE_WORDS and word != "inactive"]


def over_words(selection: Selection) -> list[str]:
    """The ``-f`` words of the selection that name jobs that are over."""
    words = selection.filters or ("pending", "running")
    return [word for word in words if word == "inactive" or word in RESULT_WORDS]


def view_of(info: dict[str, Any], instance: int, now: float) -> JobView:
    """A job as ``flux jobs --json`` gives it, as a job view."""
    fields = {key: value for key, value in info.items() if key not in _DERIVED_KEYS}
    fields["id"] = JobID(info["id"])
    fields["instance_number"] = instance
    exception = fields.pop("exception", {}) or {}
    for key in ("occurred", "severity", "type", "note"):
        if key in exception:
            fields[f"exception_{key}"] = exception[key]
    fields["alloc_annotations"] = fields.pop("annotations", {}) or {}
    fields["stored_dependencies"] = fields.pop("dependencies", []) or []
    return JobView(fields, now)


def _flux() -> Any:
    from fluxjournal.wire import bindings

    if not bindings.find_bindings():
        raise LiveError("--uri needs flux-core's Python bindings (and `flux` on PATH)")
    import flux
    import flux.job

    return flux


def instance_of(uri: str) -> tuple[Any, str]:
    """A handle on the instance at ``uri`` and the name its archive rows are under."""
    flux = _flux()
    from fluxjournal.ingestion.sources import instance_name

    try:
        handle = flux.Flux(uri)
    except OSError as exc:
        raise LiveError(f"cannot reach the instance at {uri}: {exc.strerror or exc}") from None
    return handle, instance_name(handle, uri)


def active_jobs(
    handle: Any, selection: Selection, userid: int | None, instance: int, now: float
) -> list[JobView]:
    """The instance's active jobs of ``selection``, in job-list's order."""
    words = active_words(selection)
    if not words:
        return []
    flux = _flux()
    constraint = None
    if selection.include:
        _, ranks = include_targets(selection.include)
        if ranks is not None:
            constraint = {"ranks": [encode_idset(ranks)]}
        else:
            constraint = {"hostlist": [selection.include]}
    listing = flux.job.JobList(
        handle,
        filters=words,
        user="all" if userid is None else str(userid),
        max_entries=selection.count + 1 if selection.count > 0 else 0,
        name=selection.name,
        queue=list(selection.queues) or None,
        constraint=constraint,
    )
    try:
        infos = listing.jobs()
    except OSError as exc:
        raise LiveError(f"the instance's job-list failed: {exc.strerror or exc}") from None
    return [view_of(info.to_dict(), instance, now) for info in infos]
