"""The phase decomposition of a transposed convolution (integers only): which taps reach which outputs.

Along one axis, output position ``o`` receives tap ``t`` of input element ``i`` when
``i * stride + t * dilation == o + crop_start``. Split the outputs by
``q = (o + crop_start) mod stride`` (the *phase*): only taps with ``t * dilation ≡ q (mod stride)``
reach phase ``q``, and for those, ``i = m + offset(t)`` where ``m`` counts the phase's outputs. In
N-d the phases are the products of the per-axis phases. Used by the ``phase`` path
(:mod:`convtranspose.engine.phase`) and its depthwise kernels (:mod:`convtranspose.engine.depthwise`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np

from ..padding import fold_pieces
from ..shape import AxisGeometry, uncropped

__all__ = [
    "AxisPhase", "axis_phases", "OutputPhase", "PhasePlan", "phase_plan", "PhaseGroup", "phase_groups", "live_windows",
    "PhaseBlock", "PhaseLayout", "phase_layout",
]




@dataclass(frozen=True)
class AxisPhase:
    """One phase of one axis: outputs ``start, start + stride, ...`` (``count`` of them).

    ``taps[j]`` reaches output ``m`` of this phase from input ``m + offsets[j]``.
    """

    start: int
    count: int
    taps: tuple[int, ...]
    offsets: tuple[int, ...]


def axis_phases(geo: AxisGeometry) -> tuple[AxisPhase, ...]:
    """The non-empty phases of one axis."""
    s, p, d = geo.stride, geo.crop_start, geo.dilation
    phases = []
    # Output position o belongs to phase (o + p) % s, so the first min(s, output) positions start
    # every non-empty phase (a stride far beyond the output leaves most phases empty).
    for q in sorted((start + p) % s for start in range(min(s, geo.output))):
        start = (q - p) % s
        count = -(-(geo.output - start) // s)
        base = (start + p - q) // s
        taps = tuple(t for t in range(geo.kernel_size) if (t * d) % s == q)
        offsets = tuple(base - (t * d - q) // s for t in taps)
        phases.append(AxisPhase(start=start, count=count, taps=taps, offsets=offsets))
    return tuple(phases)


@dataclass(frozen=True)
class OutputPhase:
    """One N-d phase: the output view it fills and the taps (flat indices) that reach it."""

    out_slices: tuple[slice, ...]
    counts: tuple[int, ...]
    flat_taps: tuple[int, ...]
    windows: tuple[tuple[slice, ...], ...]  # per tap: slices into the padded input


@dataclass(frozen=True)
class PhasePlan:
    phases: tuple[OutputPhase, ...]
    margin_before: tuple[int, ...]
    margin_after: tuple[int, ...]


@lru_cache(maxsize=1024)
def phase_plan(geo: tuple[AxisGeometry, ...]) -> PhasePlan:
    """Phase plan for all axes, with the input padding that keeps every window in range (cached)."""
    per_axis = [axis_phases(g) for g in geo]
    margin_before: list[int] = []
    margin_after: list[int] = []
    for g, axis in zip(geo, per_axis):
        low = min((off for ph in axis for off in ph.offsets), default=0)
        high = max((off + ph.count for ph in axis for off in ph.offsets), default=0)
        margin_before.append(max(0, -low))
        margin_after.append(max(0, high - g.input_size))
    kernel = tuple(g.kernel_size for g in geo)
    strides = tuple(g.stride for g in geo)
    phases: list[OutputPhase] = []
    for combo in product(*per_axis):
        out_slices = tuple(slice(ph.start, None, s) for ph, s in zip(combo, strides))
        counts = tuple(ph.count for ph in combo)
        flat_taps, windows = [], []
        for tap_choice in product(*(range(len(ph.taps)) for ph in combo)):
            tap = tuple(ph.taps[j] for ph, j in zip(combo, tap_choice))
            flat_taps.append(int(np.ravel_multi_index(tap, kernel)))
            windows.append(
                tuple(
                    slice(before + ph.offsets[j], before + ph.offsets[j] + ph.count)
                    for ph, j, before in zip(combo, tap_choice, margin_before)
                )
            )
        phases.append(OutputPhase(tuple(out_slices), counts, tuple(flat_taps), tuple(windows)))
    return PhasePlan(tuple(phases), tuple(margin_before), tuple(margin_after))


@dataclass(frozen=True)
class PhaseGroup:
    """Phases that read the same shifted input windows, so one patch matrix serves them all.

    With ``kernel = r · stride`` (FCN's k16 s8, HiFi-GAN's k16 s8) many phases differ only in
    which taps they apply to the same windows: stacking their weights gives one GEMM with
    ``len(members) · C_out/G`` rows over one patch matrix, instead of a small GEMM and a patch
    copy per phase. ``counts`` is the largest member's extent; smaller members crop the result.
    """

    members: tuple[int, ...]  # indices into PhasePlan.phases
    counts: tuple[int, ...]
    windows: tuple[tuple[slice, ...], ...]  # per window: slices into the padded input


@lru_cache(maxsize=1024)
def phase_groups(geo: tuple[AxisGeometry, ...]) -> tuple[PhaseGroup, ...]:
    """The non-empty phases of ``phase_plan(geo)``, grouped by the input windows they read (cached)."""
    plan = phase_plan(geo)
    by_windows: dict[tuple, list[int]] = {}
    for index, phase in enumerate(plan.phases):
        if phase.flat_taps:
            starts = tuple(tuple(s.start for s in window) for window in phase.windows)
            by_windows.setdefault(starts, []).append(index)
    groups = []
    for starts, members in by_windows.items():
        ndim = len(plan.margin_before)
        counts = tuple(max(plan.phases[i].counts[axis] for i in members) for axis in range(ndim))
        windows = tuple(tuple(slice(b, b + c) for b, c in zip(window, counts)) for window in starts)
        groups.append(PhaseGroup(tuple(members), counts, windows))
    return tuple(groups)


def live_windows(geo: tuple[AxisGeometry, ...], group: PhaseGroup) -> tuple[int, ...]:
    """Indices of the windows of ``group`` (a group of ``phase_groups(geo)``) that overlap the input.

    A window entirely in the padding reads only zeros: its taps never reach this group's outputs
    (a 5x5x5 kernel over a 2x2x2 input with padding 2 reaches the output with 27 of its 125 taps),
    so a kernel can skip its products and its patch rows.
    """
    margin = phase_plan(geo).margin_before
    return tuple(
        j
        for j, window in enumerate(group.windows)
        if all(w.start - before < g.input_size and w.stop - before > 0 for w, before, g in zip(window, margin, geo))
    )


@dataclass(frozen=True)
class PhaseBlock:
    """Part of a phase's grid and the output cells it lands on.

    ``source`` slices the phase's ``counts`` grid, ``target`` the output's spatial axes (one cell
    per grid cell, in order; along the axes in ``reduce`` one cell for the whole slice). Blocks
    with ``inside`` lie in the output window: together they write every output cell exactly once.
    The others lie in a padding mode's border and are added onto the cells they fold to.
    """

    source: tuple[slice, ...]
    target: tuple[slice, ...]
    reduce: tuple[int, ...]
    inside: bool


@dataclass(frozen=True)
class PhaseLayout:
    """The phase decomposition a kernel computes, and where each phase's values go.

    With ``'zeros'`` it is the call's own geometry, and each phase is one block, its strided view
    of the output. With a padding mode it is the uncropped canvas (:func:`~convtranspose.shape.uncropped`,
    so the border cells are computed like any other), and each phase is cut into blocks by
    :func:`convtranspose.padding.fold_pieces`: the part in the window, and the border parts with the
    cells they fold onto. Gradients read ``grad_output`` through the same blocks (the mode's padding).
    """

    geometry: tuple[AxisGeometry, ...]
    blocks: tuple[tuple[PhaseBlock, ...], ...]  # per phase of phase_plan(geometry)


@lru_cache(maxsize=1024)
def phase_layout(geo: tuple[AxisGeometry, ...], fold_mode: str = "zeros") -> PhaseLayout:
    """The :class:`PhaseLayout` of a call's geometry and :attr:`~convtranspose.plan.Plan.fold_mode` (cached)."""
    if fold_mode == "zeros":
        phases = phase_plan(geo).phases
        whole = tuple(
            (PhaseBlock(tuple(slice(0, c) for c in ph.counts), ph.out_slices, (), True),) for ph in phases
        )
        return PhaseLayout(geo, whole)
    canvas = tuple(uncropped(g) for g in geo)
    blocks = []
    for phase in phase_plan(canvas).phases:
        per_axis = [
            fold_pieces(sl.start - g.crop_start, g.stride, count, g.output, fold_mode)
            for sl, count, g in zip(phase.out_slices, phase.counts, geo)
        ]
        blocks.append(
            tuple(
                PhaseBlock(
                    tuple(p.source for p in pieces),
                    tuple(p.target for p in pieces),
                    tuple(axis for axis, p in enumerate(pieces) if p.reduce),
                    all(p.inside for p in pieces),
                )
                for pieces in product(*per_axis)
            )
        )
    return PhaseLayout(canvas, tuple(blocks))


def phase_gradient(
    grouped: np.ndarray, blocks: tuple[PhaseBlock, ...], batch: slice, counts: tuple[int, ...]
) -> np.ndarray:
    """One phase's grid of the output gradient ``grouped`` ``(N, G, Co, *S_out)`` for a batch chunk,
    as a new ``(G, Co, n, *counts)`` array.

    The transpose of writing the phase's blocks: each block reads the output cells it was added
    onto, so a padding mode's border reads the cells it folds to (the mode's padding).
    """
    n = batch.stop - batch.start
    grid = np.empty(grouped.shape[1:3] + (n,) + counts, dtype=grouped.dtype)
    for block in blocks:
        values = grouped[(batch, slice(None), slice(None)) + block.target]
        np.copyto(grid[(slice(None), slice(None), slice(None)) + block.source], np.moveaxis(values, 0, 2))
    return grid
