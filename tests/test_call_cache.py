"""The forward call cache: a repeated call signature reuses a prepared runner.

The runner may reuse everything the signature decides (validation, output shape, engine path,
placement matrices) but never the operands' values, and a different dispatch state (forced path,
thread count) must not reuse a runner built under another.
"""

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine, functional
from convtranspose.engine import threads
from convtranspose.errors import DTypeError, ParameterTypeError
from oracle import assert_close, conv_transpose_naive


def _operands(rng, x_shape=(2, 3, 4, 5), w_shape=(3, 2, 3, 3), dtype=np.float32):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[1]).astype(dtype)
    return x, w, b


def _reference(x, w, b, **kw):
    return conv_transpose_naive(x, w, b, **kw)  # batched operands only


@pytest.fixture(autouse=True)
def empty_cache():
    functional._RUNNERS.clear()
    yield
    functional._RUNNERS.clear()


def test_new_values_with_the_same_signature_are_used(engine_path):
    rng = np.random.default_rng(0)
    with engine.use_path(engine_path):
        for _ in range(3):  # same shapes every time: the second and third calls hit the cache
            x, w, b = _operands(rng)
            out = ct.conv_transpose2d(x, w, b, stride=2, padding=1)
            assert_close(out, _reference(x, w, b, stride=2, padding=1), np.float32)
            w[...] = rng.standard_normal(w.shape)  # mutated in place: same object, new values
            out = ct.conv_transpose2d(x, w, b, stride=2, padding=1)
            assert_close(out, _reference(x, w, b, stride=2, padding=1), np.float32)
    assert len(functional._RUNNERS) == 1


def test_results_are_fresh_arrays_and_inputs_untouched(engine_path):
    rng = np.random.default_rng(1)
    x, w, b = _operands(rng, (1, 1, 3, 3), (1, 1, 3, 3))
    copies = [a.copy() for a in (x, w, b)]
    with engine.use_path(engine_path):
        first = ct.conv_transpose2d(x, w, b)
        second = ct.conv_transpose2d(x, w, b)
        assert first is not second and not np.shares_memory(first, second)
        assert first.flags.c_contiguous and second.flags.c_contiguous
        first[...] = 0
        np.testing.assert_array_equal(second, ct.conv_transpose2d(x, w, b))
    for array, copy in zip((x, w, b), copies):
        np.testing.assert_array_equal(array, copy)


def test_bool_after_int_is_still_rejected():
    rng = np.random.default_rng(2)
    x, w, b = _operands(rng)
    ct.conv_transpose2d(x, w, b, stride=1)  # caches the int signature; True == 1 and hashes alike
    with pytest.raises(ParameterTypeError, match="stride"):
        ct.conv_transpose2d(x, w, b, stride=True)
    with pytest.raises(ParameterTypeError, match="stride"):
        ct.conv_transpose2d(x, w, b, stride=(True, 1))


def test_errors_are_not_cached():
    rng = np.random.default_rng(3)
    x, w, b = _operands(rng)
    for _ in range(2):
        with pytest.raises(DTypeError, match="input has dtype int32, which is not supported"):
            ct.conv_transpose2d(x.astype(np.int32), w, b)
    assert not functional._RUNNERS


def test_forced_path_and_thread_count_get_their_own_runner(monkeypatch):
    rng = np.random.default_rng(4)
    x, w, b = _operands(rng)
    built = []
    original = engine.forward_runner

    def spy(*args):
        built.append(engine.dispatch_state())
        return original(*args)

    monkeypatch.setattr(engine, "forward_runner", spy)
    expected = _reference(x, w, b)
    previous = engine.get_num_threads()
    try:
        for path in engine.available_paths():
            with engine.use_path(path):
                assert_close(ct.conv_transpose2d(x, w, b), expected, np.float32, path)
        engine.set_num_threads(previous + 1)
        ct.conv_transpose2d(x, w, b)
    finally:
        engine.set_num_threads(previous)
    ct.conv_transpose2d(x, w, b)
    minimum = threads.MIN_PARALLEL_ELEMENTS
    states = [(path, previous, minimum) for path in engine.available_paths()]
    states += [(None, previous + 1, minimum), (None, previous, minimum)]
    assert built == states


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cached_calls_match_the_general_path(dtype, unbatched):
    rng = np.random.default_rng(5)
    x, w, b = _operands(rng, (2, 4, 3, 5), (4, 3, 2, 3), dtype)
    if unbatched:
        x = x[0]
    kw = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2))
    general = ct.conv_transpose2d(x, w, b, **{**kw, "stride": [2, 1]})  # a list takes the general path
    assert not functional._RUNNERS
    for _ in range(2):
        cached = ct.conv_transpose2d(x, w, b, **kw)
        assert cached.dtype == dtype and cached.shape == general.shape
        np.testing.assert_array_equal(cached, general.astype(dtype))
    assert len(functional._RUNNERS) == 1


def test_split_threshold_gets_its_own_runner(monkeypatch):
    w = np.ones((1, 1, 2, 2))
    ct.conv_transpose2d(np.ones((1, 1, 3, 3)), w)
    monkeypatch.setattr(threads, "MIN_PARALLEL_ELEMENTS", 0)
    ct.conv_transpose2d(np.ones((1, 1, 3, 3)), w)
    assert len(functional._RUNNERS) == 2


def test_cache_size_is_bounded(monkeypatch):
    monkeypatch.setattr(functional, "_MAX_RUNNERS", 3)
    w = np.ones((1, 1, 2, 2))
    for size in range(1, 9):
        ct.conv_transpose2d(np.ones((1, 1, size, size)), w)
        assert len(functional._RUNNERS) <= 3


def test_concurrent_calls_from_many_threads(engine_path):
    """Calls from several user threads at once (sharing runners, the engine's pool and caches)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    cases = [_operands(rng, (3, 4, 9, 8), (4, 3, 4, 4)) for _ in range(6)]
    kwargs = dict(stride=2, padding=1)
    with engine.use_path(engine_path):
        sequential = [ct.conv_transpose2d(x, w, b, **kwargs) for x, w, b in cases]

    def call(case):
        x, w, b = case
        with engine.use_path(engine_path):  # the forced path is per thread
            return ct.conv_transpose2d(x, w, b, **kwargs)

    previous_minimum = threads.MIN_PARALLEL_ELEMENTS
    threads.MIN_PARALLEL_ELEMENTS = 0  # every call also splits its own work across the pool
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            concurrent = list(pool.map(call, cases * 4))
    finally:
        threads.MIN_PARALLEL_ELEMENTS = previous_minimum
    for index, out in enumerate(concurrent):
        np.testing.assert_allclose(out, sequential[index % len(cases)], rtol=1e-6, atol=1e-6)
