"""Padding modes other than ``'zeros'`` on top of any engine path: the border's fold, forward and back.

A call with ``padding_mode='reflect'`` (or ``'replicate'``, ``'circular'``) is the exact adjoint
of PyTorch's padded ordinary convolution (:mod:`convtranspose.padding`). The engine computes the
call as if the mode were ``'zeros'`` (the cropped output, bias included); this module adds the
border's share: the canvas cells that ``'zeros'`` crops, computed region by region from the input
slabs that reach them and folded onto the output (:mod:`convtranspose.borders`). The gradients are
the adjoint: the zeros-mode gradients plus each region's gradients at the mode's padding of the
output gradient. The border calls are ordinary zeros-mode plans, routed by the engine like any
call, so every engine path serves every mode.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Callable, Optional

import numpy as np

from . import engine
from .borders import Region, border_regions, fold_backward, fold_forward
from .padding import Pads
from .plan import Plan, build_plan
from .spec import ConvTransposeSpec

__all__ = ["fold_pads", "regions", "fold_runner", "add_fold_gradients"]

Runner = Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]


def fold_pads(plan: Plan) -> tuple[Pads, tuple[int, ...]]:
    """The border ``(before, after)`` and output padding of each axis as the fold sees them.

    A negative ``after`` (``'same'`` with a kernel shorter than the stride) adds cells at the end:
    for the fold that is no border and more output padding.
    """
    pads = tuple((g.pad_before, max(g.pad_after, 0)) for g in plan.geometry)
    ops = tuple(g.output_padding + max(-g.pad_after, 0) for g in plan.geometry)
    return pads, ops


def regions(plan: Plan) -> tuple[Region, ...]:
    """The border regions some input element reaches (none for ``'zeros'``)."""
    pads, ops = fold_pads(plan)
    return _regions(plan.input_spatial, plan.kernel, plan.spec.stride, plan.spec.dilation, pads, ops,
                    plan.spec.padding_mode)


@lru_cache(maxsize=256)
def _regions(
    input_spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
    pads: Pads, ops: tuple[int, ...], mode: str,
) -> tuple[Region, ...]:
    return border_regions(input_spatial, kernel, stride, dilation, pads, ops, mode)


def _sub_plan(plan: Plan, x_shape: tuple[int, ...], pads: Pads, ops: tuple[int, ...]) -> Plan:
    """The routed zeros-mode plan of one border region's small call."""
    return _routed(plan.spec, plan.weight_shape, plan.compute_dtype, x_shape, pads, ops, engine.dispatch_state())


@lru_cache(maxsize=1024)
def _routed(
    spec: ConvTransposeSpec, weight_shape: tuple[int, ...], dtype: np.dtype, x_shape: tuple[int, ...], pads: Pads,
    ops: tuple[int, ...], _dispatch: object,
) -> Plan:
    sub = replace(spec, pads=pads, output_padding=ops, padding_mode="zeros", padding_form="explicit")
    return engine.route(build_plan("conv_transpose", len(pads), x_shape, dtype, weight_shape, dtype, None, None, sub))


def fold_runner(plan: Plan, run: Runner) -> Runner:
    """``run`` (the zeros-mode forward of ``plan``) followed by the border's fold."""
    parts = regions(plan)
    if not parts:
        return run

    def forward(x: np.ndarray, w: np.ndarray, pads: Pads, ops: tuple[int, ...]) -> np.ndarray:
        return engine.forward(_sub_plan(plan, x.shape, pads, ops), x, w, None)

    def folded(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        return fold_forward(run(x, weight, bias), x, weight, parts, forward)

    return folded


def add_fold_gradients(
    plan: Plan,
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    grad_input: Optional[np.ndarray],
    grad_weight: Optional[np.ndarray],
) -> None:
    """Add the border's share to the zeros-mode gradients of ``plan`` (batched, in place)."""
    parts = regions(plan)

    def backward(
        gy: np.ndarray, xs: np.ndarray, w: np.ndarray, pads: Pads, ops: tuple[int, ...], need_input: bool,
        need_weight: bool,
    ) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        gx, gw, _ = engine.backward(
            _sub_plan(plan, xs.shape, pads, ops), gy, xs, w,
            need_input=need_input, need_weight=need_weight, need_bias=False,
        )
        return gx, gw

    fold_backward(grad_output, x, weight, parts, backward, grad_input, grad_weight)
