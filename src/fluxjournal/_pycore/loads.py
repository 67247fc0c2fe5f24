"""The twin's JSON decoder: ``json.loads`` plus what ``_core.loads`` promises on top.

The nesting limit, errors that name a position in the input as given (bytes for
bytes-like input, characters for ``str``), and the refusal of integers ``int()`` refuses.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from fluxjournal.errors import Document, JSONDecodeError
from fluxjournal.wire.protocol import MAX_DEPTH, TOO_DEEP

#: A string runs to its closing quote or, unterminated, to the end (json.loads fails inside
#: it then, and its brackets open nothing).
_TOKENS = re.compile(r'"(?:[^"\\]|\\[\s\S])*"?|[\[\]{}]')
_NUMBERS = re.compile(r'"(?:[^"\\]|\\.)*"|(-?\d+)(\.\d+)?([eE][-+]?\d+)?')
#: Decodes text without json.loads's check for a leading BOM, which applies to str input only.
_DECODER = json.JSONDecoder()


def _long_integer_at(text: str) -> int:
    """Offset of the first integer longer than ``int()`` accepts (json.loads's ValueError)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or float("inf")
    for match in _NUMBERS.finditer(text):
        digits, fraction, exponent = match.groups()
        if digits and not fraction and not exponent and len(digits.lstrip("-")) > limit:
            return match.start()
    return 0


def _too_deep_at(text: str) -> int | None:
    """Offset of the bracket that opens container number MAX_DEPTH + 1, or None."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


def as_text(data: Any) -> tuple[str, int]:
    """Decode bytes as json.loads does; return the text and the bytes skipped before it."""
    if isinstance(data, str):
        return data, 0
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            "the JSON object must be str, bytes, bytearray or memoryview, "
            f"not {type(data).__name__}"
        )
    raw = bytes(data)
    encoding = json.detect_encoding(raw)
    skip = 3 if encoding == "utf-8-sig" else 0
    try:
        return raw[skip:].decode("utf-8" if skip else encoding, "surrogatepass"), skip
    except UnicodeDecodeError as exc:
        if encoding.startswith("utf-8"):
            raise JSONDecodeError("Invalid UTF-8 sequence", data, exc.start + skip) from None
        raise JSONDecodeError(f"Invalid {encoding} data", data, exc.start) from None


def loads(data: Document) -> Any:
    """Decode one JSON document exactly as ``json.loads`` would (see ``_core.loads``)."""
    text, skip = as_text(data)
    positions_in_bytes = not isinstance(data, str) and json.detect_encoding(bytes(data[:4])) in (
        "utf-8",
        "utf-8-sig",
    )
    source = data if isinstance(data, str) or positions_in_bytes else text

    def error(msg: str, pos: int) -> JSONDecodeError:
        if positions_in_bytes:
            pos = len(text[:pos].encode("utf-8", "surrogatepass")) + skip
        return JSONDecodeError(msg, source, pos)

    deep = _too_deep_at(text)
    try:
        value = json.loads(text) if isinstance(data, str) else _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        if deep is not None and deep <= exc.pos:
            raise error(TOO_DEEP, deep) from None
        raise error(exc.msg, exc.pos) from None
    except RecursionError:
        raise error(TOO_DEEP, deep or 0) from None
    except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
        raise error(str(exc), _long_integer_at(text)) from None
    if deep is not None:
        raise error(TOO_DEEP, deep)
    return value
