"""The GEMM path with compiled scatter and gather (numba; optional extra ``convtranspose[jit]``).

The GEMMs are the same as in :mod:`convtranspose.engine.gemm`, and so are the gradient rules. What
changes is the memory-bound half. NumPy adds each kernel tap's slice into the output as a
separate strided operation, so for layers with few pixels per channel (DCGAN's 4×4 … 32×32 maps)
it spends most of its time on short inner loops. Here one compiled loop walks each output row
``(n, g, c)`` once (rows split across the engine's threads; the kernels release the GIL, so no
numba threading layer is involved), and adds every tap's column entries at positions
precomputed in a *target map*::

    target[t, p] = flat output position of tap t of input position p, or -1 if cropped
    out[n, g, c, target[t, p]] += cols[g, c, t, n, p]        (scatter, forward)
    cols[g, c, t, n, p] = grad_y[n, g, c, target[t, p]]      (gather, its transpose)

The map depends only on the shapes and the spec and is cached. Kernels are compiled on first use
(and cached on disk by numba); the NumPy path stays available and gives the same results.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from math import prod
from typing import Optional

import numba
import numpy as np

from ..shape import AxisGeometry
from ..spec import ConvTransposeSpec
from . import gemm, threads

__all__ = ["forward", "backward", "target_map"]


@lru_cache(maxsize=256)
def target_map(geo: tuple[AxisGeometry, ...]) -> np.ndarray:
    """``(KK, P)`` int64: flat output index of every (tap, input position), -1 where cropped."""
    kernel = tuple(g.kernel_size for g in geo)
    spatial_in = tuple(g.input_size for g in geo)
    spatial_out = tuple(g.output for g in geo)
    flat = np.zeros((prod(kernel), prod(spatial_in)), dtype=np.int64)
    valid = np.ones_like(flat, dtype=bool)
    grids = np.indices(spatial_in).reshape(len(geo), -1)  # input multi-indices, C order
    for t, tap in enumerate(product(*(range(k) for k in kernel))):
        index = np.zeros(grids.shape[1], dtype=np.int64)
        for axis, g in enumerate(geo):
            position = grids[axis] * g.stride + tap[axis] * g.dilation - g.padding
            valid[t] &= (position >= 0) & (position < g.output)
            index = index * spatial_out[axis] + position
        flat[t] = index
    flat[~valid] = -1
    flat.flags.writeable = False
    return flat


@numba.njit(cache=True, nogil=True)
def _col2im(cols, target, out, assign, first_row, last_row):  # pragma: no cover - compiled
    groups, per_group, taps, n, positions = cols.shape
    for row in range(first_row, last_row):
        b = row // (groups * per_group)
        g = (row // per_group) % groups
        c = row % per_group
        line = out[b, g, c]
        for t in range(taps):
            for p in range(positions):
                o = target[t, p]
                if o >= 0:
                    if assign:
                        line[o] = cols[g, c, t, b, p]
                    else:
                        line[o] += cols[g, c, t, b, p]


@numba.njit(cache=True, nogil=True)
def _im2col(grad, target, cols, first_row, last_row):  # pragma: no cover - compiled
    groups, per_group, taps, n, positions = cols.shape
    for row in range(first_row, last_row):
        b = row // (groups * per_group)
        g = (row // per_group) % groups
        c = row % per_group
        line = grad[b, g, c]
        for t in range(taps):
            for p in range(positions):
                o = target[t, p]
                cols[g, c, t, b, p] = line[o] if o >= 0 else 0.0


def _over_rows(kernel, rows: int, work: int, *arrays) -> None:
    """Run a compiled row kernel, its rows split across the engine's threads (it releases the GIL)."""
    threads.run(lambda part: kernel(*arrays, part.start, part.stop), threads.split(rows, work))


def scatter(cols: np.ndarray, geo: tuple[AxisGeometry, ...], out: np.ndarray, assign: bool = False) -> None:
    """Compiled :func:`convtranspose.engine.gemm.scatter` (same arguments)."""
    groups, per_group, taps, n = cols.shape[:4]
    positions, outputs = prod(cols.shape[4:]), prod(out.shape[3:])
    flat_cols = np.ascontiguousarray(cols).reshape(groups, per_group, taps, n, positions)
    flat_out = out.reshape(n, groups, per_group, outputs)  # out is a contiguous batch slice
    _over_rows(_col2im, n * groups * per_group, cols.size, flat_cols, target_map(geo), flat_out, assign)


def gather(grad_output: np.ndarray, geo: tuple[AxisGeometry, ...], groups: int) -> np.ndarray:
    """Compiled :func:`convtranspose.engine.gemm.gather` (same arguments and result)."""
    n, c_out = grad_output.shape[:2]
    per_group = c_out // groups
    taps, positions = prod(g.kernel_size for g in geo), prod(g.input_size for g in geo)
    cols = np.empty((groups, per_group, taps, n, positions), dtype=grad_output.dtype)
    grad = np.ascontiguousarray(grad_output).reshape(n, groups, per_group, prod(grad_output.shape[2:]))
    _over_rows(_im2col, n * groups * per_group, cols.size, grad, target_map(geo), cols)
    return cols.reshape(groups, per_group * taps, n * positions)


KERNELS = gemm.Kernels(scatter=scatter, gather=gather)


def forward(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], spec: ConvTransposeSpec) -> np.ndarray:
    """:func:`convtranspose.engine.gemm.forward` with the compiled scatter."""
    return gemm.forward(x, weight, bias, spec, kernels=KERNELS)


def backward(grad_output, x, weight, spec, *, need_input=True, need_weight=True, need_bias=True):
    """:func:`convtranspose.engine.gemm.backward` with the compiled gather."""
    flags = dict(need_input=need_input, need_weight=need_weight, need_bias=need_bias)
    return gemm.backward(grad_output, x, weight, spec, kernels=KERNELS, **flags)
