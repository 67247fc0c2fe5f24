"""``python -m fluxjournal``: the same as the ``fluxjournal`` command."""

import sys

from fluxjournal.cli import main

sys.exit(main())
