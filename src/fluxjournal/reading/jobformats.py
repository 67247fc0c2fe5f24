"""The formats of ``flux jobs``: its field headings, its named formats, and a user's own.

The headings and the built-in formats (``default``, ``cute``, ``long``, ``deps``,
``endreason``) are flux-core 0.88's; a user's named formats come from ``flux-jobs.toml``
(or ``.json``, ``.yaml``) in ``$XDG_CONFIG_HOME/flux`` (``~/.config/flux``) and the
``$XDG_CONFIG_DIRS`` (``/etc/xdg``) below it, and ``FLUX_JOBS_FORMAT_DEFAULT`` replaces
the default, as in flux jobs.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from fluxjournal.reading.textformat import FormatError, OutputFormat

_ID_FORMS = ("", ".dec", ".hex", ".f58", ".f58plain", ".emoji", ".kvs", ".words", ".dothex")
#: Every field a ``flux jobs`` format may name, and its heading.
HEADINGS: dict[str, str] = {
    **{f"id{form}": "JOBID" for form in _ID_FORMS},
    "userid": "UID",
    "username": "USER",
    "urgency": "URG",
    "priority": "PRI",
    "state": "STATE",
    "state_single": "S",
    "state_emoji": "STATE",
    "name": "NAME",
    "cwd": "CWD",
    "queue": "QUEUE",
    "project": "PROJECT",
    "bank": "BANK",
    "ntasks": "NTASKS",
    "ncores": "NCORES",
    "duration": "DURATION",
    "nnodes": "NNODES",
    "expiration": "EXPIRATION",
    "t_remaining": "T_REMAINING",
    "ranks": "RANKS",
    "nodelist": "NODELIST",
    "success": "SUCCESS",
    "result": "RESULT",
    "result_abbrev": "RS",
    "result_emoji": "RESULT",
    "t_submit": "T_SUBMIT",
    "t_depend": "T_DEPEND",
    "t_priority": "T_PRIORITY",
    "t_sched": "T_SCHED",
    "t_run": "T_RUN",
    "t_cleanup": "T_CLEANUP",
    "t_inactive": "T_INACTIVE",
    "runtime": "RUNTIME",
    "status": "STATUS",
    "status_abbrev": "ST",
    "status_emoji": "STATUS",
    "waitstatus": "WSTATUS",
    "returncode": "RC",
    "exception.occurred": "EXCEPTION-OCCURRED",
    "exception.severity": "EXCEPTION-SEVERITY",
    "exception.type": "EXCEPTION-TYPE",
    "exception.note": "EXCEPTION-NOTE",
    "annotations": "ANNOTATIONS",
    "dependencies": "DEPENDENCIES",
    "contextual_info": "INFO",
    "contextual_time": "TIME",
    "inactive_reason": "INACTIVE-REASON",
    "annotations.sched.t_estimate": "T_ESTIMATE",
    "annotations.sched.reason_pending": "REASON",
    "annotations.sched.resource_summary": "RESOURCES",
    "sched": "SCHED",
    "sched.t_estimate": "T_ESTIMATE",
    "sched.reason_pending": "REASON",
    "sched.resource_summary": "RESOURCES",
    "user": "USER",
    "uri": "URI",
    "uri.local": "URI",
    "instance.stats.total": "NJOBS",
    "instance.utilization": "CORE%",
    "instance.gpu_utilization": "GPU%",
    "instance.progress": "PROG",
    "instance.resources.all.ncores": "CORES",
    "instance.resources.all.ngpus": "GPUS",
    "instance.resources.all.nnodes": "NODES",
    **{
        f"instance.resources.{kind}.{unit}": heading
        for kind, heading in (("up", "UP"), ("down", "DOWN"), ("allocated", "USED"))
        for unit in ("ncores", "ngpus", "nnodes")
    },
    **{f"instance.resources.free.{unit}": "FREE" for unit in ("ncores", "ngpus", "nnodes")},
}

_COMMON = "{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
#: flux jobs' named formats: description and format string.
BUILTIN_FORMATS: dict[str, dict[str, str]] = {
    "default": {
        "description": "Default flux-jobs format string",
        "format": _COMMON + "{status_abbrev:>2.2} {ntasks:>6} {nnodes:>6h} "
        "{contextual_time!F:>8h} {contextual_info}",
    },
    "cute": {
        "description": "Cute flux-jobs format string (default with emojis)",
        "format": _COMMON + "{status_emoji:>5.5} {ntasks:>6} {nnodes:>6h} "
        "{contextual_time!F:>8h} {contextual_info}",
    },
    "long": {
        "description": "Extended flux-jobs format string",
        "format": _COMMON + "{status:>9.9} {ntasks:>6} {nnodes:>6h} "
        "{t_submit!d:%b%d %R::>12} {t_remaining!F:>12h} "
        "{contextual_time!F:>8h} {contextual_info}",
    },
    "deps": {
        "description": "Show job urgency, priority, and dependencies",
        "format": "{id.f58:>12} ?:{queue:<8.8} {name:<10.10+} {urgency:<3} "
        "{priority:<12} {state:<8.8} {dependencies}",
    },
    "endreason": {
        "description": "Show why each job ended",
        "format": _COMMON + "{status_abbrev:>2.2} {t_inactive!d:%b%d %R::>12h} {inactive_reason}",
    },
}
_EXCEPTION = ("exception_occurred", "exception_severity", "exception_type", "exception_note")
#: The stored columns each field is made of (beyond the job's instance, id and state,
#: always read), so that a listing reads no more than it prints.
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "username": ("userid",),
    "returncode": ("waitstatus", "result"),
    "result_abbrev": ("result",),
    "result_emoji": ("result",),
    "runtime": ("t_run", "t_cleanup"),
    "status": ("result",),
    "status_abbrev": ("result",),
    "status_emoji": ("result",),
    "expiration": ("expiration", "result"),
    "t_remaining": ("expiration", "result"),
    "contextual_info": ("dependencies", "nodelist", "priority", "urgency"),
    "contextual_time": ("t_run", "t_cleanup", "duration"),
    "inactive_reason": ("result", "waitstatus", *_EXCEPTION),
    "uri": ("uri",),
    "annotations": ("uri",),
    "sched": ("uri",),
    "user": ("uri",),
    "instance": ("uri",),
    "exception": _EXCEPTION,
}
#: What the colors of ``--color`` are chosen by.
COLOR_COLUMNS = ("result", "uri")


def columns_of(fields: list[str], stored: tuple[str, ...]) -> set[str]:
    """The stored columns (of ``stored``) that the fields are made of."""
    columns = {"instance", "id", "state"}
    for field in fields:
        root = field.split(".", 1)[0]
        columns.update(FIELD_COLUMNS.get(field, FIELD_COLUMNS.get(root, ())))
        if root in stored:
            columns.add(root)
    return columns


CONFIG_NAME = "flux-jobs"
DEFAULT_FORMAT_VARIABLE = "FLUX_JOBS_FORMAT_DEFAULT"
#: The fields whose names are open-ended: an annotation's path, a nested instance's figure.
OPEN_PREFIXES = ("annotations.", "sched.", "user.", "instance.")


def heading_of(field: str) -> str | None:
    """The heading of a field flux jobs knows, or of an open-ended one; None otherwise."""
    if field in HEADINGS:
        return HEADINGS[field]
    if field.startswith("annotations."):
        return field[len("annotations.") :].upper()
    if field.startswith(("sched.", "user.")):
        return field.upper()
    if field.startswith("instance."):
        heading = field[len("instance.") :].upper()
        return heading[len("RESOURCES.") :] if heading.startswith("RESOURCES.") else heading
    return None


class Headings(dict):
    """:data:`HEADINGS`, and the heading of any open-ended field asked for."""

    def __missing__(self, field: str) -> str:
        heading = heading_of(field)
        if heading is None:
            raise KeyError(field)
        self[field] = heading
        return heading

    def __contains__(self, field: object) -> bool:
        return isinstance(field, str) and heading_of(field) is not None


def jobs_format(fmt: str) -> OutputFormat:
    """A flux jobs format string, parsed; FormatError names what is wrong in it."""
    return OutputFormat(fmt, Headings(HEADINGS))


def _loaders() -> dict[str, Callable[[Any], Any]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    loaders: dict[str, Callable[[Any], Any]] = {".toml": tomllib.load, ".json": json.load}
    try:
        import yaml
    except ImportError:
        return loaders
    loaders[".yaml"] = yaml.safe_load
    return loaders


def config_folders() -> list[Path]:
    """Where flux commands look for a user's configuration, the weightiest last."""
    home = os.environ.get("XDG_CONFIG_HOME") or f"{Path.home()}/.config"
    folders = [home, *(os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")]
    return [Path(folder, "flux") for folder in reversed(folders)]


def configured_formats() -> dict[str, dict[str, str]]:
    """The built-in formats and the user's named ones. ValueError names a config file
    that is not valid."""
    formats = {name: dict(entry) for name, entry in BUILTIN_FORMATS.items()}
    paths = [
        path
        for folder in config_folders()
        for path in sorted(glob.glob(f"{folder}/{CONFIG_NAME}.*"))
    ]
    loaders = _loaders() if paths else {}
    for path in paths:
        load = loaders.get(Path(path).suffix)
        if load is None:
            continue
        try:
            with open(path, "rb") as stream:
                config = load(stream)
        except Exception as exc:  # each loader has its own error type
            raise ValueError(f"{path}: {exc}") from exc
        for name, entry in _checked_config(path, config).items():
            formats.setdefault(name, {}).update(entry)
    return formats


def _checked_config(path: str, config: Any) -> dict[str, dict[str, str]]:
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a table")
    for key in config:
        if key != "formats":
            raise ValueError(f"{path}: invalid key {key}")
    formats = config.get("formats", {})
    if not isinstance(formats, dict):
        raise ValueError(f"{path}: the 'formats' key must be a mapping")
    for name, entry in formats.items():
        if name in BUILTIN_FORMATS:
            raise ValueError(f"{path}: override of builtin format '{name}' not permitted")
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: 'formats.{name}' must be a mapping")
        if "format" not in entry:
            raise ValueError(f"{path}: formats.{name}: required key 'format' missing")
        if not isinstance(entry["format"], str):
            raise ValueError(f"{path}: formats.{name}: 'format' key must be a string")
    return formats


class FormatListed(Exception):
    """``--format help`` or ``get-config=NAME`` printed what was asked: nothing else to do."""


def format_string(name: str, out: TextIO) -> str:
    """The format string ``-o NAME`` means: a format string as given, a named format, or
    (``help``, ``get-config=NAME``) a listing printed to ``out`` (raises FormatListed)."""
    if "{" in name:
        return name
    formats = configured_formats()
    if name == "help":
        out.write(f"\nConfigured {CONFIG_NAME} output formats:\n\n")
        for key, entry in formats.items():
            description = entry.get("description")
            out.write(f"  {key:<12}" + (f" {description}\n" if description else "\n"))
        raise FormatListed
    if name.startswith("get-config="):
        wanted = name.split("=", 1)[1]
        if wanted not in formats:
            raise FormatError(f"--format: No such format {wanted}")
        entry = formats[wanted]
        out.write(f"[formats.{wanted}]\n")
        if "description" in entry:
            out.write(f'description = "{entry["description"]}"\n')
        out.write(f'format = "{entry["format"]}"\n')
        raise FormatListed
    if name == "default":
        replacement = os.environ.get(DEFAULT_FORMAT_VARIABLE)
        if replacement is not None:
            if "{" in replacement:
                return replacement
            name = replacement
    try:
        return formats[name]["format"]
    except KeyError:
        suggestion = re.sub(r"\w+", r"{\g<0>}", name)
        raise FormatError(
            f"--format: No such format {name} (Did you mean '{suggestion}'?)"
        ) from None
