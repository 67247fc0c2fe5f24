"""Differential fuzzing of ``decode_response``: the compiled core against the twin.

The compiled core scans a journal response in C (a fast scanner for flux-core's usual
layout, a precise one for anything else) and keeps ``jobspec``, ``R`` and contexts as raw
slices; the twin decodes with json and checks the decoded dict. On every input both must
raise MalformedResponse for the same reason (the same entry; the same JSON error where
json reports a comparable one), or give the same response: id, length, timestamps,
entries, jobspec and R (as values and as JSON text), database rows, and the job and
resource events built from it, with and without ``since``.

    python fuzz/fuzz_response.py --seeds corpus/response
    python fuzz/fuzz_response.py corpus/response -max_total_time=3600
"""

from __future__ import annotations

import contextlib
import json

import fuzzlib
from fuzzlib import Mismatch, same, short

with fuzzlib.instrumented_imports(__name__ == "__main__"):
    from fluxjournal import _core, _pycore
    from fluxjournal.errors import POSITIONED_MESSAGES, MalformedResponse

CLOCK = "the clock"  # stands for a timestamp filled in from time.time() at decode time


def json_error_is_comparable(payload) -> bool:
    """Whether json.loads reports a position both cores must agree on."""
    try:
        json.loads(bytes(payload) if isinstance(payload, memoryview) else payload)
    except json.JSONDecodeError as exc:
        return exc.msg in POSITIONED_MESSAGES
    except (ValueError, RecursionError):
        return False
    return True


def attempt(function, *args):
    """``function(*args)``, or the type and text of the ValueError (OverflowError
    included) it raised."""
    try:
        return function(*args)
    except (ValueError, OverflowError) as exc:
        return ("raised", type(exc).__name__, str(exc))


def as_json(text):
    """A JSON text as its value (cores may write the same value as different text)."""
    if text is None:
        return None
    return attempt(json.loads, text)


def event_key(event, clock: bool, jobs: bool) -> tuple:
    body = dict(event)
    if clock:
        body["timestamp"] = CLOCK
    # str() raises OverflowError for a job id beyond 64 bits, as flux-core's JobID does
    shown = None if clock else (attempt(str, event), attempt(lambda: event.context_string))
    jobid = int(event.jobid) if jobs else None
    return (jobid, body, event.jobspec if jobs else None, event.R, shown, event.is_empty())


def outcome(core, payload) -> tuple:
    """Everything one core makes of ``payload``, in a form both cores can be compared in."""
    try:
        response = core.decode_response(payload)
    except MalformedResponse as exc:
        if exc.response != payload:
            raise Mismatch(f"{core.__name__}: MalformedResponse.response is not the input") from exc
        what = exc.what
        if what.startswith("invalid JSON"):
            position = getattr(exc.__cause__, "pos", None)
            return (
                "error",
                "invalid JSON",
                position if json_error_is_comparable(payload) else None,
            )
        return ("error", what.split(":")[0])
    entries = json.loads(bytes(payload) if isinstance(payload, memoryview) else payload)["events"]
    clock = ["timestamp" not in entry for entry in entries]
    stamps = [CLOCK if c else t for c, t in zip(clock, response.timestamps())]
    got_entries = response.entries()
    for entry, c in zip(got_entries, clock):
        if c:
            entry["timestamp"] = CLOCK
    rows = attempt(response.rows, ("p",), 1, 10)
    if isinstance(rows, list):  # else the ValueError it raised
        rows = [
            (prefix, at, CLOCK if clock[at - 10] else stamp, name, as_json(context))
            for prefix, at, stamp, name, context in rows
        ]
    jobs = [event_key(e, c, True) for e, c in zip(response.job_events(), clock)]
    resources = [event_key(e, c, False) for e, c in zip(response.resource_events(), clock)]
    since = []
    known = [t for t in stamps if t is not CLOCK]
    if known and not any(clock):
        cut = sorted(known, key=float)[len(known) // 2]
        since = [dict(e) for e in response.job_events(float(cut))]
        since += [dict(e) for e in response.resource_events(float(cut))]
    return (
        "ok",
        response.id,
        len(response),
        stamps,
        got_entries,
        attempt(lambda: response.jobspec),
        attempt(lambda: response.R),
        as_json(response.jobspec_text),
        as_json(response.R_text),
        rows,
        jobs,
        resources,
        since,
    )


def check(data: bytes) -> None:
    """Decode ``data`` with both cores (as bytes, and as str when it is UTF-8 text)."""
    forms = [data]
    if len(data) % 3 == 1:
        forms.append(memoryview(data))
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(data.decode("utf-8", "surrogatepass"))
    for form in forms:
        compiled, twin = outcome(_core, form), outcome(_pycore, form)
        if not same(compiled, twin):
            raise Mismatch(
                f"decode_response({short(form)}):\n  _core   {short(compiled, 2000)}"
                f"\n  _pycore {short(twin, 2000)}"
            )


def seeds() -> list[bytes]:
    """Every recorded payload (small, and each response shape), and a few damaged ones."""
    payloads = fuzzlib.capture_payloads()
    out = list(dict.fromkeys(p for p in payloads if len(p) < 4096))[:150]
    out += [
        b'{"id":-1,"events":[]}',
        b'{"events":[{"timestamp":1.5,"name":"resource-define","context":{"method":"x"}}],'
        b'"R":{"version":1}}',
        b'{"id":1,"events":[{"timestamp":NaN,"name":"a","timestamp":2}],"jobspec":[1e999]}',
        b'{"i\\u0064":3,"\\u0065vents":[{"n\\u0061me":"alloc","timestamp":-0.0}],"R":{}}',
        b'{"id":1,"events":[{"name":"memo","context":{"\xc3\xa9":"\\ud800"}}]}',
    ]
    return out


if __name__ == "__main__":
    fuzzlib.run(check, seeds)
