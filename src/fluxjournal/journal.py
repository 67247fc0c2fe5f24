"""The job-manager journal consumer: flux-core's ``flux.job.journal`` API, compiled.

Each core carries its whole consumer, the way aio-libs ship multidict and yarl: the
compiled one in ``fluxjournal._core`` (which also receives from flux-python's futures in
C) and the pure-Python twin in ``fluxjournal._pycore``. This module names the active
core's classes; ``fluxjournal.IMPLEMENTATION`` says which core that is. The behaviour both
promise is docs/CONTRACT.md.
"""

from __future__ import annotations

from fluxjournal._switch import core
from fluxjournal.wire.protocol import DRAIN_LIMIT, FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING

JournalEventBase = core.JournalEventBase
JournalEvent = core.JournalEvent
SENTINEL_EVENT = core.SENTINEL_EVENT
JournalConsumerBase = core.JournalConsumerBase
JournalConsumer = core.JournalConsumer

__all__ = [
    "DRAIN_LIMIT",
    "FLUX_RPC_NORESPONSE",
    "FLUX_RPC_STREAMING",
    "SENTINEL_EVENT",
    "JournalConsumer",
    "JournalConsumerBase",
    "JournalEvent",
    "JournalEventBase",
]
