"""What the journal services and flux-core's consumer API fix, for both cores' consumers.

Plain values and one helper, no behaviour: each core (``fluxjournal._core`` and its twin
``fluxjournal._pycore``) carries its own complete consumer and reads its constants here,
so that the two cannot disagree about a topic, a flag or the name of a hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: flux-core's RPC flags (``flux/core.h``)
FLUX_RPC_NORESPONSE = 1
FLUX_RPC_STREAMING = 2

JOB_TOPIC = "job-manager.events-journal"
RESOURCE_TOPIC = "resource.journal"

#: Most responses taken from the future per wake-up: enough to amortise the wake-up, few
#: enough that the live events waiting in ``backlog`` stay in cache and out of the GC's way.
DRAIN_LIMIT = 256

#: The longest response either core decodes, in bytes of its UTF-8 text: the compiled core
#: records offsets into a payload in 32 bits. A longer one is a MalformedResponse ("larger
#: than 2 GiB"); ``loads`` has no limit but memory, as ``json.loads``.
MAX_RESPONSE_BYTES = 2**31 - 1

#: Containers nested deeper than this are refused by both cores' ``loads`` (``json.loads``
#: itself gives up with a RecursionError near 1000). Journal payloads nest fewer than 20.
MAX_DEPTH = 512
#: What both cores' ``loads`` says of a document nested deeper than that.
TOO_DEEP = f"Nesting deeper than {MAX_DEPTH} levels"

# What a response is refused for: the text of its MalformedResponse, the same from both
# cores. ``{}`` is the index of the event in the response's ``events``.
NOT_AN_OBJECT = "not a JSON object"
NO_EVENTS = 'no "events" array'
EVENTS_NOT_AN_ARRAY = "events is not an array"
ID_NOT_AN_INTEGER = "id is not an integer"
EVENT_NOT_AN_OBJECT = "event {} is not an object"
TIMESTAMP_NOT_A_NUMBER = "event {}: timestamp is not a number"
NAME_NOT_A_STRING = "event {}: name is not a string"
EVENT_WITHOUT_NAME = "event {} has no name"
#: A job journal response with events and no job id (flux-core cannot build its events).
NO_JOB_ID = 'no "id" for its events'
TOO_LARGE = "larger than 2 GiB"
#: ``{}`` is the JSONDecodeError's own message.
INVALID_JSON = "invalid JSON: {}"

#: The hooks of flux-core's consumer: a subclass that overrides one of them has them all
#: called as flux-core calls them, on decoded dicts.
HOOKS = ("process_response", "create_event", "is_empty_response", "request_payload")

#: What a consumer raises (RuntimeError) when a thread calls it while another thread is
#: inside it: its state is one stream's, taken by one caller at a time. ``{}`` is the
#: consumer's class name.
IN_USE_MESSAGE = (
    "{} is in use by another thread: a consumer takes one call at a time "
    "(give each thread a consumer of its own, or hand events on through a queue)"
)

#: What the stock classes deliver (their ``_stock_kind``): JournalEvent or ResourceJournalEvent.
JOB_KIND = "job"
RESOURCE_KIND = "resource"


def names_object(names: Any) -> dict | None:
    """The service wants an object whose keys are event names; accept any iterable too."""
    if names is None:
        return None
    if isinstance(names, Mapping):
        return dict(names)
    if isinstance(names, str):
        return {names: 1}
    return {name: 1 for name in names}


def stock_kind(cls: type) -> str | None:
    """The kind of the stock class ``cls`` derives from, when it overrides none of its hooks.

    None means the general path: every response is decoded to a dict and handed to the
    hooks, as flux-core does.
    """
    stock = next((klass for klass in cls.__mro__ if "_stock_kind" in vars(klass)), None)
    if stock is None or stock._stock_kind is None:
        return None
    if all(getattr(cls, name) is getattr(stock, name) for name in HOOKS):
        return stock._stock_kind
    return None
