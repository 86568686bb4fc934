"""``python -m gui [--dataset fashion_mnist] [--model fashion_cnn] ...``; ``--help`` lists the options."""

import sys

from .app import main

sys.exit(main())
