"""Dense layers: a single input position whose taps fill the output exactly (``Plan.dense``).

When every input spatial size is 1 and nothing is cropped or dilated (DCGAN's first layer: a 1x1
latent vector to a 4x4 map), tap ``t`` of the single input position *is* output position ``t``.
The layer is then a dense map from ``C_in`` to ``C_out · prod(kernel)``: the forward is one GEMM
whose result already has the output's layout, and both gradients are one GEMM each, with no
scatter or gather at all. The ``gemm`` and ``gemm_jit`` paths hand such calls to this kernel
(see the registry).

Gradients: ``out = x @ W`` per group, so ``grad_x = grad_out @ W^T`` and ``grad_W = x^T @ grad_out``
(the two transposes of the one product); the bias gradient sums over the batch and the taps.

Pointwise layers (``Plan.pointwise``: kernel 1, stride 1, nothing cropped, e.g. a 1x1 channel
projection) are the transposed case: every input position is one output position, so per batch
item and group ``out[n] = W^T @ x[n]`` (``(Co, Ci) @ (Ci, P)``), a GEMM written straight into the
output, with ``grad_x[n] = W @ grad_out[n]`` and ``grad_W = sum_n x[n] @ grad_out[n]^T``.
"""

from __future__ import annotations

from math import prod
from typing import Optional

import numpy as np

from ..plan import Plan
from ._common import Grads, Needs, bias_grad
from .gemm import grouped_weight

__all__ = ["EXACT", "forward", "backward"]

#: One GEMM of the operands themselves: exactly the pairs that meet.
EXACT = True


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """``out[n, g, (c, t)] = x[n, g, :] @ weight[g, :, (c, t)]`` (+ bias)."""
    if plan.pointwise:
        return _pointwise_forward(plan, x, weight, bias)
    n, c_in = x.shape[:2]
    groups, per_group_out, kernel = plan.groups, plan.per_group_out, plan.kernel
    rows = x.reshape(n, groups, c_in // groups).transpose(1, 0, 2)  # (G, n, Ci)
    product = np.matmul(rows, grouped_weight(weight, groups))  # (G, n, Co*KK)
    out = product[0] if groups == 1 else np.ascontiguousarray(product.transpose(1, 0, 2))
    out = np.ascontiguousarray(out.reshape((n, groups * per_group_out) + tuple(kernel)))  # matmul keeps x's order
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * len(kernel))
    return out


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """The two GEMMs of :func:`forward`'s gradients: ``gy @ W^T`` and ``x^T @ gy``."""
    if plan.pointwise:
        return _pointwise_backward(plan, grad_output, x, weight, needs)
    need_input, need_weight, need_bias = needs
    n, c_in = x.shape[:2]
    groups = plan.groups
    per_group_in = c_in // groups
    gy = grad_output.reshape(n, groups, prod(weight.shape[1:])).transpose(1, 0, 2)  # (G, n, Co*KK)
    grad_x = grad_w = None
    if need_input:
        grad_rows = np.matmul(gy, grouped_weight(weight, groups).transpose(0, 2, 1))  # (G, n, Ci)
        grad_x = np.ascontiguousarray(grad_rows.transpose(1, 0, 2)).reshape(x.shape)
    if need_weight:
        rows = x.reshape(n, groups, per_group_in).transpose(1, 2, 0)  # (G, Ci, n)
        grad_w = np.matmul(rows, gy).reshape(weight.shape)
    return grad_x, grad_w, (bias_grad(grad_output) if need_bias else None)


def _pointwise_forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """``out[n, g] = weight[g]^T @ x[n, g]`` (``(Co, Ci) @ (Ci, P)``) per item and group (+ bias)."""
    n, c_in = x.shape[:2]
    groups, per_group_out = plan.groups, plan.per_group_out
    positions = prod(x.shape[2:])
    out = np.empty((n, groups * per_group_out) + tuple(x.shape[2:]), dtype=x.dtype)
    rows = x.reshape(n, groups, c_in // groups, positions)
    weight_t = grouped_weight(weight, groups).transpose(0, 2, 1)  # (G, Co, Ci)
    items = out.reshape(n, groups, per_group_out, positions)
    np.matmul(weight_t, rows, out=items)
    if bias is not None:
        items += bias.reshape(groups, per_group_out, 1)
    return out


def _pointwise_backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """The gradients of :func:`_pointwise_forward`: ``W @ gy[n]`` per item, ``sum_n x[n] @ gy[n]^T``."""
    need_input, need_weight, need_bias = needs
    n, c_in = x.shape[:2]
    groups, per_group_out = plan.groups, plan.per_group_out
    per_group_in = c_in // groups
    positions = prod(x.shape[2:])
    gy = np.ascontiguousarray(grad_output).reshape(n, groups, per_group_out, positions)
    rows = x.reshape(n, groups, per_group_in, positions)
    grouped_w = grouped_weight(weight, groups)  # (G, Ci, Co)
    grad_x = grad_w = None
    if need_input:
        grad_x = np.empty(x.shape, dtype=x.dtype)
        np.matmul(grouped_w, gy, out=grad_x.reshape(n, groups, per_group_in, positions))
    if need_weight:
        grad_w = np.zeros(grouped_w.shape, dtype=x.dtype)
        for item in range(n):  # one GEMM per item, summed in place: no (n, G, Ci, Co) temporary
            grad_w += np.matmul(rows[item], gy[item].transpose(0, 2, 1))
        grad_w = grad_w.reshape(weight.shape)
    return grad_x, grad_w, (bias_grad(grad_output) if need_bias else None)
