"""The phase (sub-pixel) engine: each output phase is written once by a GEMM, no scatter.

Along one axis, output position ``o`` receives tap ``t`` of input element ``i`` when
``i * stride + t * dilation == o + padding``. Split the outputs by ``q = (o + padding) mod stride``
(the *phase*): only taps with ``t * dilation ≡ q (mod stride)`` reach phase ``q``, and for those,
``i = m + offset(t)`` where ``m`` counts the phase's outputs. So every phase is an ordinary
(stride-1) correlation of the input with a sub-kernel of the taps that belong to it::

    out[phase q][m] = sum over taps t of phase q:  W[t]^T · x[m + offset(t)]

In N-d the phases are the products of the per-axis phases (``prod(stride)`` of them). Each phase
gathers its shifted input windows into a ``(C_in/G · T, N · M)`` patch matrix and multiplies once
by the phase's ``(C_out/G, C_in/G · T)`` weight matrix; its result fills the strided output view
``out[..., start::stride]`` exactly once. Phases that read the same windows (kernels that are a
multiple of the stride) share one patch matrix and one GEMM (:class:`PhaseGroup`). The patches total ``C_in · prod(kernel) · N · prod(S_in)``
elements across phases, and the batch is processed in chunks so that the working buffers stay
bounded (see :func:`convtranspose.engine._common.buffer_budget`).

Gradients (the transposes, see :mod:`convtranspose.engine.gemm` for the rules):

* ``grad_input``: per phase, ``W_q · grad_y[phase q]`` gives patch gradients that are added back
  onto the (padded) input at the same shifted windows -- the transpose of the gather.
* ``grad_weight``: per phase, ``patches_q · grad_y[phase q]^T``, the same patches as the forward.

With one input channel per group (depthwise layers) there is nothing to sum over channels, and
:mod:`convtranspose.engine.depthwise` replaces the per-phase GEMM by broadcast multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from math import prod
from typing import Optional

import numpy as np

from ..shape import AxisGeometry, geometries
from ..spec import ConvTransposeSpec
from . import depthwise, gemm, threads
from ._common import all_finite, batch_chunks, bias_grad, buffer_budget

__all__ = ["forward", "backward"]


# --------------------------------------------------------------------------------------------
# Phase plan (integers only)
# --------------------------------------------------------------------------------------------


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
    s, p, d = geo.stride, geo.padding, geo.dilation
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
class Phase:
    """One N-d phase: the output view it fills and the taps (flat indices) that reach it."""

    out_slices: tuple[slice, ...]
    counts: tuple[int, ...]
    flat_taps: tuple[int, ...]
    windows: tuple[tuple[slice, ...], ...]  # per tap: slices into the padded input


@dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    pad_before: tuple[int, ...]
    pad_after: tuple[int, ...]


@lru_cache(maxsize=1024)
def make_plan(geo: tuple[AxisGeometry, ...]) -> Plan:
    """Phase plan for all axes, with the input padding that keeps every window in range (cached)."""
    per_axis = [axis_phases(g) for g in geo]
    pad_before, pad_after = [], []
    for g, phases in zip(geo, per_axis):
        low = min((off for ph in phases for off in ph.offsets), default=0)
        high = max((off + ph.count for ph in phases for off in ph.offsets), default=0)
        pad_before.append(max(0, -low))
        pad_after.append(max(0, high - g.input_size))
    kernel = tuple(g.kernel_size for g in geo)
    strides = tuple(g.stride for g in geo)
    phases = []
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
                    for ph, j, before in zip(combo, tap_choice, pad_before)
                )
            )
        phases.append(Phase(tuple(out_slices), counts, tuple(flat_taps), tuple(windows)))
    return Plan(tuple(phases), tuple(pad_before), tuple(pad_after))


@dataclass(frozen=True)
class PhaseGroup:
    """Phases that read the same shifted input windows, so one patch matrix serves them all.

    With ``kernel = r · stride`` (FCN's k16 s8, HiFi-GAN's k16 s8) many phases differ only in
    which taps they apply to the same windows: stacking their weights gives one GEMM with
    ``len(members) · C_out/G`` rows over one patch matrix, instead of a small GEMM and a patch
    copy per phase. ``counts`` is the largest member's extent; smaller members crop the result.
    """

    members: tuple[int, ...]  # indices into Plan.phases
    counts: tuple[int, ...]
    windows: tuple[tuple[slice, ...], ...]  # per window: slices into the padded input


@lru_cache(maxsize=1024)
def phase_groups(geo: tuple[AxisGeometry, ...]) -> tuple[PhaseGroup, ...]:
    """The non-empty phases of ``make_plan(geo)``, grouped by the input windows they read (cached)."""
    plan = make_plan(geo)
    by_windows: dict[tuple, list[int]] = {}
    for index, phase in enumerate(plan.phases):
        if phase.flat_taps:
            starts = tuple(tuple(s.start for s in window) for window in phase.windows)
            by_windows.setdefault(starts, []).append(index)
    groups = []
    for starts, members in by_windows.items():
        ndim = len(plan.pad_before)
        counts = tuple(max(plan.phases[i].counts[axis] for i in members) for axis in range(ndim))
        windows = tuple(tuple(slice(b, b + c) for b, c in zip(window, counts)) for window in starts)
        groups.append(PhaseGroup(tuple(members), counts, windows))
    return tuple(groups)


# --------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------


def _padded_grouped_input(x: np.ndarray, groups: int, plan: Plan) -> np.ndarray:
    """``(N, G*Ci, *S)`` -> zero-padded ``(G, Ci, N, *S_padded)`` (one copy of the input)."""
    n, c_in = x.shape[:2]
    spatial = x.shape[2:]
    padded = tuple(s + b + a for s, b, a in zip(spatial, plan.pad_before, plan.pad_after))
    out = np.zeros((groups, c_in // groups, n) + padded, dtype=x.dtype)
    inner = tuple(slice(b, b + s) for b, s in zip(plan.pad_before, spatial))
    out[(Ellipsis,) + inner] = np.moveaxis(x.reshape((n, groups, c_in // groups) + spatial), 0, 2)
    return out


def _gather_patches(x_pad: np.ndarray, phase, batch: slice, buffer: np.ndarray) -> np.ndarray:
    """Patches ``(G, Ci*T, n*M)`` of one phase (or phase group) for a batch chunk, in ``buffer``."""
    groups, per_group = x_pad.shape[:2]
    n = batch.stop - batch.start
    taps = len(phase.windows)
    patches = buffer[: groups * per_group * taps * n * prod(phase.counts)]
    patches = patches.reshape((groups, per_group, taps, n) + phase.counts)

    def copy(chans: slice) -> None:
        for j, window in enumerate(phase.windows):
            patches[:, chans, j] = x_pad[(slice(None), chans, batch) + window]

    threads.run(copy, threads.split(per_group, patches.size))
    return patches.reshape(groups, per_group * taps, n * prod(phase.counts))


def _grouped_weight_taps(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(G*Ci, Co, *K)`` -> ``(G, Ci, KK, Co)``, so a phase's taps are one fancy index."""
    c_in, per_group_out = weight.shape[:2]
    grouped = weight.reshape(groups, c_in // groups, per_group_out, -1)
    return np.ascontiguousarray(grouped.transpose(0, 1, 3, 2))


def _max_patch_elements(plan: Plan, c_in: int, n_chunk: int) -> int:
    return max(c_in * len(ph.flat_taps) * prod(ph.counts) for ph in plan.phases) * n_chunk


def _per_item_patch_bytes(plan: Plan, c_in: int, itemsize: int) -> int:
    return max(c_in * len(ph.flat_taps) * prod(ph.counts) for ph in plan.phases) * itemsize


def _per_item_group_elements(groups: tuple[PhaseGroup, ...], c_in: int, c_out: int) -> int:
    """Patches plus GEMM result of the largest phase group, per batch item."""
    return max((c_in * len(g.windows) + c_out * len(g.members)) * prod(g.counts) for g in groups)


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------


def forward(
    x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], spec: ConvTransposeSpec
) -> np.ndarray:
    """Transposed convolution of a batched, validated input, one GEMM per group of output phases.

    Non-finite operands go to ``gemm`` (the padded windows would multiply them by zeros; see
    ``_common.all_finite``).
    """
    if not all_finite(x, weight):
        return gemm.forward(x, weight, bias, spec)
    n, c_in = x.shape[:2]
    groups = spec.groups
    per_group_out = weight.shape[1]
    geo = geometries(x.shape[2:], weight.shape[2:], spec)
    plan = make_plan(geo)
    if depthwise.applies(c_in, spec):
        return depthwise.forward(x, weight, bias, spec, plan)
    out = np.empty((n, groups * per_group_out) + tuple(g.output for g in geo), dtype=x.dtype)
    fill = (np.zeros(groups * per_group_out, dtype=x.dtype) if bias is None else bias).reshape(
        (1, groups, per_group_out) + (1,) * len(geo)
    )
    for phase in plan.phases:  # phases no tap reaches hold the bias only
        if not phase.flat_taps:
            out[(slice(None), slice(None)) + phase.out_slices] = fill.reshape((1, -1) + (1,) * len(geo))

    shared = phase_groups(geo)
    if not shared:
        return out
    x_pad = _padded_grouped_input(x, groups, plan)
    w_taps = _grouped_weight_taps(weight, groups)  # (G, Ci, KK, Co)
    per_item = _per_item_group_elements(shared, c_in, groups * per_group_out)
    chunks = batch_chunks(n, per_item * x.itemsize, buffer_budget(out.nbytes))
    chunk_items = chunks[0].stop - chunks[0].start
    buffer = np.empty(max(c_in * len(g.windows) * prod(g.counts) for g in shared) * chunk_items, dtype=x.dtype)

    for group in shared:
        # (G, Qg*Co, Ci*T): rows ordered (member phase, output channel), columns (channel, window);
        # gathered as (G, Ci, T, Qg, Co) so that the copy moves whole channel runs, then used
        # through a transposed view (BLAS takes it as is).
        tap_index = [[plan.phases[i].flat_taps[j] for i in group.members] for j in range(len(group.windows))]
        w_group = w_taps[:, :, tap_index, :].reshape(groups, -1, len(group.members) * per_group_out)
        w_group = w_group.transpose(0, 2, 1)
        for batch in chunks:
            patches = _gather_patches(x_pad, group, batch, buffer)
            result = np.matmul(w_group, patches)  # (G, Qg*Co, n*M)
            result = result.reshape((groups, len(group.members), per_group_out, batch.stop - batch.start) + group.counts)
            for k, index in enumerate(group.members):
                _write_phase(out, plan.phases[index], batch, result[:, k], fill)
            del result  # free this chunk's product before the next one
    return out


