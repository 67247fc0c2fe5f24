"""Output formats as flux-core's commands read them: Python format strings with Flux's extras.

A format is a Python format string over an object's attributes (``{name:<10}``) with what
``flux jobs`` and the other flux commands add to it, so that a user's format strings print
here as they print there:

- conversions ``!d`` (a timestamp as a date, strftime after it, then ``::`` and the width:
  ``{t_submit!d:%b%d %R::>12}``), ``!D`` (ISO 8601 date), ``!F`` (Flux Standard Duration),
  ``!H`` (hours:minutes:seconds), ``!P`` (a fraction as a percentage);
- a spec ending in ``h`` prints ``-`` for an empty value (the empty values are
  :func:`empty_texts`); one ending in ``+`` marks a value cut to its width with a ``+``;
- before a field, ``?:`` drops the column when it is empty on every line, ``+:`` widens it
  to its longest value, ``?+:`` does both;
- ``sort:KEY,-KEY ...`` at the start names the keys the lines are sorted by.

:class:`OutputFormat` holds one parsed format and its field headings; :meth:`OutputFormat.fit`
settles the ``?:``/``+:`` columns for a set of items, which is what prints.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

#: The column markers, longest first so that ``?+:`` is not read as ``+:``.
DROP_IF_EMPTY, WIDEN, DROP_OR_WIDEN = "?:", "+:", "?+:"
MARKERS = (DROP_OR_WIDEN, DROP_IF_EMPTY, WIDEN)
SORT_PREFIX = "sort:"
#: What stands between a ``!d`` field's strftime text and its width and alignment.
DATE_SPEC_SEPARATOR = "::"
#: The ISO 8601 form of ``!D`` and of a ``!d`` field without a strftime text.
ISO_DATE = "%Y-%m-%dT%H:%M:%S"
EMPTY_MARK = "-"
CUT_MARK = "+"

_SORT_KEYS = re.compile(r"sort:([^{\s]+)")
#: A format spec as Python reads it, with Flux's ``h`` and ``+`` at the end.
_SPEC = re.compile(
    r"(?:(?P<fill>[\s\S])?(?P<align>[<>=^]))?(?P<sign>[- +])?(?P<z>z)?(?P<alt>#)?"
    r"(?P<zero>0)?(?P<width>\d+)?(?P<grouping>[_,])?(?:\.(?P<precision>\d+))?"
    r"(?P<type>[bcdeEfFgGnosxX%])?(?P<hyphen>h)?(?P<cut>\+)?"
)
_SPEC_PARTS = ("fill", "align", "sign", "z", "alt", "zero", "width", "grouping")


class FormatError(ValueError):
    """A format string that names an unknown field or sort key."""


@functools.lru_cache(maxsize=1)
def empty_texts() -> tuple[str, ...]:
    """The texts that count as an empty value: for ``h`` and the ``?:`` columns."""
    local_epoch = datetime.fromtimestamp(0.0).strftime(ISO_DATE)
    return ("", "0s", "0.0", "0:00:00", "1970-01-01T00:00:00", local_epoch)


def fsd(seconds: float) -> str:
    """A duration in Flux Standard Duration, as flux commands print it (``1.234s``,
    ``12.5m``, ``3.2h``, ``1.5d``, ``inf``)."""
    if math.isinf(seconds):
        return "inf"
    if seconds < 1.0e-3:
        return "0s"
    if seconds < 10.0:
        return f"{seconds:.03f}s"
    if seconds < 60.0:
        return f"{seconds:.4g}s"
    if seconds < 3600.0:
        return f"{seconds / 60.0:.4g}m"
    if seconds < 86400.0:
        return f"{seconds / 3600.0:.4g}h"
    return f"{seconds / 86400.0:.4g}d"


class Moment(datetime):
    """A ``!d`` value: a datetime whose format spec is a strftime text, then ``::`` and a
    width; the epoch (a time never set) prints as nothing."""

    def __format__(self, spec: str) -> str:
        strftime_text, _, width = spec.partition(DATE_SPEC_SEPARATOR)
        if self == datetime.fromtimestamp(0.0):
            text = ""
        else:
            text = self.strftime(strftime_text or ISO_DATE)
        if width.endswith("h"):
            text = text or EMPTY_MARK
            width = width[:-1] + "s"
        return format(text, width) if width else text


def _empty_stays_empty(
    convert: Callable[[Any], Any], empty: Callable[[], Any] = str
) -> Callable[[Any], Any]:
    """``convert``, for which a value that prints as nothing (a field ``flux jobs`` leaves
    empty) is ``empty()`` rather than the error it would raise; other errors stay."""

    def converted(value: Any) -> Any:
        try:
            return convert(value)
        except (TypeError, ValueError):
            if str(value) == "":
                return empty()
            raise

    return converted


def _date(value: Any) -> Any:
    return Moment.fromtimestamp(value)


def _iso_date(value: Any) -> Any:
    return datetime.fromtimestamp(value).strftime(ISO_DATE) if value else ""


def _clock(value: Any) -> Any:
    # a duration above 0 shows as at least a second
    return str(timedelta(seconds=round(1 if 0 < value < 1 else value)))


def _percent(value: Any) -> Any:
    share = value * 100
    return f"{share:.2f}%" if 0 < share < 1 else f"{share:.3g}%"


CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "d": _empty_stays_empty(_date, lambda: Moment.fromtimestamp(0.0)),
    "D": _empty_stays_empty(_iso_date),
    "F": _empty_stays_empty(fsd),
    "H": _empty_stays_empty(_clock),
    "P": _empty_stays_empty(_percent),
    "r": repr,
    "s": str,
    "a": ascii,
}


def format_value(value: Any, spec: str) -> str:
    """``value`` formatted by ``spec``, with the ``h`` and ``+`` endings."""
    cut = spec.endswith(CUT_MARK)
    if cut:
        spec = spec[:-1]
    if spec.endswith("h") and not isinstance(value, Moment):
        value = EMPTY_MARK if str(value) in empty_texts() else str(value)
        spec = spec[:-1] + "s"
    text = format(value, spec)
    if cut and len(text) < len(str(value)):
        text = text[:-1] + CUT_MARK
    return text


class Spec:
    """A format spec in its parts, so that a column's width can be changed and the spec
    written again; a ``!d`` spec keeps only what follows its ``::``."""

    def __init__(self, spec: str) -> None:
        if DATE_SPEC_SEPARATOR in spec:
            spec = spec[spec.find(DATE_SPEC_SEPARATOR) + 2 :]
        match = _SPEC.fullmatch(spec)
        parts = match.groupdict() if match else {}
        self.parts = {name: value or "" for name, value in parts.items()}

    @property
    def width(self) -> int:
        return int(self.parts.get("width") or 0)

    def widened(self, width: int) -> str:
        """The spec with ``width``; a text cut to a shorter precision is cut at it instead."""
        parts = dict(self.parts)
        parts["width"] = str(width)
        precision = int(parts.get("precision") or 0)
        if parts.get("type", "") in ("", "s") and precision and precision < width:
            parts["precision"] = str(width)
        return self._text(parts)

    def heading_spec(self) -> str:
        """The alignment and width alone: what a heading keeps of a field's spec."""
        width = self.parts.get("width")
        return f"{self.parts.get('align', '')}{int(width) if width else ''}"

    @staticmethod
    def _text(parts: Mapping[str, str]) -> str:
        text = "".join(parts.get(name, "") for name in _SPEC_PARTS)
        if parts.get("precision"):
            text += "." + parts["precision"]
        return text + "".join(parts.get(name, "") for name in ("type", "hyphen", "cut"))


