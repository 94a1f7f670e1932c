"""Padding modes other than ``'zeros'`` on top of any engine path: the border's fold, forward and back.

A call with ``padding_mode='reflect'`` (or ``'replicate'``, ``'circular'``) is the exact adjoint
of PyTorch's padded ordinary convolution (:mod:`convtranspose.padding`)::

    y = fold_m(canvas(x, w)) + bias

``canvas`` is the transposed convolution with no crop at all: an ordinary zeros-mode call with
padding 0 (and the cells output_padding adds past the canvas), routed by the engine like any call,
so every engine path serves every mode. :func:`~convtranspose.padding.fold` then adds each border
cell onto the output cell the paired convolution's padding copied it from, in place, axis by axis.
Compared with the zeros-mode call, a mode costs the border cells' share of the canvas (computed like
any other cell) plus one pass over the border to fold it.

Each forward beside its gradient. ``fold_m`` is linear and its adjoint is the mode's padding
``pad_m`` (:func:`~convtranspose.padding.pad`), so with ``g`` the output gradient::

    d/dx, d/dw  = the canvas call's gradients at pad_m(g)
    d/dbias     = g summed over batch and space       (the bias is added after the fold)
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Callable, Optional

import numpy as np

from . import engine
from .padding import Pads, fold, pad
from .plan import Plan, build_plan
from .spec import ConvTransposeSpec

__all__ = ["fold_pads", "has_border", "fold_runner", "backward"]

Runner = Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]
Grads = tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]


def fold_pads(plan: Plan) -> tuple[Pads, tuple[int, ...]]:
    """The border ``(before, after)`` and output padding of each axis as the fold sees them.

    A negative ``after`` (``'same'`` with a kernel shorter than the stride) adds cells at the end:
    for the fold that is no border and more output padding. The canvas the fold starts from has
    ``before + out + after`` cells per axis, which is the full canvas plus that output padding.
    """
    pads = tuple((g.pad_before, max(g.pad_after, 0)) for g in plan.geometry)
    ops = tuple(g.output_padding + max(-g.pad_after, 0) for g in plan.geometry)
    return pads, ops


def has_border(plan: Plan) -> bool:
    """Whether ``plan`` has a padding mode and a border to fold (else it is a zeros-mode call)."""
    return plan.spec.padding_mode != "zeros" and any(b or a for b, a in fold_pads(plan)[0])


def _canvas_plan(plan: Plan, x_shape: tuple[int, ...]) -> Plan:
    """The routed zeros-mode plan of ``plan``'s uncropped canvas, for a batched input of ``x_shape``."""
    _, ops = fold_pads(plan)
    return _routed(plan.spec, plan.weight_shape, plan.compute_dtype, x_shape, ops, engine.dispatch_state())


@lru_cache(maxsize=512)
def _routed(
    spec: ConvTransposeSpec, weight_shape: tuple[int, ...], dtype: np.dtype, x_shape: tuple[int, ...],
    ops: tuple[int, ...], _dispatch: object,
) -> Plan:
    canvas = replace(spec, pads=((0, 0),) * len(ops), output_padding=ops, padding_mode="zeros", padding_form="explicit")
    return engine.route(build_plan("conv_transpose", len(ops), x_shape, dtype, weight_shape, dtype, None, None, canvas))


def fold_runner(plan: Plan, run: Runner) -> Runner:
    """The batched forward of ``plan``: ``run`` (its zeros-mode runner) when there is no border to
    fold, else the canvas call followed by the fold and the bias."""
    if not has_border(plan):
        return run
    pads, _ = fold_pads(plan)
    mode = plan.spec.padding_mode
    spatial = len(pads)

    def folded(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        canvas = engine.forward(_canvas_plan(plan, x.shape), x, weight, None)
        out = np.ascontiguousarray(fold(canvas, pads, mode))
        if bias is not None:
            out += bias.reshape((1, -1) + (1,) * spatial)
        return out

    return folded


def backward(
    plan: Plan,
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    *,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
) -> Grads:
    """Batched gradients of ``plan`` (any padding mode), with :func:`convtranspose.engine.backward`'s
    signature: the canvas call's gradients at the mode's padding of ``grad_output``."""
    if not has_border(plan):
        return engine.backward(
            plan, grad_output, x, weight, need_input=need_input, need_weight=need_weight, need_bias=need_bias
        )
    pads, _ = fold_pads(plan)
    padded = pad(grad_output, pads, plan.spec.padding_mode)
    grad_x, grad_w, _ = engine.backward(
        _canvas_plan(plan, x.shape), padded, x, weight, need_input=need_input, need_weight=need_weight,
        need_bias=False,
    )
    return grad_x, grad_w, (engine.bias_grad(grad_output) if need_bias else None)
