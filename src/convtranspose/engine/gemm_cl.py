"""The channels-last GEMM + scatter engine (the layout suits many channels over few pixels).

Shapes used throughout (``G`` groups, per-group channels ``Ci = C_in / G``, ``Co = C_out / G``,
``KK = prod(kernel)`` taps, ``P = prod(input spatial)``)::

    x     (N, G*Ci, *S_in)           weight (G*Ci, Co, *K)          y (N, G*Co, *S_out)

Forward, two stages:

1. **GEMM** -- every input element times the whole kernel, all at once:
   ``cols[g] = x[g] @ weight[g]``, shape ``(G, N*P, KK*Co)``. Row ``(n, i)`` holds
   ``x[n, :, i] * K`` summed over the input channels: the kernel copy that input element ``i``
   stamps onto the output.
2. **Scatter (col2im)** -- for each kernel tap ``t``, the copies' entries for that tap land on
   positions ``i * stride + t * dilation`` of the full canvas; ``padding`` crops the canvas at both
   ends and ``output_padding`` extends the kept window at the end. Only the part of each tap that
   survives the crop is added (``AxisGeometry.tap_window`` clips it).

Both stages work *channels-last*: the columns are ``(G, n, *S_in, KK, Co)`` and the scatter adds
into a ``(G, n, *S_out, Co)`` buffer, so every add moves whole contiguous runs of ``Co`` values
instead of a few pixels of one channel. One transposing copy per batch chunk then writes the
channels-first result. The batch is processed in chunks so that the buffers stay below
:data:`convtranspose.engine._common.COLUMN_BUDGET_BYTES`.

The gradients are the transposes of these stages, as explained in :mod:`convtranspose.engine.gemm`
(the same rules; only the memory layout differs).
"""

from __future__ import annotations

from math import prod
from typing import Optional, Sequence

import numpy as np

from ..shape import geometries
from ..spec import ConvTransposeSpec
from . import threads
from ._common import TapWindow, batch_chunks, bias_grad, buffer_budget, tap_windows

__all__ = ["forward", "backward"]


# --------------------------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------------------------

