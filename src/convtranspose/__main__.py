"""``python -m convtranspose``: the same CLI as the ``convtranspose`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
