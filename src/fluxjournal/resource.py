"""The resource journal consumer: flux-core's ``flux.resource.journal`` API, compiled."""

from __future__ import annotations

from typing import Any

from fluxjournal import _impl
from fluxjournal.journal import JournalConsumerBase

ResourceJournalEvent = _impl.ResourceJournalEvent


class ResourceJournalConsumer(JournalConsumerBase):
    """Consume the resource journal (``resource.journal``); it always sends its history.

    A drop-in for ``flux.resource.ResourceJournalConsumer``: events are
    :class:`ResourceJournalEvent` objects, each keeping its response's ``R``.
    """

    _fast_kind = "resource"

    def __init__(self, flux_handle: Any, since: float = 0.0, include_sentinel: bool = False):
        super().__init__(
            flux_handle,
            "resource.journal",
            full=True,
            since=since,
            include_sentinel=include_sentinel,
        )

    def process_response(self, resp: dict) -> dict:
        """The response's R, for :meth:`create_event`."""
        return {"R": resp.get("R")}

    def create_event(self, entry: dict, R: Any = None):
        """One :class:`ResourceJournalEvent` from one entry."""
        return self.core.ResourceJournalEvent(entry, R)
