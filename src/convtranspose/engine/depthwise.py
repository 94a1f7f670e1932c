"""Depthwise kernels of the phase path: one input channel per group, so no channel sums, no GEMM.

With ``C_in / groups == 1`` each output channel ``(g, c)`` is its input channel ``g`` transposed-
convolved with one kernel. There is nothing to multiply as a matrix; a GEMM per group would be a
``(C_out/G × 1) @ (1 × N·P)`` outer product, which BLAS runs slowly. Instead this kernel (the
``phase`` path's depthwise variant in the registry) uses the phase plan of
:mod:`convtranspose.engine.phase_plan` and, for every phase and tap, one broadcast multiply-add over all channels at
once::

    out[phase q][n, g, c, m] += x_padded[n, g, m + offset(t)] · w[g, c, t]      (t in phase q)

Each output value is written by its phase only, so there is no scatter buffer at all.

Gradients are the same loops transposed: the input gradient adds ``grad_y[phase q] · w[t]``
(summed over ``c``) back onto the shifted input window, and the weight gradient sums
``x_window · grad_y[phase q]`` over batch and positions (see :mod:`convtranspose.engine.gemm` for
the rules).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..plan import Plan
from . import threads
from ._common import Grads, Needs, bias_grad, buffer_if
from .phase_plan import OutputPhase, PhasePlan, phase_gradient, phase_layout, phase_plan

__all__ = ["EXACT", "forward", "backward"]

#: Multiplies the zero padding of its input windows (inf · 0 = NaN).
EXACT = False


def _padded_input(x: np.ndarray, plan: PhasePlan) -> np.ndarray:
    """``(N, G, *S)`` zero-padded so that every phase window is in range."""
    spatial = x.shape[2:]
    padded = tuple(s + b + a for s, b, a in zip(spatial, plan.margin_before, plan.margin_after))
    out = np.zeros(x.shape[:2] + padded, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(b, b + s) for b, s in zip(plan.margin_before, spatial))] = x
    return out


def _window(x_pad: np.ndarray, phase: OutputPhase, j: int, chans: slice) -> np.ndarray:
    """Tap ``j``'s shifted input window of ``phase`` as ``(N, g, 1, *M)``."""
    return x_pad[(slice(None), chans) + phase.windows[j]][:, :, np.newaxis]


def _tap_weight(weight: np.ndarray, flat_tap: int, chans: slice, ndim: int) -> np.ndarray:
    """``w[g, c, tap]`` shaped ``(1, g, C, 1, ...)`` to broadcast over batch and positions."""
    per_tap = weight.reshape(weight.shape[0], weight.shape[1], -1)[chans, :, flat_tap]
    return per_tap.reshape((1,) + per_tap.shape + (1,) * ndim)


def forward(call: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Depthwise transposed convolution, one broadcast multiply-add per (phase, tap)."""
    n, groups = x.shape[:2]
    per_group_out = call.per_group_out
    ndim = call.ndim
    layout = phase_layout(call.geometry, call.fold_mode)
    plan = phase_plan(layout.geometry)
    out = np.empty(call.output_shape, dtype=x.dtype)
    grouped = out.reshape((n, groups, per_group_out) + out.shape[2:])
    x_pad = _padded_input(x, plan)
    fill = np.zeros((1, groups, per_group_out) + (1,) * ndim, dtype=x.dtype)
    if bias is not None:
        fill[...] = bias.reshape(fill.shape)

    def run_channels(chans: slice) -> None:
        border = []  # a padding mode's border blocks, added once every phase is written
        for phase, blocks in zip(plan.phases, layout.blocks):
            if not phase.flat_taps:
                for block in blocks:
                    if block.inside:
                        grouped[(slice(None), chans, slice(None)) + block.target] = fill[:, chans]
                continue
            # Sum the phase's taps in a contiguous buffer, then write the strided view once.
            total = np.multiply(_window(x_pad, phase, 0, chans), _tap_weight(weight, phase.flat_taps[0], chans, ndim))
            scratch = np.empty_like(total)
            for j, flat_tap in enumerate(phase.flat_taps[1:], start=1):
                np.multiply(_window(x_pad, phase, j, chans), _tap_weight(weight, flat_tap, chans, ndim), out=scratch)
                total += scratch
            for block in blocks:
                source = total[(slice(None), slice(None), slice(None)) + block.source]
                if block.inside:
                    np.add(source, fill[:, chans], out=grouped[(slice(None), chans, slice(None)) + block.target])
                elif block.reduce:
                    border.append((block.target, source.sum(axis=tuple(3 + a for a in block.reduce), keepdims=True)))
                else:
                    border.append((block.target, source.copy()))
        for target, values in border:
            grouped[(slice(None), chans, slice(None)) + target] += values

    threads.run(run_channels, threads.split(groups, out.size))
    return out


def backward(call: Plan, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, needs: Needs) -> Grads:
    """Gradients of :func:`forward`, phase by phase and tap by tap."""
    need_input, need_weight, need_bias = needs
    layout = phase_layout(call.geometry, call.fold_mode)
    plan = phase_plan(layout.geometry)
    n, groups = x.shape[:2]
    per_group_out = weight.shape[1]
    ndim = x.ndim - 2
    taps = weight[0, 0].size
    grouped_gy = grad_output.reshape((n, groups, per_group_out) + grad_output.shape[2:])
    x_pad = _padded_input(x, plan) if need_weight else buffer_if(False, x.shape, x.dtype)
    padded = tuple(s + b + a for s, b, a in zip(x.shape[2:], plan.margin_before, plan.margin_after))
    grad_x_pad = buffer_if(need_input, (n, groups) + padded, x.dtype, fill=True)
    grad_w = buffer_if(need_weight, (groups, per_group_out, taps), x.dtype, fill=True)
    spatial = "abdefhijklmopqrstuvwxyz"[:ndim]  # einsum letters for the positions (not n, g, c)

    def run_channels(chans: slice) -> None:
        for phase, blocks in zip(plan.phases, layout.blocks):
            if not phase.flat_taps:
                continue
            if len(blocks) == 1:  # no border: the phase's view of grad_y
                gy = grouped_gy[(slice(None), chans, slice(None)) + blocks[0].target]
            else:
                gy = np.moveaxis(phase_gradient(grouped_gy[:, chans], blocks, slice(0, n), phase.counts), 2, 0)
            for j, flat_tap in enumerate(phase.flat_taps):
                if need_input:
                    products = gy * _tap_weight(weight, flat_tap, chans, ndim)
                    contribution = products[:, :, 0] if per_group_out == 1 else products.sum(axis=2)
                    grad_x_pad[(slice(None), chans) + phase.windows[j]] += contribution
                if need_weight:
                    window = _window(x_pad, phase, j, chans)[:, :, 0]  # (N, g, *M)
                    grad_w[chans, :, flat_tap] = np.einsum(f"ng{spatial},ngc{spatial}->gc", window, gy)

    if need_input or need_weight:
        threads.run(run_channels, threads.split(groups, grad_output.size))
    grad_x = None
    if need_input:
        inner = tuple(slice(b, b + s) for b, s in zip(plan.margin_before, x.shape[2:]))
        grad_x = np.ascontiguousarray(grad_x_pad[(Ellipsis,) + inner])
    grad_b = bias_grad(grad_output) if need_bias else None
    return grad_x, (grad_w.reshape(weight.shape) if need_weight else None), grad_b
