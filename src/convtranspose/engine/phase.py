"""The phase (sub-pixel) engine: each output phase is written once by a GEMM, no scatter.

Along one axis, output position ``o`` receives tap ``t`` of input element ``i`` when
``i * stride + t * dilation == o + crop_start``. Split the outputs by
``q = (o + crop_start) mod stride`` (the *phase*; :mod:`convtranspose.engine.phase_plan`): only taps with ``t * dilation ≡ q (mod stride)`` reach phase ``q``, and for those,
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
:mod:`convtranspose.engine.depthwise` (this path's depthwise variant in the registry) replaces the
per-phase GEMM by broadcast multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import prod
from typing import Optional, Sequence

import numpy as np

from ..plan import Plan
from . import cost, threads
from ._common import Grads, Needs, batch_chunks, buffer_if, bias_grad, buffer_budget
from .phase_plan import (
    OutputPhase, PhaseBlock, PhaseGroup, PhaseLayout, PhasePlan, phase_gradient, phase_groups, phase_layout, phase_plan,
)

__all__ = ["EXACT", "applies", "estimate", "forward", "backward", "MAX_PHASES"]

#: Multiplies the zero padding of its input windows (inf · 0 = NaN).
EXACT = False

#: Beyond this many output phases the cost model does not choose this path (a GEMM per phase
#: group would be tiny, and the plan itself would take long to build for huge strides).
MAX_PHASES = 4096


def applies(plan: Plan) -> Optional[str]:
    """Every call."""
    return None


#: The backward formula is optimistic: measured at 2 threads (interleaved, best of 3 rounds)
#: against ``gemm_jit``'s backward on the 21 layers of two sweeps (seeds 3800544287 and
#: 1334851183) routed to this path, the measured ratio was 0.64-5.0x the estimated one, median
#: 2.0 (sweep.031: estimated 0.81x, measured 4.1x; sweep.030: 0.94x, 2.1x). Scaling by the
#: median sends those two, and the 3-d stride-1 and long 1-d layers, to ``gemm_jit``; it keeps
#: this path where it measured 0.41-0.64x (sweep.013, .021, .026 and .042) but gives up sweep.008
#: of the second sweep (0.41x, estimated 0.65x).
BACKWARD_SCALE = 2.0


def estimate(plan: Plan, direction: str) -> float:
    """Each output value written once, but patches cover the *output* phase grid: when the input
    is small next to the kernel it multiplies zeros of the padding; runs are a phase's last
    dimension. Forward: one GEMM per group of phases sharing their windows; backward: two GEMMs
    per phase. Depthwise calls: broadcast multiply-adds, no GEMM."""
    geo = plan.geometry
    if prod(min(g.stride, g.output) for g in geo) > MAX_PHASES:  # not worth building the plan
        return float("inf")
    n = cost.sizes(plan)
    phases = phase_plan(geo)
    batch, c_in, per_group_out = plan.batch, plan.in_channels, plan.per_group_out
    run = max(1, geo[-1].output // geo[-1].stride)
    backward = direction == "backward"
    if plan.depthwise:  # broadcast multiply-adds, no patches, no GEMM
        grid = sum(len(ph.flat_taps) * prod(ph.counts) for ph in phases.phases)
        accesses = 3 * batch * c_in * grid * per_group_out + 2 * n.out_elems + 2 * n.in_elems
        calls = sum(len(ph.flat_taps) + 6 for ph in phases.phases)
        return cost.seconds(
            plan, flops=0, accesses=2 * accesses if backward else accesses, run=run, calls=calls, inner=1, rows=1
        )
    if backward:  # one patch matrix and two GEMMs per phase
        live = [ph for ph in phases.phases if ph.flat_taps]
        patches = sum(batch * c_in * len(ph.flat_taps) * prod(ph.counts) for ph in live)
        return BACKWARD_SCALE * cost.seconds(
            plan,
            flops=2 * 2 * per_group_out * patches,
            accesses=2 * patches + 3 * n.out_elems + 4 * n.in_elems + 2 * n.weight_elems,
            run=run,
            calls=sum(len(ph.flat_taps) + 8 for ph in live),
            inner=plan.per_group_in * max((len(ph.flat_taps) for ph in live), default=1),
            rows=per_group_out,
        )
    shared = phase_groups(geo)
    per_group = [batch * c_in * len(g.windows) * prod(g.counts) for g in shared]
    patches = sum(per_group)
    return cost.seconds(
        plan,
        flops=2 * per_group_out * sum(len(g.members) * p for g, p in zip(shared, per_group)),
        accesses=2 * patches + 3 * n.out_elems + 2 * n.in_elems + 2 * n.weight_elems,
        run=run,
        calls=sum(len(g.windows) + 4 + 2 * len(g.members) for g in shared),
        inner=plan.per_group_in * max((len(g.windows) for g in shared), default=1),
        rows=per_group_out * max((len(g.members) for g in shared), default=1),
    )


#: A padding mode's border values held back until every output cell is written: ``(batch, target, values)``.
Border = list[tuple[slice, tuple[slice, ...], np.ndarray]]


# --------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------


def _padded_grouped_input(x: np.ndarray, groups: int, plan: PhasePlan) -> np.ndarray:
    """``(N, G*Ci, *S)`` -> zero-padded ``(G, Ci, N, *S_padded)`` (one copy of the input)."""
    n, c_in = x.shape[:2]
    spatial = x.shape[2:]
    padded = tuple(s + b + a for s, b, a in zip(spatial, plan.margin_before, plan.margin_after))
    out = np.zeros((groups, c_in // groups, n) + padded, dtype=x.dtype)
    inner = tuple(slice(b, b + s) for b, s in zip(plan.margin_before, spatial))
    out[(Ellipsis,) + inner] = np.moveaxis(x.reshape((n, groups, c_in // groups) + spatial), 0, 2)
    return out


def _gather_patches(x_pad: np.ndarray, phase: OutputPhase | PhaseGroup, batch: slice, buffer: np.ndarray) -> np.ndarray:
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


def grouped_weight_taps(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(G*Ci, Co, *K)`` -> ``(G, Ci, KK, Co)``, so a phase's taps are one fancy index."""
    c_in, per_group_out = weight.shape[:2]
    grouped = weight.reshape(groups, c_in // groups, per_group_out, -1)
    return np.ascontiguousarray(grouped.transpose(0, 1, 3, 2))


def group_weight(
    w_taps: np.ndarray, plan: PhasePlan, group: PhaseGroup, windows: Optional[Sequence[int]] = None
) -> np.ndarray:
    """The ``(G, Qg*Co, Ci*T)`` weight matrix of a phase group, from ``w_taps`` ``(G, Ci, KK, Co)``,
    for its ``windows`` (default: all).

    Rows are ordered (member phase, output channel), columns (input channel, window); it is
    gathered as ``(G, Ci, T, Qg, Co)`` so that the copy moves whole channel runs, and returned as
    a transposed view (BLAS takes it as is).
    """
    groups, per_group_out = w_taps.shape[0], w_taps.shape[3]
    chosen = range(len(group.windows)) if windows is None else windows
    tap_index = [[plan.phases[i].flat_taps[j] for i in group.members] for j in chosen]
    w_group = w_taps[:, :, tap_index, :].reshape(groups, -1, len(group.members) * per_group_out)
    return w_group.transpose(0, 2, 1)


def _max_patch_elements(plan: PhasePlan, c_in: int, n_chunk: int) -> int:
    return max(c_in * len(ph.flat_taps) * prod(ph.counts) for ph in plan.phases) * n_chunk


def _per_item_patch_bytes(plan: PhasePlan, c_in: int, itemsize: int) -> int:
    return max(c_in * len(ph.flat_taps) * prod(ph.counts) for ph in plan.phases) * itemsize


def _per_item_group_elements(groups: tuple[PhaseGroup, ...], c_in: int, c_out: int) -> int:
    """Patches plus GEMM result of the largest phase group, per batch item."""
    return max((c_in * len(g.windows) + c_out * len(g.members)) * prod(g.counts) for g in groups)


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------


def forward(call: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Transposed convolution of a batched, validated input, one GEMM per group of output phases."""
    n, c_in = x.shape[:2]
    groups = call.groups
    per_group_out = call.per_group_out
    layout = phase_layout(call.geometry, call.fold_mode)
    geo = layout.geometry
    plan = phase_plan(geo)
    out = np.empty(call.output_shape, dtype=x.dtype)
    fill = (np.zeros(groups * per_group_out, dtype=x.dtype) if bias is None else bias).reshape(
        (1, groups, per_group_out) + (1,) * len(geo)
    )
    fill_tapless_phases(out, layout, fill)

    shared = phase_groups(geo)
    if not shared:
        return out
    x_pad = _padded_grouped_input(x, groups, plan)
    w_taps = grouped_weight_taps(weight, groups)  # (G, Ci, KK, Co)
    per_item = _per_item_group_elements(shared, c_in, groups * per_group_out)
    chunks = batch_chunks(n, per_item * x.itemsize, buffer_budget(out.nbytes))
    chunk_items = chunks[0].stop - chunks[0].start
    buffer = np.empty(max(c_in * len(g.windows) * prod(g.counts) for g in shared) * chunk_items, dtype=x.dtype)

    border: Border = []
    for group in shared:
        # (G, Qg*Co, Ci*T): rows ordered (member phase, output channel), columns (channel, window);
        # gathered as (G, Ci, T, Qg, Co) so that the copy moves whole channel runs, then used
        # through a transposed view (BLAS takes it as is).
        w_group = group_weight(w_taps, plan, group)
        for batch in chunks:
            patches = _gather_patches(x_pad, group, batch, buffer)
            result = np.matmul(w_group, patches)  # (G, Qg*Co, n*M)
            result = result.reshape((groups, len(group.members), per_group_out, batch.stop - batch.start) + group.counts)
            for k, index in enumerate(group.members):
                write_phase(out, layout.blocks[index], batch, result[:, k], fill, border)
            del result  # free this chunk's product before the next one
    add_border(out, border)
    return out


def fill_tapless_phases(out: np.ndarray, layout: PhaseLayout, fill: np.ndarray) -> None:
    """Write the bias (``fill``, ``(1, G, Co, 1, ...)``) into the output cells of the phases no
    tap reaches (a stride larger than the dilated kernel's span leaves such gaps)."""
    spatial = out.ndim - 2
    for phase, blocks in zip(phase_plan(layout.geometry).phases, layout.blocks):
        if not phase.flat_taps:
            for block in blocks:
                if block.inside:
                    out[(slice(None), slice(None)) + block.target] = fill.reshape((1, -1) + (1,) * spatial)


def add_border(out: np.ndarray, border: Border) -> None:
    """Add a padding mode's held-back border values (see :func:`write_phase`), once every cell is written."""
    for batch, target, values in border:
        out[(batch, slice(None)) + target] += values


def write_phase(
    out: np.ndarray, blocks: tuple[PhaseBlock, ...], batch: slice, result: np.ndarray, fill: np.ndarray,
    border: Border, inside: bool = True,
) -> None:
    """``out[phase] = result + bias`` for one phase and batch chunk; ``result`` is ``(G, Co, n, *M)``.

    A phase's blocks in a padding mode's border (see :class:`~convtranspose.engine.phase_plan.PhaseLayout`)
    are appended to ``border`` as ``(batch, target, values)``, to be added once every phase has
    written its cells (:func:`add_border`). With ``inside=False`` only those are collected (the
    caller writes the block in the window itself).
    """
    groups, per_group_out, n = result.shape[:3]
    for block in blocks:
        if block.inside and not inside:
            continue
        source = np.moveaxis(result[(slice(None), slice(None), slice(None)) + block.source], 2, 0)
        if not block.inside:
            if block.reduce:
                values = source.sum(axis=tuple(3 + axis for axis in block.reduce), keepdims=True)
            else:
                values = source.copy()
            border.append((batch, block.target, values.reshape((n, groups * per_group_out) + values.shape[3:])))
            continue
        target = out[(batch, slice(None)) + block.target]
        target = target.reshape((n, groups, per_group_out) + target.shape[2:])

        def add(chans: slice, source: np.ndarray = source, target: np.ndarray = target) -> None:
            np.add(source[:, :, chans], fill[:, :, chans], out=target[:, :, chans])

        threads.run(add, threads.split(per_group_out, target.size))


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


def backward(call: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """All requested gradients, phase by phase (the transposes of :func:`forward`'s steps)."""
    need_input, need_weight, need_bias = needs
    n, c_in = x.shape[:2]
    groups = call.groups
    per_group_in = c_in // groups
    per_group_out = call.per_group_out
    layout = phase_layout(call.geometry, call.fold_mode)
    plan = phase_plan(layout.geometry)

    w_taps = grouped_weight_taps(weight, groups)  # (G, Ci, KK, Co)
    padded = tuple(s + b + a for s, b, a in zip(x.shape[2:], plan.margin_before, plan.margin_after))
    x_pad = _padded_grouped_input(x, groups, plan) if need_weight else buffer_if(False, (1,) * (x.ndim + 1), x.dtype)
    grad_x_pad = buffer_if(need_input, (groups, per_group_in, n) + padded, x.dtype, fill=True)
    grad_w_taps = buffer_if(need_weight, w_taps.shape, x.dtype, fill=True)

    chunks = batch_chunks(n, _per_item_patch_bytes(plan, c_in, x.itemsize), buffer_budget(grad_output.nbytes))
    buffer = np.empty(_max_patch_elements(plan, c_in, chunks[0].stop - chunks[0].start), dtype=x.dtype)

    grouped_gy = grad_output.reshape((n, groups, per_group_out) + grad_output.shape[2:])
    for phase, blocks in zip(plan.phases, layout.blocks):
        if not phase.flat_taps:
            continue
        taps = list(phase.flat_taps)
        w_phase = w_taps[:, :, taps, :].reshape(groups, -1, per_group_out)  # (G, Ci*T, Co)
        for batch in chunks:
            rows = batch.stop - batch.start
            gy = phase_gradient(grouped_gy, blocks, batch, phase.counts).reshape(groups, per_group_out, -1)  # (G, Co, n*M)
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
        inner = tuple(slice(b, b + s) for b, s in zip(plan.margin_before, x.shape[2:]))
        grad_x = np.moveaxis(grad_x_pad[(Ellipsis,) + inner], 2, 0)
        grad_x = np.ascontiguousarray(grad_x).reshape(x.shape)
    if need_weight:
        grad_w = np.ascontiguousarray(grad_w_taps.transpose(0, 1, 3, 2)).reshape(weight.shape)
    if need_bias:
        grad_b = bias_grad(grad_output)
    return grad_x, grad_w, grad_b
