"""Kernels of the ``phase_jit`` path: compiled patch gather and phase write around one GEMM per phase group.

Imported only when a call uses the path (:mod:`convtranspose.engine.phase_jit` is the path module
the cost model reads). The algorithm is :mod:`convtranspose.engine.phase`'s forward; see there for
the phases and their groups. What is compiled, with every spatial axis but the last flattened
into *lines* (so one kernel serves 1-d, 2-d and 3-d):

* the gather: ``patches[g, c·T + j, (b, L, m)] = x[b, g·Ci + c, line_src[j, L], m + last_offset[j]]``
  for window ``j`` of a phase group and line ``L`` of its grid, zero where the window leaves the
  input (``line_src`` is -1 for a line outside it). No padded copy of the input is made;
* the write: ``out[b, g·Co + c, out_line[k, L], start[k] + step[k]·(m - low[k])] = result + bias``
  for member phase ``k``'s cells in the output window, each output cell written exactly once
  (the phases partition the output). A padding mode's border cells are added afterwards, as in
  ``phase``.

Large single items are split into ranges of grid lines so that the patch buffer stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import Iterator, Optional

import numba
import numpy as np

from ..plan import Plan
from ..shape import AxisGeometry
from ._common import CACHE_CHUNK_BYTES, batch_chunks, buffer_budget, forward_budget
from ._jit_common import over_rows, row_index
from .phase import Border, add_border, fill_tapless_phases, group_weight, grouped_weight_taps, write_phase
from .phase_plan import PhaseGroup, PhaseLayout, live_windows, phase_groups, phase_layout, phase_plan

__all__ = ["forward", "GroupTables", "group_tables"]


@dataclass(frozen=True)
class GroupTables:
    """Index tables of one phase group for the compiled gather and write (read-only arrays).

    ``line_src[j, L]``: flat input line (all axes but the last) of window ``j`` at grid line ``L``,
    -1 where the window is outside the input; ``last_offset[j]``: input index of grid column 0
    along the last axis. Per member phase ``k``: ``out_line[k, L]`` the output line of grid line
    ``L``, -1 where the line is not in the phase's block inside the output window; that block's
    grid columns ``low[k] .. high[k]`` go to output columns ``start[k] + step[k] · (m - low[k])``.
    ``source[j, L · width + m]``: the flat input position of every cell (-1: outside the input), for
    :func:`_gather_mapped`; None when the table would exceed :data:`MAX_SOURCE_ENTRIES`. Window
    ``j`` is the group's window ``windows[j]``: only the windows that overlap the input
    (:func:`~convtranspose.engine.phase_plan.live_windows`) are gathered and multiplied.
    """

    windows: tuple[int, ...]
    lines: int
    width: int
    line_src: np.ndarray
    last_offset: np.ndarray
    out_line: np.ndarray
    low: np.ndarray
    high: np.ndarray
    start: np.ndarray
    step: np.ndarray
    source: Optional[np.ndarray]


#: Largest per-cell gather table (entries, ``windows x grid cells``) a group keeps.
MAX_SOURCE_ENTRIES = 1 << 21

#: Grids whose lines are shorter than this (cells) gather through the per-cell table when they have one.
MAPPED_MAX_WIDTH = 64


def _cell_sources(line_src: np.ndarray, last_offset: np.ndarray, width: int, width_in: int, positions: int) -> np.ndarray:
    """``source[j, L · width + m]`` of :class:`GroupTables` (int32 when the input allows)."""
    columns = np.arange(width)[None, None, :] + last_offset[:, None, None]  # (T, 1, width)
    source = line_src[:, :, None] * width_in + columns
    source[(line_src[:, :, None] < 0) | (columns < 0) | (columns >= width_in)] = -1
    dtype = np.int32 if positions < np.iinfo(np.int32).max else np.int64
    return source.reshape(len(line_src), line_src.shape[1] * width).astype(dtype)


def _flat_lines(index: list[np.ndarray], sizes: tuple[int, ...], valid: np.ndarray) -> np.ndarray:
    """Flat C-order line numbers of per-axis ``index`` arrays in ``sizes``, -1 where not ``valid``."""
    flat = np.zeros(valid.shape, dtype=np.int64)
    for axis_index, size in zip(index, sizes):
        flat = flat * size + axis_index
    flat[~valid] = -1
    return flat


@lru_cache(maxsize=256)
def group_tables(geo: tuple[AxisGeometry, ...], fold_mode: str, index: int) -> GroupTables:
    """The :class:`GroupTables` of phase group ``index`` of the call's layout (cached)."""
    layout = phase_layout(geo, fold_mode)
    plan = phase_plan(layout.geometry)
    group = phase_groups(layout.geometry)[index]
    lead_counts = group.counts[:-1]
    grid = [axis.reshape(-1) for axis in np.indices(lead_counts)] if lead_counts else []
    lines = prod(lead_counts)
    in_lead = tuple(g.input_size for g in layout.geometry[:-1])
    out_lead = tuple(g.output for g in geo[:-1])
    windows = live_windows(layout.geometry, group)
    line_src = np.empty((len(windows), lines), dtype=np.int64)
    for j, window in enumerate(group.windows[w] for w in windows):
        source = [m + w.start - before for m, w, before in zip(grid, window, plan.margin_before)]
        valid = np.ones(lines, dtype=bool)
        for axis_index, size in zip(source, in_lead):
            valid &= (axis_index >= 0) & (axis_index < size)
        line_src[j] = _flat_lines(source, in_lead, valid)
    last_offset = np.array([group.windows[w][-1].start - plan.margin_before[-1] for w in windows], dtype=np.int64)
    members = len(group.members)
    out_line = np.full((members, lines), -1, dtype=np.int64)
    low, high, start, step = (np.zeros(members, dtype=np.int64) for _ in range(4))
    for k, phase_index in enumerate(group.members):
        inside = [block for block in layout.blocks[phase_index] if block.inside]
        if not inside:  # the whole phase lies in a padding mode's border
            continue
        (block,) = inside
        target = []
        valid = np.ones(lines, dtype=bool)
        for m, src, dst in zip(grid, block.source, block.target):
            valid &= (m >= src.start) & (m < src.stop)
            target.append(dst.start + (dst.step or 1) * (m - src.start))
        out_line[k] = _flat_lines(target, out_lead, valid)
        low[k], high[k] = block.source[-1].start, block.source[-1].stop
        start[k], step[k] = block.target[-1].start, block.target[-1].step or 1
    width, width_in = group.counts[-1], layout.geometry[-1].input_size
    cell_source = None
    if len(windows) * lines * width <= MAX_SOURCE_ENTRIES and width < MAPPED_MAX_WIDTH:
        cell_source = _cell_sources(line_src, last_offset, width, width_in, prod(g.input_size for g in layout.geometry))
    tables = GroupTables(windows, lines, width, line_src, last_offset, out_line, low, high, start, step, cell_source)
    for array in (line_src, last_offset, out_line, low, high, start, step, cell_source):
        if array is not None:
            array.flags.writeable = False
    return tables


