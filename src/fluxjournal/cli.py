"""The ``fluxjournal`` command: print the job journal the way the library delivers it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from importlib import resources

import fluxjournal


def bundled_capture() -> list[bytes]:
    """The real journal recorded from flux-core 0.88.0 that ships with the package."""
    data = resources.files("fluxjournal") / "data" / "job-journal-full-live.jsonl"
    return data.read_bytes().splitlines()


def replay(payloads: Iterable[bytes]) -> Iterable[fluxjournal.JournalEvent]:
    """History sorted by time (ties in arrival order), the sentinel, then live events."""
    history: list = []
    live = False
    for payload in payloads:
        response = fluxjournal.decode_response(payload)
        if not live and response.id == -1:
            history.sort(key=lambda event: event.timestamp)
            yield from history
            yield fluxjournal.SENTINEL_EVENT
            live = True
        elif live:
            yield from response.job_events()
        else:
            history.extend(response.job_events())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fluxjournal", description="Print the job-manager journal, one event a line."
    )
    parser.add_argument(
        "capture", nargs="?", help="a .jsonl file of response payloads (default: the bundled one)"
    )
    args = parser.parse_args(argv)
    if args.capture:
        with open(args.capture, "rb") as stream:
            payloads = stream.read().splitlines()
    else:
        payloads = bundled_capture()
    count = 0
    try:
        for event in replay(payloads):
            print(event)
            count += not event.is_empty()
    except BrokenPipeError:  # the reader (head, less) has gone; that is not an error
        sys.stderr.close()
        return 0
    print(
        f"{count} events from {len(payloads)} responses ({fluxjournal.IMPLEMENTATION} core)",
        file=sys.stderr,
    )
    return 0
