"""Thread count of the engine, and a small helper to split memory-bound work across threads.

The GEMMs run on NumPy's BLAS, which has its own thread pool. The scatter, gather and layout
copies around them are NumPy element-wise operations, which run on one thread but release the
GIL; splitting them along an axis across a few Python threads uses the other cores (about 1.5×
faster with 2 threads on a 2-core machine).

:func:`set_num_threads` sets both: the engine's own pool, and the BLAS pool when ``threadpoolctl``
is installed (without it, set ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` before starting Python).
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Optional

from ..errors import ParameterError, ParameterTypeError
from .._checks import is_int

__all__ = ["set_num_threads", "get_num_threads", "split", "split2", "run", "in_task", "blas_limit"]

#: Below this many elements an operation is not worth splitting.
MIN_PARALLEL_ELEMENTS = 1 << 18


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_num_threads = _available_cores()
_pool: Optional[ThreadPoolExecutor] = None


def get_num_threads() -> int:
    """Number of threads the engine uses (default: the cores available to this process)."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the engine's own work and, with ``threadpoolctl``, for the BLAS.

    Examples
    --------
    >>> from convtranspose.engine import set_num_threads, get_num_threads
    >>> previous = get_num_threads()
    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(previous)
    """
    global _num_threads, _pool
    if not is_int(n):
        raise ParameterTypeError(f"the number of threads must be an int, got {n!r} of type {type(n).__name__}")
    if n < 1:
        raise ParameterError(f"the number of threads must be positive (>= 1), got {n}")
    _num_threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=_num_threads, user_api="blas")


#: Set in the engine's pool threads while they run a task: work they split further runs there,
#: serially (a task that waited on the pool it runs in could deadlock it, and its threads are busy).
_task = threading.local()


def in_task() -> bool:
    """Whether the calling thread is running one of :func:`run`'s parts (nested work runs serially)."""
    return getattr(_task, "active", False)


def split(length: int, work_elements: int) -> list[slice]:
    """Contiguous slices of ``range(length)``, one per thread when the work is large enough
    (one slice inside a part already running on the pool, see :func:`in_task`)."""
    parts = 1 if in_task() else min(_num_threads, length)
    if parts <= 1 or work_elements < MIN_PARALLEL_ELEMENTS:
        return [slice(0, length)]
    bounds = [length * i // parts for i in range(parts + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(parts)]


def split2(primary: int, secondary: int, work_elements: int) -> list[tuple[slice, slice]]:
    """Split along ``primary`` if it has a part for every thread, else along ``secondary``.

    Returns ``(primary_slice, secondary_slice)`` pairs covering both ranges.
    """
    whole_primary, whole_secondary = slice(0, primary), slice(0, secondary)
    if primary >= _num_threads:
        return [(part, whole_secondary) for part in split(primary, work_elements)]
    return [(whole_primary, part) for part in split(secondary, work_elements)]


def run(task: Callable[..., None], parts: list) -> None:
    """Run ``task(*part)`` (or ``task(part)`` for a slice) on every part, in parallel when there
    are several; re-raise the first error (after every part has finished).

    The first part runs on the calling thread, the others on the pool: a round trip through the
    pool costs tens of microseconds per thread woken (65 us for two empty parts on the 2-core
    machine of benchmarks/RESULTS.md), and the caller would otherwise only wait.
    """
    global _pool
    calls = [part if isinstance(part, tuple) else (part,) for part in parts]
    if len(calls) == 1 or in_task():
        for call in calls:
            task(*call)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_num_threads, thread_name_prefix="convtranspose")
    futures = [_pool.submit(_marked, task, call) for call in calls[1:]]
    errors: list[BaseException] = []
    try:
        _marked(task, calls[0])
    except BaseException as error:  # the other parts still write into shared buffers: wait for them
        errors.append(error)
    for future in futures:
        failure = future.exception()
        if failure is not None:
            errors.append(failure)
    if errors:
        raise errors[0]


def _marked(task: Callable[..., None], call: tuple) -> None:
    """``task(*call)`` with :func:`in_task` true on this thread while it runs."""
    outer = in_task()
    _task.active = True
    try:
        task(*call)
    finally:
        _task.active = outer


# --------------------------------------------------------------------------------------------
# Single-threaded BLAS for small calls
# --------------------------------------------------------------------------------------------
#
# OpenBLAS splits a GEMM across its threads once it has more than about 2.6e5 multiply-adds, and
# waking its workers costs more than it saves on GEMMs of a few MFLOP (on the 2-core machine of
# benchmarks/RESULTS.md, FCN's upscore2 took 0.31 ms at 2 threads and 0.14 ms at 1); a worker
# left spinning after a call also takes a core from the engine's own threads. The dispatcher
# marks such forwards (Plan.blas_threads = 1) and runs them inside blas_limit(1). The
# BLAS thread count is process-wide (OpenBLAS without OpenMP, as NumPy ships it), and it is set
# from the main thread only: threadpoolctl (3.8) lets only the first thread that sets a limit
# change it and silently ignores the others, and the engine's set_num_threads runs there. Calls
# from other threads leave it alone (blas_limit yields False). Nested calls restore it when the
# outermost one returns.

_blas_lock = threading.Lock()
_blas_depth = 0
_blas_saved: list[tuple[Any, int]] = []
_blas_controllers: Optional[list[Any]] = None


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the loaded BLAS libraries (empty without threadpoolctl)."""
    global _blas_controllers
    if _blas_controllers is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_controllers = []
        else:
            _blas_controllers = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _blas_controllers


@contextlib.contextmanager
def blas_limit(threads: int) -> Iterator[bool]:
    """Run the block with the BLAS on at most ``threads`` threads (0: unchanged; a no-op without
    threadpoolctl, and outside the main thread). Yields whether the limit holds in the block (every
    loaded BLAS on at most ``threads`` threads)."""
    global _blas_depth
    if threads <= 0 or threading.current_thread() is not threading.main_thread() or not _blas_libraries():
        yield False
        return
    with _blas_lock:
        if _blas_depth == 0:
            _blas_saved[:] = [(lib, lib.get_num_threads()) for lib in _blas_libraries()]
            for lib, count in _blas_saved:
                if count > threads:
                    lib.set_num_threads(threads)
        _blas_depth += 1
        holds = all(lib.get_num_threads() <= threads for lib in _blas_libraries())
    try:
        yield holds
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                for lib, count in _blas_saved:
                    lib.set_num_threads(count)