@numba.njit(cache=True, nogil=True)
def _gather(x, width_in, line_src, last_offset, patches, per_group_in, first_item, items, first_line, lines, first_row, last_row):  # pragma: no cover - compiled
    """Patch rows of input channels ``[first_row, last_row)`` for items ``first_item ..`` and grid
    lines ``first_line ..`` (see the module docstring); ``x`` is ``(N, C_in, lines_in · width_in)``.
    (Whole-slice copies: numba compiles them to plain loops, where element indexing pays a
    negative-index check per element.)"""
    taps = line_src.shape[0]
    width = patches.shape[2] // (items * lines)
    for row in range(first_row, last_row):
        g, c = row // per_group_in, row % per_group_in
        for j in range(taps):
            dst = patches[g, c * taps + j]
            offset = last_offset[j]
            low = min(width, max(0, -offset))
            high = max(low, min(width, width_in - offset))
            for b in range(items):
                plane = x[first_item + b, row]
                for line in range(lines):
                    base = (b * lines + line) * width
                    source_line = line_src[j, first_line + line]
                    if source_line < 0:
                        dst[base : base + width] = 0.0
                        continue
                    first = source_line * width_in + offset
                    dst[base : base + low] = 0.0
                    dst[base + low : base + high] = plane[first + low : first + high]
                    dst[base + high : base + width] = 0.0


@numba.njit(cache=True, nogil=True)
def _gather_mapped(x, source, patches, per_group_in, first_item, items, first_cell, first_row, last_row):  # pragma: no cover - compiled
    """:func:`_gather` through a table of every window cell's flat input position (-1: zero), for
    grids of short lines: one loop over a whole item's cells instead of three per line (runs of a
    few elements made :func:`_gather` several times slower than the copy it does)."""
    taps = source.shape[0]
    cells = patches.shape[2] // items
    for row in range(first_row, last_row):
        g, c = row // per_group_in, row % per_group_in
        for j in range(taps):
            dst = patches[g, c * taps + j]
            index = source[j, first_cell : first_cell + cells]
            for b in range(items):
                plane = x[first_item + b, row]
                base = b * cells
                for e in range(cells):
                    k = index[e]
                    dst[base + e] = plane[k] if k >= 0 else 0.0


@numba.njit(cache=True, nogil=True)
def _write(result, out_line, low, high, start, step, fill, out, per_group_out, first_item, items, first_line, lines, first_row, last_row):  # pragma: no cover - compiled
    """Output rows ``[first_row, last_row)`` of the ``(items, G, Co)`` rows: every member phase's
    cells in the window, as result + bias; ``out`` is ``(N, C_out, lines_out, width_out)``."""
    groups = result.shape[0]
    members = out_line.shape[0]
    width = result.shape[2] // (items * lines)
    for row in range(first_row, last_row):
        b, g, c = row_index(row, groups, per_group_out)
        bias = 0.0 if fill is None else fill[g, c]
        plane = out[first_item + b, g * per_group_out + c]
        for k in range(members):
            src_row = result[g, k * per_group_out + c]
            lo, hi, first, stride = low[k], high[k], start[k], step[k]
            for line in range(lines):
                target_line = out_line[k, first_line + line]
                if target_line < 0:
                    continue
                base = (b * lines + line) * width
                dst = plane[target_line]
                if stride == 1:
                    for m in range(lo, hi):
                        dst[first + m - lo] = src_row[base + m] + bias
                else:
                    for m in range(lo, hi):
                        dst[first + stride * (m - lo)] = src_row[base + m] + bias