def _piece(text: str, field: str, spec: str, conversion: str) -> str:
    """One parsed piece written back as format text."""
    if not field:
        return text
    return f"{text}{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"


def renderer(field: str, conversion: str | None, spec: str) -> Callable[[Any], str]:
    """A function that prints one field of an item as ``{field!conversion:spec}`` does,
    with what can be settled once (the lookup, the conversion, the endings) settled."""
    get = operator.attrgetter(field)
    if conversion:
        convert_value = CONVERSIONS.get(conversion)
        if convert_value is None:
            raise ValueError(f"Unknown conversion specifier {conversion}")
    else:
        convert_value = None
    if convert_value is not None:
        get = _converted(get, convert_value)
    cut = spec.endswith(CUT_MARK)
    body = spec[:-1] if cut else spec
    if body.endswith("h"):
        return lambda item: format_value(get(item), spec)
    if cut:
        return lambda item: _cut(get(item), body)
    return lambda item: format(get(item), spec)


def _converted(get: Callable[[Any], Any], convert_value: Callable[[Any], Any]) -> Any:
    return lambda item: convert_value(get(item))


def _cut(value: Any, spec: str) -> str:
    """``value`` formatted by ``spec``, its last character a ``+`` when it was cut."""
    text = format(value, spec)
    if len(text) < len(str(value)):
        return text[:-1] + CUT_MARK
    return text


