"""The recorded captures, shipped with the package: journal responses of a real broker.

Each ``.jsonl`` file in the ``captures`` folder holds the response payloads one stream of a
flux-core 0.88.0 broker sent, one a line in arrival order; ``job-list-mix.json`` is what
job-list (``flux jobs -a --json``) reported for the jobs of the ``mix`` capture. They ship
in the package, not with the tests, so that ``fluxjournal bench --long`` and ReplayFlux
demos run from an installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["capture_dir", "capture_lines"]


def capture_dir() -> Path:
    """The folder that holds the capture files."""
    return Path(__file__).resolve().parent / "captures"


def capture_lines(name: str | os.PathLike[str]) -> list[bytes]:
    """The non-empty lines of capture file ``name`` (a file of the captures folder, or any
    path to one): its payloads, in arrival order."""
    return [line for line in (capture_dir() / name).read_bytes().splitlines() if line]
