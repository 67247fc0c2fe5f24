"""Shared fixtures: every behaviour test runs on the compiled core and on its twin."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TWIN_ONLY = os.environ.get("FLUXJOURNAL_NO_EXTENSIONS", "") not in ("", "0")

IMPLEMENTATIONS = {"cython": "fluxjournal._core", "python": "fluxjournal._pycore"}


@pytest.fixture(params=sorted(IMPLEMENTATIONS), ids=sorted(IMPLEMENTATIONS))
def impl(request):
    """The implementation module under test: ``fluxjournal._core`` or ``fluxjournal._pycore``."""
    if request.param == "cython" and TWIN_ONLY:
        pytest.skip("FLUXJOURNAL_NO_EXTENSIONS=1: the compiled core is not under test")
    return importlib.import_module(IMPLEMENTATIONS[request.param])


def capture_lines(name: str) -> list[bytes]:
    """The response payloads of one recorded capture, as bytes, in arrival order."""
    return (DATA / name).read_bytes().splitlines()


@pytest.fixture(scope="session")
def all_payloads() -> list[bytes]:
    """Every recorded payload of every capture in tests/data."""
    lines: list[bytes] = []
    for path in sorted(DATA.glob("*.jsonl")):
        lines.extend(path.read_bytes().splitlines())
    return lines
