"""``python -m convtranspose.bench``: the same as ``convtranspose bench``."""

import sys

from .cli import main

sys.exit(main())
