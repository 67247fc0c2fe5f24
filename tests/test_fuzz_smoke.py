"""A short run of every fuzzing harness, so that CI sees them work (fuzz/README.md).

Each harness writes its seed corpus (from the recorded captures) into a temporary folder, then runs
under atheris for a fixed number of inputs with a fixed seed: the seeds and a few hundred
mutations of them, through both cores. Skipped where atheris does not install (it has
wheels for x86-64 Linux only) and on a twin-only run, since the harnesses compare the
compiled core with the twin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed")
pytest.importorskip("fluxjournal._core", reason="the harnesses compare both cores")

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"

#: Inputs per harness: a consumer input runs two consumers over a replay, a jobrecord
#: input two records over many responses.
RUNS = {"loads": 1000, "response": 600, "consumer": 200, "jobrecord": 300}


def environment() -> dict[str, str]:
    """This environment, minus a preloaded sanitizer runtime that is not atheris's own:
    atheris brings libFuzzer, which GCC's AddressSanitizer runtime does not hold."""
    env = dict(os.environ)
    preload = env.get("LD_PRELOAD", "")
    if "asan" in preload and "with_fuzzer" not in preload:
        pytest.skip("a run under GCC's ASan runtime: fuzz with FLUXJOURNAL_SANITIZE=fuzzer")
    return env


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_harness_runs_clean(name, tmp_path):
    env = environment()
    script = str(FUZZ / f"fuzz_{name}.py")
    corpus = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, script, "--seeds", str(corpus)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    done = subprocess.run(
        [
            sys.executable,
            script,
            str(corpus),
            f"-runs={RUNS[name]}",
            "-seed=1",
            "-max_len=8192",
            f"-artifact_prefix={tmp_path}/",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"Done {RUNS[name]} runs" in done.stderr
