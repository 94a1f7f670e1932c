"""The ``phase_jit`` path: the phase decomposition of ``phase`` with a compiled gather and write (numba).

A transposed convolution is, phase by phase, an ordinary correlation of the input with a
sub-kernel (:mod:`convtranspose.engine.phase`); with stride 1 on every axis there is one phase and
the whole layer is the *gather* formulation -- the convolution with the flipped kernel::

    patches[(c_in, window), (n, m)] = x[n, c_in, m + offset(window)]     (zero outside the input)
    out[phase][n, c_out, m]        = (W_phase^T · patches)[c_out, (n, m)] + bias[c_out]

one GEMM whose inner dimension is ``C_in/G · taps`` (not ``C_in/G`` as in ``gemm``'s scatter:
layers with few input channels keep the BLAS busy), and no scatter of ``prod(kernel)`` kernel
copies per input value. The NumPy ``phase`` path gathers the patches with one strided copy per
window, which is slow on short lines; here one compiled loop writes each patch row, and another
writes each output row from the GEMM's result with the bias (both split across the engine's
threads; they release the GIL).

Its backward is ``gemm_jit``'s: the gradients of a transposed convolution are already gathers
(``grad_output``'s windows times the weight), computed there with the same compiled gather and
two GEMMs. This module is what the cost model and the dispatcher read; it does not import numba
(the kernels are in :mod:`convtranspose.engine.jit_phase`). Depthwise and dense calls go to the
same variant kernels as ``gemm_jit`` (registry).
"""

from __future__ import annotations

from math import prod
from typing import Optional

import numpy as np

from ..plan import Plan
from . import cost, gemm_jit
from ._common import Grads, Needs
from .phase import MAX_PHASES
from .phase_plan import live_windows, phase_groups, phase_layout

__all__ = ["EXACT", "applies", "estimate", "load_kernels", "forward", "backward"]

#: Multiplies the zeros outside the input in its patches (inf · 0 = NaN): the dispatcher sends
#: non-finite or overflowing operands to the exact path.
EXACT = False


#: Element accesses charged per patch value: written by the gather (a table lookup or a short run
#: per value, slower than a copy) and read by the GEMM.
PATCH_ACCESSES = 5

#: The estimate's scale against ``gemm_jit``'s. Fitted on 11 layers of the sweep (seed 1334851183)
#: and the suite where the two differ most (1 thread, CPU time, this path / gemm_jit measured vs
#: estimated): the formula alone came out 1.5-2x optimistic (its GEMMs have few rows when
#: ``C_out/G`` is small, and the gather reads each input value once per window), which chose this
#: path on layers where it was up to 4x slower. Scaled, it is chosen where it measured 0.5-0.65x
#: (a 7x7 kernel on 10 channels, a 5x5x5 kernel on a 2x2x2 input, FCN's k16 s8) and not where it
#: lost (1.1-4.2x: 2x2 kernels on 87x87, 64 phases of a k4 s4 3-d layer).
SCALE = 1.7


def applies(plan: Plan) -> Optional[str]:
    """Every call (when numba is installed; the registry checks that)."""
    return None


def estimate(plan: Plan, direction: str) -> float:
    """The forward: per group of phases, the patches written and read once, one GEMM of
    ``C_out/G · members`` rows over ``C_in/G · windows``, and the result read once to write each
    output value once. The backward, and the depthwise and dense variants, are ``gemm_jit``'s."""
    if direction == "backward" or plan.depthwise or plan.dense or plan.pointwise:
        return gemm_jit.estimate(plan, direction)
    geo = phase_layout(plan.geometry, plan.fold_mode).geometry
    if prod(min(g.stride, g.output) for g in geo) > MAX_PHASES:
        return float("inf")
    n = cost.sizes(plan)
    batch, c_in, per_group_out = plan.batch, plan.in_channels, plan.per_group_out
    shared = phase_groups(geo)
    windows = [len(live_windows(geo, g)) for g in shared]
    patches = [batch * c_in * w * prod(g.counts) for g, w in zip(shared, windows)]
    results = sum(batch * plan.out_channels * len(g.members) * prod(g.counts) for g in shared)
    return SCALE * cost.seconds(
        plan,
        flops=2 * per_group_out * sum(len(g.members) * p for g, p in zip(shared, patches)),
        accesses=PATCH_ACCESSES * sum(patches) + 2 * results + n.out_elems,
        run=1 << 20,
        calls=8 + (8 + 2 * plan.groups) * len(shared),
        inner=plan.per_group_in * max(windows, default=1),
        rows=per_group_out * max((len(g.members) for g in shared), default=1),
    )


def load_kernels() -> None:
    """Import the compiled kernels now (numba and its compilation cache)."""
    from . import jit_phase  # noqa: F401


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    from . import jit_phase

    return jit_phase.forward(plan, x, weight, bias)


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    return gemm_jit.backward(plan, grad_output, x, weight, needs)
