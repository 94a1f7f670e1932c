"""Compute kernels ("engine paths") and the dispatcher that routes a planned call to one.

Every path computes the same function; they differ in speed and memory. The paths are listed in
:data:`convtranspose.engine.registry.PATHS`, which also documents the interface a path module
implements (``applies``, ``estimate``, ``forward``, ``backward``, optional ``make_forward``).

The dispatcher does the routing every path shares, once:

* :func:`route` picks a path for the forward and one for the backward of a
  :class:`~convtranspose.plan.Plan`: the forced one (:func:`use_path`; an error if it cannot take
  the call), else the cheapest by the paths' own estimates (skipping a forward that an available
  path ``replaces_forward`` in the registry);
* depthwise calls (``in_channels == groups``) and dense ones (``Plan.dense``, ``Plan.pointwise``) go to the path's
  variant kernel named in the registry;
* a padding mode needs no routing of its own: every kernel folds the border (``Plan.fold_mode``)
  itself, adding each border cell onto the output cell it folds to where the zeros mode drops it
  (:func:`convtranspose.padding.fold_positions`; the NumPy kernels do it block by block with
  :func:`convtranspose.padding.fold_pieces`) and reading the gradient through the same map (the
  mode's padding). So a mode costs the border cells' products on top of the zeros-mode call,
  with no canvas and no copy;
* values an inexact kernel (``EXACT = False``: it multiplies structural zeros) cannot take --
  NaN, infinity, or finite products that may overflow -- go to the exact ``gemm`` kernels, whose
  products are exactly the pairs that meet, as in PyTorch. This holds for a forced path too.

A path whose requirement is not installed (numba for ``gemm_jit``) is listed by
:func:`unavailable_paths` with the reason; its package is imported only when a call uses it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from types import ModuleType
from typing import Callable, Iterator, Optional

import numpy as np

from ..errors import ParameterError, ParameterTypeError
from ..plan import Plan
from . import cost, registry, threads
from ._common import Grads, Needs, bias_grad, bounded_products, finite, product_limit
from .threads import get_num_threads, set_num_threads

__all__ = [
    "available_paths",
    "unavailable_paths",
    "use_path",
    "route",
    "kernel_name",
    "forward",
    "forward_runner",
    "dispatch_state",
    "backward",
    "bias_grad",
    "set_num_threads",
    "get_num_threads",
    "Runner",
]

#: A prepared forward: ``run(x, weight, bias) -> output`` (batched, compute dtype).
Runner = Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]

_forced = threading.local()
_load_failures: dict[str, str] = {}  # paths whose requirement failed to import when first used


def unavailable_paths() -> dict[str, str]:
    """Registered paths that cannot run here, with the reason (e.g. numba not installed)."""
    reasons = {}
    for path in registry.PATHS:
        reason = _load_failures.get(path.name) or registry.missing_requirement(path)
        if reason is not None:
            reasons[path.name] = reason
    return reasons


def available_paths() -> tuple[str, ...]:
    """Names of the engine paths that can run here, in the registry's order."""
    missing = unavailable_paths()
    return tuple(path.name for path in registry.PATHS if path.name not in missing)


@contextlib.contextmanager
def use_path(name: Optional[str]) -> Iterator[None]:
    """Force engine path ``name`` (or restore automatic choice with None) in this thread.

    A forced path that cannot take a call raises :class:`~convtranspose.ParameterError` naming
    the reason. Operand values the path cannot compute exactly (see the module docstring) still
    go to ``gemm``.
    """
    if name is not None and not isinstance(name, str):
        raise ParameterTypeError(f"engine path must be a str or None, got {name!r} of type {type(name).__name__}")
    if name is not None:
        missing = unavailable_paths()
        if name in missing:
            raise ParameterError(f"engine path {name!r} is not available here: {missing[name]}")
        if name not in available_paths():
            raise ParameterError(f"unknown engine path {name!r}; available paths: {', '.join(available_paths())}")
    previous = getattr(_forced, "name", None)
    _forced.name = name
    try:
        yield
    finally:
        _forced.name = previous


