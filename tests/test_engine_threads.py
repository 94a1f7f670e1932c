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
