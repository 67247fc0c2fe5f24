"""Finding flux-core's Python bindings, for the commands that talk to a live instance.

flux-core is optional everywhere in fluxjournal: the bench command, the benchmark suite
and the integration tests use it when a ``flux`` command is on PATH and its bindings
import, and leave it out otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

#: Directories added to sys.path to reach the bindings (child processes need them too).
added_paths: list[str] = []
_found: bool | None = None


def without_sanitizer_preload(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) for running a ``flux`` command.

    A sanitized test run (README, "Sanitizers") preloads the AddressSanitizer runtime with
    ``LD_PRELOAD``. The broker loads its modules with ``RTLD_DEEPBIND``, which that runtime
    refuses, so the sanitizer runtimes are left out of a flux command's preload list; the
    broker and its tools are not what such a run checks.
    """
    env = dict(os.environ if env is None else env)
    kept = [
        path
        for path in env.pop("LD_PRELOAD", "").replace(":", " ").split()
        if not any(part in os.path.basename(path) for part in ("asan", "ubsan", "_with_fuzzer"))
    ]
    if kept:
        env["LD_PRELOAD"] = " ".join(kept)
    return env


def _journal_imports() -> bool:
    try:
        import flux.job.journal  # noqa: F401
    except ImportError:
        return False
    return True


def find_bindings() -> bool:
    """Make flux-core's Python bindings importable if ``flux`` is on PATH; True when they are.

    ``flux env`` prints the PYTHONPATH of the bindings that match the ``flux`` command, so
    they are found even when this interpreter's sys.path does not name them.
    """
    global _found
    if _found is None:
        _found = _journal_imports() or _add_paths_from_flux_env()
    return _found


def _add_paths_from_flux_env() -> bool:
    flux = shutil.which("flux")
    if flux is None:
        return False
    try:
        out = subprocess.run(
            [flux, "env", "sh", "-c", 'echo "$PYTHONPATH"'],
            env=without_sanitizer_preload(),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    for part in out.split(":"):
        if part and part not in sys.path:
            sys.path.append(part)
            added_paths.append(part)
    return _journal_imports()
