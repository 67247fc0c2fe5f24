"""ReplayFlux: a fake handle that serves recorded journal responses, such as a capture's lines.

Every request gets the recorded payloads byte for byte, in order, so that consumers can be
tested on what a real broker sent (and on malformed payloads) without one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Union

from fluxjournal.testing.handle import (
    JOB_JOURNAL_TOPIC,
    RESOURCE_JOURNAL_TOPIC,
    FakeFlux,
    Stream,
)

__all__ = ["Payload", "ReplayFlux"]

#: One recorded response payload, as text or bytes.
Payload = Union[str, bytes]


def _numbered_payloads(payloads: Iterable[Payload]) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    """The payloads to serve, without trailing newlines and empty ones, and the 1-based
    position in ``payloads`` of each (its line, for the lines of a file)."""
    if isinstance(payloads, (str, bytes)):
        raise TypeError("payloads must be an iterable of payloads, not one payload")
    served: list[bytes] = []
    numbers: list[int] = []
    for number, payload in enumerate(payloads, 1):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif not isinstance(payload, bytes):
            raise TypeError(f"a payload must be str or bytes, not {type(payload).__name__}")
        payload = payload.rstrip(b"\r\n")
        if payload:
            served.append(payload)
            numbers.append(number)
    return tuple(served), tuple(numbers)


class ReplayFlux(FakeFlux):
    """A handle that serves recorded journal responses.

    ``payloads`` is either an iterable of payloads (str or bytes, one response each, in
    arrival order, such as the lines of a capture) served on both
    ``job-manager.events-journal`` and ``resource.journal``, or a mapping from topic to
    such an iterable, each topic serving its own (and other topics ENOSYS). Trailing
    newlines and empty lines are dropped; the payloads are otherwise served byte for byte,
    even ones that are not valid JSON, so that decoding errors can be tested.

    Every request gets all the recorded payloads, in order; then the stream stays open
    until it is cancelled and ends with ENODATA, as a live service's does. With ``ends``
    it ends with ENODATA right after the last recorded payload instead, as if cancelled
    then, so that a consumer reading a capture (even one without a sentinel, or an empty
    one) stops at its end. The recorded responses count as already in flight: a cancel
    never drops any of them. The request's ``full``, ``allow`` and ``deny`` are checked as
    the real service checks them but do not change what is served: the recording already
    reflects the request it was made with.

    :attr:`line_numbers` tells where each served payload was recorded.
    """

    def __init__(
        self,
        payloads: Iterable[Payload] | Mapping[str, Iterable[Payload]],
        *,
        ends: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(payloads, Mapping):
            numbered = {topic: _numbered_payloads(p) for topic, p in payloads.items()}
        else:
            shared = _numbered_payloads(payloads)
            numbered = {JOB_JOURNAL_TOPIC: shared, RESOURCE_JOURNAL_TOPIC: shared}
        self._recorded = {topic: served for topic, (served, _) in numbered.items()}
        self._topics = tuple(self._recorded)
        self.ends = ends
        # The job journal's, or else those of the first topic served (from_file's only one).
        main = JOB_JOURNAL_TOPIC if JOB_JOURNAL_TOPIC in numbered else next(iter(numbered), None)
        #: The 1-based line (position in the iterable given) each payload served on the job
        #: journal topic came from, in serving order: empty lines are dropped, so payload
        #: ``k`` is not always line ``k + 1``. When the job journal is not served, those of
        #: the first topic that is (the one :meth:`from_file` was given); ``()`` for none.
        self.line_numbers: tuple[int, ...] = numbered[main][1] if main is not None else ()

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        topic: str | None = None,
        *,
        ends: bool = False,
    ) -> ReplayFlux:
        """Replay a ``.jsonl`` capture, on ``topic`` only when one is given.

        ``ends`` as for the constructor; :attr:`line_numbers` are lines of the file.
        """
        with open(path, "rb") as f:
            lines = f.read().splitlines()
        return cls({topic: lines} if topic is not None else lines, ends=ends)

    def _open_stream(self, topic: str, request: dict[str, Any]) -> Stream:
        return Stream(iter(self._recorded[topic]), ends=self.ends)
