"""The engine's thread setting, and every path with its work split across threads.

The split only happens above a size threshold; the tests lower it to zero so that small cases
exercise the same code as large ones, and compare against the naive reference and torch autograd.
"""

import re

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine
from convtranspose.engine import threads
from oracle import assert_close, assert_matches_autograd, conv_transpose_naive

CASES = [
    # (x shape, weight shape, stride, padding, output_padding, groups, dilation)
    ((3, 4, 5, 6), (4, 3, 3, 2), (2, 1), (1, 0), (1, 0), 1, (1, 2)),
    ((2, 6, 4), (6, 2, 4), (3,), (1,), (2,), 2, (1,)),
    ((1, 4, 3, 2, 3), (4, 5, 2, 2, 3), (2, 1, 2), (0, 1, 1), (1, 0, 0), 1, (1, 1, 1)),
    ((5, 3, 4, 4), (3, 1, 4, 4), (2, 2), (1, 1), (0, 0), 3, (1, 1)),
]

@pytest.fixture
def always_split(monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_ELEMENTS", 0)
    previous = threads.get_num_threads()
    threads.set_num_threads(3)
    yield
    threads.set_num_threads(previous)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"x{c[0]}")
def test_split_work_matches_torch_and_reference(always_split, engine_path, case):
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * groups)
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    with engine.use_path(engine_path):
        out = ct.conv_transpose(x, w, b, **kwargs)
    assert_close(out, conv_transpose_naive(x, w, b, **kwargs), np.float64, "forward vs the naive reference")
    assert_matches_autograd(x, w, b, engine_path, grad_seed=7, **kwargs)


def test_split_covers_the_range_once():
    previous = threads.get_num_threads()
    try:
        threads.set_num_threads(3)
        parts = threads.split(10, work_elements=1 << 20)
        assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 10)]
        assert threads.split(10, work_elements=10) == [slice(0, 10)]
        pairs = threads.split2(2, 9, work_elements=1 << 20)  # too few rows: split the second axis
        assert [(a, (b.start, b.stop)) for a, b in pairs] == [(slice(0, 2), (0, 3)), (slice(0, 2), (3, 6)), (slice(0, 2), (6, 9))]
    finally:
        threads.set_num_threads(previous)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (0, ct.ParameterError, "the number of threads must be positive (>= 1), got 0"),
        (-2, ct.ParameterError, "the number of threads must be positive (>= 1), got -2"),
        (1.5, ct.ParameterTypeError, "the number of threads must be an int, got 1.5 of type float"),
        (True, ct.ParameterTypeError, "the number of threads must be an int, got True of type bool"),
    ],
)
def test_set_num_threads_rejects_bad_values(bad, error, message):
    with pytest.raises(error, match=re.escape(message)):
        engine.set_num_threads(bad)


def test_errors_in_worker_threads_propagate(always_split):
    def task(part):
        raise RuntimeError(f"boom {part.start}")

    with pytest.raises(RuntimeError, match="boom"):
        threads.run(task, threads.split(6, work_elements=1))


def test_a_failing_part_waits_for_the_others_before_raising(always_split):
    """The caller's own part fails first: the pool's parts, which write into shared buffers, still
    finish before the error reaches the caller."""
    import time

    finished = []

    def task(part):
        if part.start == 0:
            raise ValueError("first part")
        time.sleep(0.05)
        finished.append(part.start)

    with pytest.raises(ValueError, match="first part"):
        threads.run(task, [slice(0, 1), slice(1, 2), slice(2, 3)])
    assert sorted(finished) == [1, 2]
    assert not threads.in_task()


def _blas_threads() -> list[int]:
    """Thread counts of the BLAS libraries the engine controls (NumPy's, loaded at its first use),
    read afresh through threadpoolctl (other libraries loaded later, e.g. by torch, are not ours)."""
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="setting the BLAS threads needs threadpoolctl")
    ours = {lib.filepath for lib in threads._blas_libraries()}
    return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["filepath"] in ours]


