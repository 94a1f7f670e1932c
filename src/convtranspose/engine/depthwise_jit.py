"""Compiled depthwise kernels (numba; the ``gemm_jit`` path's variant when ``in_channels == groups``).

With one input channel per group there is no channel sum, so no GEMM: every output row
``(n, g, c)`` is its input row ``(n, g)`` scattered once per kernel tap, scaled by that tap's
weight. The NumPy depthwise kernels (:mod:`convtranspose.engine.depthwise`) do this with one
broadcast multiply-add per (phase, tap), each a pass over memory; here one compiled loop builds
an output row in cache and writes it once.

The scatter is described by a table of *runs*, which depends only on the shapes and the spec and
is cached. A run is a contiguous stretch of one input line (the last spatial axis) that one tap
places on the output every ``s = stride[-1]`` positions. So that the inner loop is contiguous on
both sides (and vectorizes), the row is built in a *phase-major* scratch buffer, where output
position ``o`` of a line sits at ``(o % s) * M + o // s`` (``M = ceil(S_out[-1] / s)``)::

    for m in range(count):
        scratch[out_start + m] += w[g, c, tap] * x_row[in_start + m]

and is then interleaved into the output row once (with ``s == 1`` the two layouts coincide and
the row is built in place). Input positions whose tap lands in the cropped border (``padding``)
are in no run. With a padding mode the border is folded instead of cropped
(:func:`convtranspose.padding.fold_positions`): a line that lands in a leading axis' border is a
run onto the line it folds to, and along the last axis the scratch covers the whole canvas line
(border cells included), whose border cells the interleave adds onto the cells they fold to. So
the fold costs the border's share of the runs plus a few adds per line, and nothing more.

The gradients walk the same runs the other way (see :mod:`convtranspose.engine.gemm` for the
rules): each ``grad_y`` row is first de-interleaved into phase-major order, then the input
gradient gathers ``w · grad_y`` back along each run (summing over ``c``) and the weight gradient
is, per tap, the dot product of the input with ``grad_y`` along the tap's runs.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from math import prod
from typing import Callable, NamedTuple, Optional

import numba
import numpy as np

from ..padding import fold_positions
from ..plan import Plan
from ..shape import AxisGeometry, uncropped
from . import threads
from ._common import Grads, Needs, bias_grad
from ._jit_common import row_index

__all__ = ["EXACT", "runs", "make_forward", "forward", "backward"]

#: Walks only the runs of taps that land in the output: exactly the pairs that meet.
EXACT = True

#: Columns of the run table.
TAP, IN_START, OUT_START, COUNT = range(4)


def _last_axis_range(g: AxisGeometry, tap: int) -> tuple[int, int]:
    """Input positions ``[lo, hi)`` along ``g`` whose tap ``tap`` lands inside the output."""
    shift = tap * g.dilation - g.crop_start  # where input position 0 lands
    lo = max(0, -(shift // g.stride))  # first i with i * stride + shift >= 0
    hi = min(g.input_size, (g.output - 1 - shift) // g.stride + 1)  # past the last one <= output - 1
    return lo, max(lo, hi)


class LineLayout(NamedTuple):
    """How an output row's lines sit in the phase-major scratch (see the module docstring).

    Each line of ``length`` output cells is built in a scratch line of ``step · phase_length``
    cells that holds the canvas positions ``c = o + offset`` of the last axis (``offset`` border
    cells before the output, with a padding mode; else 0), position ``c`` at ``(c % step) ·
    phase_length + c // step``. The border cells of a scratch line, ``border_source``, are added
    onto the line's cells ``border_target`` (the fold); ``in_place``: the scratch line *is* the
    output line (stride 1, no border), so the row is built in the output directly.
    """

    length: int
    step: int
    phase_length: int
    offset: int
    border_source: np.ndarray
    border_target: np.ndarray
    in_place: bool


@lru_cache(maxsize=256)
def line_layout(last: AxisGeometry, fold_mode: str = "zeros") -> LineLayout:
    """The :class:`LineLayout` of the last axis (cached)."""
    canvas = uncropped(last)
    folds = fold_mode != "zeros" and canvas.output != last.output  # a border to fold along this axis
    canvas = canvas if folds else last
    offset = last.crop_start if folds else 0
    phase_length = _phase_length(canvas)
    cells = np.arange(canvas.output)
    border = cells[(cells < offset) | (cells >= offset + last.output)] if folds else cells[:0]
    source = (border % last.stride) * phase_length + border // last.stride
    target = fold_positions(border - offset, last.output, fold_mode)
    for array in (source, target):
        array.flags.writeable = False
    return LineLayout(
        last.output, last.stride, phase_length, offset, source, target, last.stride == 1 and not folds
    )


@lru_cache(maxsize=256)
def runs(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros") -> np.ndarray:
    """``(R, 4)`` int64 table of runs ``(tap, in_start, out_start, count)``.

    ``in_start`` is a flat offset in the input row; ``out_start`` one in the phase-major row
    (line ``l`` of the output's leading axes starts at ``l * s * M``, see :func:`line_layout`).
    ``fold_mode`` (:attr:`convtranspose.plan.Plan.fold_mode`) folds the border instead of
    cropping it.
    """
    *lead, last = geo
    layout = line_layout(last, fold_mode)
    scratch_last = uncropped(last) if len(layout.border_source) else last  # the runs cover the scratch's canvas
    lead_in = tuple(g.input_size for g in lead)
    lead_out = tuple(g.output for g in lead)
    line_length = layout.step * layout.phase_length
    lines = np.indices(lead_in).reshape(len(lead), prod(lead_in))
    line_index = np.arange(prod(lead_in))
    table = []
    for t, tap in enumerate(product(*(range(g.kernel_size) for g in geo))):
        lo, hi = _last_axis_range(scratch_last, tap[-1])
        if hi <= lo:
            continue
        valid = np.ones(line_index.size, dtype=bool)
        out_line = np.zeros(line_index.size, dtype=np.int64)
        for axis, g in enumerate(lead):
            position = fold_positions(lines[axis] * g.stride + tap[axis] * g.dilation - g.crop_start, g.output, fold_mode)
            valid &= position >= 0
            out_line = out_line * lead_out[axis] + position
        first = lo * last.stride + tap[-1] * last.dilation - scratch_last.crop_start  # scratch position of input lo
        phase, index = first % last.stride, first // last.stride
        block = np.empty((int(valid.sum()), 4), dtype=np.int64)
        block[:, TAP] = t
        block[:, IN_START] = line_index[valid] * last.input_size + lo
        block[:, OUT_START] = out_line[valid] * line_length + phase * layout.phase_length + index
        block[:, COUNT] = hi - lo
        table.append(block)
    result = np.concatenate(table) if table else np.zeros((0, 4), dtype=np.int64)
    result.flags.writeable = False
    return result


def _phase_length(g: AxisGeometry) -> int:
    """``M``: output positions per phase of the last axis (the longest phase)."""
    return -(-g.output // g.stride)


@numba.njit(cache=True, nogil=True)
def _interleave(scratch, out_row, length, step, phase_length, offset, border_source, border_target):  # pragma: no cover
    """Phase-major scratch -> output row (lines of ``length``), the border folded (:class:`LineLayout`)."""
    line_length = step * phase_length
    for line in range(out_row.size // length):
        source = scratch[line * line_length : (line + 1) * line_length]
        target = out_row[line * length : (line + 1) * length]
        if step == 2:  # the common case, written so that it vectorizes (about 5x faster)
            even = source[(offset % 2) * phase_length + offset // 2 :]
            odd = source[((offset + 1) % 2) * phase_length + (offset + 1) // 2 :]
            for m in range(length // 2):
                target[2 * m] = even[m]
                target[2 * m + 1] = odd[m]
            if length % 2:
                target[length - 1] = even[length // 2]
        else:
            for q in range(min(step, length)):
                count = (length - q + step - 1) // step
                first = ((q + offset) % step) * phase_length + (q + offset) // step
                source_run = source[first : first + count]
                target_run = target[q:length:step]
                for m in range(count):
                    target_run[m] = source_run[m]
        for j in range(border_source.size):
            target[border_target[j]] += source[border_source[j]]


@numba.njit(cache=True, nogil=True)
def _deinterleave(row, scratch, length, step, phase_length, offset, border_source, border_target):  # pragma: no cover
    """Output-shaped row -> phase-major scratch (the transpose of :func:`_interleave`: the border
    cells read the cells they fold onto, which is the mode's padding)."""
    line_length = step * phase_length
    for line in range(row.size // length):
        source = row[line * length : (line + 1) * length]
        target = scratch[line * line_length : (line + 1) * line_length]
        if step == 2:
            even = target[(offset % 2) * phase_length + offset // 2 :]
            odd = target[((offset + 1) % 2) * phase_length + (offset + 1) // 2 :]
            for m in range(length // 2):
                even[m] = source[2 * m]
                odd[m] = source[2 * m + 1]
            if length % 2:
                even[length // 2] = source[length - 1]
        else:
            for q in range(min(step, length)):
                count = (length - q + step - 1) // step
                first = ((q + offset) % step) * phase_length + (q + offset) // step
                source_run = source[q:length:step]
                target_run = target[first : first + count]
                for m in range(count):
                    target_run[m] = source_run[m]
        for j in range(border_source.size):
            target[border_source[j]] = source[border_target[j]]


@numba.njit(cache=True, nogil=True)
def _forward_rows(
    x, w, fill, table, length, step, phase_length, offset, border_source, border_target, in_place, out, first_row,
    last_row,
):  # pragma: no cover - compiled
    groups, per_group = w.shape[0], w.shape[1]
    lines, line_length = out.shape[3] // length, step * phase_length
    scratch = np.empty(1 if in_place else lines * line_length, dtype=out.dtype)
    for row in range(first_row, last_row):
        b, g, c = row_index(row, groups, per_group)
        x_row = x[b, g]
        build = out[b, g, c] if in_place else scratch
        build[:] = fill[g, c]
        for line in range(lines):  # border cells hold products only (the bias is added once, inside)
            for j in range(border_source.size):
                build[line * line_length + border_source[j]] = 0.0
        for r in range(table.shape[0]):
            # Slices, not offset indexing: numba then knows the indices are non-negative and
            # the loop vectorizes (about 6x faster).
            weight, count = w[g, c, table[r, 0]], table[r, 3]
            source = x_row[table[r, 1] : table[r, 1] + count]
            target = build[table[r, 2] : table[r, 2] + count]
            for m in range(count):
                target[m] += weight * source[m]
        if not in_place:
            _interleave(scratch, out[b, g, c], length, step, phase_length, offset, border_source, border_target)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _backward_groups(
    x, gy, w, table, length, step, phase_length, offset, border_source, border_target, in_place, grad_x, grad_w,
    need_input, need_weight, first_group, last_group,
):  # pragma: no cover - compiled
    batch, per_group = gy.shape[0], gy.shape[2]
    scratch = np.empty(1 if in_place else gy.shape[3] // length * step * phase_length, dtype=gy.dtype)
    for g in range(first_group, last_group):
        if need_weight:
            grad_w[g] = 0.0
        for b in range(batch):
            x_row = x[b, g]
            if need_input:
                grad_x[b, g] = 0.0
            for c in range(per_group):
                if in_place:
                    gy_row = gy[b, g, c]
                else:
                    _deinterleave(gy[b, g, c], scratch, length, step, phase_length, offset, border_source, border_target)
                    gy_row = scratch
                for r in range(table.shape[0]):
                    tap, x0, o0, count = table[r, 0], table[r, 1], table[r, 2], table[r, 3]
                    gy_run = gy_row[o0 : o0 + count]
                    if need_input:
                        weight = w[g, c, tap]
                        gx_run = grad_x[b, g, x0 : x0 + count]
                        for m in range(count):
                            gx_run[m] += weight * gy_run[m]
                    if need_weight:
                        x_run = x_row[x0 : x0 + count]
                        total = 0.0
                        for m in range(count):
                            total += x_run[m] * gy_run[m]
                        grad_w[g, c, tap] += total


def _split(kernel: Callable[..., None], length: int, work: int, *arrays: object) -> None:
    """Run a compiled kernel over ``range(length)``, split across the engine's threads."""
    threads.run(lambda part: kernel(*arrays, part.start, part.stop), threads.split(length, work))


def make_forward(plan: Plan) -> Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]:
    """:func:`forward` specialised to one plan (the run table and every shape precomputed)."""
    x_shape, weight_shape, dtype = plan.input_shape, plan.weight_shape, plan.compute_dtype
    n, groups = x_shape[:2]
    per_group_out = plan.per_group_out
    geo = plan.geometry
    out_shape = plan.output_shape
    table = runs(geo, plan.fold_mode)
    layout = line_layout(geo[-1], plan.fold_mode)
    flat_x = (n, groups, prod(x_shape[2:]))
    flat_w = (groups, per_group_out, prod(weight_shape[2:]))
    flat_out = (n, groups, per_group_out, prod(out_shape[2:]))
    rows = n * groups * per_group_out
    parts = threads.split(rows, prod(out_shape) + int(table[:, COUNT].sum()) * rows)
    zeros = np.zeros((groups, per_group_out), dtype=dtype)
    zeros.flags.writeable = False

    def run(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        out = np.empty(out_shape, dtype=dtype)
        fill = zeros if bias is None else bias.reshape(groups, per_group_out)
        operands = (
            np.ascontiguousarray(x).reshape(flat_x), np.ascontiguousarray(weight).reshape(flat_w), fill, table,
            *layout, out.reshape(flat_out),
        )
        if len(parts) == 1:
            _forward_rows(*operands, 0, rows)
        else:
            threads.run(lambda part: _forward_rows(*operands, part.start, part.stop), parts)
        return out

    return run


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Depthwise transposed convolution (``in_channels == groups``), one compiled pass."""
    return make_forward(plan)(x, weight, bias)


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """Gradients of :func:`forward`: the runs walked as gathers and dot products."""
    need_input, need_weight, need_bias = needs
    n, groups = x.shape[:2]
    per_group_out = plan.per_group_out
    geo = plan.geometry
    table = runs(geo, plan.fold_mode)
    layout = line_layout(geo[-1], plan.fold_mode)
    # Unneeded outputs still need arrays of the right rank for the compiled signature.
    grad_x = np.empty(x.shape if need_input else (0,) * x.ndim, dtype=x.dtype)
    grad_w = np.empty(weight.shape if need_weight else (0,) * weight.ndim, dtype=x.dtype)
    if need_input or need_weight:
        positions, taps, outputs = prod(x.shape[2:]), prod(weight.shape[2:]), prod(grad_output.shape[2:])
        flat_x = np.ascontiguousarray(x).reshape(n, groups, positions)
        flat_gy = np.ascontiguousarray(grad_output).reshape(n, groups, per_group_out, outputs)
        flat_w = np.ascontiguousarray(weight).reshape(groups, per_group_out, taps)
        flat_gx = grad_x.reshape(n, groups, positions) if need_input else np.empty((0, 0, 0), dtype=x.dtype)
        flat_gw = grad_w.reshape(groups, per_group_out, taps) if need_weight else np.empty((0, 0, 0), dtype=x.dtype)
        work = grad_output.size + int(table[:, COUNT].sum()) * n * groups * per_group_out
        _split(
            _backward_groups, groups, work, flat_x, flat_gy, flat_w, table, *layout,
            flat_gx, flat_gw, need_input, need_weight,
        )
    grad_b = bias_grad(grad_output) if need_bias else None
    return (grad_x if need_input else None), (grad_w if need_weight else None), grad_b
