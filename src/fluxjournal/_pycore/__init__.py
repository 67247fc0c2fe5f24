"""The pure-Python twin of ``fluxjournal._core``: same names, same results, no compiler.

It is used when the extension cannot be loaded or ``FLUXJOURNAL_NO_EXTENSIONS=1`` is set.
Its parts have the stems of the compiled core's parts (``fluxjournal/_coreparts/*.pxi``):
``loads``, ``events``, ``response``, ``history``, ``consumer``, ``jobrecord``; this module
gathers their public names, which are ``_core``'s.
"""

from fluxjournal._pycore.consumer import (
    JournalConsumer,
    JournalConsumerBase,
    ResourceJournalConsumer,
)
from fluxjournal._pycore.events import (
    SENTINEL_EVENT,
    JournalEvent,
    JournalEventBase,
    ResourceJournalEvent,
)
from fluxjournal._pycore.history import History
from fluxjournal._pycore.jobrecord import JobRecord
from fluxjournal._pycore.loads import loads
from fluxjournal._pycore.response import Response, decode_response
from fluxjournal.wire.protocol import MAX_DEPTH

__all__ = [
    "MAX_DEPTH",
    "SENTINEL_EVENT",
    "History",
    "JobRecord",
    "JournalConsumer",
    "JournalConsumerBase",
    "JournalEvent",
    "JournalEventBase",
    "ResourceJournalConsumer",
    "ResourceJournalEvent",
    "Response",
    "decode_response",
    "loads",
]

# Pickles, copies and reprs name the classes and functions where users find them
# (``fluxjournal._pycore``), as the compiled core's are ``fluxjournal._core``'s, whichever
# part defines them.
for _public in (
    History,
    JobRecord,
    JournalConsumer,
    JournalConsumerBase,
    JournalEvent,
    JournalEventBase,
    ResourceJournalConsumer,
    ResourceJournalEvent,
    Response,
    decode_response,
    loads,
):
    _public.__module__ = __name__
del _public
