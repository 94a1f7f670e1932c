#!/usr/bin/env python
"""Run the benchmark suite and write RESULTS.md and ratios.png next to this script.

The same as ``convtranspose bench --write benchmarks``; every option of ``convtranspose bench``
works here too. With ``--sweep N --seed S`` the full suite still runs (unless ``--layers`` picks
fewer layers), followed by the sweep, which becomes a section of RESULTS.md with sweep.png. For
the committed results, unset the OpenBLAS overrides on a quiet machine::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py --sweep 60 --seed S
"""

import argparse
import sys
from pathlib import Path

from convtranspose.bench.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.set_defaults(write=Path(__file__).resolve().parent)
    args = parser.parse_args()
    if args.sweep is not None and args.layers is None:
        args.layers = "*"  # RESULTS.md always holds the suite; the sweep comes on top
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
