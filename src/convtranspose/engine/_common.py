"""Pieces shared by the engine paths: clipped tap windows, batch chunking, the bias gradient."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import NamedTuple, Optional

import numpy as np

from ..padding import fold_pieces
from ..plan import Plan
from ..shape import AxisGeometry

__all__ = [
    "COLUMN_BUDGET_BYTES", "CACHE_CHUNK_BYTES", "TapWindow", "tap_windows", "batch_chunks", "buffer_budget", "bias_grad",
    "Needs", "Grads", "buffer_if", "square_sum", "finite", "product_limit", "bounded_products", "gradient_bytes",
    "backward_budget", "forward_budget", "accumulation_budget", "accumulate_matmul",
]

class Needs(NamedTuple):
    """Which gradients a backward computes (the others are returned as None)."""

    input: bool
    weight: bool
    bias: bool


#: ``(grad_input, grad_weight, grad_bias)``, None where not needed.
Grads = tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]

#: Upper bound for one chunk's column buffer (a chunk always holds at least one batch item).
#: Kept below glibc's largest mmap threshold (32 MB): larger buffers are mapped afresh on every
#: call and pay a page fault per 4 KB (about 3000 per call and 10 % of dcgan.4's backward).
COLUMN_BUDGET_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TapWindow:
    """Kernel tap ``index`` (flat, C order): a block of its input positions and the output cells
    they land on.

    Input element ``i`` lands on ``i * stride + tap * dilation - crop_start`` per axis. Inside the
    output window that is ``output_slices`` (a strided slice); in a padding mode's border it is
    the cell the fold sends it to (:func:`convtranspose.padding.fold_pieces`): a mirrored slice,
    or, for the axes in ``reduce``, one cell all of ``input_slices`` along that axis add onto.
    """

    index: int
    input_slices: tuple[slice, ...]
    output_slices: tuple[slice, ...]
    reduce: tuple[int, ...] = ()  # spatial axes whose inputs sum onto one output cell


@lru_cache(maxsize=1024)
def tap_windows(
    geo: tuple[AxisGeometry, ...], kernel: tuple[int, ...], fold_mode: str = "zeros"
) -> tuple[TapWindow, ...]:
    """Every block of every kernel tap that reaches the output (cached).

    With ``fold_mode='zeros'`` that is one window per tap, clipped by the crop. With a padding
    mode (:attr:`convtranspose.plan.Plan.fold_mode`) a tap also has the blocks that land in the
    border, each with the output cells it folds onto; a tap's blocks cover each of its input
    positions once.
    """
    windows = []
    for index, tap in enumerate(product(*(range(k) for k in kernel))):
        per_axis = [
            fold_pieces(t * g.dilation - g.crop_start, g.stride, g.input_size, g.output, fold_mode)
            for g, t in zip(geo, tap)
        ]
        for pieces in product(*per_axis):
            windows.append(
                TapWindow(
                    index,
                    tuple(p.source for p in pieces),
                    tuple(p.target for p in pieces),
                    tuple(axis for axis, p in enumerate(pieces) if p.reduce),
                )
            )
    return tuple(windows)


#: Chunk size that keeps a chunk's columns in the last-level cache between the GEMM that writes
#: them and the compiled scatter that reads them (measured on a 32 MB L3: 4 MB chunks made the
#: memory-bound layers 15-30 % faster, and cost the compute-bound ones nothing).
CACHE_CHUNK_BYTES = 4 * 1024 * 1024

#: Smallest budget granted to a call, however small its output.
MIN_BUDGET_BYTES = 64 * 1024


#: Smallest budget granted to a backward: calls whose buffers fit it run in one chunk (the
#: per-chunk overhead tripled fcn8s.upscore2's 0.3 ms backward when it was split in six).
MIN_BACKWARD_BUDGET_BYTES = 512 * 1024

#: Smallest budget granted to a ``gemm_jit`` forward, for the same reason: a small output with many
#: taps per input (a 7x7 kernel of stride 1 onto 8 channels: 1.5 MB of columns for a 30 KB output)
#: was split in 27 chunks under the 64 KiB floor. Measured (1 thread, CPU time) against that floor:
#: 0.53x on that layer, fcn8s.upscore2 0.73x, hifigan.up1 0.97x (the other suite layers' outputs
#: are large enough that the floor does not apply); a 1 MiB floor made hifigan.up1 1.3x slower.
MIN_FORWARD_BUDGET_BYTES = 512 * 1024


def buffer_budget(output_bytes: int, floor: int = MIN_BUDGET_BYTES) -> int:
    """Working-buffer budget for a call: 1.5 times the output's size, within fixed bounds.

    A chunk's column (or patch) buffer and its input copy together stay within the budget, and each
    chunk's buffers are freed before the next chunk's are made, so the peak extra memory of a call
    stays under twice its output (or under :data:`MIN_BUDGET_BYTES` for tiny calls) while the GEMMs
    stay large enough to run at speed.
    """
    return max(floor, min(COLUMN_BUDGET_BYTES, output_bytes * 3 // 2))


def forward_budget(output_bytes: int) -> int:
    """Budget of a ``gemm_jit`` forward's columns and input copy: :func:`buffer_budget` of its
    output, at least :data:`MIN_FORWARD_BUDGET_BYTES`."""
    return buffer_budget(output_bytes, MIN_FORWARD_BUDGET_BYTES)


def gradient_bytes(x: np.ndarray, weight: np.ndarray) -> int:
    """Size of a backward's largest gradient (``grad_input`` or ``grad_weight``; the bias's is smaller).

    A backward's working buffers are budgeted from it (:func:`backward_budget`) rather than from
    ``grad_output``, which can be far larger than either gradient (a 16x16 kernel of stride 8 on
    21 channels: 21 MiB of ``grad_output`` for 0.4 MiB of weight): the peak extra memory then
    stays under twice the largest gradient.
    """
    return max(x.nbytes, weight.nbytes)


def backward_budget(largest_gradient_bytes: int) -> int:
    """Budget of a backward's columns and input copy: :func:`buffer_budget` of its largest
    gradient, at least :data:`MIN_BACKWARD_BUDGET_BYTES`."""
    return buffer_budget(largest_gradient_bytes, MIN_BACKWARD_BUDGET_BYTES)


def accumulation_budget(largest_gradient_bytes: int) -> int:
    """Bound on the temporary of :func:`accumulate_matmul` in a backward: an eighth of the largest
    gradient (at least :data:`MIN_BUDGET_BYTES`), so that with :func:`backward_budget` the peak
    extra memory stays under twice that gradient."""
    return max(MIN_BUDGET_BYTES, largest_gradient_bytes // 8)


def accumulate_matmul(out: np.ndarray, a: np.ndarray, b: np.ndarray, first: bool, budget: int) -> None:
    """``out = a @ b`` (``first``) or ``out += a @ b``, with a bounded temporary.

    The first product is written into ``out`` directly. Later ones are computed in blocks of
    ``out``'s columns (its last axis), each block's product (at most ``budget`` bytes, or one
    column) added in place, so accumulating a gradient over chunks never allocates a second
    gradient-sized array. (Blocks of columns keep every row of the GEMM: blocks of rows made
    fcn8s.upscore8's backward 1.5x slower. NumPy buffers the addition into the strided block
    with a few KiB.)
    """
    if first:
        np.matmul(a, b, out=out)
        return
    width = out.shape[-1]
    step = max(1, budget // max(1, out[..., :1].nbytes))
    for start in range(0, width, step):
        block = slice(start, min(width, start + step))
        out[..., block] += np.matmul(a, b[..., block])


def batch_chunks(n: int, per_item_bytes: int, budget: int = COLUMN_BUDGET_BYTES) -> list[slice]:
    """Slices of the batch whose buffers fit ``budget`` (one empty slice when ``n == 0``)."""
    if n == 0:
        return [slice(0, 0)]
    size = max(1, min(n, budget // max(1, per_item_bytes)))
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


def buffer_if(needed: bool, shape: tuple[int, ...], dtype: np.dtype, fill: bool = False) -> np.ndarray:
    """A result buffer (zero-filled with ``fill``), or an empty one of the same rank when the
    result is not needed, so that the code computing it needs no None checks."""
    shape = shape if needed else (0,) * len(shape)
    return np.zeros(shape, dtype=dtype) if fill else np.empty(shape, dtype=dtype)


def bias_grad(grad_output: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the bias: ``grad_output`` summed over batch and space."""
    axes = (0,) + tuple(range(2, grad_output.ndim))
    return grad_output.sum(axis=axes)