def dispatch_state() -> tuple[Optional[str], int, int]:
    """What, besides the plan, decides a call's path and how its work is split: the forced path,
    the thread count and the size threshold for splitting (a cache of routed plans keys on it)."""
    return getattr(_forced, "name", None), threads._num_threads, threads.MIN_PARALLEL_ELEMENTS


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


#: A forward with fewer useful flops than this runs its GEMMs on one BLAS thread
#: (:func:`convtranspose.engine.threads.blas_limit`): waking OpenBLAS's workers costs more than
#: they save, and a worker left spinning after a call takes a core from the engine's own threads.
#: Measured on a quiet 2-core machine (auto path, 2 threads, BLAS at 1 vs 2 threads, interleaved,
#: the 54 layers of the suite and sweep seed 1334851183 with 0.5-400 MFLOP): below 1e7 flops 17 of
#: 19 forwards were faster on one BLAS thread (0.34-0.98x, two at 1.15x and 1.41x); from 2e7 most
#: were slower (up to 1.76x). Depthwise forwards (no GEMM at all) were faster at any size in that
#: comparison (0.26-1.03x; the cause is not established, a BLAS worker still spinning from an
#: earlier call is the suspect), though the full bench of 2026-11-30 05:56 did not show the gain
#: on the suite's depthwise layer. Backwards gained nothing overall (0.48-1.53x below 1e7), so
#: they keep the BLAS's setting.
SINGLE_BLAS_THREAD_FLOPS = 1e7

#: Below this many flops a call's GEMMs are single-threaded anyway (OpenBLAS threads a GEMM from
#: 65536 x 4 multiply-adds), so the call skips setting the BLAS threads (a tiny call takes ~6 us).
BLAS_THREADED_FROM_FLOPS = 2 * 65536 * 4


def route(plan: Plan) -> Plan:
    """``plan`` with its forward and backward paths chosen (under the current dispatch state), and
    the BLAS threads its forward may use."""
    flops = cost.sizes(plan).useful_flops
    small = flops < SINGLE_BLAS_THREAD_FLOPS or plan.depthwise
    single = get_num_threads() > 1 and flops >= BLAS_THREADED_FROM_FLOPS and small
    plan = replace(plan, blas_threads=1 if single else 0)
    forced = getattr(_forced, "name", None)
    if forced is not None:
        reason = registry.load(registry.entry(forced).module).applies(plan)
        if reason is not None:
            raise ParameterError(f"engine path {forced!r} cannot take this call: {reason}")
        _require(forced)
        return replace(plan, forward_path=forced, backward_path=forced)
    return replace(plan, forward_path=_cheapest(plan, "forward"), backward_path=_cheapest(plan, "backward"))


def _cheapest(plan: Plan, direction: str) -> str:
    """The applicable path with the smallest estimate (ties: the earlier in the registry)."""
    if plan.empty:  # nothing to compute: nothing to choose between
        return registry.EXACT_FALLBACK
    while True:
        available = available_paths()
        replaced = {registry.entry(name).replaces_forward for name in available} if direction == "forward" else set()
        candidates: list[tuple[float, int, str]] = []
        for name in available:
            if name in replaced:  # an available path computes the same forward faster
                continue
            module = registry.load(registry.entry(name).module)
            if module.applies(plan) is None:
                candidates.append((module.estimate(plan, direction), len(candidates), name))
        best = min(candidates)[2]
        if _require(best, forced=False):
            return best


def _require(name: str, forced: bool = True) -> bool:
    """Import the kernels of ``name`` now (its first use); False, or an error when forced, if that fails."""
    path = registry.entry(name)
    if not path.requires:
        return True
    try:
        for module in {path.module, path.depthwise, path.dense} - {None}:
            _kernel_module(module)
    except ImportError as exc:
        _load_failures[name] = f"importing its requirements failed ({exc})"
        if forced:
            raise ParameterError(f"engine path {name!r} is not available here: {_load_failures[name]}") from exc
        return False
    return True


