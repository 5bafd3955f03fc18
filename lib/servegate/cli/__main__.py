"""``python -m servegate.cli``: the same as the ``servegate`` console script."""

import sys

from servegate.cli import main

sys.exit(main())
