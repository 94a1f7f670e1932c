"""The GEMM + scatter engine: transposed convolution and its gradients as matrix products.

Shapes used throughout (``G`` groups, per-group channels ``Ci = C_in / G``, ``Co = C_out / G``,
``KK = prod(kernel)`` taps, ``P = prod(input spatial)``)::

    x     (N, G*Ci, *S_in)           weight (G*Ci, Co, *K)          y (N, G*Co, *S_out)

Forward, two stages:

1. **GEMM** -- every input element times the whole kernel, all at once:
   ``cols[g] = weight[g]^T @ x[g]``, shape ``(G, Co*KK, N*P)``. Column ``(n, i)`` holds
   ``x[n, :, i] * K`` summed over the input channels: the kernel copy that input element ``i``
   stamps onto the output.
2. **Scatter (col2im)** -- for each kernel tap ``t``, the copies' entries for that tap land on the
   canvas positions ``i * stride + t * dilation``: one strided slice per tap, added in. The canvas
   is then cropped by ``padding`` at both ends; ``output_padding`` extends the kept window at the
   end (:class:`convtranspose.shape.AxisGeometry` holds the arithmetic).

Understanding the gradient rules
--------------------------------
The forward is a linear map ``y = T(w) x``; ``T`` is the adjoint (transpose) of the ordinary
convolution ``C(w)`` with the same stride, padding and dilation. Transposing each stage gives the
gradients, with the roles of the stages swapped:

* ``grad_input = T(w)^T grad_y = C(w) grad_y`` -- an ordinary *strided* convolution of
  ``grad_y`` with the same weight. Stage 2's transpose is a **gather (im2col)**: for each tap,
  read ``grad_y`` (placed back on the zero-extended canvas) at the same strided slice. Stage 1's
  transpose multiplies by ``weight[g]`` instead of ``weight[g]^T``.
* ``grad_weight`` -- the forward is also linear in ``w``: ``y = sum x[i] * w`` at offset
  ``i * stride``; its adjoint correlates ``x`` with the gathered ``grad_y`` columns:
  ``grad_w[g] = x[g] @ cols[g]^T``. The stride of the forward becomes the *dilation* of this
  correlation over ``grad_y`` and the forward dilation becomes its stride -- which is exactly what
  gathering at ``i * stride + t * dilation`` does.
* ``grad_bias`` -- the bias is broadcast over batch and space, so its adjoint sums over them.

So one gather serves both ``grad_input`` and ``grad_weight``; nothing but the two GEMMs and the
scatter/gather is needed, and each stays next to its transpose in this file.
"""

from __future__ import annotations

from itertools import product
from math import prod
from typing import Iterator, Optional, Sequence

import numpy as np

from ..shape import AxisGeometry, geometries
from ..spec import ConvTransposeSpec

__all__ = ["forward", "input_grad", "weight_grad", "bias_grad", "backward"]


# --------------------------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------------------------


def _tap_slices(geo: Sequence[AxisGeometry], kernel: Sequence[int]) -> Iterator[tuple[slice, ...]]:
    """For every kernel tap (C order), the canvas slices it writes (forward) or reads (gradient)."""
    for tap in product(*(range(k) for k in kernel)):
        yield tuple(g.tap_slice(t) for g, t in zip(geo, tap))


def _grouped_input(x: np.ndarray, groups: int) -> np.ndarray:
    """``(N, G*Ci, *S)`` -> ``(G, Ci, N*P)``: per group, one column per (batch item, position)."""
    n, c_in = x.shape[:2]
    positions = prod(x.shape[2:])
    per_group = c_in // groups
    grouped = x.reshape(n, groups, per_group, positions).transpose(1, 2, 0, 3)
    return grouped.reshape(groups, per_group, n * positions)


def _grouped_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(G*Ci, Co, *K)`` -> ``(G, Ci, Co*KK)``."""
    c_in = weight.shape[0]
    return weight.reshape(groups, c_in // groups, -1)


def _ungroup(cols: np.ndarray, n: int, spatial: Sequence[int]) -> np.ndarray:
    """``(G, C, N*P)`` -> ``(N, G*C, *spatial)``, a fresh C-contiguous array."""
    groups, per_group = cols.shape[:2]
    batched = cols.reshape(groups, per_group, n, *spatial)
    moved = np.moveaxis(batched, 2, 0)
    return np.ascontiguousarray(moved).reshape(n, groups * per_group, *spatial)


# --------------------------------------------------------------------------------------------
# Forward: GEMM, then scatter (col2im)
# --------------------------------------------------------------------------------------------


def _scatter(cols: np.ndarray, geo: Sequence[AxisGeometry], kernel: Sequence[int], n: int) -> np.ndarray:
    """Add each tap's columns into the canvas; ``cols`` is ``(G, Co, KK, N, *S_in)``."""
    groups, per_group = cols.shape[:2]
    canvas = np.zeros((n, groups, per_group) + tuple(g.canvas for g in geo), dtype=cols.dtype)
    for tap_index, slices in enumerate(_tap_slices(geo, kernel)):
        contribution = np.moveaxis(cols[:, :, tap_index], 2, 0)  # (N, G, Co, *S_in)
        canvas[(Ellipsis,) + slices] += contribution
    return canvas