def _kernel_module(module: Optional[str]) -> ModuleType:
    loaded = registry.load(module)  # type: ignore[arg-type]
    load_kernels = getattr(loaded, "load_kernels", None)
    if load_kernels is not None:
        load_kernels()
    return loaded


def _kernel(name: str, plan: Plan) -> ModuleType:
    """The module that computes ``plan`` on path ``name``: the path's depthwise or dense variant
    when the registry names one and the call is of that kind, else the path itself."""
    path = registry.entry(name)
    variant = path.depthwise if plan.depthwise else None
    if variant is None and (plan.dense or plan.pointwise):
        variant = path.dense
    return registry.load(variant or path.module)


def kernel_name(plan: Plan, direction: str = "forward") -> str:
    """The module (path or variant, e.g. ``'depthwise_jit'``) that computes a routed plan's
    ``direction`` for finite, moderate operands."""
    name = plan.forward_path if direction == "forward" else plan.backward_path
    return _kernel(name, plan).__name__.rsplit(".", 1)[-1]


def _takes(kernel: ModuleType, plan: Plan, x: np.ndarray, weight: np.ndarray) -> bool:
    """Whether ``kernel`` computes the forward of these values exactly (always, for an exact kernel)."""
    return bool(kernel.EXACT) or bounded_products(x, weight, product_limit(plan))


# --------------------------------------------------------------------------------------------
# Computation
# --------------------------------------------------------------------------------------------


def forward(plan: Plan, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """Batched forward of a routed plan."""
    kernel = _kernel(plan.forward_path, plan)
    if not _takes(kernel, plan, x, weight):
        kernel = _kernel(registry.EXACT_FALLBACK, plan)
    with threads.blas_limit(plan.blas_threads):
        return kernel.forward(plan, x, weight, bias)


def forward_runner(plan: Plan) -> Runner:
    """A forward ``run(x, weight, bias)`` for a routed plan, everything the plan decides prepared.

    Valid only under the :func:`dispatch_state` the plan was routed in; returns a fresh
    C-contiguous array.
    """
    kernel = _kernel(plan.forward_path, plan)
    run = _limited(_prepared(kernel, plan), plan.blas_threads)
    if kernel.EXACT:
        return run
    exact: list[Runner] = []
    limit = product_limit(plan)

    def guarded(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        if bounded_products(x, weight, limit):
            return run(x, weight, bias)
        if not exact:
            exact.append(_limited(_prepared(_kernel(registry.EXACT_FALLBACK, plan), plan), plan.blas_threads))
        return exact[0](x, weight, bias)

    return guarded


def _limited(run: Runner, blas_threads: int) -> Runner:
    """``run`` with its GEMMs on at most ``blas_threads`` BLAS threads (unchanged for 0)."""
    if blas_threads <= 0:
        return run

    def limited(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        with threads.blas_limit(blas_threads):
            return run(x, weight, bias)

    return limited


def _prepared(kernel: ModuleType, plan: Plan) -> Runner:
    make_forward = getattr(kernel, "make_forward", None)
    if make_forward is not None:
        prepared: Runner = make_forward(plan)
        return prepared
    path_forward = kernel.forward

    def run(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        return np.ascontiguousarray(path_forward(plan, x, weight, bias))

    return run


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
    """Batched gradients of a routed plan."""
    kernel = _kernel(plan.backward_path, plan)
    if not kernel.EXACT and not finite(grad_output, x, weight):
        kernel = _kernel(registry.EXACT_FALLBACK, plan)
    grads: Grads = kernel.backward(plan, grad_output, x, weight, Needs(need_input, need_weight, need_bias))
    return grads
