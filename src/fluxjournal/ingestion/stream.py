"""A journal as a stream of raw responses, for consumers that store them.

:class:`JournalStream` sends the ``job-manager.events-journal`` request (or, given its
topic and body, the ``resource.journal`` one) and hands out each response's payload bytes
in arrival order: backlog, sentinel, live. Nothing is sorted or built: ``fluxjournal
ingest`` keeps the order the service sends (per job; the resource eventlog's own) and
needs no more.
"""

from __future__ import annotations

import errno
from typing import Any

from fluxjournal.wire.payload import reader_for
from fluxjournal.wire.protocol import FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING, JOB_TOPIC


class JournalStream:
    """One streaming request to a journal (the job journal unless ``topic`` says
    otherwise, with ``body`` as its request); :meth:`next` gives its responses."""

    def __init__(
        self, handle: Any, full: bool = True, topic: str = JOB_TOPIC, body: Any = None
    ) -> None:
        self.handle = handle
        self.topic = topic
        request = {"full": full} if body is None else body
        self.rpc = handle.rpc(topic, request, 0, FLUX_RPC_STREAMING)
        self.reader = reader_for(self.rpc)
        self.ended = False

    def next(self, timeout: float = -1.0) -> bytes | None:
        """The next response's payload; None once the stream has ended.

        Waits up to ``timeout`` seconds (-1: for ever) and raises TimeoutError when
        nothing came. An error response other than the end of the stream raises OSError.
        """
        if self.ended:
            return None
        reader = self.reader
        if not reader.ready():
            reader.wait(timeout)
        try:
            payload = reader.take()
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                raise
            reader.reset()
            self.ended = True
            return None
        reader.reset()
        return b"" if payload is None else payload

    def cancel(self) -> None:
        """Ask the service to end the stream; what is in flight still comes, then the end."""
        if not self.ended:
            self.handle.rpc(
                f"{self.topic}-cancel",
                {"matchtag": self.rpc.pimpl.get_matchtag()},
                0,
                FLUX_RPC_NORESPONSE,
            )
