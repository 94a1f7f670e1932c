"""The GEMM + scatter engine: transposed convolution and its gradients as matrix products.

Shapes used throughout (``G`` groups, per-group channels ``Ci = C_in / G``, ``Co = C_out / G``,
``KK = prod(kernel)`` taps, ``P = prod(input spatial)``)::

    x     (N, G*Ci, *S_in)           weight (G*Ci, Co, *K)          y (N, G*Co, *S_out)

Forward, two stages:

1. **GEMM** -- every input element times the whole kernel, all at once:
   ``cols[g] = weight[g]^T @ x[g]``, shape ``(G, Co*KK, N*P)``. Column ``(n, i)`` holds
   ``x[n, :, i] * K`` summed over the input channels: the kernel copy that input element ``i``
   stamps onto the output.
2. **Scatter (col2im)** -- for each kernel tap ``t``, the copies' entries for that tap land on
   positions ``i * stride + t * dilation`` of the full canvas; ``padding`` crops the canvas at both
   ends and ``output_padding`` extends the kept window at the end. Only the part of each tap that
   survives the crop is added, straight into the output (``AxisGeometry.tap_window`` clips it), so
   no canvas is ever allocated.

The batch is processed in chunks so that the column buffer stays below
:data:`convtranspose.engine._common.COLUMN_BUDGET_BYTES`.

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

from math import prod
from typing import Optional, Sequence

import numpy as np

from ..shape import AxisGeometry, geometries
from ..spec import ConvTransposeSpec
from . import threads
from ._common import TapWindow, batch_chunks, bias_grad, buffer_budget, tap_windows

__all__ = ["forward", "backward", "is_dense", "dense_forward", "dense_backward"]


# --------------------------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------------------------

def _grouped_input(x: np.ndarray, groups: int) -> np.ndarray:
    """``(n, G*Ci, *S)`` -> ``(G, Ci, n*P)``: per group, one column per (batch item, position)."""
    n, c_in = x.shape[:2]
    positions = prod(x.shape[2:])
    per_group = c_in // groups
    grouped = x.reshape(n, groups, per_group, positions).transpose(1, 2, 0, 3)
    return grouped.reshape(groups, per_group, n * positions)


def _grouped_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(G*Ci, Co, *K)`` -> ``(G, Ci, Co*KK)``."""
    c_in = weight.shape[0]
    return weight.reshape(groups, c_in // groups, -1)


def _initial_output(shape: tuple[int, ...], bias: Optional[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """The output before any tap is added: zeros, or the bias broadcast over batch and space."""
    if bias is None:
        return np.zeros(shape, dtype=dtype)
    out = np.empty(shape, dtype=dtype)
    out[...] = bias.reshape((1, -1) + (1,) * (len(shape) - 2))
    return out


# --------------------------------------------------------------------------------------------
# Forward: GEMM, then scatter (col2im)
# --------------------------------------------------------------------------------------------


def _scatter(cols: np.ndarray, windows: Sequence[TapWindow], out: np.ndarray, assign: bool = False) -> None:
    """Add (or, for disjoint taps, assign) each tap's columns into ``out``.

    ``cols`` is ``(G, Co, KK, n, *S_in)``, ``out`` ``(n, G, Co, *S_out)``.
    """

    def add(chans: slice, rows: slice) -> None:
        for window in windows:
            source = np.moveaxis(cols[(slice(None), chans, window.index, rows) + window.input_slices], 2, 0)
            target = out[(rows, slice(None), chans) + window.output_slices]
            if assign:
                np.copyto(target, source)
            else:
                target += source

    threads.run(add, threads.split2(out.shape[2], out.shape[0], cols.size))


def _tiles_exactly(geo: Sequence[AxisGeometry]) -> bool:
    """True when the kernel copies tile the output without overlap or gaps (kernel == stride).

    Then every output value comes from exactly one tap, so the scatter can *assign* instead of
    zero-filling the output and adding into it.
    """
    return all(
        g.dilation == 1 and g.stride == g.kernel_size and g.padding == 0 and g.output_padding == 0 for g in geo
    )


# --------------------------------------------------------------------------------------------
# Dense layers: a single input position whose taps fill the output exactly
# --------------------------------------------------------------------------------------------
#
# When every input spatial size is 1 and nothing is cropped or dilated (DCGAN's first layer:
# a 1x1 latent vector to a 4x4 map), tap t of the single input position *is* output position t.
# The layer is then a dense map from C_in to C_out · prod(kernel): the forward is one GEMM whose
# result already has the output's layout, and both gradients are one GEMM each, with no scatter
# or gather at all.


def is_dense(geo: Sequence[AxisGeometry]) -> bool:
    """True when the layer is a dense map: one input position, taps tiling the output exactly."""
    return all(
        g.input_size == 1 and g.padding == 0 and g.output_padding == 0 and (g.dilation == 1 or g.kernel_size == 1)
        for g in geo
    )


def dense_forward(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], groups: int) -> np.ndarray:
    """``out[n, g, (c, t)] = x[n, g, :] @ weight[g, :, (c, t)]`` (+ bias), for :func:`is_dense` layers."""
    n, c_in = x.shape[:2]
    per_group_out, kernel = weight.shape[1], weight.shape[2:]
    rows = x.reshape(n, groups, c_in // groups).transpose(1, 0, 2)  # (G, n, Ci)
    product = np.matmul(rows, _grouped_weight(weight, groups))  # (G, n, Co*KK)
    out = product[0] if groups == 1 else np.ascontiguousarray(product.transpose(1, 0, 2))
    out = np.ascontiguousarray(out.reshape((n, groups * per_group_out) + tuple(kernel)))  # matmul keeps x's order
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * len(kernel))
    return out


def dense_backward(grad_output, x, weight, groups, need_input, need_weight):
    """The two GEMMs of :func:`dense_forward`'s gradients: ``gy @ W^T`` and ``x^T @ gy``."""
    n, c_in = x.shape[:2]
    per_group_in = c_in // groups
    gy = grad_output.reshape(n, groups, prod(weight.shape[1:])).transpose(1, 0, 2)  # (G, n, Co*KK)
    grad_x = grad_w = None
    if need_input:
        grad_rows = np.matmul(gy, _grouped_weight(weight, groups).transpose(0, 2, 1))  # (G, n, Ci)
        grad_x = np.ascontiguousarray(grad_rows.transpose(1, 0, 2)).reshape(x.shape)
    if need_weight:
        rows = x.reshape(n, groups, per_group_in).transpose(1, 2, 0)  # (G, Ci, n)
        grad_w = np.matmul(rows, gy).reshape(weight.shape)
    return grad_x, grad_w


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
    groups, per_group_out = spec.groups, weight.shape[1]
    geo = geometries(spatial_in, kernel, spec)
    if is_dense(geo):
        return dense_forward(x, weight, bias, groups)
    windows = tap_windows(geo, kernel)
    out_shape = (n, groups * per_group_out) + tuple(g.output for g in geo)
    disjoint = _tiles_exactly(geo)
    out = np.empty(out_shape, dtype=x.dtype) if disjoint else _initial_output(out_shape, bias, x.dtype)
    grouped_out = out.reshape((n, groups, per_group_out) + out.shape[2:])

    weight_t = _grouped_weight(weight, groups).transpose(0, 2, 1)  # (G, Co*KK, Ci)
    per_item = (groups * per_group_out * prod(kernel) + x.shape[1]) * prod(spatial_in) * x.itemsize  # columns + input copy
    for batch in batch_chunks(n, per_item, buffer_budget(out.nbytes)):
        rows = batch.stop - batch.start
        cols = np.matmul(weight_t, _grouped_input(x[batch], groups))  # (G, Co*KK, rows*P)
        cols = cols.reshape((groups, per_group_out, prod(kernel), rows) + spatial_in)
        _scatter(cols, windows, grouped_out[batch], assign=disjoint)
        del cols  # free this chunk's columns before the next GEMM allocates its own
    if disjoint and bias is not None:
        out += bias.reshape((1, -1) + (1,) * len(kernel))
    return out


# --------------------------------------------------------------------------------------------
# Gradients: gather (im2col), then GEMM -- the transposes of the two forward stages
# --------------------------------------------------------------------------------------------


def _gather(
    grad_output: np.ndarray, windows: Sequence[TapWindow], kernel: Sequence[int], groups: int,
    spatial_in: Sequence[int],
) -> np.ndarray:
    """Transpose of :func:`_scatter`: ``(n, G*Co, *S_out)`` -> columns ``(G, Co*KK, n*P)``."""
    n, c_out = grad_output.shape[:2]
    per_group = c_out // groups
    grouped = grad_output.reshape((n, groups, per_group) + grad_output.shape[2:])
    taps = prod(kernel)
    fully_covered = len(windows) == taps and all(
        (s.stop - s.start) == size for w in windows for s, size in zip(w.input_slices, spatial_in)
    )
    alloc = np.empty if fully_covered else np.zeros
    cols = alloc((groups, per_group, taps, n) + tuple(spatial_in), dtype=grad_output.dtype)

    def copy(chans: slice, rows: slice) -> None:
        for window in windows:
            target = cols[(slice(None), chans, window.index, rows) + window.input_slices]
            np.copyto(target, np.moveaxis(grouped[(rows, slice(None), chans) + window.output_slices], 0, 2))

    threads.run(copy, threads.split2(per_group, n, cols.size))
    return cols.reshape(groups, per_group * taps, n * prod(spatial_in))


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
    """All requested gradients, sharing one gather of ``grad_output`` per batch chunk."""
    n, c_in = x.shape[:2]
    spatial_in, kernel = x.shape[2:], weight.shape[2:]
    groups, per_group_out = spec.groups, weight.shape[1]
    geo = geometries(spatial_in, kernel, spec)
    if is_dense(geo):
        grad_x, grad_w = dense_backward(grad_output, x, weight, groups, need_input, need_weight)
        return grad_x, grad_w, (bias_grad(grad_output) if need_bias else None)
    windows = tap_windows(geo, kernel)
    grouped_w = _grouped_weight(weight, groups)  # (G, Ci, Co*KK)

    grad_x = np.empty(x.shape, dtype=x.dtype) if need_input else None
    grad_w_grouped = np.zeros(grouped_w.shape, dtype=x.dtype) if need_weight else None
    if need_input or need_weight:
        per_item = (groups * per_group_out * prod(kernel) + x.shape[1]) * prod(spatial_in) * x.itemsize
        for batch in batch_chunks(n, per_item, buffer_budget(grad_output.nbytes)):
            rows = batch.stop - batch.start
            cols = _gather(grad_output[batch], windows, kernel, groups, spatial_in)  # (G, Co*KK, rows*P)
            if need_input:
                grad_cols = np.matmul(grouped_w, cols)  # (G, Ci, rows*P)
                grad_cols = grad_cols.reshape((groups, c_in // groups, rows) + spatial_in)
                grouped_gx = grad_x[batch].reshape((rows, groups, c_in // groups) + spatial_in)
                np.copyto(grouped_gx, np.moveaxis(grad_cols, 2, 0))
            if need_weight:
                grad_w_grouped += np.matmul(_grouped_input(x[batch], groups), cols.transpose(0, 2, 1))
    grad_w = None if grad_w_grouped is None else grad_w_grouped.reshape(weight.shape)
    grad_b = bias_grad(grad_output) if need_bias else None
    return grad_x, grad_w, grad_b

