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
   survives the crop is added, straight into the output (``_common.tap_windows`` clips it), so
   no canvas is ever allocated.

The batch is processed in chunks so that the column buffer stays within
:func:`convtranspose.engine._common.buffer_budget` of the output (forward) or
:func:`~convtranspose.engine._common.backward_budget` of the largest gradient (backward).

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

from ..plan import Plan, is_dense
from . import cost, threads
from ._common import (
    Grads, Needs, TapWindow, accumulate_matmul, accumulation_budget, backward_budget, batch_chunks, bias_grad, buffer_budget,
    buffer_if, gradient_bytes, tap_windows,
)

__all__ = [
    "EXACT", "applies", "estimate", "forward", "backward", "grouped_input", "grouped_weight", "initial_output",
    "is_dense",
]

#: Multiplies exactly the (input, weight) pairs that meet: non-finite values land where torch's do.
EXACT = True


def applies(plan: Plan) -> Optional[str]:
    """Every call (the general path)."""
    return None


def estimate(plan: Plan, direction: str) -> float:
    """One GEMM per gradient over every input position, then the per-tap scatter (or gather):
    ``C_out · prod(K)`` column values per position, adds in runs of the input's last dimension."""
    if (plan.dense or plan.pointwise) and not plan.depthwise:  # the dense kernel: GEMMs only
        return cost.gemm_only_seconds(plan, direction)
    n = cost.sizes(plan)
    windows = tap_windows(plan.geometry, plan.kernel, plan.fold_mode)
    scattered = sum(
        plan.batch * plan.out_channels * prod(s.stop - s.start for s in w.input_slices) for w in windows
    )
    run = plan.input_spatial[-1] if prod(plan.input_spatial) > 1 else plan.batch
    gemms = 1 if direction == "forward" else 2
    return cost.seconds(
        plan,
        flops=gemms * n.useful_flops,
        accesses=n.columns + 3 * scattered + 2 * n.out_elems,
        run=run,
        calls=2 * len(windows) + 6,
        inner=plan.per_group_in,
        rows=plan.per_group_out * prod(plan.kernel),
    )


# --------------------------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------------------------

def grouped_input(x: np.ndarray, groups: int) -> np.ndarray:
    """``(n, G*Ci, *S)`` -> ``(G, Ci, n*P)``: per group, one column per (batch item, position)."""
    n, c_in = x.shape[:2]
    positions = prod(x.shape[2:])
    per_group = c_in // groups
    grouped = x.reshape(n, groups, per_group, positions).transpose(1, 2, 0, 3)
    return grouped.reshape(groups, per_group, n * positions)


def grouped_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(G*Ci, Co, *K)`` -> ``(G, Ci, Co*KK)``."""
    c_in = weight.shape[0]
    return weight.reshape(groups, c_in // groups, -1)


def initial_output(shape: tuple[int, ...], bias: Optional[np.ndarray], dtype: np.dtype) -> np.ndarray:
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
            if window.reduce:  # a padding mode's border folded onto one edge cell ('replicate')
                source = source.sum(axis=tuple(3 + axis for axis in window.reduce), keepdims=True)
            target = out[(rows, slice(None), chans) + window.output_slices]
            if assign:
                np.copyto(target, source)
            else:
                target += source

    threads.run(add, threads.split2(out.shape[2], out.shape[0], cols.size))


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Transposed convolution of a batched, validated input.

    Parameters
    ----------
    plan : Plan
    x : ndarray, shape (N, C_in, *S_in)
    weight : ndarray, shape (C_in, C_out / groups, *K)
    bias : ndarray of shape (C_out,) or None

    Returns
    -------
    ndarray, shape (N, C_out, *S_out), C-contiguous, dtype of ``x``.
    """
    n = x.shape[0]
    spatial_in, kernel = plan.input_spatial, plan.kernel
    groups, per_group_out = plan.groups, plan.per_group_out
    windows = tap_windows(plan.geometry, kernel, plan.fold_mode)
    out_shape = plan.output_shape
    disjoint = plan.tiles_exactly
    out = np.empty(out_shape, dtype=x.dtype) if disjoint else initial_output(out_shape, bias, x.dtype)
    grouped_out = out.reshape((n, groups, per_group_out) + out.shape[2:])

    weight_t = grouped_weight(weight, groups).transpose(0, 2, 1)  # (G, Co*KK, Ci)
    per_item = (groups * per_group_out * prod(kernel) + x.shape[1]) * prod(spatial_in) * x.itemsize  # columns + input copy
    for batch in batch_chunks(n, per_item, buffer_budget(out.nbytes)):
        rows = batch.stop - batch.start
        cols = np.matmul(weight_t, grouped_input(x[batch], groups))  # (G, Co*KK, rows*P)
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


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """All requested gradients, sharing one gather of ``grad_output`` per batch chunk."""
    need_input, need_weight, need_bias = needs
    n, c_in = x.shape[:2]
    spatial_in, kernel = plan.input_spatial, plan.kernel
    groups, per_group_out = plan.groups, plan.per_group_out
    windows = tap_windows(plan.geometry, kernel, plan.fold_mode)
    grouped_w = grouped_weight(weight, groups)  # (G, Ci, Co*KK)

    grad_x = buffer_if(need_input, x.shape, x.dtype)
    grad_w_grouped = buffer_if(need_weight, grouped_w.shape, x.dtype)  # the first chunk's product is written into it
    if need_input or need_weight:
        # Columns and input copy (or input-gradient columns) within 1.5x the largest gradient, the
        # weight gradient's accumulation temporary within an eighth of it: peak extra under 2x.
        largest = gradient_bytes(x, weight)
        per_item = (groups * per_group_out * prod(kernel) + x.shape[1]) * prod(spatial_in) * x.itemsize
        for index, batch in enumerate(batch_chunks(n, per_item, backward_budget(largest))):
            rows = batch.stop - batch.start
            cols = _gather(grad_output[batch], windows, kernel, groups, spatial_in)  # (G, Co*KK, rows*P)
            if need_input:
                grad_cols = np.matmul(grouped_w, cols)  # (G, Ci, rows*P)
                grad_cols = grad_cols.reshape((groups, c_in // groups, rows) + spatial_in)
                grouped_gx = grad_x[batch].reshape((rows, groups, c_in // groups) + spatial_in)
                np.copyto(grouped_gx, np.moveaxis(grad_cols, 2, 0))
                del grad_cols
            if need_weight:
                x_part = grouped_input(x[batch], groups)  # (G, Ci, rows*P)
                accumulate_matmul(grad_w_grouped, x_part, cols.transpose(0, 2, 1), index == 0, accumulation_budget(largest))
                del x_part
            del cols  # free this chunk's buffers before the next chunk makes its own
    grad_b = bias_grad(grad_output) if need_bias else None
    return (grad_x if need_input else None), (grad_w_grouped.reshape(weight.shape) if need_weight else None), grad_b

