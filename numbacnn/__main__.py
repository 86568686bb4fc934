"""``python -m numbacnn``: the command line (see numbacnn.cli)."""

import sys

from .cli import main

sys.exit(main())
