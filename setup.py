"""Build the compiled hot path, ``fluxjournal._core``.

Set ``FLUXJOURNAL_NO_EXTENSIONS=1`` to install the pure-Python twin only.

Checking builds (README, "Sanitizers"; ``fuzz/README.md``):

- ``FLUXJOURNAL_SANITIZE=1``: AddressSanitizer and UndefinedBehaviorSanitizer, ``-O1 -g``,
  with the system compiler. The interpreter must preload the ASan runtime.
- ``FLUXJOURNAL_SANITIZE=fuzzer``: the same, plus libFuzzer's coverage instrumentation
  (``-fsanitize=fuzzer-no-link``), for atheris; built with clang (``CC``, else the first
  ``clang`` on PATH). The interpreter must preload atheris's ``asan_with_fuzzer.so``.
- ``FLUXJOURNAL_WARNINGS=1``: ``-Wall -Wextra -Werror`` (see ``WARNING_FLAGS``).
"""

import os
import shutil

from setuptools import Extension, setup

SANITIZERS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]

#: Our C (``_coreparts/decimal.h``, the ``cdef extern`` snippets) and the C that Cython 3 generates
#: from the parts compile without a warning under these, with gcc 12 and clang 14; the
#: switch makes any new one an error. Not on by default: another compiler or an older
#: Cython may word things its own way, and an install must not fail for that.
WARNING_FLAGS = ["-Wall", "-Wextra", "-Werror"]


def _clang() -> str:
    for name in ("clang", *(f"clang-{v}" for v in range(20, 13, -1))):
        if shutil.which(name):
            return name
    raise SystemExit("FLUXJOURNAL_SANITIZE=fuzzer needs clang: set CC, or put clang on PATH")


def build_flags() -> tuple[list[str], list[str]]:
    """The compile and link flags the environment asks for."""
    mode = os.environ.get("FLUXJOURNAL_SANITIZE", "")
    if mode in ("", "0"):
        compile_args, link_args = ["-O3", "-DNDEBUG"], []
    elif mode == "1":
        compile_args, link_args = list(SANITIZERS), list(SANITIZERS)
    elif mode == "fuzzer":
        if "CC" not in os.environ:
            os.environ["CC"] = _clang()  # setuptools derives LDSHARED from it
        flags = ["-fsanitize=fuzzer-no-link", *SANITIZERS]
        compile_args, link_args = flags, list(flags)
    else:
        raise SystemExit(f"FLUXJOURNAL_SANITIZE={mode!r}: use 1 or fuzzer")
    if os.environ.get("FLUXJOURNAL_WARNINGS") == "1":
        compile_args += WARNING_FLAGS
    return compile_args, link_args


def extensions():
    if os.environ.get("FLUXJOURNAL_NO_EXTENSIONS") == "1":
        return []
    from Cython.Build import cythonize

    compile_args, link_args = build_flags()
    ext = Extension(
        "fluxjournal._core",
        ["src/fluxjournal/_core.pyx"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return cythonize(
        [ext],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        annotate=os.environ.get("FLUXJOURNAL_ANNOTATE") == "1",
    )


setup(ext_modules=extensions())
