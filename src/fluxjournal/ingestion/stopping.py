"""A clean stop on SIGINT or SIGTERM: the signal sets a flag that long loops look at.

A signal handler that raised instead could strike in the middle of a database write; with
a flag, the loop finishes the response at hand, commits, and returns.
"""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Any

#: The exit status of a command stopped by SIGINT (128 + 2, as shells report it).
EXIT_INTERRUPTED = 130


class StopRequest:
    """Within ``with StopRequest() as stop:``, ``stop()`` is True once SIGINT or SIGTERM
    came; ``stop.signal`` says which. The previous handlers come back on exit."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            # a second Ctrl-C: stop at once, without a word more; nothing half done is
            # written (what was not committed is in the journal for the next run)
            os._exit(EXIT_INTERRUPTED)
        self.signal = signum

    def __enter__(self) -> StopRequest:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def exit_status(self) -> int:
        """0 for a stop asked with SIGTERM (a service's normal end), 130 for SIGINT."""
        return EXIT_INTERRUPTED if self.signal == signal.SIGINT else 0
