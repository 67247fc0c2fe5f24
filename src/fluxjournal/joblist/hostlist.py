"""Flux's compact sets of ids (RFC 22 idsets) and of host names (RFC 29 hostlists).

job-list reports a job's ranks as an idset (``0``, ``[0-3,7]``) and its nodes as a
hostlist (``node[0-3]``, ``vm,vm``); these read and write both as flux-core does. Every
expansion is bounded: a range larger than :data:`MAX_IDS` raises ValueError.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The most ids or hosts one text may expand to.
MAX_IDS = 1 << 20


def decode_idset(text: str) -> list[int]:
    """The ids of ``"1,3-5"`` or ``"[1,3-5]"``, in the order written."""
    if text.isdigit():  # one id: most jobs
        return [int(text)]
    ids: list[int] = []
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    for part in body.split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        first = int(low)
        last = int(high) if high else first
        if last < first or first < 0 or len(ids) + last - first >= MAX_IDS:
            raise ValueError(f"bad idset {text!r}")
        ids.extend(range(first, last + 1))
    return ids


def _ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive ids, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for value in ids:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def encode_idset(ids: Iterable[int]) -> str:
    """``[0-3,7]`` for 0, 1, 2, 3 and 7; a single id without brackets, as job-list writes it."""
    ordered = sorted(set(ids))
    text = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in _ranges(ordered))
    return f"[{text}]" if len(ordered) > 1 else text


def _split_top_level(text: str) -> list[str]:
    """The comma-separated parts of a hostlist that are not inside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part for part in parts if part]


def expand_hostlist(text: str, limit: int = MAX_IDS) -> list[str]:
    """The host names of ``"node[0-2,5],login"``, in order, at most ``limit`` of them."""
    if "," not in text and "[" not in text:  # one host: most jobs
        return [text][:limit]
    hosts: list[str] = []
    for part in _split_top_level(text):
        if "[" not in part:
            hosts.append(part)
        else:
            prefix, _, rest = part.partition("[")
            body, _, suffix = rest.partition("]")
            for piece in body.split(","):
                low, _, high = piece.partition("-")
                width = len(low)
                first = int(low)
                last = int(high) if high else first
                if last < first or last - first >= MAX_IDS:
                    raise ValueError(f"bad hostlist {text!r}")
                for number in range(first, min(last, first + limit - len(hosts) - 1) + 1):
                    hosts.append(f"{prefix}{number:0{width}d}{suffix}")
        if len(hosts) >= limit:
            return hosts[:limit]
    return hosts


def _host_parts(host: str) -> tuple[str, int | None, int]:
    """(prefix, number, digits) of ``node012``: ("node", 12, 3); no number: (host, None, 0)."""
    i = len(host)
    while i > 0 and host[i - 1].isdigit():
        i -= 1
    if i == len(host):
        return host, None, 0
    return host[:i], int(host[i:]), len(host) - i


def _padding(number: int, width: int) -> int:
    return max(width - len(str(number)), 0)


def _same_width(n: int, n_width: int, m: int, m_width: int) -> int | None:
    """The digit count two numbered hosts share in one range, or None (libhostlist's rule:
    ``node9`` and ``node10`` share one, ``node09`` and ``node10`` share two)."""
    if _padding(n, n_width) != _padding(n, m_width) and _padding(m, m_width) != _padding(
        m, n_width
    ):
        return None
    return n_width if _padding(n, n_width) != _padding(n, m_width) else m_width


def encode_hostlist(hosts: Iterable[str]) -> str:
    """The hostlist of hosts in the order given: consecutive numbers share a bracket
    (``node[0-3]``), names without numbers stand alone (``vm,vm``)."""
    if isinstance(hosts, list) and len(hosts) == 1:  # one host: most jobs
        return hosts[0]
    ranges: list[list] = []  # [prefix, first, last, width, numbered]
    for host in hosts:
        prefix, number, width = _host_parts(host)
        if number is None:
            ranges.append([prefix, 0, 0, 0, False])
            continue
        last = ranges[-1] if ranges else None
        if last is not None and last[4] and last[0] == prefix and last[2] == number - 1:
            shared = _same_width(last[1], last[3], number, width)
            if shared is not None:
                last[2], last[3] = number, shared
                continue
        ranges.append([prefix, number, number, width, True])
    out: list[str] = []
    i = 0
    while i < len(ranges):
        head = ranges[i]
        i += 1
        if not head[4]:
            out.append(head[0])
            continue
        group = [head]
        while i < len(ranges) and ranges[i][4] and ranges[i][0] == head[0]:
            group.append(ranges[i])
            i += 1
        body = ",".join(
            f"{first:0{width}d}" + (f"-{last:0{width}d}" if last > first else "")
            for _, first, last, width, _ in group
        )
        bracketed = len(group) > 1 or head[1] != head[2]
        out.append(f"{head[0]}[{body}]" if bracketed else f"{head[0]}{body}")
    return ",".join(out)