#: Smallest budget for one chunk's patches and GEMM result. Patches are ``taps`` times the input
#: (49 for a 7x7 kernel of stride 1), so a call with a small output gets this much rather than
#: 1.5 times its output, for GEMMs large enough to run at speed.
MIN_PATCH_BUDGET_BYTES = CACHE_CHUNK_BYTES


def _work_units(n: int, group: PhaseGroup, per_line_bytes: int, budget: int, split_items: bool) -> Iterator[tuple[slice, slice]]:
    """(batch slice, grid-line slice) chunks whose patches and result fit ``budget``: whole items
    while one fits, else (with ``split_items``) ranges of one item's grid lines."""
    lines = prod(group.counts[:-1])
    per_item = lines * per_line_bytes
    if per_item <= budget or not split_items or n == 0:
        for batch in batch_chunks(n, per_item, budget):
            yield batch, slice(0, lines)
        return
    step = max(1, budget // per_line_bytes)
    for item in range(n):
        for first in range(0, lines, step):
            yield slice(item, item + 1), slice(first, min(lines, first + step))


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Transposed convolution of a batched input: per phase group, compiled gather, GEMM, compiled write."""
    n, c_in = x.shape[:2]
    groups, per_group_out, per_group_in = plan.groups, plan.per_group_out, plan.per_group_in
    layout: PhaseLayout = phase_layout(plan.geometry, plan.fold_mode)
    phases = phase_plan(layout.geometry)
    out = np.empty(plan.output_shape, dtype=x.dtype)
    flat_fill = np.zeros(groups * per_group_out, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
    bias_cells = flat_fill.reshape((1, groups, per_group_out) + (1,) * (x.ndim - 2))
    fill_tapless_phases(out, layout, bias_cells)
    fill = None if bias is None else flat_fill.reshape(groups, per_group_out)
    shared = phase_groups(layout.geometry)
    if not shared or n == 0:
        return out
    x_flat = x.reshape(n, c_in, -1)
    out_lines = out.reshape(n, plan.out_channels, prod(out.shape[2:-1]), out.shape[-1])
    w_taps = grouped_weight_taps(weight, groups)  # (G, Ci, KK, Co)
    zeros_mode = plan.fold_mode == "zeros"
    # A padding mode's border blocks need whole items of a group's grid (no line ranges), and the
    # canvas' phases often share windows (one group with every phase's result at once): those
    # calls keep to the output-sized budget, so that a mode costs no more memory than its zeros call.
    budget = max(forward_budget(out.nbytes), MIN_PATCH_BUDGET_BYTES) if zeros_mode else buffer_budget(out.nbytes)
    border: Border = []
    for index, group in enumerate(shared):
        tables = group_tables(plan.geometry, plan.fold_mode, index)
        w_group = group_weight(w_taps, phases, group, tables.windows)  # (G, Qg*Co, Ci*T)
        rows_per_column = c_in * len(tables.windows) + plan.out_channels * len(group.members)
        per_line = rows_per_column * tables.width * x.itemsize
        for batch, span in _work_units(n, group, per_line, budget, split_items=zeros_mode):
            items, lines = batch.stop - batch.start, span.stop - span.start
            columns = items * lines * tables.width
            patches = np.empty((groups, per_group_in * len(tables.windows), columns), dtype=x.dtype)
            if tables.source is not None:
                over_rows(
                    _gather_mapped, c_in, patches.size, x_flat, tables.source, patches, per_group_in, batch.start, items,
                    span.start * tables.width,
                )
            else:
                over_rows(
                    _gather, c_in, patches.size, x_flat, x.shape[-1], tables.line_src, tables.last_offset, patches,
                    per_group_in, batch.start, items, span.start, lines,
                )
            result = np.matmul(w_group, patches)  # (G, Qg*Co, columns)
            del patches
            over_rows(
                _write, items * plan.out_channels, result.size, result, tables.out_line, tables.low, tables.high,
                tables.start, tables.step, fill, out_lines, per_group_out, batch.start, items, span.start, lines,
            )
            if not zeros_mode:  # the border blocks, added once every phase has written its cells
                grid = result.reshape((groups, len(group.members), per_group_out, items) + group.counts)
                for k, phase_index in enumerate(group.members):
                    write_phase(out, layout.blocks[phase_index], batch, grid[:, k], bias_cells, border, inside=False)
            del result
    add_border(out, border)
    return out

