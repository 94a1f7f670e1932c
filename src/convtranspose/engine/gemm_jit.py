"""The ``gemm_jit`` path: the GEMMs of ``gemm`` with a compiled scatter and gather (numba).

This module is what the cost model and the dispatcher read; it does not import numba. The
compiled kernels live in :mod:`convtranspose.engine.jit_gemm` (and, for depthwise layers,
:mod:`convtranspose.engine.depthwise_jit`), imported on the first call that uses the path, so
``import convtranspose`` stays light. Without numba installed the path is listed by
``convtranspose.engine.unavailable_paths()`` and never chosen.

The scatter is one pass over the columns and the output, whatever the run length, so the
estimate charges no per-inner-loop overhead; its depthwise kernels skip the GEMM and the columns.
"""

from __future__ import annotations

from math import prod
from typing import Callable, Optional

import numpy as np

from ..plan import Plan
from . import cost
from ._common import Grads, Needs

__all__ = ["EXACT", "applies", "estimate", "load_kernels", "make_forward", "forward", "backward"]

#: Multiplies exactly the (input, weight) pairs that meet (the scatter skips cropped taps).
EXACT = True


def applies(plan: Plan) -> Optional[str]:
    """Every call (when numba is installed; the registry checks that)."""
    return None


def estimate(plan: Plan, direction: str) -> float:
    """The ``gemm`` estimate with a compiled scatter (one pass, no short-run overhead)."""
    n = cost.sizes(plan)
    gemms = 1 if direction == "forward" else 2
    if (plan.dense or plan.pointwise) and not plan.depthwise:  # the dense kernel: GEMMs only
        return cost.gemm_only_seconds(plan, direction)
    if plan.depthwise:  # fused depthwise kernels: one pass, no GEMM
        return cost.seconds(
            plan, flops=0, accesses=gemms * (2 * n.out_elems + n.in_elems), run=1 << 20, calls=4, inner=1, rows=1
        )
    return cost.seconds(
        plan,
        flops=gemms * n.useful_flops,
        accesses=2 * n.columns + 2 * n.out_elems,
        run=1 << 20,
        calls=10,
        inner=plan.per_group_in,
        rows=plan.per_group_out * prod(plan.kernel),
    )


def load_kernels() -> None:
    """Import the compiled kernels now (numba and its compilation cache)."""
    from . import jit_gemm  # noqa: F401


def make_forward(plan: Plan) -> Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]:
    """The compiled forward bound to ``plan`` (its result is a fresh C-contiguous array)."""
    from . import jit_gemm

    kernel = jit_gemm.forward

    def run(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        return kernel(plan, x, weight, bias)

    return run


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    from . import jit_gemm

    return jit_gemm.forward(plan, x, weight, bias)


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    from . import jit_gemm

    return jit_gemm.backward(plan, grad_output, x, weight, needs)
