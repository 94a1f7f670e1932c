"""The shared pieces of the cost model: machine rates and the time formula.

Each path estimates its own time (its module's ``estimate(plan, direction)``) as::

    flops / GEMM_RATE  +  accesses · itemsize · run_factor / COPY_RATE / thread_gain  +  calls · CALL_OVERHEAD

with the flops, element accesses, inner-loop run length and NumPy calls its algorithm makes;
:func:`seconds` applies the formula. ``run_factor = 1 + RUN_OVERHEAD / run`` charges NumPy's
per-inner-loop cost: short contiguous runs are slow. A backward computes two GEMMs of the
forward's size (input and weight gradients) and the transposed data movement.

The constants were fitted on a 2-core x86-64 machine with OpenBLAS (see
``benchmarks/RESULTS.md``); only their ratios matter for the choice. The dispatcher
(:func:`convtranspose.engine.route`) picks the cheapest applicable path once per plan.
"""

from __future__ import annotations

from math import prod
from typing import NamedTuple

from ..plan import Plan
from . import threads

__all__ = ["Sizes", "sizes", "seconds", "gemm_only_seconds", "DIRECTIONS"]

GEMM_RATE = 190e9  # flop/s of the BLAS on large float32 products
COPY_RATE = 12e9  # bytes/s of element accesses in long contiguous runs
RUN_OVERHEAD = 3.0  # elements' worth of time per NumPy inner loop
CALL_OVERHEAD = 4e-6  # seconds per NumPy call issued from Python
THREAD_GAIN = 1.5  # speed-up of split element-wise work with 2+ threads

DIRECTIONS = ("forward", "backward")


class Sizes(NamedTuple):
    """Element counts of a call that every estimate uses."""

    out_elems: int  # output values
    in_elems: int  # input values
    weight_elems: int
    positions: int  # input positions over the batch, N · prod(S_in)
    columns: int  # kernel-copy values, positions · C_out · prod(K)
    useful_flops: int  # 2 · columns · C_in / groups: the products that meet


def sizes(plan: Plan) -> Sizes:
    positions = plan.batch * prod(plan.input_spatial)
    columns = positions * plan.out_channels * prod(plan.kernel)
    return Sizes(
        out_elems=prod(plan.output_shape),
        in_elems=prod(plan.input_shape),
        weight_elems=prod(plan.weight_shape),
        positions=positions,
        columns=columns,
        useful_flops=2 * columns * plan.per_group_in,
    )


def _run_factor(run: float) -> float:
    return 1.0 + RUN_OVERHEAD / max(1.0, run)


def _gemm_seconds(flops: float, inner: int, rows: int) -> float:
    """BLAS time, slowed down when the product's inner or row dimension is small (< 64)."""
    efficiency = min(1.0, inner / 64) * min(1.0, rows / 64)
    return flops / (GEMM_RATE * max(efficiency, 1e-3))


def seconds(plan: Plan, *, flops: float, accesses: float, run: float, calls: float, inner: int, rows: int) -> float:
    """Estimated time of an algorithm with these counts (GEMMs of ``rows`` by ``inner``)."""
    gain = THREAD_GAIN if threads.get_num_threads() > 1 else 1.0
    copy_seconds = accesses * plan.itemsize * _run_factor(run) / COPY_RATE / gain
    return _gemm_seconds(flops, inner, rows) + copy_seconds + calls * CALL_OVERHEAD


def gemm_only_seconds(plan: Plan, direction: str) -> float:
    """A dense or pointwise call on a GEMM path (:mod:`convtranspose.engine.dense`): its GEMMs
    and one pass over the operands, no columns, scatter or gather."""
    n = sizes(plan)
    gemms = 1 if direction == "forward" else 2
    return seconds(
        plan,
        flops=gemms * n.useful_flops,
        accesses=gemms * (n.out_elems + n.in_elems),
        run=1 << 20,
        calls=2 * gemms,
        inner=plan.per_group_in,
        rows=plan.per_group_out * prod(plan.kernel),
    )
