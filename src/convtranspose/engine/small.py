"""The small-problem path: the scatter as one product with a cached 0/1 placement matrix.

For tiny inputs the cost of a call is the number of NumPy operations issued from Python, not
arithmetic. This path issues a handful: the GEMM of the weight with the input (as in
:mod:`convtranspose.engine.gemm`), then the scatter of all taps at once as a product with the
placement matrix ``S`` of shape ``(prod(K) · prod(S_in), prod(S_out))``,
``S[t · P + i, o] = 1`` when tap ``t`` of input position ``i`` lands on output position ``o``
(after the crop). ``S`` depends only on the shapes and the spec, so it is built once and cached.

Its transpose gives the gradients: ``grad_y @ S^T`` gathers the columns in one product.
The cost model uses it only when ``S`` is small (:data:`AUTO_MAX_PLACEMENT_ELEMENTS`).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod
from typing import Callable, Optional

import numpy as np

from ..errors import ParameterError
from ..shape import geometries
from ..spec import ConvTransposeSpec
from . import gemm
from ._common import all_finite, bias_grad, tap_windows

__all__ = ["forward", "make_forward", "backward", "placement_matrix", "MAX_PLACEMENT_ELEMENTS"]

#: Largest placement matrix (entries) this path accepts at all (when forced with ``use_path``).
MAX_PLACEMENT_ELEMENTS = 1 << 22

#: The cost model considers this path only below these sizes (placement entries; column entries
#: over the whole batch): beyond them the dense placement product does more work than a scatter.
AUTO_MAX_PLACEMENT_ELEMENTS = 1 << 14
AUTO_MAX_COLUMN_ELEMENTS = 1 << 15


@lru_cache(maxsize=256)
def placement_matrix(
    spatial_in: tuple[int, ...], kernel: tuple[int, ...], spec: ConvTransposeSpec, dtype: str
) -> np.ndarray:
    """The read-only 0/1 matrix that places every (tap, input position) on its output position."""
    geo = geometries(spatial_in, kernel, spec)
    spatial_out = tuple(g.output for g in geo)
    entries = prod(kernel) * prod(spatial_in) * prod(spatial_out)
    if entries > MAX_PLACEMENT_ELEMENTS:
        raise ParameterError(
            f"engine path 'small' handles placement matrices of at most {MAX_PLACEMENT_ELEMENTS} entries; "
            f"this problem needs {entries} (use another path)"
        )
    placement = np.zeros((prod(kernel), prod(spatial_in), prod(spatial_out)), dtype=dtype)
    input_index = np.arange(prod(spatial_in)).reshape(spatial_in)
    output_index = np.arange(prod(spatial_out)).reshape(spatial_out)
    for window in tap_windows(geo, kernel):
        placement[window.index, input_index[window.input_slices].ravel(), output_index[window.output_slices].ravel()] = 1
    placement = placement.reshape(prod(kernel) * prod(spatial_in), prod(spatial_out))
    placement.flags.writeable = False
    return placement


@lru_cache(maxsize=256)
def _output_spatial(spatial_in: tuple[int, ...], kernel: tuple[int, ...], spec: ConvTransposeSpec) -> tuple[int, ...]:
    return tuple(g.output for g in geometries(spatial_in, kernel, spec))


def _columns(x: np.ndarray, weight: np.ndarray, groups: int) -> np.ndarray:
    """``W^T x`` arranged ``(N, G, Co, KK * P)``."""
    n, c_in = x.shape[:2]
    per_group_in, per_group_out = c_in // groups, weight.shape[1]
    taps, positions = prod(weight.shape[2:]), prod(x.shape[2:])
    w = weight.reshape(groups, per_group_in, per_group_out * taps).transpose(0, 2, 1)  # (G, Co*KK, Ci)
    xs = x.reshape(n, groups, per_group_in, positions)
    cols = np.matmul(w, xs)  # (N, G, Co*KK, P)
    return cols.reshape(n, groups, per_group_out, taps * positions)


def forward(
    x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], spec: ConvTransposeSpec
) -> np.ndarray:
    """Transposed convolution as ``(W^T x) @ S`` (non-finite operands: ``gemm``, see ``all_finite``)."""
    if not all_finite(x, weight):
        return gemm.forward(x, weight, bias, spec)
    n = x.shape[0]
    placement = placement_matrix(x.shape[2:], weight.shape[2:], spec, x.dtype.str)
    out = np.matmul(_columns(x, weight, spec.groups), placement)  # (N, G, Co, O)
    spatial_out = _output_spatial(x.shape[2:], weight.shape[2:], spec)
    out = out.reshape((n, spec.groups * weight.shape[1]) + spatial_out)
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * len(spatial_out))
    return out


def make_forward(
    x_shape: tuple[int, ...], weight_shape: tuple[int, ...], spec: ConvTransposeSpec, dtype: np.dtype
) -> Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]:
    """:func:`forward` specialised to one signature: every shape and the placement precomputed."""
    n, c_in = x_shape[:2]
    groups, per_group_out = spec.groups, weight_shape[1]
    per_group_in, taps, positions = c_in // groups, prod(weight_shape[2:]), prod(x_shape[2:])
    placement = placement_matrix(x_shape[2:], weight_shape[2:], spec, dtype.str)
    out_shape = (n, groups * per_group_out) + _output_spatial(x_shape[2:], weight_shape[2:], spec)
    weight_rows = (groups, per_group_in, per_group_out * taps)  # transposed to (G, Co*KK, Ci)
    input_rows = (n, groups, per_group_in, positions)
    columns = (n, groups, per_group_out, taps * positions)
    bias_shape = (1, groups * per_group_out) + (1,) * (len(x_shape) - 2)

    def run(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        if not all_finite(x, weight):
            return np.ascontiguousarray(gemm.forward(x, weight, bias, spec))
        cols = np.matmul(weight.reshape(weight_rows).transpose(0, 2, 1), x.reshape(input_rows))
        out = np.matmul(cols.reshape(columns), placement).reshape(out_shape)
        if bias is not None:
            out += bias.reshape(bias_shape)
        # matmul lays its result out like its operands (order 'K'): a Fortran-ordered x would give
        # a Fortran-ordered result, and runners promise C order.
        return np.ascontiguousarray(out)

    return run


def backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    spec: ConvTransposeSpec,
    *,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
):
    """Gradients: ``grad_y @ S^T`` gives the columns' gradient, then the two GEMM transposes."""
    if not all_finite(grad_output, x, weight):
        flags = dict(need_input=need_input, need_weight=need_weight, need_bias=need_bias)
        return gemm.backward(grad_output, x, weight, spec, **flags)
    n, c_in = x.shape[:2]
    groups = spec.groups
    per_group_in, per_group_out = c_in // groups, weight.shape[1]
    taps, positions = prod(weight.shape[2:]), prod(x.shape[2:])
    grad_x = grad_w = None
    if need_input or need_weight:
        placement = placement_matrix(x.shape[2:], weight.shape[2:], spec, x.dtype.str)
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
