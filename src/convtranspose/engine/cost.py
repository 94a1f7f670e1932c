"""A small cost model that picks the engine path for a call.

Each path's time is estimated as ``flops / GEMM_RATE + bytes_moved / COPY_RATE + ops * OP_OVERHEAD``:

* ``gemm`` multiplies exactly the useful products (``2 · N · C_in · C_out/G · prod(K) · prod(S_in)``)
  but writes a column buffer of ``C_out · prod(K)`` values per input position and then adds every
  tap's slice into the output (a read-modify-write per tap).
* ``small`` replaces the per-tap scatter by one product with a cached placement matrix: a few
  NumPy calls in all, for tiny problems where the call overhead dominates.
* ``phase`` writes each output value once, but its patches cover the *output* phase grid, so when
  the input is small next to the kernel it multiplies zeros of the padding (its flops grow by the
  ratio ``sum_q T_q · M_q / (prod(K) · prod(S_in))``).

The constants are rough rates of a 2-core machine; only their ratios matter for the choice.
Decisions are cached per (input shape, weight shape, spec).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

from ..shape import geometries
from ..spec import ConvTransposeSpec
from . import phase, small
from ._common import tap_windows

__all__ = ["estimate_seconds", "cheapest_path"]

GEMM_RATE = 100e9  # flop/s reached by the BLAS on large products
COPY_RATE = 3e9  # bytes/s of strided NumPy copies and adds
OP_OVERHEAD = 4e-6  # seconds per NumPy call issued from Python


@lru_cache(maxsize=4096)
def estimate_seconds(
    path: str, x_shape: tuple[int, ...], weight_shape: tuple[int, ...], spec: ConvTransposeSpec, itemsize: int = 4
) -> float:
    """Estimated forward time of ``path`` for a batched input of ``x_shape``."""
    n, c_in = x_shape[:2]
    spatial_in, kernel = x_shape[2:], weight_shape[2:]
    c_out = weight_shape[1] * spec.groups
    per_group_in = c_in // spec.groups
    geo = geometries(spatial_in, kernel, spec)
    out_elems = n * c_out * prod(g.output for g in geo)
    positions = n * prod(spatial_in)

    if path == "gemm":
        windows = tap_windows(geo, kernel)
        cols = positions * c_out * prod(kernel)
        flops = 2 * cols * per_group_in
        moved = cols * 2 + out_elems * 2 + 2 * sum(
            n * c_out * prod(s.stop - s.start for s in w.input_slices) for w in windows
        )
        ops = 2 * len(windows) + 4
    elif path == "phase":
        plan = phase.make_plan(geo)
        grid = sum(len(ph.flat_taps) * prod(ph.counts) for ph in plan.phases)
        patches = n * c_in * grid
        flops = 2 * patches * (c_out // spec.groups)
        moved = patches * 2 + out_elems * 3 + positions * c_in * 2
        ops = sum(len(ph.flat_taps) + 6 for ph in plan.phases)
    elif path == "small":
        placement = prod(kernel) * prod(spatial_in) * prod(g.output for g in geo)
        columns = positions * c_out * prod(kernel)
        if placement > small.AUTO_MAX_PLACEMENT_ELEMENTS or columns > small.AUTO_MAX_COLUMN_ELEMENTS:
            return float("inf")
        flops = 2 * positions * c_out * prod(kernel) * (per_group_in + prod(g.output for g in geo))
        moved = out_elems * 2
        ops = 5
    else:
        raise KeyError(path)
    return flops / GEMM_RATE + moved * itemsize / COPY_RATE + ops * OP_OVERHEAD


def cheapest_path(x_shape: tuple[int, ...], weight_shape: tuple[int, ...], spec: ConvTransposeSpec, itemsize: int) -> str:
    """The path with the smallest estimate."""
    return min(("small", "gemm", "phase"), key=lambda p: estimate_seconds(p, x_shape, weight_shape, spec, itemsize))