def forward(
    x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], spec: ConvTransposeSpec
) -> np.ndarray:
    """Transposed convolution of a batched, validated input.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *S_in)
    weight : ndarray, shape (C_in, C_out / groups, *K)
    bias : ndarray of shape (C_out,) or None
    spec : ConvTransposeSpec

    Returns
    -------
    ndarray, shape (N, C_out, *S_out), C-contiguous, dtype of ``x``.
    """
    n = x.shape[0]
    spatial_in, kernel = x.shape[2:], weight.shape[2:]
    groups = spec.groups
    geo = geometries(spatial_in, kernel, spec)

    grouped_w = _grouped_weight(weight, groups)  # (G, Ci, Co*KK)
    cols = np.matmul(grouped_w.transpose(0, 2, 1), _grouped_input(x, groups))  # (G, Co*KK, N*P)
    per_group_out = weight.shape[1]
    cols = cols.reshape(groups, per_group_out, prod(kernel), n, *spatial_in)

    canvas = _scatter(cols, geo, kernel, n)
    window = canvas[(Ellipsis,) + tuple(g.output_slice for g in geo)]
    out = np.ascontiguousarray(window).reshape(n, groups * per_group_out, *(g.output for g in geo))
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * len(kernel))
    return out


# --------------------------------------------------------------------------------------------
# Gradients: gather (im2col), then GEMM -- the transposes of the two forward stages
# --------------------------------------------------------------------------------------------


def _gather(
    grad_output: np.ndarray, geo: Sequence[AxisGeometry], kernel: Sequence[int], groups: int
) -> np.ndarray:
    """Transpose of :func:`_scatter`: ``(N, G*Co, *S_out)`` -> columns ``(G, Co*KK, N*P)``."""
    n, c_out = grad_output.shape[:2]
    per_group = c_out // groups
    canvas = np.zeros((n, groups, per_group) + tuple(g.canvas for g in geo), dtype=grad_output.dtype)
    window = tuple(g.output_slice for g in geo)
    canvas[(Ellipsis,) + window] = grad_output.reshape(n, groups, per_group, *grad_output.shape[2:])

    spatial_in = tuple(g.input_size for g in geo)
    cols = np.empty((groups, per_group, prod(kernel), n) + spatial_in, dtype=grad_output.dtype)
    for tap_index, slices in enumerate(_tap_slices(geo, kernel)):
        cols[:, :, tap_index] = np.moveaxis(canvas[(Ellipsis,) + slices], 0, 2)
    return cols.reshape(groups, per_group * prod(kernel), n * prod(spatial_in))


def _weight_grad_from_cols(cols: np.ndarray, x: np.ndarray, kernel: Sequence[int], groups: int) -> np.ndarray:
    grouped_x = _grouped_input(x, groups)  # (G, Ci, N*P)
    grad = np.matmul(grouped_x, cols.transpose(0, 2, 1))  # (G, Ci, Co*KK)
    c_in = x.shape[1]
    return np.ascontiguousarray(grad).reshape(c_in, -1, *kernel)


def bias_grad(grad_output: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the bias: ``grad_output`` summed over batch and space."""
    axes = (0,) + tuple(range(2, grad_output.ndim))
    return grad_output.sum(axis=axes)


def backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    spec: ConvTransposeSpec,
    *,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """All requested gradients, sharing one gather of ``grad_output``."""
    kernel = weight.shape[2:]
    geo = geometries(x.shape[2:], kernel, spec)
    cols = _gather(grad_output, geo, kernel, spec.groups) if (need_input or need_weight) else None
    grad_x = grad_w = grad_b = None
    if need_input:
        grad_cols = np.matmul(_grouped_weight(weight, spec.groups), cols)
        grad_x = _ungroup(grad_cols, grad_output.shape[0], x.shape[2:])
    if need_weight:
        grad_w = _weight_grad_from_cols(cols, x, kernel, spec.groups)
    if need_bias:
        grad_b = bias_grad(grad_output)
    return grad_x, grad_w, grad_b


def input_grad(
    grad_output: np.ndarray, weight: np.ndarray, input_spatial: Sequence[int], spec: ConvTransposeSpec
) -> np.ndarray:
    """Gradient w.r.t. the input: an ordinary strided convolution of ``grad_output`` with ``weight``."""
    kernel = weight.shape[2:]
    geo = geometries(input_spatial, kernel, spec)
    cols = _gather(grad_output, geo, kernel, spec.groups)
    grad_cols = np.matmul(_grouped_weight(weight, spec.groups), cols)  # (G, Ci, N*P)
    return _ungroup(grad_cols, grad_output.shape[0], input_spatial)


def weight_grad(grad_output: np.ndarray, x: np.ndarray, kernel: Sequence[int], spec: ConvTransposeSpec) -> np.ndarray:
    """Gradient w.r.t. the weight: ``x`` correlated with ``grad_output`` (stride acts as dilation)."""
    geo = geometries(x.shape[2:], kernel, spec)
    cols = _gather(grad_output, geo, kernel, spec.groups)
    return _weight_grad_from_cols(cols, x, kernel, spec.groups)
