"""``python -m fluxjournal.bench``: the same as ``fluxjournal bench``."""

import sys

from fluxjournal.bench.command import main

sys.exit(main())
