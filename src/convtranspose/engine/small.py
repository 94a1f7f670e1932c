"""The small-problem path: the scatter as one product with a cached 0/1 placement matrix.

For tiny inputs the cost of a call is the number of NumPy operations issued from Python, not
arithmetic. This path issues a handful: the GEMM of the weight with the input (as in
:mod:`convtranspose.engine.gemm`), then the scatter of all taps at once as a product with the
placement matrix ``S`` of shape ``(prod(K) · prod(S_in), prod(S_out))``,
``S[t · P + i, o] = 1`` when tap ``t`` of input position ``i`` lands on output position ``o``
(after the crop; with a padding mode, a border position on the cell the fold sends it to). ``S``
depends only on the geometry, so it is built once and cached.

Its transpose gives the gradients: ``grad_y @ S^T`` gathers the columns in one product.
The cost model uses it only when ``S`` is small (:data:`AUTO_MAX_PLACEMENT_ELEMENTS`). The
product with ``S`` multiplies structural zeros (``EXACT = False``).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod
from typing import Callable, Optional

import numpy as np

from ..plan import Plan
from ..shape import AxisGeometry
from . import cost
from ._common import Grads, Needs, bias_grad, tap_windows

__all__ = [
    "EXACT", "applies", "estimate", "forward", "make_forward", "backward", "placement_matrix", "MAX_PLACEMENT_ELEMENTS",
]

#: Multiplies the columns by the placement matrix's zeros (inf · 0 = NaN).
EXACT = False

#: Largest placement matrix (entries) this path accepts at all (when forced with ``use_path``).
MAX_PLACEMENT_ELEMENTS = 1 << 22

#: The cost model considers this path only below these sizes (placement entries; column entries
#: over the whole batch): beyond them the dense placement product does more work than a scatter.
AUTO_MAX_PLACEMENT_ELEMENTS = 1 << 14
AUTO_MAX_COLUMN_ELEMENTS = 1 << 15


def _placement_entries(plan: Plan) -> int:
    return prod(plan.kernel) * prod(plan.input_spatial) * prod(plan.output_spatial)


def applies(plan: Plan) -> Optional[str]:
    """Calls whose placement matrix has at most :data:`MAX_PLACEMENT_ELEMENTS` entries."""
    entries = _placement_entries(plan)
    if entries > MAX_PLACEMENT_ELEMENTS:
        return (
            f"engine path 'small' handles placement matrices of at most {MAX_PLACEMENT_ELEMENTS} entries; "
            f"this problem needs {entries} (use another path)"
        )
    return None


def estimate(plan: Plan, direction: str) -> float:
    """The GEMM(s), plus the dense product with the placement matrix: a few NumPy calls in all."""
    n = cost.sizes(plan)
    if _placement_entries(plan) > AUTO_MAX_PLACEMENT_ELEMENTS or n.columns > AUTO_MAX_COLUMN_ELEMENTS:
        return float("inf")
    placement_flops = 2 * plan.batch * plan.out_channels * _placement_entries(plan)
    gemms = 1 if direction == "forward" else 2
    return cost.seconds(
        plan,
        flops=gemms * n.useful_flops + placement_flops,
        accesses=2 * n.out_elems,
        run=1 << 20,
        calls=3 * gemms,
        inner=plan.per_group_in,
        rows=plan.per_group_out * prod(plan.kernel),
    )


@lru_cache(maxsize=256)
def placement_matrix(geo: tuple[AxisGeometry, ...], dtype: str, fold_mode: str = "zeros") -> np.ndarray:
    """The read-only 0/1 matrix that places every (tap, input position) on its output position
    (with a padding mode, a border position on the cell it folds to)."""
    kernel = tuple(g.kernel_size for g in geo)
    spatial_in = tuple(g.input_size for g in geo)
    spatial_out = tuple(g.output for g in geo)
    entries = np.zeros((prod(kernel), prod(spatial_in), prod(spatial_out)), dtype=dtype)
    input_index = np.arange(prod(spatial_in)).reshape(spatial_in)
    output_index = np.arange(prod(spatial_out)).reshape(spatial_out)
    for window in tap_windows(geo, kernel, fold_mode):
        inputs = input_index[window.input_slices]
        outputs = np.broadcast_to(output_index[window.output_slices], inputs.shape)  # a folded block may share a cell
        entries[window.index, inputs.ravel(), outputs.ravel()] = 1
    placement = entries.reshape(prod(kernel) * prod(spatial_in), prod(spatial_out))
    placement.flags.writeable = False
    return placement


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Transposed convolution as ``(W^T x) @ S``."""
    return make_forward(plan)(x, weight, bias)


def make_forward(plan: Plan) -> Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]:
    """:func:`forward` specialised to one plan: every shape and the placement precomputed."""
    n, c_in = plan.input_shape[:2]
    groups, per_group_out = plan.groups, plan.per_group_out
    per_group_in, taps, positions = c_in // groups, prod(plan.kernel), prod(plan.input_spatial)
    placement = placement_matrix(plan.geometry, plan.compute_dtype.str, plan.fold_mode)
    out_shape = plan.output_shape
    weight_rows = (groups, per_group_in, per_group_out * taps)  # transposed to (G, Co*KK, Ci)
    input_rows = (n, groups, per_group_in, positions)
    columns = (n, groups, per_group_out, taps * positions)
    bias_shape = (1, groups * per_group_out) + (1,) * plan.ndim

    def run(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        cols = np.matmul(weight.reshape(weight_rows).transpose(0, 2, 1), x.reshape(input_rows))
        out = np.matmul(cols.reshape(columns), placement).reshape(out_shape)
        if bias is not None:
            out += bias.reshape(bias_shape)
        # matmul lays its result out like its operands (order 'K'): a Fortran-ordered x would give
        # a Fortran-ordered result, and runners promise C order.
        return np.ascontiguousarray(out)

    return run


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """Gradients: ``grad_y @ S^T`` gives the columns' gradient, then the two GEMM transposes."""
    need_input, need_weight, need_bias = needs
    n, c_in = x.shape[:2]
    groups = plan.groups
    per_group_in, per_group_out = c_in // groups, plan.per_group_out
    taps, positions = prod(plan.kernel), prod(plan.input_spatial)
    grad_x = grad_w = None
    if need_input or need_weight:
        placement = placement_matrix(plan.geometry, x.dtype.str, plan.fold_mode)
        gy = grad_output.reshape(n, groups, per_group_out, placement.shape[1])
        grad_cols = np.matmul(gy, placement.T)  # (N, G, Co, KK*P)
        grad_cols = grad_cols.reshape(n, groups, per_group_out * taps, positions)
        if need_input:
            w = weight.reshape(groups, per_group_in, per_group_out * taps)  # (G, Ci, Co*KK)
            grad_x = np.matmul(w, grad_cols).reshape(x.shape)  # (N, G, Ci, P)
        if need_weight:
            xs = x.reshape(n, groups, per_group_in, positions)
            per_item = np.matmul(xs, grad_cols.transpose(0, 1, 3, 2))  # (N, G, Ci, Co*KK)
            grad_w = per_item.sum(axis=0).reshape(weight.shape)
    grad_b = bias_grad(grad_output) if need_bias else None
    return grad_x, grad_w, grad_b
