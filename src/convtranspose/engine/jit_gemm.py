"""Kernels of the ``gemm_jit`` path: GEMM with compiled scatter and gather (numba; optional extra ``convtranspose[jit]``).

Imported only when a call uses the path (:mod:`convtranspose.engine.gemm_jit` is the path module
the cost model reads; it imports this one on first use).

The GEMMs are the same as in :mod:`convtranspose.engine.gemm`, and so are the gradient rules. What
changes is the memory-bound half. NumPy adds each kernel tap's slice into the output as a
separate strided operation, so for layers with few pixels per channel (DCGAN's 4×4 … 32×32 maps)
it spends most of its time on short inner loops. Here one compiled loop walks each output row
``(n, g, c)`` once (rows split across the engine's threads; the kernels release the GIL, so no
numba threading layer is involved), and adds every tap's column entries at positions
precomputed in a *target map*::

    target[t, p] = flat output position of tap t of input position p, or -1 if cropped
    out[n, g, c, target[t, p]] += cols[g, c, t, n, p]        (scatter, forward)
    cols[g, c, t, n, p] = grad_y[n, g, c, target[t, p]]      (gather, its transpose)

The map depends only on the shapes and the spec and is cached; it also lets the work be chunked
by ranges of input positions, so a single large image keeps its buffers near the output's size.

Depthwise layers (``in_channels == groups``) have no channel sum to give to a GEMM; the registry
sends them to the fused compiled kernels of :mod:`convtranspose.engine.depthwise_jit`, and dense
layers to :mod:`convtranspose.engine.dense`.
Kernels are compiled on first use (and cached on disk by numba); the NumPy path stays available
and gives the same results.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from math import prod
from typing import Iterator, Optional

import numba
import numpy as np

from ..padding import fold_positions
from ..plan import Plan
from ..shape import AxisGeometry
from . import threads
from ._common import (
    CACHE_CHUNK_BYTES, Grads, Needs, accumulate_matmul, accumulation_budget, backward_budget, batch_chunks, bias_grad,
    buffer_if, forward_budget, gradient_bytes,
)
from ._jit_common import over_rows as _over_rows, row_index
from .gemm import grouped_input, grouped_weight

__all__ = ["forward", "backward", "target_map"]


@lru_cache(maxsize=256)
def target_map(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros") -> np.ndarray:
    """``(KK, P)`` int64: flat output index of every (tap, input position), -1 where cropped.

    With a padding mode (``fold_mode``, :attr:`convtranspose.plan.Plan.fold_mode`) a border
    position is not cropped but mapped onto the output cell it folds to
    (:func:`convtranspose.padding.fold_positions`): the scatter then adds it there directly, and
    the gather reads the gradient there (the mode's padding), with no canvas and no extra pass.
    """
    kernel = tuple(g.kernel_size for g in geo)
    spatial_in = tuple(g.input_size for g in geo)
    spatial_out = tuple(g.output for g in geo)
    flat = np.zeros((prod(kernel), prod(spatial_in)), dtype=np.int64)
    valid = np.ones_like(flat, dtype=bool)
    grids = np.indices(spatial_in).reshape(len(geo), -1)  # input multi-indices, C order
    for t, tap in enumerate(product(*(range(k) for k in kernel))):
        index = np.zeros(grids.shape[1], dtype=np.int64)
        for axis, g in enumerate(geo):
            position = fold_positions(grids[axis] * g.stride + tap[axis] * g.dilation - g.crop_start, g.output, fold_mode)
            valid[t] &= position >= 0
            index = index * spatial_out[axis] + position
        flat[t] = index
    flat[~valid] = -1
    flat.flags.writeable = False
    return flat


@lru_cache(maxsize=256)
def live_taps(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros") -> Optional[np.ndarray]:
    """Indices of the kernel taps that land in the output for some input position, or None if all do.

    A kernel larger than a small input with padding has taps that only ever land in the crop
    (a 3x3 kernel over a 1x2 input with padding 1: the first and last kernel rows): the forward
    leaves them out of its GEMM, the backward out of both, and their weight gradient is zero.
    """
    live = np.flatnonzero((target_map(geo, fold_mode) >= 0).any(axis=1))
    if live.size == prod(g.kernel_size for g in geo):
        return None
    live.flags.writeable = False
    return live


@lru_cache(maxsize=256)
def live_tap_ranges(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros") -> Optional[tuple[slice, ...]]:
    """:func:`live_taps` as one evenly spaced range of taps per axis, or None where they are not.

    A tap lands in the output when it lands on every axis, so the live taps are the product of
    each axis's live kernel indices. Those are usually an interval, or every ``n``-th index (an
    output shorter than the stride); then ``weight[:, :, *ranges]`` selects the live taps by
    slicing, in :func:`live_taps`'s (C) order. Otherwise (e.g. two of every three) None.
    """
    kernel = tuple(g.kernel_size for g in geo)
    live = live_taps(geo, fold_mode)
    if live is None:
        return tuple(slice(0, k) for k in kernel)
    ranges = []
    for axis, k in enumerate(kernel):
        landing = np.flatnonzero(np.isin(np.arange(k), np.unravel_index(live, kernel)[axis]))
        step = int(landing[1] - landing[0]) if landing.size > 1 else 1
        if np.any(np.diff(landing) != step):
            return None
        ranges.append(slice(int(landing[0]), int(landing[-1]) + 1, step))
    return tuple(ranges)


#: Leave the taps that never land out of the GEMMs when, per weight element copied, they save at
#: least this many multiply-adds (GEMM columns times the share of dead taps): the copy of the live
#: taps reads the whole weight. sweep.046 (a 3x3 kernel over 1x2 inputs, 16 columns, 9 MB of
#: weight) ran slower trimmed (the copy cost more than the GEMM it saved).
MIN_TRIM_MACS_PER_WEIGHT = 64


def _trimmed_weight(plan: Plan, weight: np.ndarray, columns: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``(weight (C_in, C_out/G, L), live taps)`` with only the live taps when that pays, else
    ``(weight (C_in, C_out/G, KK), None)``."""
    c_in, per_group_out = weight.shape[:2]
    live = None if plan.tiles_exactly else live_taps(plan.geometry, plan.fold_mode)
    taps = prod(plan.kernel)
    if live is None or columns * (taps - live.size) < MIN_TRIM_MACS_PER_WEIGHT * taps:
        return weight.reshape(c_in, per_group_out, taps), None
    ranges = live_tap_ranges(plan.geometry, plan.fold_mode)
    if ranges is None:
        return np.take(weight.reshape(c_in, per_group_out, taps), live, axis=2), live
    return np.ascontiguousarray(weight[(slice(None), slice(None)) + ranges]).reshape(c_in, per_group_out, -1), live


