"""What a padding mode costs on top of the same call with ``padding_mode='zeros'``.

The suite's layers that have a border (padding > 0), fp32, forward and backward (all three
gradients), timed interleaved in one process (best of the rounds): zeros, reflect, replicate,
circular. For each mode the table gives the extra time over zeros and compares it with *one pass
over the border*: the border cells' share of the padded canvas (``prod(out + before + after) -
prod(out)`` over ``prod(out)``) times the zeros call's time -- what computing the border cells
like any output cell, then adding each once, would cost. ``extra / border pass`` near or below 1
means the mode costs one extra pass over the border. Every engine kernel folds the border where the
zeros mode drops it (no canvas, no copy), so the border's products are the whole extra; the ratio
varies by the timing noise, which on a layer with a border of a few per cent is larger than the
border itself (``extra / border pass`` then reads the noise, e.g. -4 or +6 for a 0.4 % border).

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/modes_bench.py [--quick] [--rounds R]

Results: ``benchmarks/MODES_RESULTS.md`` (written by this script).
"""

from __future__ import annotations

import argparse
from fnmatch import fnmatch
import platform
from math import prod
from pathlib import Path

import numpy as np

from convtranspose import conv_transpose, conv_transpose_backward
from convtranspose.bench.suite import LAYERS
from convtranspose.bench.timing import interleaved
from convtranspose.engine import set_num_threads

MODES = ("zeros", "reflect", "replicate", "circular")


def border_fraction(layer) -> float:
    out = layer.output_spatial
    p = layer.padding
    return (prod(o + 2 * p for o in out) - prod(out)) / prod(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the suite's --quick sizes")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", default="*", help="comma-separated shell patterns of layer names (default: all)")
    parser.add_argument("--write", default=str(Path(__file__).with_name("MODES_RESULTS.md")))
    args = parser.parse_args()
    set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        if layer.padding == 0 or not any(fnmatch(layer.name, p) for p in args.layers.split(",")):
            continue
        layer = layer.quick() if args.quick else layer
        x = rng.standard_normal(layer.input_shape, dtype=np.float32)
        w = rng.standard_normal(layer.weight_shape, dtype=np.float32)
        b = rng.standard_normal(layer.out_channels, dtype=np.float32)
        gy = rng.standard_normal(layer.output_shape, dtype=np.float32)
        kw = layer.conv_kwargs()
        for direction in ("forward", "backward"):
            loops = {}
            for mode in MODES:
                if direction == "forward":
                    def loop(k, mode=mode):
                        for _ in range(k):
                            conv_transpose(x, w, b, padding_mode=mode, **kw)
                else:
                    def loop(k, mode=mode):
                        for _ in range(k):
                            conv_transpose_backward(gy, x, w, padding_mode=mode, **kw)
                loops[mode] = loop
            result = interleaved(loops, rounds=args.rounds, min_round_time=0.05, settle=0.05)
            zeros = result["zeros"].best
            frac = border_fraction(layer)
            cells = [layer.name, direction, f"{zeros * 1e3:.3f}", f"{frac:.1%}"]
            for mode in MODES[1:]:
                extra = result[mode].best - zeros
                cells += [f"{result[mode].best / zeros:.2f}x", f"{extra / (frac * zeros):.2f}"]
            rows.append(cells)
            print(" | ".join(cells), flush=True)
    head = ["layer", "direction", "zeros ms", "border"] + [f"{m} {c}" for m in MODES[1:] for c in ("/ zeros", "extra / border pass")]
    lines = [
        "# Padding modes: cost over padding_mode='zeros'",
        "",
        f"`python benchmarks/modes_bench.py{' --quick' if args.quick else ''} --rounds {args.rounds}` on "
        f"{platform.machine()}, {args.threads} threads, fp32, best of {args.rounds} interleaved rounds. "
        "`border`: the border cells' share of the output; `extra / border pass`: the mode's extra time "
        "divided by border share x the zeros time (1 = one extra pass over the border).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    Path(args.write).write_text("\n".join(lines) + "\n")
    print(f"written: {args.write}")


if __name__ == "__main__":
    main()
