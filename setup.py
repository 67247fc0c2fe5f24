"""Build the compiled hot path, ``fluxjournal._core``.

Set ``FLUXJOURNAL_NO_EXTENSIONS=1`` to install the pure-Python twin only.
"""

import os

from setuptools import Extension, setup


def extensions():
    if os.environ.get("FLUXJOURNAL_NO_EXTENSIONS") == "1":
        return []
    from Cython.Build import cythonize

    ext = Extension(
        "fluxjournal._core",
        ["src/fluxjournal/_core.pyx"],
        extra_compile_args=["-O3", "-DNDEBUG"],
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
