"""Finding flux-core's Python bindings, and starting a throw-away broker for tests.

flux-core is optional everywhere in fluxjournal: the bench command, the benchmark suite
and the integration tests use it when a ``flux`` command is on PATH and its bindings
import, and leave it out otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


class LocalBroker:
    """A single-broker Flux instance, ``flux start --test-size=1``, until :meth:`close`."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.flux = shutil.which("flux") or "flux"
        self._tmp = None if directory is not None else tempfile.TemporaryDirectory()
        uri_file = Path(directory if directory is not None else self._tmp.name) / "uri"
        self.process = subprocess.Popen(
            [
                self.flux,
                "start",
                "--test-size=1",
                "sh",
                "-c",
                f'echo "$FLUX_URI" > {uri_file}.tmp && mv {uri_file}.tmp {uri_file}'
                " && exec sleep 86400",
            ],
            env=without_sanitizer_preload(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not uri_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("flux start did not come up")
            time.sleep(0.05)
        self.uri = uri_file.read_text().strip()

    def run(self, *args: str, timeout: float = 3600) -> str:
        """Run a flux command against this instance and return its output."""
        env = dict(without_sanitizer_preload(), FLUX_URI=self.uri)
        return subprocess.run(
            [self.flux, *args], env=env, capture_output=True, text=True, timeout=timeout, check=True
        ).stdout

    def handle(self) -> Any:
        """A new ``flux.Flux`` handle on this instance."""
        import flux

        return flux.Flux(self.uri)

    def close(self) -> None:
        """Stop the instance (and everything it started)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LocalBroker:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
