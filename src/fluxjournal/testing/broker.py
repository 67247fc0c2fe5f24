"""A throw-away single-broker Flux instance, for the integration tests and the benchmarks.

It needs a ``flux`` command on PATH (flux-core built on the machine); the tests that use it
are skipped where there is none.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from fluxjournal.wire.bindings import without_sanitizer_preload


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
