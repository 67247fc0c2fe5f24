"""Differential fuzzing of the consumers over ``fluxjournal.testing.ReplayFlux``.

An input is one byte of options followed by response payloads, one a line, which a
ReplayFlux serves in order and then ends the stream. The options pick the consumer (job
or resource journal; the stock class, one with event filters, or a subclass that
overrides a hook and so takes the general path), ``full``, ``include_sentinel``,
``since``, and how events are taken (``poll``, ``poll_batch``, a callback under
``reactor_run``). Both cores run the same input; they must deliver the same events and
raise the same errors at the same points, and reach the end of the stream.

Whatever the input, every event delivered is an entry of the input (or the sentinel),
delivered no more often than the input holds it, newer than ``since``; with
``include_sentinel`` the history before the sentinel is in timestamp order.

    python fuzz/fuzz_consumer.py --seeds corpus/consumer
    python fuzz/fuzz_consumer.py corpus/consumer -max_total_time=3600
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter

import fuzzlib
from fuzzlib import Mismatch, same, short

with fuzzlib.instrumented_imports(__name__ == "__main__"):
    from fluxjournal import _core, _pycore
    from fluxjournal.errors import MalformedResponse
    from fluxjournal.testing import ReplayFlux

CLOCK = "the clock"  # a timestamp filled in from time.time() while the consumer ran
MAX_PAYLOADS = 64
POLL_TIMEOUT = 10.0  # seconds: far beyond what a replay needs; reaching it is a hang


class Options:
    """What the option byte (and the second byte, for batch sizes) asks for."""

    def __init__(self, first: int, second: int) -> None:
        self.full = bool(first & 1)
        self.include_sentinel = bool(first & 2)
        self.use_since = bool(first & 4)
        self.mode = ("poll", "batch", "callback", "iterate")[(first >> 3) & 3]
        self.resource = bool(first & 32)
        self.filtered = bool(first & 64) and not self.resource
        self.general = bool(first & 128)
        self.batch = second % 7 + 1
        self.stop_first = bool(second & 8)

    def __repr__(self) -> str:
        return repr(vars(self))


def consumer_class(core, options: Options):
    base = core.ResourceJournalConsumer if options.resource else core.JournalConsumer
    if not options.general:
        return base

    class Hooked(base):
        """Overrides a hook, as user code may: flux-core's general path then runs."""

        def process_response(self, resp):
            return super().process_response(resp)

    return Hooked