def _channels_last(x: np.ndarray, groups: int) -> np.ndarray:
    """``(n, G*C, *S)`` -> ``(G, n*P, C)``: per group, one row per (batch item, position)."""
    n, channels = x.shape[:2]
    grouped = x.reshape(n, groups, channels // groups, prod(x.shape[2:]))
    return np.ascontiguousarray(grouped.transpose(1, 0, 3, 2)).reshape(groups, -1, channels // groups)


def _weight_taps_last(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(G*Ci, Co, *K)`` -> ``(G, Ci, KK*Co)``, taps before output channels."""
    c_in, per_group_out = weight.shape[:2]
    grouped = weight.reshape(groups, c_in // groups, per_group_out, -1)
    return np.ascontiguousarray(grouped.transpose(0, 1, 3, 2)).reshape(groups, c_in // groups, -1)


def _to_channels_first(buffer: np.ndarray, target: np.ndarray) -> None:
    """Copy a ``(G, n, *S, C)`` buffer into a ``(n, G*C, *S)`` array."""
    groups, n, channels = buffer.shape[0], buffer.shape[1], buffer.shape[-1]
    grouped = target.reshape((n, groups, channels) + buffer.shape[2:-1])
    source = np.moveaxis(buffer, (1, 0, buffer.ndim - 1), (0, 1, 2))

    def copy(rows: slice, chans: slice) -> None:
        np.copyto(grouped[rows, :, chans], source[rows, :, chans])

    threads.run(copy, threads.split2(n, channels, buffer.size))


def _channels_last_buffer(target_shape, groups, per_group, bias, dtype) -> np.ndarray:
    """``(G, n, *S, C)`` zeros, or the bias broadcast into it."""
    n, spatial = target_shape[0], tuple(target_shape[2:])
    shape = (groups, n) + spatial + (per_group,)
    if bias is None:
        return np.zeros(shape, dtype=dtype)
    buffer = np.empty(shape, dtype=dtype)
    buffer[...] = bias.reshape((groups, 1) + (1,) * len(spatial) + (per_group,))
    return buffer


# --------------------------------------------------------------------------------------------
# Forward: GEMM, then scatter (col2im)
# --------------------------------------------------------------------------------------------


def _scatter(cols: np.ndarray, windows: Sequence[TapWindow], canvas: np.ndarray) -> None:
    """Add each tap's columns into ``canvas``: ``(G, n, *S_in, KK, Co)`` -> ``(G, n, *S_out, Co)``."""

    def add(rows: slice, chans: slice) -> None:
        for window in windows:
            source = cols[(slice(None), rows) + window.input_slices + (window.index, chans)]
            canvas[(slice(None), rows) + window.output_slices + (chans,)] += source

    threads.run(add, threads.split2(canvas.shape[1], canvas.shape[-1], cols.size))


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
    spatial_out = tuple(g.output for g in geo)
    windows = tap_windows(geo, kernel)
    out = np.empty((n, groups * per_group_out) + spatial_out, dtype=x.dtype)

    weight_k = _weight_taps_last(weight, groups)  # (G, Ci, KK*Co)
    per_item = groups * per_group_out * (prod(kernel) * prod(spatial_in) + prod(spatial_out)) * x.itemsize
    for batch in batch_chunks(n, per_item, buffer_budget(out.nbytes)):
        rows = batch.stop - batch.start
        cols = np.matmul(_channels_last(x[batch], groups), weight_k)  # (G, rows*P, KK*Co)
        cols = cols.reshape((groups, rows) + spatial_in + (prod(kernel), per_group_out))
        canvas = _channels_last_buffer(out[batch].shape, groups, per_group_out, bias, x.dtype)
        _scatter(cols, windows, canvas)
        _to_channels_first(canvas, out[batch])
    return out


# --------------------------------------------------------------------------------------------
# Gradients: gather (im2col), then GEMM -- the transposes of the two forward stages
# --------------------------------------------------------------------------------------------


def _gather(grad_cl: np.ndarray, windows: Sequence[TapWindow], taps: int, spatial_in: Sequence[int]) -> np.ndarray:
    """Transpose of :func:`_scatter`: ``(G, n, *S_out, Co)`` -> columns ``(G, n*P, KK*Co)``."""
    groups, n, per_group = grad_cl.shape[0], grad_cl.shape[1], grad_cl.shape[-1]
    fully_covered = len(windows) == taps and all(
        (s.stop - s.start) == size for w in windows for s, size in zip(w.input_slices, spatial_in)
    )
    alloc = np.empty if fully_covered else np.zeros
    cols = alloc((groups, n) + tuple(spatial_in) + (taps, per_group), dtype=grad_cl.dtype)

    def copy(rows: slice, chans: slice) -> None:
        for window in windows:
            source = grad_cl[(slice(None), rows) + window.output_slices + (chans,)]
            cols[(slice(None), rows) + window.input_slices + (window.index, chans)] = source

    threads.run(copy, threads.split2(n, per_group, cols.size))
    return cols.reshape(groups, n * prod(spatial_in), taps * per_group)


def _grad_channels_last(grad_output: np.ndarray, groups: int) -> np.ndarray:
    """``(n, G*Co, *S)`` -> ``(G, n, *S, Co)`` (a copy)."""
    n, channels = grad_output.shape[:2]
    spatial = grad_output.shape[2:]
    grouped = grad_output.reshape((n, groups, channels // groups) + spatial)
    return np.ascontiguousarray(np.moveaxis(grouped, (1, 0, 2), (0, 1, grouped.ndim - 1)))


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
    per_group_in = c_in // groups
    geo = geometries(spatial_in, kernel, spec)
    windows = tap_windows(geo, kernel)
    weight_k = _weight_taps_last(weight, groups)  # (G, Ci, KK*Co)

    grad_x = np.empty(x.shape, dtype=x.dtype) if need_input else None
    grad_w_k = np.zeros(weight_k.shape, dtype=x.dtype) if need_weight else None
    if need_input or need_weight:
        spatial_out = grad_output.shape[2:]
        per_item = groups * per_group_out * (prod(kernel) * prod(spatial_in) + prod(spatial_out)) * x.itemsize
        for batch in batch_chunks(n, per_item, buffer_budget(grad_output.nbytes)):
            rows = batch.stop - batch.start
            grad_cl = _grad_channels_last(grad_output[batch], groups)
            cols = _gather(grad_cl, windows, prod(kernel), spatial_in)  # (G, rows*P, KK*Co)
            del grad_cl
            if need_input:
                grad_x_cl = np.matmul(cols, weight_k.transpose(0, 2, 1))  # (G, rows*P, Ci)
                grad_x_cl = grad_x_cl.reshape((groups, rows) + spatial_in + (per_group_in,))
                _to_channels_first(grad_x_cl, grad_x[batch])
            if need_weight:
                grad_w_k += np.matmul(_channels_last(x[batch], groups).transpose(0, 2, 1), cols)
    grad_w = None
    if grad_w_k is not None:
        grouped = grad_w_k.reshape(groups, per_group_in, prod(kernel), per_group_out)
        grad_w = np.ascontiguousarray(grouped.transpose(0, 1, 3, 2)).reshape(weight.shape)
    grad_b = bias_grad(grad_output) if need_bias else None
    return grad_x, grad_w, grad_b
