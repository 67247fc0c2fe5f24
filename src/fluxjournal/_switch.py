"""The core switch: which of the two complete cores this process uses.

The compiled core (``fluxjournal._core``) when it loads; its pure-Python twin
(``fluxjournal._pycore``) otherwise, or when ``FLUXJOURNAL_NO_EXTENSIONS=1`` is set. Every
module that needs the active core's classes takes ``core`` from here, so the choice is
made once, in one place, before anything above it is imported.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType


def _choose() -> ModuleType:
    if os.environ.get("FLUXJOURNAL_NO_EXTENSIONS", "") not in ("", "0"):
        from fluxjournal import _pycore

        return _pycore
    try:
        from fluxjournal import _core
    except ImportError as exc:  # pragma: no cover - depends on the build
        warnings.warn(
            f"fluxjournal's compiled core failed to load ({exc}); using the pure-Python "
            "twin. Set FLUXJOURNAL_NO_EXTENSIONS=1 to choose it explicitly.",
            RuntimeWarning,
            stacklevel=4,
        )
        from fluxjournal import _pycore

        return _pycore
    return _core


#: The active core: ``fluxjournal._core`` or ``fluxjournal._pycore``.
core: ModuleType = _choose()

#: Which core is active: ``"cython"`` or ``"python"``.
IMPLEMENTATION = "cython" if core.__name__ == "fluxjournal._core" else "python"
