"""The decoders the decode groups compare: the stdlib, orjson, msgspec and fluxjournal's.

No ``from __future__ import annotations`` here: msgspec evaluates the Struct annotations,
which must stay valid on Python 3.9 (``Optional``, not ``X | None``).
"""

import json
from typing import Any, Callable, Optional

import pytest

try:
    import msgspec
except ImportError:  # pragma: no cover - optional
    msgspec = None

if msgspec is not None:

    class MsgspecEvent(msgspec.Struct):
        """One journal event, typed; its context decoded as a plain dict."""

        timestamp: float
        name: str
        context: Optional[dict] = None

    class MsgspecResponse(msgspec.Struct):
        """One journal response, typed, with jobspec and R kept raw: msgspec's best case."""

        id: int = -1
        events: list[MsgspecEvent] = []
        jobspec: msgspec.Raw = msgspec.Raw()
        R: msgspec.Raw = msgspec.Raw()


#: Every decoder by name; the extra libraries are skipped when they are not installed.
DECODERS = (
    "json",
    "orjson",
    "msgspec",
    "msgspec-typed-raw",
    "cython-loads",
    "python-loads",
    "cython-decode_response",
    "python-decode_response",
)


def decoder(name: str) -> Callable[[bytes], Any]:
    """The decode function called ``name`` (skips the test when its library is missing)."""
    if name == "json":
        return json.loads
    if name == "orjson":
        return pytest.importorskip("orjson").loads
    if name == "msgspec":
        return pytest.importorskip("msgspec").json.decode
    if name == "msgspec-typed-raw":
        pytest.importorskip("msgspec")
        return msgspec.json.Decoder(MsgspecResponse).decode
    impl, _, function = name.partition("-")
    if impl == "cython":
        core = pytest.importorskip("fluxjournal._core", reason="extension not built")
    else:
        from fluxjournal import _pycore as core
    return {"loads": core.loads, "decode_response": core.decode_response}[function]
