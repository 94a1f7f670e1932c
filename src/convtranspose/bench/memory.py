"""Peak extra memory of one call, seen by :mod:`tracemalloc`.

NumPy reports its data buffers to :mod:`tracemalloc`, so the traced peak during a call of our
implementation is the memory it allocates: temporaries plus its results. The *extra* memory is the
peak minus the returned arrays; it is reported relative to the layer's output size. torch and
onnxruntime allocate outside Python's tracing, so nothing is reported for them.

Examples
--------
>>> import numpy as np
>>> def double_with_temporary():
...     temporary = np.ones(1000)          # 8000 bytes, freed on return
...     return temporary * 2               # the 8000-byte result
>>> usage = peak_extra(double_with_temporary, reference_bytes=8000)
>>> usage.extra_bytes >= 8000, usage.ratio >= 1.0
(True, True)
"""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["MemoryUsage", "peak_extra", "result_bytes"]


@dataclass(frozen=True)
class MemoryUsage:
    """Peak traced bytes during a call, the bytes it returned, and the extra relative to a reference."""

    peak_bytes: int
    result_bytes: int
    reference_bytes: int

    @property
    def extra_bytes(self) -> int:
        return max(0, self.peak_bytes - self.result_bytes)

    @property
    def ratio(self) -> float:
        """Peak extra memory divided by the reference (output) size."""
        return self.extra_bytes / self.reference_bytes


def result_bytes(result: object) -> int:
    """Total size of the arrays in ``result`` (an array, or a tuple of arrays and Nones)."""
    if isinstance(result, np.ndarray):
        return result.nbytes
    if isinstance(result, (tuple, list)):
        return sum(result_bytes(item) for item in result)
    return 0


def peak_extra(call: Callable[[], object], reference_bytes: int) -> MemoryUsage:
    """Trace one ``call()``; the extra is its traced peak minus the arrays it returns."""
    gc.collect()
    already_tracing = tracemalloc.is_tracing()
    if not already_tracing:
        tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already_tracing:
            tracemalloc.stop()
    return MemoryUsage(peak - baseline, result_bytes(result), max(1, reference_bytes))