def _write_phase(out: np.ndarray, phase: Phase, batch: slice, result: np.ndarray, fill: np.ndarray) -> None:
    """``out[phase] = result + bias`` for one phase and batch chunk; ``result`` is ``(G, Co, n, *M)``."""
    groups, per_group_out, n = result.shape[:3]
    target = out[(batch, slice(None)) + phase.out_slices]
    target = target.reshape((n, groups, per_group_out) + phase.counts)
    crop = tuple(slice(0, c) for c in phase.counts)  # a group's smaller members use part of it
    source = np.moveaxis(result[(slice(None), slice(None), slice(None)) + crop], 2, 0)

    def add(chans: slice) -> None:
        np.add(source[:, :, chans], fill[:, :, chans], out=target[:, :, chans])

    threads.run(add, threads.split(per_group_out, target.size))


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


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
    """All requested gradients, phase by phase (the transposes of :func:`forward`'s steps)."""
    if not all_finite(grad_output, x, weight):
        flags = dict(need_input=need_input, need_weight=need_weight, need_bias=need_bias)
        return gemm.backward(grad_output, x, weight, spec, **flags)
    n, c_in = x.shape[:2]
    groups = spec.groups
    per_group_in = c_in // groups
    per_group_out = weight.shape[1]
    kernel = weight.shape[2:]
    geo = geometries(x.shape[2:], kernel, spec)
    plan = make_plan(geo)
    if depthwise.applies(c_in, spec):
        flags = dict(need_input=need_input, need_weight=need_weight, need_bias=need_bias)
        return depthwise.backward(grad_output, x, weight, plan, **flags)

    w_taps = _grouped_weight_taps(weight, groups)  # (G, Ci, KK, Co)
    x_pad = _padded_grouped_input(x, groups, plan) if need_weight else None
    grad_x_pad = np.zeros_like(x_pad) if need_input and x_pad is not None else None
    if need_input and grad_x_pad is None:
        padded = tuple(s + b + a for s, b, a in zip(x.shape[2:], plan.pad_before, plan.pad_after))
        grad_x_pad = np.zeros((groups, per_group_in, n) + padded, dtype=x.dtype)
    grad_w_taps = np.zeros_like(w_taps) if need_weight else None

    chunks = batch_chunks(n, _per_item_patch_bytes(plan, c_in, x.itemsize), buffer_budget(grad_output.nbytes))
    buffer = np.empty(_max_patch_elements(plan, c_in, chunks[0].stop - chunks[0].start), dtype=x.dtype)

    for phase in plan.phases:
        if not phase.flat_taps:
            continue
        taps = list(phase.flat_taps)
        w_phase = w_taps[:, :, taps, :].reshape(groups, -1, per_group_out)  # (G, Ci*T, Co)
        gy_view = grad_output[(slice(None), slice(None)) + phase.out_slices]
        for batch in chunks:
            rows = batch.stop - batch.start
            gy = gy_view[batch].reshape((rows, groups, per_group_out) + phase.counts)
            gy = np.ascontiguousarray(np.moveaxis(gy, 0, 2)).reshape(groups, per_group_out, -1)  # (G, Co, n*M)
            if need_weight:
                patches = _gather_patches(x_pad, phase, batch, buffer)  # (G, Ci*T, n*M)
                update = np.matmul(patches, gy.transpose(0, 2, 1))  # (G, Ci*T, Co)
                grad_w_taps[:, :, taps, :] += update.reshape(groups, per_group_in, len(taps), per_group_out)
            if need_input:
                patch_grad = np.matmul(w_phase, gy)  # (G, Ci*T, n*M)
                patch_grad = patch_grad.reshape((groups, per_group_in, len(taps), rows) + phase.counts)
                for j, window in enumerate(phase.windows):
                    grad_x_pad[(slice(None), slice(None), batch) + window] += patch_grad[:, :, j]

    grad_x = grad_w = grad_b = None
    if need_input:
        inner = tuple(slice(b, b + s) for b, s in zip(plan.pad_before, x.shape[2:]))
        grad_x = np.moveaxis(grad_x_pad[(Ellipsis,) + inner], 2, 0)
        grad_x = np.ascontiguousarray(grad_x).reshape(x.shape)
    if need_weight:
        grad_w = np.ascontiguousarray(grad_w_taps.transpose(0, 1, 3, 2)).reshape(weight.shape)
    if need_bias:
        grad_b = bias_grad(grad_output)
    return grad_x, grad_w, grad_b
