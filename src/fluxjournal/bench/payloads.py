"""The payloads every benchmark replays: SimulatedFlux histories and live streams, written
to files for the child processes, and served again through ReplayFlux.

The lowest module of the package: it imports nothing else from ``fluxjournal.bench``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def history_payloads(jobs: int, seed: int = 1) -> list[bytes]:
    """The job journal history of a simulated instance with ``jobs`` jobs, then the sentinel."""
    from fluxjournal.testing import SimulatedFlux

    return list(SimulatedFlux(jobs=jobs, seed=seed).journal_payloads())


def live_payloads(events: int, seed: int = 1) -> list[bytes]:
    """The sentinel (an empty history), then ``events`` live one-event responses."""
    from fluxjournal.testing import JOB_SENTINEL, SimulatedFlux

    payloads = SimulatedFlux(jobs=100, seed=seed, live=events).journal_payloads()
    for payload in payloads:
        if payload == JOB_SENTINEL:
            break
    return [JOB_SENTINEL, *payloads]


def big_R(nodes: int = 1000, cores: int = 48, gpus: int = 4) -> bytes:
    """The R of a ``nodes``-node allocation whose nodes differ (partly allocated ones), so
    that R_lite holds one entry per rank, as for an allocation that is not uniform."""
    entries = []
    for rank in range(nodes):
        first = rank % 7
        children: dict[str, str] = {"core": f"{first}-{cores - 1 - rank % 5}"}
        if rank % 3:
            children["gpu"] = f"0-{gpus - 1 - rank % 2}"
        entries.append({"rank": str(rank), "children": children})
    R = {
        "version": 1,
        "execution": {
            "R_lite": entries,
            "starttime": 1795837788.8382528,
            "expiration": 1795841388.8382528,
            "nodelist": [f"node{rank:04d}" for rank in range(nodes)],
            "properties": {"pbatch": ",".join(str(r) for r in range(0, nodes, 2))},
        },
    }
    return json.dumps(R, separators=(",", ":")).encode()


def with_R(payloads: Iterable[bytes], R: bytes) -> list[bytes]:
    """The payloads with every ``R`` replaced by ``R`` (SimulatedFlux writes it last)."""
    out = []
    for payload in payloads:
        at = payload.rfind(b',"R":{')
        if at >= 0 and payload.endswith(b"}}"):
            payload = payload[:at] + b',"R":' + R + b"}"
        out.append(payload)
    return out


def count_events(payloads: Iterable[bytes], since: float = 0.0) -> int:
    """How many events the payloads hold after ``since`` (counted outside any timing)."""
    from fluxjournal import decode_response

    total = 0
    for payload in payloads:
        stamps = decode_response(payload).timestamps()
        total += len(stamps) if since <= 0 else sum(1 for t in stamps if t > since)
    return total


def median_timestamp(payloads: Iterable[bytes]) -> float:
    """The timestamp in the middle of the history: the ``since`` of a restart benchmark."""
    from fluxjournal import decode_response

    stamps = sorted(t for p in payloads for t in decode_response(p).timestamps())
    return stamps[len(stamps) // 2] if stamps else 0.0


def write_payloads(payloads: Sequence[bytes], path: str | os.PathLike[str]) -> Path:
    """Write payloads one per line (compact JSON has no raw newline) for a child to read."""
    path = Path(path)
    path.write_bytes(b"\n".join(payloads))
    return path


def read_payloads(path: str | os.PathLike[str]) -> tuple[bytes, ...]:
    """The payloads written by :func:`write_payloads`.

    A tuple: once the collector has seen that it holds only bytes it stops tracking it,
    so a big recording does not slow every full collection of the run it feeds.
    """
    return tuple(Path(path).read_bytes().split(b"\n"))


_replay: type | None = None


def _replay_class() -> type:
    global _replay
    if _replay is not None:
        return _replay
    from fluxjournal.testing import ReplayFlux

    class FreshCopies(ReplayFlux):
        """ReplayFlux whose futures hand out a new copy of each payload, as a broker's do:
        a consumer that keeps payloads then pays for them, as it would on a real broker."""

        def rpc(self, *args: Any, **kwargs: Any) -> Any:
            future = super().rpc(*args, **kwargs)
            get_bytes = future.get_bytes
            future.get_bytes = lambda: bytes(memoryview(get_bytes()))
            return future

    _replay = FreshCopies
    return FreshCopies


def replay_handle(payloads: Sequence[bytes]) -> Any:
    """A ReplayFlux handle serving ``payloads``, a fresh copy of each per response."""
    return _replay_class()(payloads)
