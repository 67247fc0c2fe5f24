"""The time words of ``--since`` and ``--until``, read as flux-core's commands read them.

``now``; ``-6h`` or ``+30m`` (a Flux Standard Duration before or after now); a date or a
phrase (``2026-12-01``, ``yesterday``, ``last monday 9am``: parsedatetime, with a day
starting at midnight, as flux-core does); or, failing those, seconds since the epoch.
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import datetime, timedelta

#: The units of a Flux Standard Duration (RFC 23), as timedelta's keywords.
FSD_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_FSD = re.compile(r"(.*?)(ms|s|m|h|d)$")
INFINITY_WORDS = ("inf", "infinity", "INF", "INFINITY")


def parse_fsd(text: str) -> float:
    """Seconds of a Flux Standard Duration (``90``, ``1.5m``, ``2h``, ``inf``)."""
    if text in INFINITY_WORDS:
        return math.inf
    match = _FSD.match(text)
    try:
        value = float(match.group(1) if match else text)
    except ValueError:
        raise ValueError("invalid Flux standard duration") from None
    unit = FSD_UNITS[match.group(2) if match else "s"]
    seconds = value if unit == "seconds" else timedelta(**{unit: value}).total_seconds()
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("invalid Flux standard duration")
    return seconds


def parse_datetime(text: str, now: float) -> float:
    """The moment ``text`` names, as seconds since the epoch; ``now`` is the present.
    Raises ValueError naming the text when it names no moment."""
    if text == "now":
        return now
    if text.startswith("+"):
        return now + parse_fsd(text[1:])
    if text.startswith("-"):
        return now - parse_fsd(text[1:])
    import parsedatetime

    with warnings.catch_warnings():
        # its flag style (the status as a number) is the one flux-core reads
        warnings.simplefilter("ignore")
        calendar = parsedatetime.Calendar()
    calendar.ptc.StartHour = 0
    parsed, status = calendar.parse(text, sourceTime=datetime.fromtimestamp(now).timetuple())
    if status == 0:
        raise ValueError(f'Invalid datetime: "{text}"')
    return datetime(*parsed[:6]).astimezone().timestamp()


def parse_when(text: str, now: float) -> float:
    """``--since``/``--until``: a moment as :func:`parse_datetime` reads it, else a number
    of seconds since the epoch; ValueError (float's own message) when it is neither."""
    try:
        return parse_datetime(text, now)
    except ValueError:
        return float(text)
