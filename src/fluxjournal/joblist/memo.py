"""The ``memo`` by which a job that is a Flux instance gives its URI (``flux batch``, ``alloc``)."""

from __future__ import annotations

import json
from collections.abc import Iterable

#: The event by which a job that is a Flux instance gives its URI: a ``memo`` whose
#: context has ``uri`` (the instance's broker posts it as it starts), which job-list keeps
#: as ``annotations.user.uri`` and ``flux jobs`` prints as ``uri``.
MEMO = "memo"
MEMO_URI_KEY = "uri"


def instance_uri(entries: Iterable[tuple[str, str]], uri: str | None = None) -> str | None:
    """The URI that memos among ``entries`` (name, context as JSON text), in order, leave
    a job with when it had ``uri`` before them: a memo sets its keys, and ``null``
    removes one."""
    for name, context in entries:
        if name != MEMO or MEMO_URI_KEY not in context:
            continue
        try:
            memo = json.loads(context)
        except ValueError:
            continue
        if isinstance(memo, dict) and MEMO_URI_KEY in memo:
            value = memo[MEMO_URI_KEY]
            uri = value if isinstance(value, str) and value else None
    return uri
