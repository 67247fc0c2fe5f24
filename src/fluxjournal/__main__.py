"""``python -m fluxjournal``: the same as the ``fluxjournal`` command."""

import sys

from fluxjournal.commands.main import run

sys.exit(run())
