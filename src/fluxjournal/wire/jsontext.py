"""JSON text as fluxjournal writes it: compact, key order kept, non-ASCII as it is.

Both cores use it when an entry's context has to be written out again (the compiled core
keeps the payload's own slice whenever it can).
"""

from __future__ import annotations

import json
from typing import Any

#: The context of an entry that has none: RFC 18 makes ``context`` optional.
EMPTY_CONTEXT_TEXT = "{}"

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True)
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True)


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text, with the meaning ``json.loads`` gives it back; a
    lone surrogate (which JSON allows and UTF-8 cannot hold) is written as its escape."""
    text = _ENCODER.encode(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _ASCII_ENCODER.encode(value)
    return text
