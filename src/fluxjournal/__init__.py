"""fluxjournal: a compiled, drop-in consumer of the Flux job-manager journal.

The compiled core (``fluxjournal._core``) is used when it loads; its pure-Python twin
(``fluxjournal._pycore``) otherwise, or when ``FLUXJOURNAL_NO_EXTENSIONS=1`` is set.
``IMPLEMENTATION`` tells which one is active: ``"cython"`` or ``"python"``.
"""

from fluxjournal._switch import IMPLEMENTATION
from fluxjournal._switch import core as _active
from fluxjournal.dropin import install, uninstall
from fluxjournal.errors import JSONDecodeError, MalformedResponse
from fluxjournal.jobid import JobID
from fluxjournal.journal import JournalConsumer, JournalConsumerBase
from fluxjournal.resource import ResourceJournalConsumer

MAX_DEPTH = _active.MAX_DEPTH
loads = _active.loads
decode_response = _active.decode_response
Response = _active.Response
JournalEventBase = _active.JournalEventBase
JournalEvent = _active.JournalEvent
ResourceJournalEvent = _active.ResourceJournalEvent
SENTINEL_EVENT = _active.SENTINEL_EVENT

__version__ = "0.1.0"

__all__ = [
    "IMPLEMENTATION",
    "MAX_DEPTH",
    "SENTINEL_EVENT",
    "JSONDecodeError",
    "JobID",
    "JournalConsumer",
    "JournalConsumerBase",
    "JournalEvent",
    "JournalEventBase",
    "MalformedResponse",
    "ResourceJournalConsumer",
    "ResourceJournalEvent",
    "Response",
    "decode_response",
    "install",
    "loads",
    "uninstall",
]
