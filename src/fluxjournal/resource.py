"""The resource journal consumer: flux-core's ``flux.resource.journal`` API, compiled.

As for the job journal (see ``fluxjournal.journal``), the class is the active core's own.
"""

from __future__ import annotations

from fluxjournal import _impl

ResourceJournalEvent = _impl.ResourceJournalEvent
ResourceJournalConsumer = _impl.ResourceJournalConsumer

__all__ = ["ResourceJournalConsumer", "ResourceJournalEvent"]
