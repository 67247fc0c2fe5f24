"""Shared fixtures: every behaviour test runs on the compiled core and on its twin."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
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


# ---------------------------------------------------------------------------
# A real flux-core broker, when this machine has one
# ---------------------------------------------------------------------------


def _flux_bindings() -> bool:
    """Make flux-core's Python bindings importable if ``flux`` is on PATH; True when they are."""
    flux = shutil.which("flux")
    if flux is None:
        return False
    try:
        import flux.job  # noqa: F401

        return True
    except ImportError:
        pass
    try:
        out = subprocess.run(
            [flux, "env", "sh", "-c", 'echo "$PYTHONPATH"'],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    sys.path.extend(part for part in out.split(":") if part and part not in sys.path)
    try:
        import flux.job  # noqa: F401, F811
    except ImportError:
        return False
    return True


HAVE_FLUX = _flux_bindings()
needs_flux = pytest.mark.skipif(
    not HAVE_FLUX, reason="needs `flux` on PATH and flux-core's Python bindings"
)


class Broker:
    """A single-broker Flux instance started for the tests (``flux start --test-size=1``)."""

    def __init__(self, tmp: Path) -> None:
        self.flux = shutil.which("flux")
        uri_file = tmp / "uri"
        self.process = subprocess.Popen(
            [
                self.flux,
                "start",
                "--test-size=1",
                "sh",
                "-c",
                f'echo "$FLUX_URI" > {uri_file}.tmp && mv {uri_file}.tmp {uri_file}'
                " && exec sleep 3600",
            ],
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

    def run(self, *args: str) -> str:
        """Run a flux command against this instance and return its output."""
        env = dict(os.environ, FLUX_URI=self.uri)
        return subprocess.run(
            [self.flux, *args], env=env, capture_output=True, text=True, timeout=120, check=True
        ).stdout

    def handle(self):
        import flux

        return flux.Flux(self.uri)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real broker with a small, varied job history (completed, failed, cancelled)."""
    if not HAVE_FLUX:
        pytest.skip("needs `flux` on PATH and flux-core's Python bindings")
    instance = Broker(tmp_path_factory.mktemp("flux"))
    try:
        instance.run("submit", "--cc=1-12", "--wait", "true")
        instance.run("run", "--label-io", "-n2", "hostname")
        with contextlib.suppress(subprocess.CalledProcessError):
            instance.run("run", "false")
        held = instance.run("submit", "--urgency=hold", "true").strip()
        instance.run("cancel", held)
        timed_out = instance.run("submit", "-t", "0.5s", "sleep", "30").strip()
        with contextlib.suppress(subprocess.CalledProcessError):
            instance.run("job", "attach", timed_out)
        yield instance
    finally:
        instance.close()