def since_of(payloads: list[bytes], options: Options) -> float:
    """0.0, or the median of the input's finite timestamps (the same for both cores)."""
    if not options.use_since:
        return 0.0
    stamps = []
    for entry in input_entries(payloads):
        value = entry[1].get("timestamp")
        if type(value) in (int, float) and math.isfinite(value):
            stamps.append(float(value))
    return sorted(stamps)[len(stamps) // 2] if stamps else 0.0


def input_entries(payloads: list[bytes]):
    """(response, entry) for every entry json.loads finds in the payloads."""
    for payload in payloads:
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
            continue
        for entry in doc["events"]:
            if isinstance(entry, dict):
                yield doc, entry


def canonical(jobid, body: dict, jobspec, R) -> str:
    """A text equal for the same event: types count (1 is not 1.0), NaN equals NaN, and the
    order of the event's own keys does not count (a missing context or timestamp is added
    at the end of the dict, in an order the contract leaves open)."""
    return repr((jobid, sorted(body.items()), jobspec, R))


def event_key(sentinel, event, window) -> tuple:
    """An event as comparable data, its timestamp CLOCK when the consumer filled it in."""
    if event is sentinel:
        return ("SENTINEL",)
    body = dict(event)
    stamp = body.get("timestamp")
    if type(stamp) is float and window[0] <= stamp <= window[1]:
        body["timestamp"] = CLOCK
    jobid = int(event.jobid) if hasattr(event, "jobid") else None
    return ("event", jobid, body, getattr(event, "jobspec", None), event.R)


def run(core, payloads: list[bytes], options: Options) -> tuple[list, float]:
    """Everything one core delivers and raises, in order, and the ``since`` it used."""
    handle = ReplayFlux(payloads, ends=True)
    since = since_of(payloads, options)
    kwargs = {"since": since, "include_sentinel": options.include_sentinel}
    if not options.resource:
        kwargs["full"] = options.full
        if options.filtered:
            kwargs["deny"] = ["not-an-event"]
    consumer = consumer_class(core, options)(handle, **kwargs)
    out: list = []
    delivered: list = []
    start = time.time()
    # every step delivers an event (each at least 11 bytes of the input), raises (once per
    # payload), or ends the run
    budget = sum(len(p) for p in payloads) // 10 + 4 * len(payloads) + 16

    def note_error(exc: BaseException) -> None:
        if isinstance(exc, MalformedResponse):
            out.append(("error", "MalformedResponse", exc.what.split(":")[0]))
        else:
            out.append(("error", type(exc).__name__, str(exc)[:80]))

    if options.mode == "callback":
        consumer.set_callback(delivered.append)
    consumer.start()
    if options.stop_first:
        consumer.stop()
    for _ in range(budget):
        try:
            if options.mode == "callback":
                handle.reactor_run()
                out.extend(("delivered", e) for e in delivered)
                delivered.clear()
                break
            if options.mode == "batch":
                batch = consumer.poll_batch(options.batch, POLL_TIMEOUT)
                if not batch:
                    break
                out.extend(("delivered", e) for e in batch)
            elif options.mode == "iterate":
                out.extend(("delivered", e) for e in consumer)
                break
            else:
                event = consumer.poll(POLL_TIMEOUT)
                if event is None:
                    break
                out.append(("delivered", event))
        except TimeoutError:
            raise Mismatch(
                f"{core.__name__}: no event and no end within {POLL_TIMEOUT} s"
            ) from None
        except Exception as exc:  # compared between the cores
            out.extend(("delivered", e) for e in delivered)
            delivered.clear()
            note_error(exc)
            if options.mode == "callback" and not isinstance(exc, MalformedResponse):
                # Raised by the callback or a hook: flux-core's bindings call the future's
                # callback no more (docs/CONTRACT.md, 4), and neither core, on a handle
                # other than flux-python's, calls it again; reactor_run() would wait for
                # ever on the open stream.
                break
    else:
        raise Mismatch(f"{core.__name__}: the stream did not end within {budget} steps")
    window = (start, time.time())
    return [
        event_key(consumer.SENTINEL_EVENT, item[1], window) if item[0] == "delivered" else item
        for item in out
    ], since


def check_against_input(got: list, payloads: list[bytes], options: Options, since: float):
    """Every delivered event is an entry of the input, at most as often, newer than since;
    with include_sentinel, the history before the sentinel is in timestamp order."""
    allowed: Counter = Counter()
    for doc, entry in input_entries(payloads):
        body = {**entry, "context": entry.get("context", {})}
        if "timestamp" not in entry:
            body["timestamp"] = CLOCK
        if options.resource:
            allowed[canonical(None, body, None, doc.get("R"))] += 1
            continue
        jobid = doc.get("id", -1)  # a response without an id makes events of job -1
        name = entry.get("name")
        jobspec = doc.get("jobspec") if name == "submit" and jobid != -1 else None
        R = doc.get("R") if name == "alloc" and jobid != -1 else None
        allowed[canonical(jobid, body, jobspec, R)] += 1
    seen: Counter = Counter()
    history: list = []
    sentinels = 0
    for item in got:
        if item[0] == "SENTINEL":
            sentinels += 1
            continue
        if item[0] != "event":
            continue
        key = canonical(*item[1:])
        seen[key] += 1
        if seen[key] > allowed[key]:
            raise Mismatch(f"delivered {short(item)} more often than the input holds it")
        stamp = item[2]["timestamp"]
        if stamp != CLOCK and not stamp > since:
            raise Mismatch(f"delivered {short(item)}, not newer than since={since}")
        if sentinels == 0 and stamp != CLOCK:  # a filled-in time sorts as the time it was
            history.append(stamp)
    if sentinels > 1:
        raise Mismatch(f"{sentinels} sentinels delivered")
    if sentinels and options.full and any(b < a for a, b in zip(history, history[1:])):
        raise Mismatch(f"history before the sentinel out of order: {short(history)}")


def split(data: bytes) -> tuple[Options, list[bytes]]:
    options = Options(data[0] if data else 0, data[1] if len(data) > 1 else 0)
    payloads = [line for line in data[2:].split(b"\n") if line.strip()][:MAX_PAYLOADS]
    return options, payloads


def check(data: bytes) -> None:
    """Run both cores on the input; raise Mismatch where they differ or break a rule."""
    options, payloads = split(data)
    compiled, since = run(_core, payloads, options)
    twin, _ = run(_pycore, payloads, options)
    if not same(compiled, twin):
        raise Mismatch(
            f"options {options}:\n  _core   {short(compiled, 3000)}\n  _pycore {short(twin, 3000)}"
        )
    check_against_input(compiled, payloads, options, since)


def seeds() -> list[bytes]:
    """Short runs of each capture under several option bytes, one with a damaged line."""
    out = []
    for index, path in enumerate(sorted(fuzzlib.DATA.glob("*.jsonl"))):
        lines = [line for line in path.read_bytes().splitlines() if line]
        sentinel = next((k for k, line in enumerate(lines) if b'"events":[]' in line), None)
        start = 0 if sentinel is None else max(0, sentinel - 6)
        picked = lines[start : start + 12]
        for first in (0x03, 0x0B, 0x17, 0x47, 0x87, 0x23, 0x1D):
            out.append(bytes([first, index * 5 + 1]) + b"\n".join(picked))
        damaged = list(picked)
        damaged[len(damaged) // 2] = damaged[len(damaged) // 2][:-7]
        out.append(bytes([0x03, 9]) + b"\n".join(damaged))
    return out


if __name__ == "__main__":
    fuzzlib.run(check, seeds)
