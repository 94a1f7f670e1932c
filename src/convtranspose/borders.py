"""Non-zero padding modes at the cost of the border only: the fold, computed region by region.

A transposed convolution with ``padding_mode`` m is ``fold_m(canvas)``: the cropped output (what
``'zeros'`` gives) plus every border cell of the canvas added onto the output cell that the
paired convolution's padding copied it from (:func:`convtranspose.padding.fold`). Building the
whole canvas and folding it would cost a copy of the output; instead the output is computed as
usual (zeros mode, any engine path) and only the border cells are computed and added on.

Per axis, the canvas ``[0, full + op)`` splits into three parts: ``B`` the ``before`` cells, ``I``
the ``out`` output cells, ``A`` the ``after`` cells. A *region* picks one part per axis; the
``3**ndim - 1`` regions other than all-``I`` hold the border. A region's values come from the
input slab that reaches it (one small transposed convolution with the region as its crop), and
the fold maps each axis' part onto the output independently (:func:`axis_map`):

======  =========================  ===============================  ============================
mode    B (before) lands on        A (after) lands on               how
======  =========================  ===============================  ============================
circ.   ``[out - b, out)``         ``[0, a)``                       as is
reflect ``[1, b + 1)``             ``[out - 1 - a, out - 1)``       reversed
repl.   ``[0, 1)``                 ``[out - 1, out)``               summed along the axis
======  =========================  ===============================  ============================

The gradients are the adjoint: the output gradient's cells are *copied* into each region by the
inverse map (the paired convolution's padding, restricted to the region), and the small
convolution's own gradients are added into the input slab's gradient and the weight's gradient.
The bias is added once, by the zeros-mode call (the border calls have none), so it is not folded.

The module is written against two callables so that any engine can serve it: ``forward(x, weight,
pads, output_padding)`` computes a zeros-mode transposed convolution without bias with per-axis
``(before, after)`` crops, and ``backward(grad_output, x, weight, pads, output_padding, need_input,
need_weight)`` its input and weight gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Callable, Optional, Sequence

import numpy as np

from .padding import Pads

__all__ = ["AxisPart", "Region", "axis_map", "border_regions", "fold_forward", "fold_backward"]

ForwardFn = Callable[[np.ndarray, np.ndarray, Pads, tuple[int, ...]], np.ndarray]
BackwardFn = Callable[
    [np.ndarray, np.ndarray, np.ndarray, Pads, tuple[int, ...], bool, bool],
    tuple[Optional[np.ndarray], Optional[np.ndarray]],
]


def axis_map(mode: str, side: str, before: int, after: int, out: int) -> tuple[slice, str]:
    """Where the ``side`` (``'B'`` or ``'A'``) border of one axis lands, and how (``'id'``, ``'flip'``, ``'sum'``).

    Examples
    --------
    >>> axis_map("reflect", "B", 2, 1, 5)
    (slice(1, 3, None), 'flip')
    >>> axis_map("circular", "A", 2, 1, 5)
    (slice(0, 1, None), 'id')
    """
    if mode == "circular":
        return (slice(out - before, out), "id") if side == "B" else (slice(0, after), "id")
    if mode == "reflect":
        return (slice(1, before + 1), "flip") if side == "B" else (slice(out - 1 - after, out - 1), "flip")
    if mode == "replicate":
        return (slice(0, 1), "sum") if side == "B" else (slice(out - 1, out), "sum")
    raise ValueError(f"no fold for padding_mode={mode!r}")


@dataclass(frozen=True)
class AxisPart:
    """One axis of a region: the input slab, the small call's crop, and where its values land.

    ``place`` is the part of the region the small call fills (the rest of the region is reached by
    no input element and stays zero); ``target`` and ``how`` say where the region's cells land in
    the output (:func:`axis_map`).
    """

    side: str  # 'B', 'I' or 'A'
    inputs: slice
    pads: tuple[int, int]
    output_padding: int
    length: int
    place: slice
    target: slice
    how: str


@dataclass(frozen=True)
class Region:
    parts: tuple[AxisPart, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(p.length for p in self.parts)

    @property
    def needs_buffer(self) -> bool:
        return any(p.place != slice(0, p.length) for p in self.parts)


def _border_part(
    side: str, n: int, k: int, s: int, d: int, before: int, after: int, op: int, out: int, mode: str
) -> Optional[AxisPart]:
    full = (n - 1) * s + d * (k - 1) + 1
    lo, hi = (0, before) if side == "B" else (before + out, before + out + after)
    hi_reached = min(hi, full)  # the output_padding cells past the canvas are zeros
    first = max(0, -((-(lo - d * (k - 1))) // s))  # ceil((lo - d(k-1)) / s)
    last = min(n - 1, (hi_reached - 1) // s)
    if hi <= lo or last < first:
        return None
    origin, sub_full = first * s, (last - first) * s + d * (k - 1) + 1
    start, stop = max(lo, origin), min(hi_reached, origin + sub_full)
    if stop <= start:
        return None
    target, how = axis_map(mode, side, before, after, out)
    return AxisPart(
        side=side,
        inputs=slice(first, last + 1),
        pads=(start - origin, origin + sub_full - stop),
        output_padding=0,
        length=hi - lo,
        place=slice(start - lo, stop - lo),
        target=target,
        how=how,
    )


def border_regions(
    input_spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    output_padding: Sequence[int],
    mode: str,
) -> tuple[Region, ...]:
    """Every border region that some input element reaches (none for ``'zeros'``).

    Examples
    --------
    >>> [tuple(p.side for p in r.parts) for r in border_regions((4,), (3,), (1,), (1,), ((1, 1),), (0,), "reflect")]
    [('B',), ('A',)]
    """
    if mode == "zeros":
        return ()
    per_axis: list[list[AxisPart]] = []
    for n, k, s, d, (before, after), op in zip(input_spatial, kernel, stride, dilation, pads, output_padding):
        out = (n - 1) * s + d * (k - 1) + 1 + op - before - after
        inner = AxisPart("I", slice(0, n), (before, after), op, out, slice(0, out), slice(0, out), "id")
        parts = [inner]
        for side in ("B", "A"):
            part = _border_part(side, n, k, s, d, before, after, op, out, mode)
            if part is not None:
                parts.append(part)
        per_axis.append(parts)
    return tuple(
        Region(combo) for combo in product(*per_axis) if any(part.side != "I" for part in combo)
    )


def _index(parts: Sequence[AxisPart], attr: str, lead: int = 2) -> tuple[slice, ...]:
    return (slice(None),) * lead + tuple(getattr(p, attr) for p in parts)


def fold_forward(
    out: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    regions: Sequence[Region],
    forward: ForwardFn,
) -> np.ndarray:
    """Add every region's folded values into ``out`` (the zeros-mode output, batched), in place."""
    for region in regions:
        parts = region.parts
        values = forward(
            x[_index(parts, "inputs")], weight, tuple(p.pads for p in parts), tuple(p.output_padding for p in parts)
        )
        if region.needs_buffer:
            buffer = np.zeros(out.shape[:2] + region.shape, dtype=out.dtype)
            buffer[_index(parts, "place")] = values
            values = buffer
        for axis, part in enumerate(parts, start=2):
            if part.how == "flip":
                values = np.flip(values, axis)
            elif part.how == "sum":
                values = values.sum(axis=axis, keepdims=True)
        out[_index(parts, "target")] += values
    return out


