"""The resource journal consumer: flux-core's ``flux.resource.journal`` API, compiled.

As for the job journal (see ``fluxjournal.journal``), the class is the active core's own.
"""

from __future__ import annotations

from fluxjournal._switch import core

ResourceJournalEvent = core.ResourceJournalEvent
ResourceJournalConsumer = core.ResourceJournalConsumer

__all__ = ["ResourceJournalConsumer", "ResourceJournalEvent"]
