"""The backward's peak extra memory stays under twice its largest gradient (issue 15's bound).

Measured with :mod:`tracemalloc` (NumPy reports its buffers to it, so the traced peak is exact and
deterministic: no timing), through the bench's own :func:`convtranspose.bench.memory.peak_extra`:
the peak during one ``conv_transpose_backward`` call minus the gradients it returns. Each call is
made once first, so that what a path caches for a shape (its plan, ``gemm_jit``'s target map,
compiled kernels) is not counted.

The shapes are the suite's layer kinds in miniature, each with a largest gradient of 512 KiB or
more (so that the engine's 512 KiB floor on a backward's budget does not decide the result) and
several chunks: weight larger than the input and input larger than the weight, batch chunks and (batch
size 1) ranges of input positions, a dilated layer with output padding, and a 16x16 kernel of
stride 8 whose ``grad_output`` is 11 times its largest gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine
from convtranspose.bench.memory import peak_extra
from convtranspose.engine._common import accumulate_matmul

BOUND = 2.0  # issue 15: peak extra memory <= 2x the largest gradient (backward)

#: (x shape, weight shape, keyword arguments); batch > 1 unless the id says "item".
SHAPES = {
    "weight-largest": ((16, 128, 4, 4), (128, 64, 4, 4), dict(stride=2, padding=1)),
    "input-largest": ((16, 32, 16, 16), (32, 16, 4, 4), dict(stride=2, padding=1)),
    "dilated": ((8, 64, 16, 16), (64, 16, 3, 3), dict(stride=2, padding=2, output_padding=1, dilation=2)),
    "item-1d": ((1, 128, 1024), (128, 64, 4), dict(stride=2, padding=1)),
    "item-3d": ((1, 32, 16, 16, 16), (32, 16, 2, 2, 2), dict(stride=2)),
    "item-large-output": ((1, 24, 32, 32), (24, 24, 16, 16), dict(stride=8, padding=4)),
}

#: The paths that bound the backward's buffers this way, and the shapes each bounds. ``gemm``
#: chunks by whole batch items only, so a single large item is not bounded there; ``phase``
#: (never chosen for a backward on these shapes) does not bound it yet.
PATH_SHAPES = {
    "gemm_jit": list(SHAPES),
    "gemm": ["weight-largest", "input-largest", "dilated"],
}
CASES = [
    pytest.param(path, name, id=f"{path}-{name}")
    for path, names in PATH_SHAPES.items()
    for name in names
]


def _operands(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    x_shape, w_shape, kwargs = SHAPES[name]
    rng = np.random.default_rng(15)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    grad_y = rng.standard_normal(ct.conv_transpose(x, w, **kwargs).shape, dtype=np.float32)
    return grad_y, x, w, kwargs


@pytest.fixture
def one_thread():
    """One thread for the engine and the BLAS: the same allocations, and many small GEMMs do not
    wait on a busy machine's second core."""
    previous = engine.get_num_threads()
    engine.set_num_threads(1)
    yield
    engine.set_num_threads(previous)


@pytest.mark.parametrize("path,name", CASES)
def test_backward_peak_extra_memory_is_under_twice_the_largest_gradient(one_thread, path, name):
    if path in engine.unavailable_paths():
        pytest.skip(f"engine path {path!r} cannot run here: {engine.unavailable_paths()[path]}")
    grad_y, x, w, kwargs = _operands(name)
    largest = max(x.nbytes, w.nbytes)
    with engine.use_path(path):
        def call():
            return ct.conv_transpose_backward(grad_y, x, w, **kwargs)

        call()  # plan, target map, compiled kernels: cached once per shape, not per call
        usage = peak_extra(call, largest)
    assert usage.result_bytes >= x.nbytes + w.nbytes  # the gradients are the returned arrays
    assert usage.ratio <= BOUND, (
        f"{path} {name}: peak extra {usage.extra_bytes} bytes = {usage.ratio:.2f}x the largest gradient "
        f"({largest} bytes), bound {BOUND}x"
    )


