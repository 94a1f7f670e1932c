"""The table of engine paths, and how their modules are found and loaded.

Adding a path is one module plus one line in :data:`PATHS`. A *path module* has

``applies(plan) -> Optional[str]``
    None when it can compute this call, else the reason it cannot (a forced path that cannot
    take a call raises an error with that reason; the cost model skips it).
``estimate(plan, direction) -> float``
    Estimated seconds for ``direction`` ``"forward"`` or ``"backward"`` (``inf``: never chosen
    automatically). It must not import optional dependencies (the cost model considers every
    available path before any is loaded).

and the *kernel* interface, which the variants named in the table (``depthwise``, ``dense``)
have too:

``EXACT: bool``
    True when it multiplies only the (input, weight) pairs that meet, so non-finite values and
    overflowing products give what PyTorch gives. False when it multiplies structural zeros
    (padding, 0/1 placement matrices): the dispatcher then sends operands it cannot take
    exactly to :data:`EXACT_FALLBACK`.
``forward(plan, x, weight, bias)``
    The batched forward in ``plan.compute_dtype``. With a padding mode (``plan.fold_mode`` other
    than ``'zeros'``) the border cells are folded onto the output, not dropped, and ``backward``
    reads ``grad_output`` through the same map.
``backward(plan, grad_output, x, weight, needs)``
    ``(grad_input, grad_weight, grad_bias)``; ``needs`` (``_common.Needs``) says which are
    wanted, the others are None.
``make_forward(plan)`` (optional)
    A forward ``run(x, weight, bias)`` with everything the plan decides prepared once; it must
    return a fresh C-contiguous array.

Routing shared by every path happens once, in :mod:`convtranspose.engine` (the dispatcher):
depthwise and dense calls go to the path's variant, values an inexact kernel cannot take go to
:data:`EXACT_FALLBACK`, a forced path is checked with ``applies``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Optional

__all__ = ["PathEntry", "PATHS", "EXACT_FALLBACK", "entry", "load", "missing_requirement"]


@dataclass(frozen=True)
class PathEntry:
    """One engine path: its module, what it needs installed, and its variants' modules."""

    name: str
    module: str
    requires: tuple[str, ...] = ()
    depthwise: Optional[str] = None  # takes the path's calls with in_channels == groups
    dense: Optional[str] = None  # takes the path's calls that are dense maps (Plan.dense, Plan.pointwise)
    replaces_forward: Optional[str] = None  # a path whose forward the cost model skips when this one is available


#: Every engine path, in order of preference when estimates tie.
PATHS: tuple[PathEntry, ...] = (
    PathEntry("small", "small"),
    PathEntry("gemm_jit", "gemm_jit", requires=("numba",), depthwise="depthwise_jit", dense="dense"),
    # The phase decomposition with compiled gathers: its forward computes what 'phase' computes,
    # mostly faster (1 thread, CPU time, on the 41 layers of the suite and a 60-layer sweep where
    # either came within 1.5x of the fastest path: 0.11-1.4x phase's time, median 0.9; the 1.4x on
    # a 512-channel stride-1 layer that gemm_jit takes), so the cost model skips 'phase''s forward
    # when this path can run ('phase' stays the NumPy-only path, a forced one, and a backward:
    # this path's backward is gemm_jit's, and phase's backward measured 0.56x gemm_jit's on a 7x7
    # kernel over 10 channels).
    PathEntry(
        "phase_jit", "phase_jit", requires=("numba",), depthwise="depthwise_jit", dense="dense",
        replaces_forward="phase",
    ),
    PathEntry("gemm", "gemm", dense="dense"),
    PathEntry("phase", "phase", depthwise="depthwise"),
)

#: The exact path that takes the operands an inexact kernel cannot (it has no requirements).
EXACT_FALLBACK = "gemm"

_BY_NAME = {path.name: path for path in PATHS}


def entry(name: str) -> PathEntry:
    return _BY_NAME[name]


def load(module: str) -> ModuleType:
    """A path or kernel module of this package, imported on first use."""
    return importlib.import_module(f"{__package__}.{module}")


def missing_requirement(path: PathEntry) -> Optional[str]:
    """Why ``path`` cannot run here (a required package is not installed), or None.

    Checked without importing the package, so that ``import convtranspose`` stays light.
    """
    for name in path.requires:
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed (pip install 'convtranspose[jit]')"
    return None
