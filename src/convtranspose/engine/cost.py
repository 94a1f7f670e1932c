"""A small cost model that picks the engine path for a call.

Each path's time is estimated as::

    flops / GEMM_RATE  +  accesses · itemsize · run_factor / COPY_RATE / thread_gain  +  calls · CALL_OVERHEAD

* ``gemm`` multiplies exactly the useful products, writes a column buffer of
  ``C_out · prod(K)`` values per input position and adds every tap's slice into the output; its
  adds move runs as long as the input's last spatial dimension.
* ``gemm_jit`` (with numba) is ``gemm`` with a compiled scatter: one pass over the columns and
  the output, whatever the run length. Its depthwise kernels skip the GEMM and the columns.
* ``phase`` writes each output value once, but its patches cover the *output* phase grid, so when
  the input is small next to the kernel it multiplies zeros of the padding (its flops grow by the
  ratio ``sum_q T_q · M_q / (prod(K) · prod(S_in))``); its runs are a phase's last dimension.
  Phases that read the same windows share their patches and one GEMM.
* ``small`` replaces the per-tap scatter by one product with a cached placement matrix: a few
  NumPy calls in all, for tiny problems where the call overhead dominates.

``run_factor = 1 + RUN_OVERHEAD / run`` charges NumPy's per-inner-loop cost: short contiguous runs
are slow. The constants were fitted on a 2-core x86-64 machine with OpenBLAS (see
``benchmarks/RESULTS.md``); only their ratios matter for the choice. Decisions are cached per
(input shape, weight shape, spec, itemsize, thread count).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

from ..shape import geometries
from ..spec import ConvTransposeSpec
from . import phase, small
from ._common import tap_windows

__all__ = ["estimate_seconds", "cheapest_path", "PATH_ORDER"]

GEMM_RATE = 190e9  # flop/s of the BLAS on large float32 products
COPY_RATE = 12e9  # bytes/s of element accesses in long contiguous runs
RUN_OVERHEAD = 3.0  # elements' worth of time per NumPy inner loop
CALL_OVERHEAD = 4e-6  # seconds per NumPy call issued from Python
THREAD_GAIN = 1.5  # speed-up of split element-wise work with 2+ threads

#: Beyond this many output phases the ``phase`` path is not considered (a GEMM per phase group
#: would be tiny, and the plan itself would take long to build for huge strides).
MAX_PHASES = 4096

#: Paths in order of preference when estimates tie.
PATH_ORDER = ("small", "gemm_jit", "gemm", "phase")


def _run_factor(run: float) -> float:
    return 1.0 + RUN_OVERHEAD / max(1.0, run)


def _gemm_seconds(flops: float, inner: int, rows: int) -> float:
    """BLAS time, slowed down when the product's inner or row dimension is small (< 64)."""
    efficiency = min(1.0, inner / 64) * min(1.0, rows / 64)
    return flops / (GEMM_RATE * max(efficiency, 1e-3))


@lru_cache(maxsize=4096)
def estimate_seconds(
    path: str,
    x_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    spec: ConvTransposeSpec,
    itemsize: int = 4,
    num_threads: int = 1,
) -> float:
    """Estimated forward time of ``path`` for a batched input of ``x_shape``."""
    n, c_in = x_shape[:2]
    spatial_in, kernel = x_shape[2:], weight_shape[2:]
    per_group_out = weight_shape[1]
    c_out = per_group_out * spec.groups
    per_group_in = c_in // spec.groups
    geo = geometries(spatial_in, kernel, spec)
    out_elems = n * c_out * prod(g.output for g in geo)
    in_elems = n * c_in * prod(spatial_in)
    weight_elems = prod(weight_shape)
    positions = n * prod(spatial_in)
    columns = positions * c_out * prod(kernel)
    useful_flops = 2 * columns * per_group_in
    gain = THREAD_GAIN if num_threads > 1 else 1.0

    gemm_rows, gemm_inner = per_group_out * prod(kernel), per_group_in
    if path == "gemm_jit" and per_group_in == 1:  # fused depthwise kernels: one pass, no GEMM
        flops, accesses, run, calls = 0, 2 * out_elems + in_elems, 1 << 20, 4
    elif path == "gemm_jit":
        flops, accesses, run, calls = useful_flops, 2 * columns + 2 * out_elems, 1 << 20, 10
    elif path == "gemm":
        windows = tap_windows(geo, kernel)
        scattered = sum(n * c_out * prod(s.stop - s.start for s in w.input_slices) for w in windows)
        accesses = columns + 3 * scattered + 2 * out_elems
        run = spatial_in[-1] if prod(spatial_in) > 1 else n
        flops, calls = useful_flops, 2 * len(windows) + 6
    elif path == "phase":
        if prod(min(g.stride, g.output) for g in geo) > MAX_PHASES:  # not worth building the plan
            return float("inf")
        plan = phase.make_plan(geo)
        run = max(1, geo[-1].output // geo[-1].stride)
        if per_group_in == 1:  # depthwise kernels: broadcast multiply-adds, no patches, no GEMM
            grid = sum(len(ph.flat_taps) * prod(ph.counts) for ph in plan.phases)
            patches = n * c_in * grid
            flops, accesses = 0, 3 * patches * per_group_out + 2 * out_elems + 2 * in_elems
            gemm_rows = gemm_inner = 1
            calls = sum(len(ph.flat_taps) + 6 for ph in plan.phases)
        else:  # one GEMM per group of phases that share their input windows
            shared = phase.phase_groups(geo)
            per_group = [n * c_in * len(g.windows) * prod(g.counts) for g in shared]
            patches = sum(per_group)
            flops = 2 * per_group_out * sum(len(g.members) * p for g, p in zip(shared, per_group))
            accesses = 2 * patches + 3 * out_elems + 2 * in_elems + 2 * weight_elems
            gemm_rows = per_group_out * max((len(g.members) for g in shared), default=1)
            gemm_inner = per_group_in * max((len(g.windows) for g in shared), default=1)
            calls = sum(len(g.windows) + 4 + 2 * len(g.members) for g in shared)
    elif path == "small":
        outputs = prod(g.output for g in geo)
        placement = prod(kernel) * prod(spatial_in) * outputs
        if placement > small.AUTO_MAX_PLACEMENT_ELEMENTS or columns > small.AUTO_MAX_COLUMN_ELEMENTS:
            return float("inf")
        flops = useful_flops + 2 * n * c_out * prod(kernel) * prod(spatial_in) * outputs
        accesses, run, calls = 2 * out_elems, 1 << 20, 3
    else:
        raise KeyError(path)
    copy_seconds = accesses * itemsize * _run_factor(run) / COPY_RATE / gain
    return _gemm_seconds(flops, gemm_inner, gemm_rows) + copy_seconds + calls * CALL_OVERHEAD


@lru_cache(maxsize=4096)
def cheapest_path(
    x_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    spec: ConvTransposeSpec,
    itemsize: int,
    available: tuple[str, ...] = ("small", "gemm", "phase"),
    num_threads: int = 1,
) -> str:
    """The available path with the smallest estimate (ties: the earlier in :data:`PATH_ORDER`)."""
    threads_now = num_threads
    candidates = [p for p in PATH_ORDER if p in available]
    return min(candidates, key=lambda p: estimate_seconds(p, x_shape, weight_shape, spec, itemsize, threads_now))
