"""Differential fuzzing of ``JobRecord``: the compiled job-list state against the twin's.

An input is response payloads, one a line. Each that decodes is applied, as ingest applies
it, to a compiled and a twin ``JobRecord`` of its job: its database rows (the compiled
core's rows, whose contexts are the payload's own text, or the twin's, compact JSON; the
first byte of the input says which) with its jobspec and R text. After every response
both records must hold the same fields (types included), or both must have raised the
same kind of exception. The jobspec, R and contexts are where the compiled core parses
most by hand: task and core counts, idsets, hostlists, exceptions, dependencies.

    python fuzz/fuzz_jobrecord.py --seeds corpus/jobrecord
    python fuzz/fuzz_jobrecord.py corpus/jobrecord -max_total_time=3600
"""

from __future__ import annotations

import math

import fuzzlib
from fuzzlib import Mismatch, short

with fuzzlib.instrumented_imports(__name__ == "__main__"):
    from fluxjournal import _core, _pycore
    from fluxjournal.errors import MalformedResponse
    from fluxjournal.ingestion.engine import JOURNAL_ONLY

MAX_PAYLOADS = 64


def typed(values) -> tuple:
    """``values`` with their types (True is not 1, 1 is not 1.0) and NaN equal to itself."""
    return tuple((type(v), "nan" if isinstance(v, float) and math.isnan(v) else v) for v in values)


def state(record) -> tuple:
    try:
        return ("ok", typed(record.fields()), record.inactive, record.t_submit)
    except Exception as exc:  # compared between the cores
        return ("raised", type(exc).__name__)


def apply(record, rows, jobspec_text, R_text) -> tuple | None:
    try:
        record.apply(rows, jobspec_text, R_text)
    except Exception as exc:  # compared between the cores
        return ("raised", type(exc).__name__)
    return None


def check(data: bytes) -> None:
    """Apply every decodable response of the input to both records of its job."""
    source = _core if data[:1] < b"\x80" else _pycore
    records: dict = {}
    for payload in [line for line in data[1:].split(b"\n") if line.strip()][:MAX_PAYLOADS]:
        try:
            response = source.decode_response(payload)
            rows = response.rows((0, response.id))
            jobspec_text, R_text = response.jobspec_text, response.R_text
        except (MalformedResponse, ValueError):
            continue  # fuzz_response compares the decoding itself
        jobid = response.id
        if jobid is None or jobid == -1:
            continue
        rows = [row for row in rows if row[-2] not in JOURNAL_ONLY]
        if jobid not in records:
            records[jobid] = (_core.JobRecord(jobid), _pycore.JobRecord(jobid))
        compiled, twin = records[jobid]
        outcomes = [apply(job, rows, jobspec_text, R_text) for job in (compiled, twin)]
        if outcomes[0] != outcomes[1]:
            raise Mismatch(f"apply({short(payload)}): _core {outcomes[0]}, _pycore {outcomes[1]}")
        ours, theirs = state(compiled), state(twin)
        if ours != theirs:
            raise Mismatch(
                f"after {short(payload)}:\n  _core   {short(ours, 3000)}"
                f"\n  _pycore {short(theirs, 3000)}"
            )


def seeds() -> list[bytes]:
    """Each recorded job's responses in order (a few jobs per seed), from both row kinds."""
    out = []
    for path in sorted(fuzzlib.DATA.glob("job-journal-*.jsonl")):
        lines = [line for line in path.read_bytes().splitlines() if line]
        for start in range(0, min(len(lines), 240), 12):
            chunk = b"\n".join(lines[start : start + 12])
            out += [b"\x00" + chunk, b"\x80" + chunk]
    return out


if __name__ == "__main__":
    fuzzlib.run(check, seeds)
