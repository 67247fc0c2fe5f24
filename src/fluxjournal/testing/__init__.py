"""Stand-ins for a ``flux.Flux`` handle that serve the job and resource journals with no
broker: the fake handle and futures (``handle``), ReplayFlux (``replay``), SimulatedFlux
(``simulated``, its job model in ``simulation``), the shipped captures (``recorded``) and a
throw-away real broker (``broker``, not imported here).
"""

from __future__ import annotations

from fluxjournal.testing.handle import (
    FLUX_MATCHTAG_NONE,
    FLUX_NODEID_ANY,
    FLUX_REACTOR_NOWAIT,
    FLUX_REACTOR_ONCE,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
    JOB_JOURNAL_TOPIC,
    JOB_SENTINEL,
    RESOURCE_JOURNAL_TOPIC,
    RESOURCE_SENTINEL,
    FakeFlux,
    FakeRPC,
)
from fluxjournal.testing.replay import Payload, ReplayFlux
from fluxjournal.testing.simulated import SimulatedFlux

__all__ = [
    "FLUX_MATCHTAG_NONE",
    "FLUX_NODEID_ANY",
    "FLUX_REACTOR_NOWAIT",
    "FLUX_REACTOR_ONCE",
    "FLUX_RPC_NORESPONSE",
    "FLUX_RPC_STREAMING",
    "JOB_JOURNAL_TOPIC",
    "JOB_SENTINEL",
    "RESOURCE_JOURNAL_TOPIC",
    "RESOURCE_SENTINEL",
    "FakeFlux",
    "FakeRPC",
    "Payload",
    "ReplayFlux",
    "SimulatedFlux",
]
