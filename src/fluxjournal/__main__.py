"""``python -m fluxjournal``: the same as the ``fluxjournal`` command."""

import sys

from fluxjournal.cli import run

sys.exit(run())
