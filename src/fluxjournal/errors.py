"""The exceptions fluxjournal raises, shared by the compiled core and its pure-Python twin."""

from __future__ import annotations

import json
from typing import Union

Document = Union[bytes, bytearray, memoryview, str]


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
            if isinstance(response, str):
                text = response.encode("utf-8", "surrogatepass")
            else:
                text = bytes(response)
            shown = text[:200].decode("utf-8", "replace")
            if len(text) > 200:
                shown += "..."
            shown = f" in response {shown!r}"
        super().__init__(f"malformed journal response: {what}{shown}")

    def __reduce__(self):  # type: ignore[override]
        return self.__class__, (self.what, self.response)
