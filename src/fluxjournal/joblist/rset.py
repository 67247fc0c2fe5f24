"""What an R (RFC 20 resource set) holds, as the report reads it: cores on each rank and
the name of each rank's node."""

from __future__ import annotations

import json
from typing import Any

from fluxjournal.joblist.hostlist import decode_idset, expand_hostlist


def as_r(value: Any) -> dict[str, Any]:
    """An R given as JSON text or as the object."""
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def cores_by_rank(R: Any) -> dict[int, int]:
    """How many cores R holds on each rank (its ``R_lite``); ValueError when malformed."""
    cores: dict[int, int] = {}
    for entry in as_r(R).get("execution", {}).get("R_lite", []):
        ranks = decode_idset(str(entry["rank"]))
        count = len(decode_idset(str(entry.get("children", {}).get("core", ""))))
        for rank in ranks:
            cores[rank] = cores.get(rank, 0) + count
    return cores


def hosts_by_rank(R: Any) -> dict[int, str]:
    """The node name of each rank of R, its ``nodelist`` taken in rank order."""
    execution = as_r(R).get("execution", {})
    names = [host for part in execution.get("nodelist", []) for host in expand_hostlist(part)]
    ranks = sorted(cores_by_rank(R))
    return dict(zip(ranks, names)) if len(names) == len(ranks) else {}