@functools.total_ordering
class SortValue:
    """A value as the sort keys compare it: unset (None, ``""``, ``-``) first, then
    numbers (numeric text too), then other text."""

    __slots__ = ("key",)

    def __init__(self, value: Any) -> None:
        if value is None or value == "" or value == EMPTY_MARK:
            self.key: tuple = (0, 0)
        elif isinstance(value, (bool, int, float)):
            self.key = (1, float(value))
        else:
            try:
                self.key = (1, float(value))
            except (TypeError, ValueError):
                try:
                    self.key = (1, float(str(value)))
                except (TypeError, ValueError):
                    self.key = (2, str(value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortValue) and self.key == other.key

    def __lt__(self, other: SortValue) -> bool:
        return self.key < other.key


class OutputFormat:
    """One parsed format: its pieces, the fields it names (each checked against
    ``headings``), and its sort keys."""

    def __init__(self, fmt: str, headings: Mapping[str, str]) -> None:
        self.headings = headings
        self.pieces = [[part or "" for part in piece] for piece in string.Formatter().parse(fmt)]
        self.sort_keys: list[tuple[str, bool]] = []
        self._sort_space = True
        if self.pieces and self.pieces[0][0].startswith(SORT_PREFIX):
            self.pieces[0][0] = self._take_sort_prefix(self.pieces[0][0])
        for _, field, _, _ in self.pieces:
            if field and field not in headings:
                raise FormatError(f"Unknown format field: {field}")

    def _take_sort_prefix(self, text: str) -> str:
        match = _SORT_KEYS.match(text)
        if not match:
            return text
        self.set_sort_keys(match.group(1))
        rest = text[len(SORT_PREFIX) + len(match.group(1)) :]
        self._sort_space = rest.startswith(" ")
        return rest[1:] if self._sort_space else rest

    @property
    def fields(self) -> list[str]:
        """The fields the format prints, then its sort keys."""
        named = [field for _, field, _, _ in self.pieces if field]
        return named + [key for key, _ in self.sort_keys if key not in named]

    def set_sort_keys(self, keys: str) -> None:
        """Sort by these comma-separated keys (``-key``: descending), replacing any
        ``sort:`` prefix."""
        self.sort_keys = []
        for key in keys.split(","):
            key = key.strip()
            if not key:
                continue
            descending = key.startswith("-")
            key = key[1:] if descending else key
            if key not in self.headings:
                raise FormatError(f"Invalid sort key: {key}")
            self.sort_keys.append((key, descending))

    def sort(self, items: list) -> list:
        """``items`` sorted in place by the sort keys (stable, the last key first)."""
        for key, descending in reversed(self.sort_keys):
            get = operator.attrgetter(key)
            items.sort(key=lambda item, get=get: SortValue(get(item)), reverse=descending)
        return items

    def text(self) -> str:
        """The format written back, with its sort prefix."""
        prefix = ""
        if self.sort_keys:
            keys = ",".join(f"-{key}" if down else key for key, down in self.sort_keys)
            prefix = SORT_PREFIX + keys + (" " if self._sort_space else "")
        return prefix + "".join(_piece(*piece) for piece in self.pieces)

    def fit(self, items: Sequence[Any], no_header: bool = False) -> OutputFormat:
        """The format to print ``items`` with: ``?:`` columns empty on every item dropped,
        ``+:`` columns widened to their longest value (and heading, unless
        ``no_header``), the markers gone."""
        marked = []
        for index, (text, field, spec, conversion) in enumerate(self.pieces):
            marker = next((m for m in MARKERS if text.endswith(m)), None)
            if marker is None or not field:
                continue
            parsed = Spec(spec)
            widest = parsed.width
            if marker != DROP_IF_EMPTY and not no_header:
                widest = max(widest, len(self.headings[field]))
            measure = renderer(field, conversion, "")
            marked.append([index, marker, measure, parsed, widest, 0])
        fitted = OutputFormat.__new__(OutputFormat)
        fitted.headings = self.headings
        fitted.sort_keys = list(self.sort_keys)
        fitted._sort_space = self._sort_space
        pieces = [list(piece) for piece in self.pieces]
        if not marked:
            fitted.pieces = pieces
            return fitted
        empty = empty_texts()
        for entry in marked:
            measure = entry[2]
            widths = [len(text) for text in map(measure, items) if text not in empty]
            seen = max(widths, default=0)
            entry[4] = max(entry[4], seen)
            entry[5] = seen
        dropped = set()
        for index, marker, _, parsed, widest, seen in marked:
            if seen == 0 and marker != WIDEN:
                dropped.add(index)
            elif marker != DROP_IF_EMPTY:
                pieces[index][2] = parsed.widened(widest)
        kept = [piece for index, piece in enumerate(pieces) if index not in dropped]
        for piece in kept:
            for marker in MARKERS:
                piece[0] = piece[0].replace(marker, "")
        fitted.pieces = kept
        return fitted

    def header(self) -> str:
        """The heading line: each field's heading at the field's alignment and width."""
        out = []
        for text, field, spec, _ in self.pieces:
            out.append(text)
            if field:
                out.append(format_value(self.headings[field], Spec(spec).heading_spec()))
        return "".join(out)

    def compile(self) -> Callable[[Any], str]:
        """A function that prints one item's line: the texts and each field's renderer
        joined in one expression (the names in it are its own, never the user's text)."""
        names: dict[str, Any] = {}
        terms = []
        for index, (text, field, spec, conversion) in enumerate(self.pieces):
            if text:
                names[f"t{index}"] = text
                terms.append(f"t{index}")
            if field:
                names[f"r{index}"] = renderer(field, conversion, spec)
                terms.append(f"r{index}(item)")
        return eval("lambda item: " + (" + ".join(terms) or "''"), names)  # noqa: S307

    def lines(self, items: Iterable[Any], width: int = -1) -> Iterable[str]:
        """Each item's line (a blank one left out), cut to ``width`` when positive."""
        line = self.compile()
        for item in items:
            text = line(item)
            if not text or text.isspace():
                continue
            if 0 < width < len(text):
                text = text[: width - 1] + CUT_MARK
            yield text
