"""Differential fuzzing of ``loads`` against the running Python's ``json.loads``.

fluxjournal promises (README, tests/test_loads.py) that ``loads`` returns exactly what
``json.loads`` returns (types, NaN, -0.0, big integers, the last of duplicate keys), and
that what json refuses raises ``fluxjournal.JSONDecodeError`` with json's message at
json's position, counted in the input as given (bytes for UTF-8 bytes). Its own rules on
top: invalid UTF-8 is refused at the first bad byte, and a container nested deeper than
MAX_DEPTH is refused at the bracket that opens it, unless json finds an error before it.

Each input is decoded as bytes and, when it is UTF-8 text, as ``str``; one input in four
also goes in as a bytearray or a memoryview. Both cores are checked.

    python fuzz/fuzz_loads.py --seeds corpus/loads     # the seed corpus
    python fuzz/fuzz_loads.py corpus/loads -max_total_time=3600
"""

from __future__ import annotations

import json

import fuzzlib
from fuzzlib import expect, same, short

with fuzzlib.instrumented_imports(__name__ == "__main__"):
    from fluxjournal import _core, _pycore
    from fluxjournal.errors import POSITIONED_MESSAGES, JSONDecodeError

CORES = [_core, _pycore]
MAX_DEPTH = 512
DEPTH_MSG = f"Nesting deeper than {MAX_DEPTH} levels"
UTF8_MSG = "Invalid UTF-8 sequence"
ANY = object()  # any JSONDecodeError will do


def decoded(doc) -> tuple[str | None, bool, int]:
    """The text json.loads reads from ``doc``: (text or None when it cannot be decoded,
    whether positions count UTF-8 bytes of the input, the BOM bytes skipped)."""
    if isinstance(doc, str):
        return doc, False, 0
    raw = bytes(doc)
    encoding = json.detect_encoding(raw)
    utf8 = encoding in ("utf-8", "utf-8-sig")
    skip = 3 if encoding == "utf-8-sig" else 0
    try:
        return raw[skip:].decode("utf-8" if utf8 else encoding, "surrogatepass"), utf8, skip
    except UnicodeDecodeError:
        return None, utf8, skip


def first_bad_utf8(doc) -> int | None:
    """Offset of the first byte that is not valid UTF-8 (surrogates allowed), or None."""
    raw = bytes(doc)
    skip = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        raw[skip:].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        return exc.start + skip
    return None


def too_deep_at(text: str) -> int | None:
    """Index of the bracket that opens container number MAX_DEPTH + 1, or None.

    Brackets inside strings do not count; a string runs to the next unescaped quote.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    in_string = escaped = False
    for index, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return index
        elif ch in "]}":
            depth -= 1
    return None


def expected(doc):
    """What loads must do with ``doc``: ("value", v) or ("error", msg or ANY, pos or ANY)."""
    accepted, result = fuzzlib.json_loads_outcome(doc if isinstance(doc, str) else bytes(doc))
    text, in_bytes, skip = decoded(doc)

    def where(char_pos: int) -> int:
        if not in_bytes:
            return char_pos
        return skip + len(text[:char_pos].encode("utf-8", "surrogatepass"))

    deep = too_deep_at(text) if text is not None else None
    if deep is not None:
        json_error_first = isinstance(result, json.JSONDecodeError) and result.pos < deep
        if not json_error_first:
            if accepted or isinstance(result, (json.JSONDecodeError, RecursionError)):
                return ("error", DEPTH_MSG, where(deep))
            return ("error", ANY, ANY)  # an integer too long for int(), before or after
    if accepted:
        return ("value", result)
    if isinstance(result, json.JSONDecodeError):
        if result.msg in POSITIONED_MESSAGES:
            return ("error", result.msg, where(result.pos))
        return ("error", ANY, ANY)
    if isinstance(result, UnicodeDecodeError) and in_bytes:
        return ("error", UTF8_MSG, first_bad_utf8(doc))
    return ("error", ANY, ANY)  # int() refused an integer; UTF-16/32 that does not decode


def check_one(core, doc, want) -> None:

    def shown() -> str:
        return short(bytes(doc) if isinstance(doc, memoryview) else doc)

    name = core.__name__
    try:
        got = core.loads(doc)
    except JSONDecodeError as raised:
        exc = raised
        expect(
            want[0] == "error",
            lambda: f"{name}.loads({shown()}) raised {exc!r}: json gives {short(want[1])}",
        )
        _, msg, pos = want
        if msg is ANY or (msg == UTF8_MSG and exc.msg != UTF8_MSG):
            # an earlier syntax error may be what the compiled core meets first
            return
        expect(
            (exc.msg, exc.pos) == (msg, pos),
            lambda: f"{name}.loads({shown()}): {(exc.msg, exc.pos)}, expected {(msg, pos)}",
        )
        return
    expect(
        want[0] == "value",
        lambda: f"{name}.loads({shown()}) gave {short(got)}: expected {want[1:]}",
    )
    expect(
        same(got, want[1]),
        lambda: f"{name}.loads({shown()}) gave {short(got)}, json {short(want[1])}",
    )


def check(data: bytes) -> None:
    """Decode ``data`` in its forms with each core; raise Mismatch where one differs."""
    forms = [data]
    if len(data) % 4 == 1:
        forms.append(bytearray(data))
    elif len(data) % 4 == 3:
        forms.append(memoryview(data))
    want = expected(data)
    for core in CORES:
        for form in forms:
            check_one(core, form, want)
    try:
        text = data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return
    want = expected(text)
    for core in CORES:
        check_one(core, text, want)


def seeds() -> list[bytes]:
    """The recorded payloads, some in UTF-16/32 and with a BOM, and a few small documents."""
    payloads = fuzzlib.capture_payloads()
    out = payloads[:: max(1, len(payloads) // 40)]
    text = payloads[0].decode()
    out += [text.encode(e) for e in ("utf-8-sig", "utf-16", "utf-16-be", "utf-32-le")]
    out += [
        b'[1, -0.0, 1e400, NaN, -Infinity, 12345678901234567890, "\\ud800\\udc00\\u00e9"]',
        b'{"a": 1, "a": [true, false, null], "\xc3\xa9": {"": ""}}',
        b"[" * 513 + b"]" * 513,
        b" 1.5e-7 ",
    ]
    return out


if __name__ == "__main__":
    fuzzlib.run(check, seeds)
