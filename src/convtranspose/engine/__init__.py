"""Compute kernels ("engine paths") and the dispatcher that picks one.

Every path computes the same function; they differ in speed and memory. Each path module exposes
``forward(x, weight, bias, spec)`` and ``backward(grad_output, x, weight, spec, *, need_input,
need_weight, need_bias)`` on validated, batched float32/float64 arrays, and may expose
``make_forward(x_shape, weight_shape, spec, dtype)``, a forward with everything the shapes decide
prepared once (:func:`forward_runner` uses it; the functional API caches runners per call signature).

:func:`use_path` forces one path (tests use it so that the cost model cannot hide a path from
them); otherwise :func:`choose_path` picks one.
"""

from __future__ import annotations

import contextlib
import threading
from types import ModuleType
from typing import Callable, Iterator, Optional

import numpy as np

from ..errors import ParameterError, ParameterTypeError
from ..spec import ConvTransposeSpec
from . import cost, gemm, phase, small, threads
from ._common import bias_grad
from .threads import get_num_threads, set_num_threads

__all__ = [
    "available_paths",
    "use_path",
    "choose_path",
    "forward",
    "forward_runner",
    "dispatch_state",
    "backward",
    "bias_grad",
    "set_num_threads",
    "get_num_threads",
]

_PATHS: dict[str, ModuleType] = {"gemm": gemm, "phase": phase, "small": small}

try:  # the compiled scatter/gather is an optional extra: convtranspose[jit]
    from . import gemm_jit
except ImportError:  # numba not installed
    gemm_jit = None
else:
    _PATHS["gemm_jit"] = gemm_jit
_forced = threading.local()


def available_paths() -> tuple[str, ...]:
    """Names of every engine path, in a fixed order."""
    return tuple(_PATHS)


@contextlib.contextmanager
def use_path(name: Optional[str]) -> Iterator[None]:
    """Force engine path ``name`` (or restore automatic choice with None) in this thread."""
    if name is not None and not isinstance(name, str):
        raise ParameterTypeError(f"engine path must be a str or None, got {name!r} of type {type(name).__name__}")
    if name is not None and name not in _PATHS:
        raise ParameterError(f"unknown engine path {name!r}; available paths: {', '.join(_PATHS)}")
    previous = getattr(_forced, "name", None)
    _forced.name = name
    try:
        yield
    finally:
        _forced.name = previous


def choose_path(
    x_shape: tuple[int, ...], weight_shape: tuple[int, ...], spec: ConvTransposeSpec, itemsize: int = 4
) -> str:
    """The path used for a call: the forced one, else the cost model's choice."""
    forced = getattr(_forced, "name", None)
    if forced is not None:
        return forced
    if x_shape[0] == 0 or weight_shape[1] == 0:  # an empty output: nothing to choose between
        return "gemm"
    return cost.cheapest_path(
        tuple(x_shape), tuple(weight_shape), spec, itemsize, available_paths(), threads.get_num_threads()
    )


def forward(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray], spec: ConvTransposeSpec) -> np.ndarray:
    """Batched forward on the chosen path."""
    return _PATHS[choose_path(x.shape, weight.shape, spec, x.itemsize)].forward(x, weight, bias, spec)


def dispatch_state() -> tuple[Optional[str], int, int]:
    """What, besides shapes and the spec, decides a call's path and how its work is split: the
    forced path, the thread count and the size threshold for splitting."""
    return getattr(_forced, "name", None), threads._num_threads, threads.MIN_PARALLEL_ELEMENTS


def forward_runner(
    x_shape: tuple[int, ...], weight_shape: tuple[int, ...], spec: ConvTransposeSpec, dtype: np.dtype
) -> Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]:
    """A forward ``run(x, weight, bias)`` specialised to these shapes, spec and dtype.

    The path is chosen once, now (so the runner is only valid under the current
    :func:`dispatch_state`). A path module may offer ``make_forward(x_shape, weight_shape, spec,
    dtype)`` that precomputes what the shapes decide; the others run their ``forward``. The
    runner returns a fresh C-contiguous array.
    """
    module = _PATHS[choose_path(x_shape, weight_shape, spec, np.dtype(dtype).itemsize)]
    make_forward = getattr(module, "make_forward", None)
    if make_forward is not None:
        return make_forward(tuple(x_shape), tuple(weight_shape), spec, np.dtype(dtype))
    path_forward = module.forward

    def run(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        return np.ascontiguousarray(path_forward(x, weight, bias, spec))

    return run


def backward(grad_output, x, weight, spec, *, need_input=True, need_weight=True, need_bias=True):
    """Batched gradients on the chosen path."""
    path = _PATHS[choose_path(x.shape, weight.shape, spec, x.itemsize)]
    return path.backward(
        grad_output, x, weight, spec, need_input=need_input, need_weight=need_weight, need_bias=need_bias
    )