@lru_cache(maxsize=256)
def live_target_map(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros", trim: bool = False) -> np.ndarray:
    """:func:`target_map`, its rows restricted to :func:`live_taps` with ``trim`` (read-only, cached)."""
    full = target_map(geo, fold_mode)
    live = live_taps(geo, fold_mode) if trim else None
    if live is None:
        return full
    part = np.ascontiguousarray(full[live])
    part.flags.writeable = False
    return part


@lru_cache(maxsize=256)
def target_map_t(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros", trim: bool = False) -> np.ndarray:
    """:func:`live_target_map` transposed, ``(P, KK)`` (read-only, cached)."""
    transposed = np.ascontiguousarray(live_target_map(geo, fold_mode, trim).T)
    transposed.flags.writeable = False
    return transposed


@numba.njit(cache=True, nogil=True)
def _col2im(cols, target, out, fill, assign, start_rows, first_row, last_row):  # pragma: no cover - compiled
    """Scatter the columns of output rows ``[first_row, last_row)``, bias included.

    ``fill[g, c]`` is the row's bias (or None). With ``assign`` (kernel copies tile the output
    exactly) every position is written once, as column + bias. Otherwise a row starts as its bias
    (or zero) when ``start_rows`` is set (its first chunk), then every tap is added into it. So
    the output needs no separate initialising or bias pass.
    """
    groups, per_group, taps, n, positions = cols.shape
    for row in range(first_row, last_row):
        b, g, c = row_index(row, groups, per_group)
        line = out[b, g, c]
        if assign:
            if fill is None:
                for t in range(taps):
                    for p in range(positions):
                        line[target[t, p]] = cols[g, c, t, b, p]
            else:
                bias = fill[g, c]
                for t in range(taps):
                    for p in range(positions):
                        line[target[t, p]] = cols[g, c, t, b, p] + bias
            continue
        if start_rows:
            line[:] = 0.0 if fill is None else fill[g, c]
        for t in range(taps):
            for p in range(positions):
                o = target[t, p]
                if o >= 0:
                    line[o] += cols[g, c, t, b, p]


@lru_cache(maxsize=256)
def tile_lines(geo: tuple[AxisGeometry, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For layers whose kernel copies tile the output (kernel == stride): per output line (all axes
    but the last, flattened), the flat index of its tap along those axes and of its input line."""
    lead = geo[:-1]
    lead_out = tuple(g.output for g in lead)
    out_lines = np.indices(lead_out).reshape(len(lead), prod(lead_out))
    line_tap = np.zeros(out_lines.shape[1], dtype=np.int64)
    line_in = np.zeros(out_lines.shape[1], dtype=np.int64)
    for axis, g in enumerate(lead):
        line_tap = line_tap * g.kernel_size + out_lines[axis] % g.stride
        line_in = line_in * g.input_size + out_lines[axis] // g.stride
    for array in (line_tap, line_in):
        array.flags.writeable = False
    return line_tap, line_in


@numba.njit(cache=True, nogil=True)
def _tile_rows(cols, line_tap, line_in, first_line, in_width, out, fill, first_row, last_row):  # pragma: no cover
    """Scatter for kernel == stride (every output value is one tap of one input), line by line.

    Output line ``L`` interleaves the ``s`` last-axis taps of input line ``line_in[L]``:
    ``out[L, j·s + t] = cols[line_tap[L]·s + t, line_in[L], j] (+ bias)``, so the columns are read
    in contiguous runs and each output line is written once, in order. ``cols`` holds the input
    lines ``first_line, first_line + 1, ...`` (a chunk of whole lines).
    """
    groups, per_group, taps, n, positions = cols.shape
    lines = line_tap.size
    out_width = out.shape[3] // lines
    step = out_width // in_width
    chunk_lines = positions // in_width
    for row in range(first_row, last_row):
        b, g, c = row_index(row, groups, per_group)
        line = out[b, g, c]
        bias = 0.0 if fill is None else fill[g, c]
        for out_line in range(lines):
            source_line = line_in[out_line] - first_line
            if source_line < 0 or source_line >= chunk_lines:
                continue
            first_tap = line_tap[out_line] * step
            offset = source_line * in_width
            target = line[out_line * out_width : (out_line + 1) * out_width]
            if step == 2:  # written out so that it vectorizes
                even = cols[g, c, first_tap, b, offset : offset + in_width]
                odd = cols[g, c, first_tap + 1, b, offset : offset + in_width]
                for j in range(in_width):
                    target[2 * j] = even[j] + bias
                    target[2 * j + 1] = odd[j] + bias
                continue
            for t in range(step):
                source = cols[g, c, first_tap + t, b, offset : offset + in_width]
                target_t = target[t:out_width:step]
                for j in range(in_width):
                    target_t[j] = source[j] + bias


@numba.njit(cache=True, nogil=True)
def _col2im_position_major(cols, target, out, fill, assign, start_rows, first_row, last_row):  # pragma: no cover
    """:func:`_col2im` for columns laid out ``(G, n, P, Co, KK)``: a position's taps are adjacent.

    ``target`` is the transposed target map, ``(P, KK)``, so that it is read in order too.
    """
    groups, n, positions, per_group, taps = cols.shape
    for row in range(first_row, last_row):
        b, g, c = row_index(row, groups, per_group)
        line = out[b, g, c]
        bias = 0.0 if fill is None else fill[g, c]
        if assign:
            for p in range(positions):
                taps_here, targets = cols[g, b, p, c], target[p]
                for t in range(taps):
                    line[targets[t]] = taps_here[t] + bias
            continue
        if start_rows:
            line[:] = bias
        for p in range(positions):
            taps_here, targets = cols[g, b, p, c], target[p]
            for t in range(taps):
                o = targets[t]
                if o >= 0:
                    line[o] += taps_here[t]


@numba.njit(cache=True, nogil=True)
def _im2col(grad, target, cols, first_row, last_row):  # pragma: no cover - compiled
    groups, per_group, taps, n, positions = cols.shape
    for row in range(first_row, last_row):
        b, g, c = row_index(row, groups, per_group)
        line = grad[b, g, c]
        for t in range(taps):
            for p in range(positions):
                o = target[t, p]
                cols[g, c, t, b, p] = line[o] if o >= 0 else 0.0


def _chunks(n: int, positions: int, per_position_bytes: int, budget: int, align: int = 1) -> Iterator[tuple[slice, slice]]:
    """(batch slice, position slice) pairs whose columns and input copy fit ``budget``.

    Whole batch items are grouped while one item fits; a larger item (a big single image) is
    split into ranges of input positions, so the buffers stay bounded even at batch size 1.
    Ranges start at multiples of ``align`` (whole input lines, for the tiling scatter). Made one
    at a time (there can be thousands).
    """
    per_item = positions * per_position_bytes
    if per_item <= budget or n == 0:
        whole = slice(0, positions)
        yield from ((batch, whole) for batch in batch_chunks(n, per_item, budget))
        return
    step = max(1, budget // per_position_bytes)
    step = max(align, step - step % align)
    for item in range(n):
        for start in range(0, positions, step):
            yield slice(item, item + 1), slice(start, min(positions, start + step))


#: Scatter kernel == stride layers line by line with :func:`_tile_rows` (off: the generic scatter).
#: Measured in the same process against the generic scatter: unet.up1 0.94x, unet3d.up 0.90x,
#: unet.up3 0.82x.
TILED_SCATTER = True
#: Use position-major columns where :func:`_position_major` says so (off: always row-major).
POSITION_MAJOR = True
#: Shortest run of one position's taps (bytes) for which the position-major scatter pays off.
MIN_RUN_BYTES = 64


def _position_major(columns: int, per_group_out: int, taps: int, itemsize: int) -> bool:
    """Whether to compute the columns position-major, ``x^T W`` instead of ``W^T x``.

    With more columns than rows OpenBLAS runs the transposed product faster (10-40 % on the
    suite's shapes); the scatter then reads each position's taps as one contiguous run. Measured
    in the same process against row-major: dcgan.5 0.81x, fcn8s.upscore2 0.72x, hifigan.up3
    0.94x with runs of a cache line (16 float32 taps); with shorter runs (U-Net's 2x2 kernels)
    the scatter lost more than the GEMM gained (unet.up3 1.30x), hence :data:`MIN_RUN_BYTES`.
    """
    return POSITION_MAJOR and columns > per_group_out * taps and taps * itemsize >= MIN_RUN_BYTES


def _channel_chunks(per_group_out: int, per_channel_bytes: int, budget: int) -> list[slice]:
    """Ranges of output channels (per group) whose columns fit ``budget``."""
    step = max(1, budget // max(1, per_channel_bytes))
    return [slice(start, min(per_group_out, start + step)) for start in range(0, per_group_out, step)]


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Transposed convolution: the GEMM of :mod:`convtranspose.engine.gemm`, compiled scatter.

    With several engine threads and a large enough call, the output is split into one part per
    thread (:func:`_forward_parts`: ranges of batch items, else of output channels), and each
    thread computes its part whole: its GEMMs on one BLAS thread, each chunk's columns scattered
    by the thread that made them while they are still in its cache.
    """
    n, c_in = x.shape[:2]
    groups, per_group_out = plan.groups, plan.per_group_out
    taps, positions = prod(plan.kernel), prod(plan.input_spatial)
    out = np.empty(plan.output_shape, dtype=x.dtype)  # every row is initialised (or assigned) by the scatter
    flat_out = out.reshape(n, groups, per_group_out, prod(plan.output_shape[2:]))
    flat_x = x.reshape(n, c_in, positions)
    fill = None if bias is None else np.ascontiguousarray(bias).reshape(groups, per_group_out)
    weight, live = _trimmed_weight(plan, weight, n * positions)  # taps that never land: left out of the GEMM
    taps = weight.shape[2]
    weight_t = grouped_weight(weight, groups).transpose(0, 2, 1)  # (G, Co*KK, Ci)
    # Within the memory budget, chunks small enough to stay in cache from GEMM to scatter.
    budget = min(forward_budget(out.nbytes), CACHE_CHUNK_BYTES)
    parts = _forward_parts(n, positions, per_group_out, n * positions * c_in * per_group_out * taps)
    # One BLAS thread per GEMM, set from the main thread (threads.blas_limit); where it cannot be
    # set (another thread, no threadpoolctl) the parts are not split off and the GEMMs keep the
    # BLAS's threads.
    with threads.blas_limit(1 if len(parts) > 1 else 0) as one_blas_thread:
        if not one_blas_thread:
            parts = [(slice(0, n), slice(0, per_group_out))]
        part_budget = max(min(budget, MIN_PART_BUDGET_BYTES), budget // len(parts))

        def compute(batch: slice, chans: slice) -> None:
            _forward_part(
                plan, flat_x[batch], weight_t, weight.nbytes, flat_out[batch], fill, chans, taps, live is not None,
                part_budget,
            )

        threads.run(compute, parts)
    return out


def _forward_part(
    plan: Plan, flat_x: np.ndarray, weight_t: np.ndarray, weight_bytes: int, flat_out: np.ndarray,
    fill: Optional[np.ndarray], chans: slice, taps: int, trim: bool, budget: int,
) -> None:
    """The forward of batch items ``flat_x`` into ``flat_out`` (same items), output channels
    ``chans`` of every group (all of them, or one thread's range); ``weight_t`` holds only the
    :func:`live_taps` with ``trim``."""
    groups, per_group_out = flat_out.shape[1], flat_out.shape[2]
    c_in = flat_x.shape[1]
    if chans != slice(0, per_group_out):
        width, per_group_in = chans.stop - chans.start, weight_t.shape[2]
        shaped = weight_t.reshape(groups, per_group_out, taps, per_group_in)
        weight_t = shaped[:, chans].reshape(groups, width * taps, per_group_in)
        flat_out = flat_out[:, :, chans]
        fill = None if fill is None else np.ascontiguousarray(fill[:, chans])
        weight_bytes = weight_bytes * width // per_group_out
    n, _, positions = flat_x.shape
    per_position = (groups * flat_out.shape[2] * taps + c_in) * flat_x.itemsize
    geo, disjoint = plan.geometry, plan.tiles_exactly
    if n > 0 and n * positions * per_position > budget and weight_bytes > flat_x.nbytes:
        # The columns exceed the budget. Chunking by batch items or input positions would read
        # the whole weight once per chunk, in GEMMs with few columns; when the weight is the
        # larger operand (HiFi-GAN's first upsampler: 8 MB of weight for a 32-sample input;
        # DCGAN's 8 MB dcgan.2 weight for 8 items of 4x4), chunk by output channels instead,
        # which reads every weight row once and the (smaller) input once per chunk. Measured
        # (1 thread, CPU time) against chunking batches of whole items: dcgan.2 0.62x, dcgan.3 0.91x.
        x = flat_x.reshape((n, c_in) + tuple(plan.input_spatial))
        _forward_by_channels(x, weight_t, geo, plan.fold_mode, trim, groups, flat_out, fill, disjoint, budget)
    else:
        _forward_by_positions(flat_x, weight_t, geo, plan.fold_mode, trim, groups, flat_out, fill, disjoint, budget)


#: Split a large forward into one part per engine thread, each computed whole on its thread with
#: one BLAS thread (off: one multi-threaded GEMM per chunk, the scatter split by rows). Measured at
#: 2 threads, interleaved in one process with torch and onnxruntime, against the unsplit forward:
#: dcgan.3 0.83x, dcgan.4 0.80x, dcgan.5 0.69x, unet.up3 0.85x, dilated 0.91x, and 0.48-0.85x on
#: the sweep's layers of 3e7-1e9 multiply-adds split by batch items.
PARALLEL_FORWARD = True
#: Fewest multiply-adds for the split. Below it the two threads' start and meeting cost more than
#: they save: 1e6-1.2e7 multiply-adds (0.2-1 ms) ran 1.3-2.4x slower split.
MIN_PARALLEL_FORWARD_MACS = 1 << 24
#: For a split by output channels (fewer batch items than threads), also this many input positions
#: and multiply-adds. Each thread then reads the whole input and half the weight: HiFi-GAN's first
#: upsampler (32 positions, 8 MB of weight, 6.7e7 multiply-adds) ran 1.39x slower split, while
#: hifigan.up2/up3 (256 and 2048 positions) ran 0.92x and 0.86x, and 1-item sweep layers of
#: 6e7-1.3e9 multiply-adds 0.68-0.87x.
MIN_CHANNEL_SPLIT_POSITIONS = 256
MIN_CHANNEL_SPLIT_MACS = 1 << 25
#: Smallest chunk budget of a part.
MIN_PART_BUDGET_BYTES = 256 * 1024


def _forward_parts(n: int, positions: int, per_group_out: int, macs: int) -> list[tuple[slice, slice]]:
    """``(batch, channels)`` parts of a forward's output, one per engine thread.

    Batch items when they divide evenly among the threads (or are many); otherwise ranges of
    output channels (per group), for a large enough call; a single part when neither splits.
    """
    count = threads.get_num_threads()
    whole_batch, whole_chans = slice(0, n), slice(0, per_group_out)
    if not PARALLEL_FORWARD or count < 2 or macs < MIN_PARALLEL_FORWARD_MACS or threads.in_task():
        return [(whole_batch, whole_chans)]
    by_batch = [(slice(n * i // count, n * (i + 1) // count), whole_chans) for i in range(count)]
    if n >= count and (n % count == 0 or n >= 4 * count):
        return by_batch
    if per_group_out >= count and n * positions >= MIN_CHANNEL_SPLIT_POSITIONS and macs >= MIN_CHANNEL_SPLIT_MACS:
        return [(whole_batch, slice(per_group_out * i // count, per_group_out * (i + 1) // count)) for i in range(count)]
    return by_batch if n >= count else [(whole_batch, whole_chans)]


def _forward_by_channels(
    x: np.ndarray, weight_t: np.ndarray, geo: tuple[AxisGeometry, ...], fold_mode: str, trim: bool, groups: int,
    flat_out: np.ndarray,
    fill: Optional[np.ndarray], disjoint: bool, budget: int,
) -> None:
    """The scatter of :func:`forward` for ranges of output channels, with the whole input.

    With runs of at least :data:`MIN_RUN_BYTES` per position, the columns are computed
    position-major, ``x^T W[:, chans]``: the weight's channel range is then a strided view that
    the GEMM reads in place (no copy of the weight per call), and OpenBLAS runs this orientation
    faster on these shapes (many weight columns, few input positions).
    """
    n, c_in = x.shape[:2]
    per_group_out = flat_out.shape[2]
    per_group_in = c_in // groups
    taps, positions = weight_t.shape[1] // per_group_out, prod(x.shape[2:])
    position_major = BY_CHANNELS_POSITION_MAJOR and taps * x.itemsize >= MIN_RUN_BYTES
    if position_major:
        # (G, n*P, Ci): a copy of the (smaller) input, so that the GEMM reads both operands in rows.
        x_rows = np.ascontiguousarray(x.reshape(n, groups, per_group_in, positions).transpose(1, 0, 3, 2))
        grouped_x = x_rows.reshape(groups, n * positions, per_group_in)
        per_channel_weights = weight_t.transpose(0, 2, 1).reshape(groups, per_group_in, per_group_out, taps)
    else:
        grouped_x = grouped_input(x, groups)  # (G, Ci, n*P)
        per_tap_weights = weight_t.reshape(groups, per_group_out, taps, per_group_in)
    per_channel = groups * taps * n * positions * x.itemsize
    for chans in _channel_chunks(per_group_out, per_channel, max(per_channel, budget - grouped_x.nbytes)):
        width = chans.stop - chans.start
        part_fill = None if fill is None else np.ascontiguousarray(fill[:, chans])
        if position_major:
            w_part = per_channel_weights[:, :, chans].reshape(groups, per_group_in, width * taps)  # a view
            cols = np.matmul(grouped_x, w_part).reshape(groups, n, positions, width, taps)
            kernel, target = _col2im_position_major, target_map_t(geo, fold_mode, trim)
        else:
            w_part = per_tap_weights[:, chans].reshape(groups, width * taps, per_group_in)
            cols = np.matmul(w_part, grouped_x).reshape(groups, width, taps, n, positions)
            kernel, target = _col2im, live_target_map(geo, fold_mode, trim)
        _over_rows(kernel, n * groups * width, cols.size, cols, target, flat_out[:, :, chans], part_fill, disjoint, True)
        del cols


#: Compute :func:`_forward_by_channels`'s columns position-major where the runs are long enough.
BY_CHANNELS_POSITION_MAJOR = True


def _forward_by_positions(
    flat_x: np.ndarray, weight_t: np.ndarray, geo: tuple[AxisGeometry, ...], fold_mode: str, trim: bool, groups: int,
    flat_out: np.ndarray,
    fill: Optional[np.ndarray], disjoint: bool, budget: int,
) -> None:
    """The scatter of :func:`forward` for chunks of batch items or of one item's input positions."""
    n, c_in, positions = flat_x.shape
    per_group_out = flat_out.shape[2]
    taps = weight_t.shape[1] // per_group_out
    per_position = (groups * per_group_out * taps + c_in) * flat_x.itemsize
    in_width = geo[-1].input_size
    tiled = disjoint and TILED_SCATTER
    for batch, span in _chunks(n, positions, per_position, budget, align=in_width if tiled else 1):
        rows, width = batch.stop - batch.start, span.stop - span.start
        row_count = rows * groups * per_group_out
        position_major = not tiled and _position_major(rows * width, per_group_out, taps, flat_x.itemsize)
        if groups == 1 and rows > 1 and width >= PER_ITEM_GEMM_MIN_POSITIONS:
            # One GEMM per batch item, straight from x's layout: no transposed copy of the input.
            cols = _per_item_columns(flat_x[batch, :, span], weight_t[0], per_group_out, taps, position_major)
        else:
            grouped_x = grouped_input(flat_x[batch, :, span], groups)  # (G, Ci, rows*width)
            if position_major:
                cols = np.matmul(grouped_x.transpose(0, 2, 1), weight_t.transpose(0, 2, 1))  # (G, rows*width, Co*KK)
                cols = cols.reshape(groups, rows, width, per_group_out, taps)
            else:
                cols = np.matmul(weight_t, grouped_x).reshape(groups, per_group_out, taps, rows, width)
        if tiled:  # kernel == stride: line-by-line tiling, no target map
            line_tap, line_in = tile_lines(geo)
            first_line = span.start // in_width
            _over_rows(_tile_rows, row_count, cols.size, cols, line_tap, line_in, first_line, in_width, flat_out[batch], fill)
            del cols
            continue
        kernel = _col2im_position_major if position_major else _col2im
        part_target = _span_target(geo, fold_mode, span, positions, position_major, trim)
        start_rows = span.start == 0  # a row's first chunk initialises it
        _over_rows(kernel, row_count, cols.size, cols, part_target, flat_out[batch], fill, disjoint, start_rows)
        del cols  # free this chunk's columns before the next GEMM allocates its own


def _input_grad_into(target: np.ndarray, grouped_w: np.ndarray, columns: np.ndarray) -> None:
    """``target (rows, G, Ci, width) = W @ columns`` per group, ``columns`` ``(G, Co*KK, rows*width)``.

    With one group and one item, or wide items, one GEMM (per item) writes straight into
    ``target``; otherwise one GEMM per group, then a transposing copy.
    """
    rows, groups, per_group_in, width = target.shape
    if groups == 1 and rows == 1:
        np.matmul(grouped_w[0], columns[0], out=target[0, 0])
        return
    if groups == 1 and rows > 1 and width >= PER_ITEM_GEMM_MIN_POSITIONS:
        per_item = columns[0].reshape(-1, rows, width).transpose(1, 0, 2)  # (rows, Co*KK, width)
        np.matmul(grouped_w[0], per_item, out=target[:, 0])
        return
    grad_cols = np.matmul(grouped_w, columns).reshape(groups, per_group_in, rows, width)
    np.copyto(target, np.moveaxis(grad_cols, 2, 0))


#: With one group, batches of items at least this wide (input positions) get one GEMM per item
#: instead of one GEMM over a transposed copy of the input.
PER_ITEM_GEMM_MIN_POSITIONS = 256


def _per_item_columns(x_part, weight_rows, per_group_out, taps, position_major):
    """Columns of a chunk of items ``(rows, Ci, width)`` as a 5-d view the scatter kernels take.

    Position-major: ``x_i^T W`` per item is already ``(n, P, Co, KK)``. Row-major: ``W^T x_i``
    per item is ``(n, Co, KK, P)``, handed over transposed to ``(Co, KK, n, P)`` (no copy).
    """
    rows, _, width = x_part.shape
    if position_major:
        cols = np.matmul(x_part.transpose(0, 2, 1), weight_rows.T)  # (rows, width, Co*KK)
        return cols.reshape(1, rows, width, per_group_out, taps)
    cols = np.matmul(weight_rows, x_part)  # (rows, Co*KK, width)
    return cols.reshape(rows, 1, per_group_out, taps, width).transpose(1, 2, 3, 0, 4)


def _span_target(
    geo: tuple[AxisGeometry, ...], fold_mode: str, span: slice, positions: int, transposed: bool, trim: bool = False
) -> np.ndarray:
    """The target map (``(KK, P)``, or transposed ``(P, KK)``; live taps only with ``trim``)
    restricted to the positions of ``span``."""
    if span.start == 0 and span.stop == positions:
        return target_map_t(geo, fold_mode, trim) if transposed else live_target_map(geo, fold_mode, trim)
    part = live_target_map(geo, fold_mode, trim)[:, span]
    return np.ascontiguousarray(part.T if transposed else part)


#: Most chunks a backward is split into. Each chunk's GEMMs are small when the columns are far
#: larger than the gradients, and at 2 threads their start-up dominates: fcn8s.upscore8 (84 MiB of
#: columns for 0.43 MiB of weight) took 124 ms in ~130 chunks within 2x its largest gradient, 62 ms
#: in 32 chunks (6.3x), 72 ms in the 16 MiB chunks used before.
MAX_BACKWARD_CHUNKS = 32


def backward(plan: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """All requested gradients: compiled gather, then the two GEMM transposes (see ``gemm``).

    Per chunk of columns ``C`` (the gather of ``grad_output``, ``(G, Co*KK, rows*width)``):
    ``grad_x = W @ C`` and ``grad_w += x @ C^T``. Both products' rows are input channels, so
    with several engine threads (and a large enough call) each thread computes the rows of its
    range of input channels, each GEMM on one BLAS thread (:func:`_channel_parts`).
    """
    need_input, need_weight, need_bias = needs
    n, c_in = x.shape[:2]
    spatial_in, kernel = plan.input_spatial, plan.kernel
    groups, per_group_out = plan.groups, plan.per_group_out
    per_group_in = c_in // groups
    taps, positions = prod(kernel), prod(spatial_in)
    geo = plan.geometry
    # Taps that never land in the output: no columns, a zero weight gradient.
    live_weight, live = _trimmed_weight(plan, weight, n * positions)
    taps = live_weight.shape[2]
    grouped_w = grouped_weight(live_weight, groups)  # (G, Ci, Co*KK)
    flat_gy = np.ascontiguousarray(grad_output).reshape(n, groups, per_group_out, prod(grad_output.shape[2:]))
    flat_x = x.reshape(n, groups, per_group_in, positions)

    grad_x = buffer_if(need_input, (n, groups, per_group_in, positions), x.dtype)
    grad_w = buffer_if(need_weight, grouped_w.shape, x.dtype)  # the first chunk's product is written into it
    if need_input or need_weight:
        # Columns, input copy and target map within 1.5x the largest gradient, the weight
        # gradient's accumulation temporary within an eighth of it: peak extra memory under 2x.
        largest = gradient_bytes(x, weight)
        per_position = (groups * per_group_out * taps + c_in) * x.itemsize
        # At most MAX_BACKWARD_CHUNKS chunks: a grad_output far larger than both gradients
        # (fcn8s.upscore8) keeps its speed and gives up the 2x bound instead.
        budget = max(backward_budget(largest), -(-n * positions * per_position // MAX_BACKWARD_CHUNKS))
        if positions * per_position > budget:  # items are split: each range of positions copies its target map
            per_position += taps * np.dtype(np.int64).itemsize
        macs = n * positions * per_group_out * taps * per_group_in
        batches = _backward_batch_parts(n, macs, grad_w.nbytes if need_weight else 0, largest)
        parts = _channel_parts(per_group_in, macs) if len(batches) == 1 else [slice(0, per_group_in)]
        # One BLAS thread per GEMM, set from the main thread (threads.blas_limit); where it
        # cannot be set (another thread, no threadpoolctl) the GEMMs keep the BLAS's threads.
        with threads.blas_limit(1 if len(parts) > 1 or len(batches) > 1 else 0) as one_blas_thread:
            if not one_blas_thread:
                parts, batches = [slice(0, per_group_in)], [slice(0, n)]
            accumulation = accumulation_budget(largest) // (len(parts) * len(batches))
            # The first batch part accumulates into grad_w, the others into weight-gradient buffers
            # of their own (within a quarter of the largest gradient), added to it at the end.
            accumulators = [grad_w] + [buffer_if(need_weight, grouped_w.shape, x.dtype) for _ in batches[1:]]

            def items(batch: slice, accumulator: np.ndarray) -> None:
                """Both gradients for the batch items ``batch`` (the weight's into ``accumulator``)."""
                for index, (chunk, span) in enumerate(_chunks(batch.stop - batch.start, positions, per_position, budget // len(batches))):
                    chunk = slice(batch.start + chunk.start, batch.start + chunk.stop)
                    rows, width = chunk.stop - chunk.start, span.stop - span.start
                    row_count = rows * groups * per_group_out
                    # Row-major columns: measured (1 thread, CPU time) against the position-major
                    # gather (the forward's layout transposed) this was dcgan.4 0.97x, dcgan.5 0.89x,
                    # and more at 2 threads, where the position-major gather's short runs scaled badly.
                    part_target = _span_target(geo, plan.fold_mode, span, positions, False, live is not None)
                    cols = np.empty((groups, per_group_out, taps, rows, width), dtype=x.dtype)
                    _over_rows(_im2col, row_count, cols.size, flat_gy[chunk], part_target, cols)
                    channel_major = cols.reshape(groups, per_group_out * taps, rows * width)

                    def gradients(part: slice, chunk: slice = chunk, span: slice = span, first: bool = index == 0) -> None:
                        """Both gradients' rows for the input channels ``part`` (of every group)."""
                        if need_input:
                            _input_grad_into(grad_x[chunk, :, part, span], grouped_w[:, part], channel_major)
                        if need_weight:
                            x_part = _grouped_rows(flat_x[chunk, :, part, span])  # (G, part, rows*width)
                            accumulate_matmul(accumulator[:, part], x_part, channel_major.transpose(0, 2, 1), first, accumulation)

                    threads.run(gradients, parts)
                    del cols, channel_major, part_target  # free this chunk's buffers before the next chunk makes its own

            threads.run(items, list(zip(batches, accumulators)))
            if need_weight:
                for accumulator in accumulators[1:]:
                    grad_w += accumulator
            del accumulators
    grad_b = bias_grad(grad_output) if need_bias else None
    if need_weight and live is not None:
        live_grad_w = grad_w
        grad_w = np.zeros(weight.shape, dtype=x.dtype)
        grad_w.reshape(c_in, per_group_out, -1)[:, :, live] = live_grad_w.reshape(c_in, per_group_out, taps)
    return (
        grad_x.reshape(x.shape) if need_input else None,
        grad_w.reshape(weight.shape) if need_weight else None,
        grad_b,
    )


def _grouped_rows(x_part: np.ndarray) -> np.ndarray:
    """``(rows, G, Ci, width)`` -> ``(G, Ci, rows*width)`` (a copy unless ``rows == 1``)."""
    rows, groups, channels, width = x_part.shape
    return x_part.transpose(1, 2, 0, 3).reshape(groups, channels, rows * width)


#: Split a backward's GEMMs by input channels across the engine's threads, each GEMM on one BLAS
#: thread (off: one multi-threaded BLAS call per GEMM). The threads then meet twice per chunk
#: (after the gather, after the GEMMs) instead of inside every GEMM, and no OpenBLAS worker spins
#: on a core another process wants. Measured at 2 threads, interleaved in one process against the
#: unsplit backward (best round, and median, as ratios to torch): on a quiet machine about even
#: (dcgan.3 1.07x vs 1.03x, dcgan.4 1.04x vs 1.09x); on a busy one (load 2-4 on 2 cores) the
#: unsplit medians reached 1.5-5x torch while the split's stayed at 0.4-1.0x (dcgan.4 0.79x vs
#: 1.46x, dcgan.5 0.41x vs 5.4x, dilated 0.22x vs 2.25x). Four parts on two threads (pulled as
#: they finish) were no better than two. Without the one-BLAS-thread limit the split was slower
#: than no split (dcgan.4 1.55x vs 1.09x torch).
PARALLEL_BACKWARD = True
#: Fewest input channels (per group) per thread, and fewest multiply-adds per call, for the split.
#: HiFi-GAN's first upsampler (2^26 multiply-adds in GEMMs 32 columns wide) ran slower split
#: (best round 0.82x vs 0.63x torch, median 0.98x vs 0.91x, over 15 rounds), hence 2^27.
MIN_PART_CHANNELS = 32
MIN_PARALLEL_MACS = 1 << 27


#: Split a backward's batch across the engine's threads, each thread gathering, multiplying and
#: accumulating the weight gradient of its own items (one BLAS thread each), when the extra weight
#: gradients fit :data:`BATCH_SPLIT_GRADIENT_SHARE` of the largest gradient. Each thread's columns
#: stay in its cache from the gather to the GEMMs. Measured at 2 threads, interleaved in one
#: process with torch (best of 5 rounds), against the backward without it: dcgan.5 0.79x,
#: unet.up3 0.85x, unet3d.up 0.90x, dilated 0.85x, and 0.72-0.85x on the sweep's larger batched
#: layers (sweep.022, .036, .053, .056, .059); no layer it splits was slower beyond the noise
#: (up to 1.14x, as unsplit layers also moved between runs).
PARALLEL_BACKWARD_BATCH = True
MIN_BATCH_SPLIT_MACS = 1 << 24
BATCH_SPLIT_GRADIENT_SHARE = 0.25


def _backward_batch_parts(n: int, macs: int, grad_w_bytes: int, largest: int) -> list[slice]:
    """Ranges of batch items, one per engine thread, for the batch-split backward (or the whole batch)."""
    count = min(threads.get_num_threads(), n)
    whole = [slice(0, n)]
    if not PARALLEL_BACKWARD_BATCH or count < 2 or macs < MIN_BATCH_SPLIT_MACS or threads.in_task():
        return whole
    if n % count and n < 4 * count:  # uneven halves of a small batch
        return whole
    if (count - 1) * grad_w_bytes > BATCH_SPLIT_GRADIENT_SHARE * largest:
        return whole
    return [slice(n * i // count, n * (i + 1) // count) for i in range(count)]


def _channel_parts(per_group_in: int, macs: int) -> list[slice]:
    """Ranges of input channels (per group) whose gradient rows the engine's threads compute."""
    count = min(threads.get_num_threads(), per_group_in // MIN_PART_CHANNELS)
    if not PARALLEL_BACKWARD or count < 2 or macs < MIN_PARALLEL_MACS:
        return [slice(0, per_group_in)]
    bounds = [per_group_in * i // count for i in range(count + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(count)]