def test_the_bound_is_not_met_by_the_whole_columns():
    """The shapes make the bound bite: one chunk of all columns would exceed it on each of them."""
    for name, (x_shape, w_shape, kwargs) in SHAPES.items():
        x_size = int(np.prod(x_shape)) * 4
        largest = max(x_size, int(np.prod(w_shape)) * 4)
        columns = x_size // x_shape[1] * int(np.prod(w_shape[1:]))  # C_out * taps per input position
        assert columns + x_size > BOUND * largest, name  # the columns and a copy of the input


@pytest.mark.parametrize("budget", [1, 24, 10**9])
def test_accumulate_matmul_adds_products_blockwise(budget):
    """First product written, later ones added in blocks of the last axis (one column at a time
    with a 1-byte budget); integer-valued floats, so every sum is exact."""
    rng = np.random.default_rng(3)
    pairs = [(rng.integers(-4, 5, (2, 3, 5)).astype(float), rng.integers(-4, 5, (2, 5, 7)).astype(float)) for _ in range(3)]
    out = np.full((2, 3, 7), np.nan)
    for index, (a, b) in enumerate(pairs):
        accumulate_matmul(out, a, b, index == 0, budget)
    np.testing.assert_array_equal(out, sum(a @ b for a, b in pairs))


def _usage_on_two_threads(name: str):
    """Peak extra memory of ``gemm_jit``'s backward of shape ``name`` with two engine threads, and
    its largest gradient's size (bytes)."""
    grad_y, x, w, kwargs = _operands(name)
    previous = engine.get_num_threads()
    engine.set_num_threads(2)
    try:
        with engine.use_path("gemm_jit"):
            def call():
                return ct.conv_transpose_backward(grad_y, x, w, **kwargs)

            call()
            largest = max(x.nbytes, w.nbytes)
            return peak_extra(call, largest), largest
    finally:
        engine.set_num_threads(previous)


@pytest.mark.parametrize("name", list(SHAPES))
def test_split_backward_peak_extra_memory_is_under_twice_the_largest_gradient(monkeypatch, name):
    """``gemm_jit``'s backward split by input channels across two threads (each GEMM on one BLAS
    thread) keeps the same bound: the threads share each chunk's columns, and their input copies
    and accumulation temporaries together take what one thread's did."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(gemm_jit, "MIN_PARALLEL_MACS", 0)
    monkeypatch.setattr(gemm_jit, "MIN_PART_CHANNELS", 1)
    monkeypatch.setattr(gemm_jit, "PARALLEL_BACKWARD_BATCH", False)  # (its own test below)
    splits = []
    original = gemm_jit._channel_parts
    monkeypatch.setattr(gemm_jit, "_channel_parts", lambda *a: splits.append(original(*a)) or splits[-1])
    usage, largest = _usage_on_two_threads(name)
    assert splits and all(len(parts) == 2 for parts in splits)
    assert usage.ratio <= BOUND, (
        f"split {name}: peak extra {usage.extra_bytes} bytes = {usage.ratio:.2f}x the largest gradient "
        f"({largest} bytes), bound {BOUND}x"
    )


@pytest.mark.parametrize("name", list(SHAPES))
def test_batch_split_backward_peak_extra_memory_is_under_twice_the_largest_gradient(monkeypatch, name):
    """``gemm_jit``'s backward split by batch items across two threads keeps the bound: the threads
    share the columns budget, and the second thread's weight gradient is only allowed where it
    fits a quarter of the largest gradient (so "weight-largest" is not split)."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(gemm_jit, "MIN_BATCH_SPLIT_MACS", 0)
    splits = []
    original = gemm_jit._backward_batch_parts
    monkeypatch.setattr(gemm_jit, "_backward_batch_parts", lambda *a: splits.append(original(*a)) or splits[-1])
    usage, largest = _usage_on_two_threads(name)
    _, x, w, _ = _operands(name)
    expect_split = x.shape[0] > 1 and w.nbytes <= 0.25 * largest
    assert splits and all(len(parts) == (2 if expect_split else 1) for parts in splits), splits
    assert usage.ratio <= BOUND, (
        f"batch split {name}: peak extra {usage.extra_bytes} bytes = {usage.ratio:.2f}x the largest gradient "
        f"({largest} bytes), bound {BOUND}x"
    )
