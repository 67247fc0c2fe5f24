"""Make flux-core's journal names point at fluxjournal's, so existing tools need no edit."""

from __future__ import annotations

import importlib
from typing import Any

#: (module, attribute) -> the fluxjournal object that replaces it
_REPLACEMENTS = {
    ("flux.job", "JournalConsumer"): ("fluxjournal.journal", "JournalConsumer"),
    ("flux.job.journal", "JournalConsumer"): ("fluxjournal.journal", "JournalConsumer"),
    ("flux.job.journal", "JournalEvent"): ("fluxjournal.journal", "JournalEvent"),
    ("flux.job.journal", "SENTINEL_EVENT"): ("fluxjournal.journal", "SENTINEL_EVENT"),
    ("flux.resource", "ResourceJournalConsumer"): (
        "fluxjournal.resource",
        "ResourceJournalConsumer",
    ),
    ("flux.resource.journal", "ResourceJournalConsumer"): (
        "fluxjournal.resource",
        "ResourceJournalConsumer",
    ),
    ("flux.resource.journal", "ResourceJournalEvent"): (
        "fluxjournal.resource",
        "ResourceJournalEvent",
    ),
}

_saved: dict[tuple[str, str], Any] = {}


def install() -> None:
    """Replace flux-core's journal consumers and events with fluxjournal's.

    After this, ``flux.job.JournalConsumer``, the names in ``flux.job.journal`` and
    ``flux.resource.ResourceJournalConsumer`` are fluxjournal's. Code that already did
    ``from flux.job import JournalConsumer`` keeps the object it has: call ``install()``
    first. Raises ImportError when flux-core's Python bindings are not importable.
    """
    for (module_name, name), (ours, our_name) in _REPLACEMENTS.items():
        module = importlib.import_module(module_name)
        replacement = getattr(importlib.import_module(ours), our_name)
        if (module_name, name) not in _saved:
            _saved[(module_name, name)] = getattr(module, name)
        setattr(module, name, replacement)


def uninstall() -> None:
    """Put flux-core's own classes back where :func:`install` replaced them."""
    for (module_name, name), original in _saved.items():
        setattr(importlib.import_module(module_name), name, original)
    _saved.clear()
