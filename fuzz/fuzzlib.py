"""What the harnesses share: the oracles' comparisons, the seed corpus, and atheris's main.

Each harness in this directory defines ``check(data: bytes)``, which raises
:class:`Mismatch` (or lets any unexpected exception out) when fluxjournal breaks its
promise on that input, and returns quietly otherwise. ``check`` needs nothing but
fluxjournal, so ``tests/test_fuzz_findings.py`` replays recorded findings through it
without atheris; :func:`run` hands it to atheris when the harness runs as a fuzzer.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The recorded captures (shipped in the package: fluxjournal.testing.recorded); a path,
#: so that fluxjournal is imported only under instrumented_imports().
DATA = HERE.parent / "src" / "fluxjournal" / "testing" / "captures"


class Mismatch(AssertionError):
    """fluxjournal did not do what it promises on this input."""


def same(a, b) -> bool:
    """Deep equality that also demands identical types (1 is not 1.0, True is not 1),
    NaN == NaN, signed zeros, and the same keys in the same order.

    Iterative, so values nested hundreds of levels deep compare without recursion.
    """
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if type(x) is float:
            if math.isnan(x) or math.isnan(y):
                if not (math.isnan(x) and math.isnan(y)):
                    return False
            elif x != y or math.copysign(1.0, x) != math.copysign(1.0, y):
                return False
        elif isinstance(x, (list, tuple)):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif isinstance(x, dict):
            if len(x) != len(y):
                return False
            for (kx, vx), (ky, vy) in zip(x.items(), y.items()):
                if type(kx) is not type(ky) or kx != ky:
                    return False
                stack.append((vx, vy))
        elif x != y:
            return False
    return True


def expect(condition: bool, message: Callable[[], str]) -> None:
    """Raise Mismatch with ``message()`` (built only when needed) unless ``condition``."""
    if not condition:
        raise Mismatch(message())


def short(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def capture_payloads() -> list[bytes]:
    """Every recorded payload of the captures (``DATA``/*.jsonl), in file order."""
    lines: list[bytes] = []
    for path in sorted(DATA.glob("*.jsonl")):
        lines.extend(line for line in path.read_bytes().splitlines() if line)
    return lines


def write_seeds(directory: Path, seeds: list[bytes]) -> int:
    """Write each seed to its own file (named by index) unless the corpus already has
    files; returns how many files the directory holds."""
    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.iterdir()):
        for index, seed in enumerate(seeds):
            (directory / f"seed-{index:04d}").write_bytes(seed)
    return sum(1 for _ in directory.iterdir())


def run(check: Callable[[bytes], None], seeds: Callable[[], list[bytes]]) -> None:
    """The harness's command line.

    ``python fuzz/fuzz_X.py --seeds DIR`` writes the seed corpus into DIR (when it is
    empty) and exits; anything else is libFuzzer's command line (corpus directories, files
    to replay, ``-runs=``, ``-max_total_time=``, ...), given to atheris.
    """
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        count = write_seeds(Path(sys.argv[2]), seeds())
        print(f"{sys.argv[2]}: {count} files")
        return
    import atheris

    def one_input(data: bytes) -> None:
        check(data)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


def instrumented_imports(active: bool):
    """atheris's import instrumentation (coverage of the Python code imported inside the
    block) when ``active`` and atheris imports; otherwise a no-op context. A harness passes
    ``__name__ == "__main__"``: the tests import it to replay findings, without atheris."""
    import contextlib

    if active:
        try:
            import atheris
        except ImportError:
            pass
        else:
            return atheris.instrument_imports()
    return contextlib.nullcontext()


def json_loads_outcome(doc):
    """(True, value) when json.loads accepts ``doc``, else (False, the exception)."""
    try:
        return True, json.loads(doc)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return False, exc
