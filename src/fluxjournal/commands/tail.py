"""``fluxjournal tail``: print the journal's events as flux-core users know them.

The text form is ``str()`` of flux-core's ``JournalEvent`` (``ƒ…: 1795837730.47983
priority {"priority":16}``); ``--format json`` prints one JSON object a line, the job id
both as f58 and as an integer, with jobspec and R when the event carries them. The history
comes in timestamp order, as :class:`fluxjournal.JournalConsumer` delivers it; the command
stops after it unless ``--follow``.

``--allow`` and ``--deny`` are sent to the job manager, which filters there, and are
applied here too: a replay serves what was recorded, whatever the request asks, and the
names printed must be the ones asked for from every source. ``--job`` is applied here. A
response that cannot be decoded is reported (with its line, for a replay) and skipped; the
exit status is then 1. Output is flushed whenever the journal is quiet, so that a reader at
the end of a pipe sees each live event as it comes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable
from typing import IO, Any, Callable, NamedTuple

from fluxjournal.errors import MalformedResponse
from fluxjournal.ingestion.sources import Counted, opened_source
from fluxjournal.ingestion.stopping import StopRequest
from fluxjournal.journal import JournalConsumer

log = logging.getLogger("fluxjournal.tail")

#: How long a poll waits before it looks again whether it should stop.
WAKE_INTERVAL = 1.0


class Tailed(NamedTuple):
    """What one :func:`tail` did: events printed, responses refused."""

    printed: int
    bad: int


def event_json(event: Any) -> str:
    """One event as a JSON line: id (integer), jobid (f58), timestamp, name, context, and
    jobspec and R when present."""
    record: dict[str, Any] = {
        "id": int(event.jobid),
        "jobid": event.jobid.f58,
        "timestamp": event.timestamp,
        "name": event.name,
        "context": event.context,
    }
    if event.jobspec is not None:
        record["jobspec"] = event.jobspec
    if event.R is not None:
        record["R"] = event.R
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def name_predicate(
    allow: Iterable[str] | None, deny: Iterable[str] | None
) -> Callable[[str], bool]:
    """Whether an event name passes ``allow`` (when given) and is not in ``deny``, as the
    job manager decides it."""
    allowed = None if allow is None else frozenset(allow)
    denied = frozenset(deny or ())
    if allowed is None:
        return lambda name: name not in denied
    return lambda name: name in allowed and name not in denied


def _next_event(consumer: JournalConsumer, out: IO[str]) -> Any:
    """The next event; ``out`` is flushed first when none is ready (TimeoutError after
    :data:`WAKE_INTERVAL`)."""
    try:
        return consumer.poll(0)
    except TimeoutError:
        out.flush()
    return consumer.poll(WAKE_INTERVAL)


def tail(
    handle: Any,
    out: IO[str],
    *,
    fmt: str = "text",
    follow: bool = False,
    since: float = 0.0,
    allow: Iterable[str] | None = None,
    deny: Iterable[str] | None = None,
    jobs: Collection[int] = (),
    stop_requested: Callable[[], bool] = lambda: False,
    on_bad: Callable[[MalformedResponse], Any] | None = None,
) -> Tailed:
    """Print the events of ``handle``'s journal to ``out``.

    It stops at the end of the history (unless ``follow``), at the end of the stream, or
    as soon as ``stop_requested()``: what is left of a long history is not printed. A
    response that cannot be decoded goes to ``on_bad`` and the events go on; without
    ``on_bad`` it is raised.
    """
    consumer = JournalConsumer(
        handle, full=True, since=since, include_sentinel=True, allow=allow, deny=deny
    )
    render = event_json if fmt == "json" else str
    wanted = frozenset(int(j) for j in jobs)
    named = name_predicate(allow, deny)
    printed = bad = 0
    with consumer:  # its exit cancels the request when the stream has not ended
        while not stop_requested():
            try:
                event = _next_event(consumer, out)
            except TimeoutError:
                continue
            except MalformedResponse as exc:
                if on_bad is None:
                    raise
                bad += 1
                on_bad(exc)
                continue
            if event is None:
                break
            if event.is_empty():
                if not follow:
                    break
                continue
            if (wanted and event.jobid not in wanted) or not named(event.name):
                continue
            out.write(render(event) + "\n")
            printed += 1
        out.flush()
    return Tailed(printed, bad)


def command(args: Any, out: IO[str], err: IO[str]) -> int:
    """``fluxjournal tail``: open the source, print its events."""
    if hasattr(out, "reconfigure"):
        # JSON allows a lone surrogate in a string; print it as its escape, not a crash
        out.reconfigure(errors="backslashreplace")
    with opened_source(args) as source, StopRequest() as stop:
        counted = Counted(source)

        def report(exc: MalformedResponse) -> None:
            log.warning("%s: %s", counted.last_response(), exc)

        result = tail(
            counted.handle,
            out,
            fmt=args.format,
            follow=args.follow,
            since=args.since,
            allow=args.allow,
            deny=args.deny,
            jobs=args.job,
            stop_requested=stop,
            on_bad=report,
        )
    if stop.signal is not None:
        return stop.exit_status
    return 1 if result.bad else 0