def fold_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    regions: Sequence[Region],
    backward: BackwardFn,
    grad_input: Optional[np.ndarray],
    grad_weight: Optional[np.ndarray],
) -> None:
    """Add the border's share to the zeros-mode gradients ``grad_input``/``grad_weight``, in place.

    Each region's output gradient is the paired convolution's padding of ``grad_output``
    restricted to the region: the target cells copied back (reversed for reflect, broadcast along
    the axis for replicate).
    """
    need_input, need_weight = grad_input is not None, grad_weight is not None
    for region in regions:
        parts = region.parts
        values = grad_output[_index(parts, "target")]
        for axis, part in enumerate(parts, start=2):
            if part.how == "flip":
                values = np.flip(values, axis)
            elif part.how == "sum":
                shape = list(values.shape)
                shape[axis] = part.length
                values = np.broadcast_to(values, shape)
        values = np.ascontiguousarray(values[_index(parts, "place")])
        inputs = _index(parts, "inputs")
        gx, gw = backward(
            values, x[inputs], weight, tuple(p.pads for p in parts), tuple(p.output_padding for p in parts),
            need_input, need_weight,
        )
        if grad_input is not None and gx is not None:
            grad_input[inputs] += gx
        if grad_weight is not None and gw is not None:
            grad_weight += gw