def test_work_split_inside_a_part_runs_serially_on_that_thread(always_split):
    """A part running on the pool that splits its own work (a forward split into thread parts,
    whose scatter splits rows) runs it itself, in order, without waiting on the busy pool."""
    import threading

    seen = []

    def inner(part):
        seen.append((threading.current_thread().name, part, threads.in_task()))

    def outer(part):
        assert threads.split(10, 1 << 30) == [slice(0, 10)]
        threads.run(inner, [slice(part.start, part.start + 1), slice(part.start + 1, part.start + 2)])

    assert not threads.in_task()
    threads.run(outer, [slice(0, 2), slice(2, 4), slice(4, 6)])
    assert not threads.in_task()
    assert sorted(part.start for _, part, _ in seen) == list(range(6))
    # The first part runs on the calling thread, the others on the pool; all of them as parts.
    assert all(in_task and (name.startswith("convtranspose") or name == "MainThread") for name, _, in_task in seen), seen
    assert [name for name, part, _ in seen if part.start < 2] == ["MainThread"] * 2, seen
    by_thread = {}
    for name, part, _ in seen:
        by_thread.setdefault(name, []).append(part.start)
    assert all(starts == sorted(starts) for starts in by_thread.values()), by_thread


def test_blas_limit_lowers_the_blas_threads_and_restores_them_after_concurrent_calls():
    """The main thread's small call lowers the BLAS threads and restores them when it returns,
    whatever small calls other threads make meanwhile (they leave the count alone: threadpoolctl
    lets only one thread set OpenBLAS's process-wide count); nested calls restore it once, at the
    outermost."""
    import threading

    previous = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        before = _blas_threads()
        assert before and max(before) == 2, before
        entered, leave = threading.Event(), threading.Event()

        def other_small_call():
            with threads.blas_limit(1):
                entered.set()
                leave.wait(10)

        worker = threading.Thread(target=other_small_call)
        with threads.blas_limit(1):
            assert max(_blas_threads()) == 1
            worker.start()
            assert entered.wait(10)
            with threads.blas_limit(1):
                pass
            assert max(_blas_threads()) == 1, "restored by a nested call"
            leave.set()
            worker.join()
            assert max(_blas_threads()) == 1, "restored by another thread's call"
        assert _blas_threads() == before  # restored when the outermost call returned
        with threads.blas_limit(0):  # 0 leaves them alone
            assert _blas_threads() == before
    finally:
        threads.set_num_threads(previous)


def test_route_gives_mid_size_calls_one_blas_thread():
    from convtranspose.plan import build_plan

    def routed(x_shape, w_shape, **hyper):
        f32 = np.dtype(np.float32)
        args = (hyper.get("stride", 1), hyper.get("padding", 0), 0, hyper.get("groups", 1), 1)
        return engine.route(build_plan("test", None, x_shape, f32, w_shape, f32, None, None, args))

    previous = threads.get_num_threads()
    try:
        threads.set_num_threads(2)
        assert routed((1, 21, 16, 16), (21, 21, 4, 4), stride=2, padding=1).blas_threads == 1  # FCN's upscore2: 3.6 MFLOP
        assert routed((1, 1, 3, 3), (1, 1, 3, 3)).blas_threads == 0  # single-threaded in the BLAS anyway
        assert routed((8, 256, 16, 16), (256, 128, 4, 4), stride=2, padding=1).blas_threads == 0  # 2 GFLOP
        depthwise = routed((4, 256, 32, 32), (256, 1, 4, 4), stride=2, padding=1, groups=256)  # 34 MFLOP, no GEMM
        assert depthwise.blas_threads == 1
        threads.set_num_threads(1)
        assert routed((1, 21, 16, 16), (21, 21, 4, 4), stride=2, padding=1).blas_threads == 0
    finally:
        threads.set_num_threads(previous)
