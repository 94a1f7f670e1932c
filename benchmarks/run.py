#!/usr/bin/env python
"""Run the benchmark suite and write RESULTS.md and ratios.png next to this script.

The same as ``convtranspose bench --write benchmarks``; every option of ``convtranspose bench``
works here too. For the committed results, unset the OpenBLAS overrides on a quiet machine::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py
"""

import argparse
import sys
from pathlib import Path

from convtranspose.bench.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.set_defaults(write=Path(__file__).resolve().parent)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
