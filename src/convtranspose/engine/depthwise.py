"""Depthwise kernels of the phase path: one input channel per group, so no channel sums, no GEMM.

With ``C_in / groups == 1`` each output channel ``(g, c)`` is its input channel ``g`` transposed-
convolved with one kernel. There is nothing to multiply as a matrix; a GEMM per group would be a
``(C_out/G × 1) @ (1 × N·P)`` outer product, which BLAS runs slowly. Instead this path uses the
phase plan of :mod:`convtranspose.engine.phase` (which calls these kernels when
``C_in == groups``) and, for every phase and tap, one broadcast multiply-add over all channels at
once::

    out[phase q][n, g, c, m] += x_padded[n, g, m + offset(t)] · w[g, c, t]      (t in phase q)

Each output value is written by its phase only, so there is no scatter buffer at all.

Gradients are the same loops transposed: the input gradient adds ``grad_y[phase q] · w[t]``
(summed over ``c``) back onto the shifted input window, and the weight gradient sums
``x_window · grad_y[phase q]`` over batch and positions (see :mod:`convtranspose.engine.gemm` for
the rules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from ..shape import geometries
from ..spec import ConvTransposeSpec
from . import threads
from ._common import bias_grad

if TYPE_CHECKING:
    from .phase import Phase, Plan

__all__ = ["forward", "backward", "applies"]


def applies(c_in: int, spec: ConvTransposeSpec) -> bool:
    """True when every group has exactly one input channel (``in_channels == groups``)."""
    return c_in == spec.groups


def _padded_input(x: np.ndarray, plan: Plan) -> np.ndarray:
    """``(N, G, *S)`` zero-padded so that every phase window is in range."""
    spatial = x.shape[2:]
    padded = tuple(s + b + a for s, b, a in zip(spatial, plan.pad_before, plan.pad_after))
    out = np.zeros(x.shape[:2] + padded, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(b, b + s) for b, s in zip(plan.pad_before, spatial))] = x
    return out


def _window(x_pad: np.ndarray, phase: Phase, j: int, chans: slice) -> np.ndarray:
    """Tap ``j``'s shifted input window of ``phase`` as ``(N, g, 1, *M)``."""
    return x_pad[(slice(None), chans) + phase.windows[j]][:, :, np.newaxis]


def _tap_weight(weight: np.ndarray, flat_tap: int, chans: slice, ndim: int) -> np.ndarray:
    """``w[g, c, tap]`` shaped ``(1, g, C, 1, ...)`` to broadcast over batch and positions."""
    per_tap = weight.reshape(weight.shape[0], weight.shape[1], -1)[chans, :, flat_tap]
    return per_tap.reshape((1,) + per_tap.shape + (1,) * ndim)


def forward(
    x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], spec: ConvTransposeSpec, plan: Plan
) -> np.ndarray:
    """Depthwise transposed convolution, one broadcast multiply-add per (phase, tap)."""
    n, groups = x.shape[:2]
    per_group_out = weight.shape[1]
    geo = geometries(x.shape[2:], weight.shape[2:], spec)
    ndim = len(geo)
    out = np.empty((n, groups * per_group_out) + tuple(g.output for g in geo), dtype=x.dtype)
    grouped = out.reshape((n, groups, per_group_out) + out.shape[2:])
    x_pad = _padded_input(x, plan)
    fill = np.zeros((1, groups, per_group_out) + (1,) * ndim, dtype=x.dtype)
    if bias is not None:
        fill[...] = bias.reshape(fill.shape)

    def run_channels(chans: slice) -> None:
        for phase in plan.phases:
            target = grouped[(slice(None), chans, slice(None)) + phase.out_slices]
            if not phase.flat_taps:
                target[...] = fill[:, chans]
                continue
            # Sum the phase's taps in a contiguous buffer, then write the strided view once.
            total = np.multiply(_window(x_pad, phase, 0, chans), _tap_weight(weight, phase.flat_taps[0], chans, ndim))
            scratch = np.empty_like(total)
            for j, flat_tap in enumerate(phase.flat_taps[1:], start=1):
                np.multiply(_window(x_pad, phase, j, chans), _tap_weight(weight, flat_tap, chans, ndim), out=scratch)
                total += scratch
            np.add(total, fill[:, chans], out=target)

    threads.run(run_channels, threads.split(groups, out.size))
    return out


def backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    plan: Plan,
    *,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
):
    """Gradients of :func:`forward`, phase by phase and tap by tap."""
    n, groups = x.shape[:2]
    per_group_out = weight.shape[1]
    ndim = x.ndim - 2
    taps = weight[0, 0].size
    grouped_gy = grad_output.reshape((n, groups, per_group_out) + grad_output.shape[2:])
    x_pad = _padded_input(x, plan) if need_weight else None
    padded = tuple(s + b + a for s, b, a in zip(x.shape[2:], plan.pad_before, plan.pad_after))
    grad_x_pad = np.zeros((n, groups) + padded, dtype=x.dtype) if need_input else None
    grad_w = np.zeros((groups, per_group_out, taps), dtype=x.dtype) if need_weight else None
    spatial = "abdefhijklmopqrstuvwxyz"[:ndim]  # einsum letters for the positions (not n, g, c)

    def run_channels(chans: slice) -> None:
        for phase in plan.phases:
            gy = grouped_gy[(slice(None), chans, slice(None)) + phase.out_slices]
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
        inner = tuple(slice(b, b + s) for b, s in zip(plan.pad_before, x.shape[2:]))
        grad_x = np.ascontiguousarray(grad_x_pad[(Ellipsis,) + inner])
    grad_b = bias_grad(grad_output) if need_bias else None
    return grad_x, (None if grad_w is None else grad_w.reshape(weight.shape)), grad_b