def square_sum(array: np.ndarray) -> float:
    """``sum |a|²`` as a Python float: inf or NaN when a value is not finite (or the sum overflows)."""
    return float(np.vdot(array, array).real)


def finite(*arrays: np.ndarray) -> bool:
    """True when every value of every array is finite (their squares' sums are, which implies it)."""
    return all(math.isfinite(square_sum(a)) for a in arrays)


def product_limit(plan: Plan) -> float:
    """Bound on ``max|x| · max|w|`` below which no sum of a call's products can overflow.

    An output value sums at most ``plan.reduction`` products; half the dtype's range leaves room
    for the rounding of the bound itself.
    """
    if plan.compute_dtype.kind in "iu":  # integers wrap: a structural zero times anything is still 0
        return math.inf
    return float(np.finfo(plan.compute_dtype).max) / (2 * plan.reduction)


def bounded_products(x: np.ndarray, weight: np.ndarray, limit: float) -> bool:
    """True when the operands are finite and no sum of their products can overflow.

    Paths that multiply structural zeros (``small``'s 0/1 placement matrix, ``phase``'s
    zero-padded windows) would turn an infinite or NaN operand value -- or a finite product that
    overflows to infinity -- into NaN wherever such a zero meets it, while transposed convolution
    (and torch) only multiplies the pairs that meet. The dispatcher sends such operands to an
    exact path. ``max|a| <= sqrt(sum |a|²)`` gives the bound with one BLAS pass per operand.
    """
    return math.sqrt(square_sum(x) * square_sum(weight)) <= limit
