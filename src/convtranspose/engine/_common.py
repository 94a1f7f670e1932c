"""Pieces shared by the engine paths: clipped tap windows, batch chunking, the bias gradient."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np

from ..shape import AxisGeometry

__all__ = [
    "COLUMN_BUDGET_BYTES", "CACHE_CHUNK_BYTES", "TapWindow", "tap_windows", "batch_chunks", "buffer_budget", "bias_grad",
    "all_finite",
]

#: Upper bound for one chunk's column buffer (a chunk always holds at least one batch item).
#: Kept below glibc's largest mmap threshold (32 MB): larger buffers are mapped afresh on every
#: call and pay a page fault per 4 KB (about 3000 per call and 10 % of dcgan.4's backward).
COLUMN_BUDGET_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TapWindow:
    """Kernel tap ``index`` (flat, C order): its surviving input positions and output positions."""

    index: int
    input_slices: tuple[slice, ...]
    output_slices: tuple[slice, ...]


@lru_cache(maxsize=1024)
def tap_windows(geo: tuple[AxisGeometry, ...], kernel: tuple[int, ...]) -> tuple[TapWindow, ...]:
    """Every kernel tap that reaches the output, with its clipped windows (cached)."""
    windows = []
    for index, tap in enumerate(product(*(range(k) for k in kernel))):
        clipped = [g.tap_window(t) for g, t in zip(geo, tap)]
        if any(c is None for c in clipped):
            continue
        windows.append(
            TapWindow(index, tuple(c[0] for c in clipped), tuple(c[1] for c in clipped))  # type: ignore[index]
        )
    return tuple(windows)


#: Chunk size that keeps a chunk's columns in the last-level cache between the GEMM that writes
#: them and the compiled scatter that reads them (measured on a 32 MB L3: 4 MB chunks made the
#: memory-bound layers 15-30 % faster, and cost the compute-bound ones nothing).
CACHE_CHUNK_BYTES = 4 * 1024 * 1024

#: Smallest budget granted to a call, however small its output.
MIN_BUDGET_BYTES = 64 * 1024


def buffer_budget(output_bytes: int) -> int:
    """Working-buffer budget for a call: 1.5 times the output's size, within fixed bounds.

    A chunk's column (or patch) buffer and its input copy together stay within the budget, and each
    chunk's buffers are freed before the next chunk's are made, so the peak extra memory of a call
    stays under twice its output (or under :data:`MIN_BUDGET_BYTES` for tiny calls) while the GEMMs
    stay large enough to run at speed.
    """
    return max(MIN_BUDGET_BYTES, min(COLUMN_BUDGET_BYTES, output_bytes * 3 // 2))


def batch_chunks(n: int, per_item_bytes: int, budget: int = COLUMN_BUDGET_BYTES) -> list[slice]:
    """Slices of the batch whose buffers fit ``budget`` (one empty slice when ``n == 0``)."""
    if n == 0:
        return [slice(0, 0)]
    size = max(1, min(n, budget // max(1, per_item_bytes)))
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


def bias_grad(grad_output: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the bias: ``grad_output`` summed over batch and space."""
    axes = (0,) + tuple(range(2, grad_output.ndim))
    return grad_output.sum(axis=axes)


def all_finite(*arrays: np.ndarray) -> bool:
    """True when every value of every array is finite (no NaN or infinity).

    Paths that multiply structural zeros (``small``'s 0/1 placement matrix, ``phase``'s
    zero-padded windows) would turn one infinite or NaN operand value into NaN wherever that zero
    lands, while transposed convolution (and torch) only multiplies the pairs that meet. Those
    paths hand non-finite operands to ``gemm``, whose products are exactly the pairs.
    """
    return all(bool(np.isfinite(a).all()) for a in arrays)
