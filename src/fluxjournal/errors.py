"""The exceptions fluxjournal raises, shared by the compiled core and its pure-Python twin."""

from __future__ import annotations

import json
from typing import Union

Document = Union[bytes, bytearray, memoryview, str]


#: The messages of ``json.loads`` that both cores' ``loads`` give word for word, at the
#: position json gives (3.13's "Illegal trailing comma" ones from 3.13 on, where json has
#: them); any other refusal is still refused, in words of fluxjournal's own.
POSITIONED_MESSAGES = frozenset(
    {
        "Illegal trailing comma before end of array",
        "Illegal trailing comma before end of object",
        "Expecting value",
        "Expecting ',' delimiter",
        "Expecting ':' delimiter",
        "Expecting property name enclosed in double quotes",
        "Unterminated string starting at",
        "Invalid control character at",
        "Invalid \\escape",
        "Invalid \\uXXXX escape",
        "Extra data",
        "Unexpected UTF-8 BOM (decode using utf-8-sig)",
    }
)


class JSONDecodeError(json.JSONDecodeError):
    """A document that ``json.loads`` would refuse.

    It subclasses :class:`json.JSONDecodeError` (so :class:`ValueError`), so code that
    catches either keeps working. ``pos`` indexes the input as given: a byte offset into
    ``bytes``/``bytearray``/``memoryview`` data, a character offset into ``str`` data.
    """

    def __init__(self, msg: str, doc: Document, pos: int) -> None:
        if isinstance(doc, memoryview):  # keep a copy that outlives the buffer and pickles
            doc = doc.tobytes()
        if isinstance(doc, str):
            lineno = doc.count("\n", 0, pos) + 1
            colno = pos - doc.rfind("\n", 0, pos)
        else:
            view = bytes(doc[:pos])
            lineno = view.count(b"\n") + 1
            colno = pos - view.rfind(b"\n")
        ValueError.__init__(self, f"{msg}: line {lineno} column {colno} (char {pos})")
        self.msg = msg
        self.doc = doc
        self.pos = pos
        self.lineno = lineno
        self.colno = colno

    def __reduce__(self):  # type: ignore[override]
        return self.__class__, (self.msg, self.doc, self.pos)


#: How much of a refused response its error message shows, in bytes.
SHOWN_BYTES = 200


def _head(response: Document) -> bytes:
    """The first bytes of a payload, enough to show it and to tell that there is more,
    without copying the whole of a big one."""
    if isinstance(response, str):
        return response[: SHOWN_BYTES + 1].encode("utf-8", "surrogatepass")
    if isinstance(response, (bytes, bytearray)):
        return bytes(response[: SHOWN_BYTES + 1])
    return bytes(response)


class MalformedResponse(ValueError):
    """A journal response that is valid JSON but not what the journal service promises.

    ``response`` holds the raw payload that was refused, so it can be logged or replayed.
    Any :class:`JSONDecodeError` raised while decoding a response is chained as the cause.
    """

    def __init__(self, what: str, response: Document | None = None) -> None:
        self.what = what
        self.response = response
        shown = ""
        if response is not None:
            text = _head(response)
            shown = text[:SHOWN_BYTES].decode("utf-8", "replace")
            if len(text) > SHOWN_BYTES:
                shown += "..."
            shown = f" in response {shown!r}"
        super().__init__(f"malformed journal response: {what}{shown}")

    def __reduce__(self):  # type: ignore[override]
        return self.__class__, (self.what, self.response)
