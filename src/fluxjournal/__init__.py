"""fluxjournal: a compiled, drop-in consumer of the Flux job-manager journal.

The compiled core (``fluxjournal._core``) is used when it loads; its pure-Python twin
(``fluxjournal._pycore``) otherwise, or when ``FLUXJOURNAL_NO_EXTENSIONS=1`` is set.
``IMPLEMENTATION`` tells which one is active: ``"cython"`` or ``"python"``.
"""

import os
import warnings

from fluxjournal.errors import JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID

if os.environ.get("FLUXJOURNAL_NO_EXTENSIONS", "") not in ("", "0"):
    from fluxjournal import _pycore as _impl
else:
    try:
        from fluxjournal import _core as _impl
    except ImportError as exc:  # pragma: no cover - depends on the build
        warnings.warn(
            f"fluxjournal's compiled core failed to load ({exc}); using the pure-Python "
            "twin. Set FLUXJOURNAL_NO_EXTENSIONS=1 to choose it explicitly.",
            RuntimeWarning,
            stacklevel=2,
        )
        from fluxjournal import _pycore as _impl

IMPLEMENTATION = "cython" if _impl.__name__ == "fluxjournal._core" else "python"

MAX_DEPTH = _impl.MAX_DEPTH
loads = _impl.loads
decode_response = _impl.decode_response
Response = _impl.Response
JournalEventBase = _impl.JournalEventBase
JournalEvent = _impl.JournalEvent
ResourceJournalEvent = _impl.ResourceJournalEvent
SENTINEL_EVENT = _impl.SENTINEL_EVENT

__version__ = "0.1.0"

__all__ = [
    "IMPLEMENTATION",
    "MAX_DEPTH",
    "SENTINEL_EVENT",
    "JSONDecodeError",
    "JobID",
    "JournalEvent",
    "JournalEventBase",
    "MalformedResponse",
    "ResourceJournalEvent",
    "Response",
    "decode_response",
    "loads",
]

# The consumer layer imports _impl from here, so it comes last.
from fluxjournal.dropin import install, uninstall  # noqa: E402
from fluxjournal.journal import JournalConsumer, JournalConsumerBase  # noqa: E402
from fluxjournal.resource import ResourceJournalConsumer  # noqa: E402

__all__ += [
    "JournalConsumer",
    "JournalConsumerBase",
    "ResourceJournalConsumer",
    "install",
    "uninstall",
]
