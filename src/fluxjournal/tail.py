"""``fluxjournal tail``: print the journal's events as flux-core users know them.

The text form is ``str()`` of flux-core's ``JournalEvent`` (``ƒ…: 1795837730.47983
priority {"priority":16}``); ``--format json`` prints one JSON object a line, the job id
both as f58 and as an integer, with jobspec and R when the event carries them. The history
comes in timestamp order, as :class:`fluxjournal.JournalConsumer` delivers it; the command
stops after it unless ``--follow``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import IO, Any

from fluxjournal.journal import JournalConsumer
from fluxjournal.sources import opened_source
from fluxjournal.stopping import StopRequest

#: How long a poll waits before it looks again whether it should stop.
WAKE_INTERVAL = 1.0


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
    stop_requested: Any = lambda: False,
) -> int:
    """Print the events of ``handle``'s journal to ``out``; return how many were printed."""
    consumer = JournalConsumer(
        handle, full=True, since=since, include_sentinel=True, allow=allow, deny=deny
    )
    render = event_json if fmt == "json" else str
    wanted = frozenset(int(j) for j in jobs)
    printed = 0
    cancelled = False
    with consumer:
        while True:
            if stop_requested() and not cancelled:
                consumer.stop()
                cancelled = True
            try:
                event = consumer.poll(WAKE_INTERVAL)
            except TimeoutError:
                continue
            if event is None:
                break
            if event.is_empty():
                if not follow:
                    break
                continue
            if wanted and event.jobid not in wanted:
                continue
            out.write(render(event) + "\n")
            printed += 1
        out.flush()
    return printed


def command(args: Any, out: IO[str], err: IO[str]) -> int:
    """``fluxjournal tail``: open the source, print its events."""
    with opened_source(args) as source, StopRequest() as stop:
        tail(
            source.handle,
            out,
            fmt=args.format,
            follow=args.follow,
            since=args.since,
            allow=args.allow,
            deny=args.deny,
            jobs=args.job,
            stop_requested=stop,
        )
    return stop.exit_status if stop.signal is not None else 0
