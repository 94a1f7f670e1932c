"""dtypes and memory layouts: result dtype, float16, fresh contiguous results, untouched inputs,
non-contiguous and negative-stride views, empty batches, unbatched inputs, nested lists.

Every check runs on every engine path (the ``engine_path`` parameter, see conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import convtranspose
from convtranspose import ConvTranspose2d, conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d
from convtranspose.engine import use_path
from oracle import OURS_FN, assert_close, conv_transpose_naive

FIXED = OURS_FN

# (ndim, x shape, weight shape, kwargs); weight is (C_in, C_out / groups, *kernel)
CONFIGS = [
    (1, (2, 4, 9), (4, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    (2, (3, 2, 5, 4), (2, 3, 2, 3), dict(stride=(2, 1), dilation=(1, 2))),
    (2, (1, 6, 7, 7), (6, 2, 3, 3), dict(stride=2, padding=1, groups=3)),
    (2, (2, 3, 4, 4), (3, 4, 4, 4), dict(stride=2, padding=1)),
    (3, (2, 2, 3, 4, 3), (2, 2, 2, 3, 2), dict(stride=(1, 2, 2), padding=(0, 1, 0), output_padding=(0, 1, 1))),
]


def ids(config):
    return f"{config[0]}d-x{config[1]}-w{config[2]}"


def operands(config, dtype=np.float64, seed=0):
    _, x_shape, w_shape, kwargs = config
    rng = np.random.default_rng(seed)
    out_channels = w_shape[1] * kwargs.get("groups", 1)
    return (
        rng.standard_normal(x_shape).astype(dtype),
        rng.standard_normal(w_shape).astype(dtype),
        rng.standard_normal(out_channels).astype(dtype),
    )


def naive(config, x, w, b):
    _, _, _, kwargs = config
    args = {k: v for k, v in kwargs.items() if k != "groups"}
    return conv_transpose_naive(x, w, b, groups=kwargs.get("groups", 1), **args)


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_result_has_input_dtype(config, dtype, engine_path):
    x, w, b = operands(config, dtype)
    with use_path(engine_path):
        out = FIXED[config[0]](x, w, b, **config[3])
    assert out.dtype == dtype
    assert_close(out, naive(config, x, w, b), dtype)


@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_float16_computed_in_float32(config, engine_path):
    x, w, b = operands(config, np.float16)
    with use_path(engine_path):
        out = FIXED[config[0]](x, w, b, **config[3])
        via_float32 = FIXED[config[0]](x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), **config[3])
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, via_float32.astype(np.float16))
    # and against the float64 loop reference (not only against our own float32 path)
    assert_close(out, naive(config, x, w, b), np.float16)


def test_float16_module(engine_path):
    layer = ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float16, rng=0)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float16)
    with use_path(engine_path):
        out = layer(x)
        expected = conv_transpose2d(x.astype(np.float32), layer.weight.astype(np.float32),
                                    layer.bias.astype(np.float32), stride=2).astype(np.float16)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, expected)  # the module is the functional call ...
    assert_close(out, conv_transpose_naive(x, layer.weight, layer.bias, stride=2), np.float16)  # ... and right


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_module_dtypes(dtype, engine_path):
    layer = ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=dtype, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(dtype)
    with use_path(engine_path):
        out = layer(x)
    assert out.dtype == dtype
    assert_close(out, conv_transpose_naive(x, layer.weight, layer.bias, stride=2, padding=1), dtype)


# --------------------------------------------------------------------------------------------
# Results are fresh C-contiguous arrays; inputs are never modified
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_result_is_fresh_and_contiguous_and_inputs_untouched(config, dtype, engine_path):
    x, w, b = operands(config, dtype)
    copies = [a.copy() for a in (x, w, b)]
    call = lambda: FIXED[config[0]](x, w, b, **config[3])  # noqa: E731
    with use_path(engine_path):
        first = call()
        second = call()
        for out in (first, second):
            assert out.flags.c_contiguous and out.flags.writeable
            assert not any(np.shares_memory(out, a) for a in (x, w, b))
        assert not np.shares_memory(first, second)
        expected = second.copy()
        first[...] = 123  # scribbling on one result must not leak into later results (no cached buffers)
        third = call()
        unbatched = FIXED[config[0]](x[0], w, b, **config[3])
    np.testing.assert_array_equal(third, expected)
    np.testing.assert_array_equal(unbatched, expected[0])
    assert unbatched.flags.c_contiguous and not np.shares_memory(unbatched, x)
    for original, copy in zip((x, w, b), copies):
        np.testing.assert_array_equal(original, copy)


def test_inputs_untouched_with_output_size_and_module(engine_path):
    layer = ConvTranspose2d(2, 4, 3, stride=2, padding=1, groups=2, rng=0)
    weight, bias = layer.weight.copy(), layer.bias.copy()
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 3)).astype(np.float32)
    x_copy = x.copy()
    with use_path(engine_path):
        layer(x, output_size=(6, 5))
        conv_transpose(x, layer.weight, layer.bias, stride=2, padding=1, groups=2, output_size=(2, 4, 6, 6))
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(layer.weight, weight)
    np.testing.assert_array_equal(layer.bias, bias)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=ids)
def test_read_only_inputs_accepted(config, engine_path):
    x, w, b = operands(config)
    expected = naive(config, x, w, b)
    for a in (x, w, b):
        a.setflags(write=False)
    with use_path(engine_path):
        out = FIXED[config[0]](x, w, b, **config[3])
    assert out.flags.writeable
    assert_close(out, expected, np.float64)


# --------------------------------------------------------------------------------------------
# Non-contiguous and negative-stride views give the same result as contiguous copies
# --------------------------------------------------------------------------------------------


def views(array: np.ndarray, seed: int):
    """Same-valued views of ``array`` with unusual memory layouts, by name."""
    rng = np.random.default_rng(seed)
    reversed_axes = tuple(range(array.ndim))[::-1]
    yield "fortran", np.asfortranarray(array)
    yield "transposed view", np.ascontiguousarray(array.transpose(reversed_axes)).transpose(reversed_axes)
    strided = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
    strided[..., ::2] = array
    yield "step-2 slice", strided[..., ::2]
    yield "negative stride (last axis)", np.ascontiguousarray(array[..., ::-1])[..., ::-1]
    yield "negative strides (all axes)", np.ascontiguousarray(array[(slice(None, None, -1),) * array.ndim])[
        (slice(None, None, -1),) * array.ndim
    ]
    noise = rng.standard_normal(array.shape).astype(array.dtype)
    stacked = np.stack([noise, array], axis=-1)
    yield "interleaved", stacked[..., 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_non_contiguous_operands_match_contiguous(config, dtype, engine_path):
    x, w, b = operands(config, dtype)
    call = FIXED[config[0]]
    with use_path(engine_path):
        expected = call(x, w, b, **config[3])
        for which, array in (("input", x), ("weight", w), ("bias", b)):
            for name, view in views(array, seed=1):
                np.testing.assert_array_equal(view, array)  # the view really holds the same values
                args = {"input": x, "weight": w, "bias": b}
                args[which] = view
                out = call(args["input"], args["weight"], args["bias"], **config[3])
                assert out.flags.c_contiguous, (which, name)
                np.testing.assert_array_equal(out, expected, err_msg=f"{which} as {name}")


def test_negative_stride_view_of_input(engine_path):
    """x[..., ::-1] is the flipped signal: the result equals that of the flipped copy."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    with use_path(engine_path):
        flipped_view = conv_transpose2d(x[..., ::-1], w, stride=2)
        flipped_copy = conv_transpose2d(np.ascontiguousarray(x[..., ::-1]), w, stride=2)
    np.testing.assert_array_equal(flipped_view, flipped_copy)
    assert_close(flipped_view, conv_transpose_naive(x[..., ::-1], w, stride=2), np.float64)


# --------------------------------------------------------------------------------------------
# Batch 0, unbatched inputs, nested lists
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_empty_batch(config, dtype, engine_path):
    ndim, x_shape, _, kwargs = config
    x, w, b = operands(config, dtype)
    with use_path(engine_path):
        full = FIXED[ndim](x, w, b, **kwargs)
        empty = FIXED[ndim](x[:0], w, b, **kwargs)
    assert empty.shape == (0,) + full.shape[1:]
    assert empty.dtype == dtype


def test_empty_batch_module(engine_path):
    layer = ConvTranspose2d(8, 16, kernel_size=4, stride=2, padding=1, rng=0)
    with use_path(engine_path):
        out = layer(np.zeros((0, 8, 8, 8), dtype=np.float32))
        sized = layer(np.zeros((0, 8, 8, 8), dtype=np.float32), output_size=(17, 16))
    assert out.shape == (0, 16, 16, 16) and out.dtype == np.float32
    assert sized.shape == (0, 16, 17, 16)


@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_unbatched_equals_batched_first_item(config, engine_path):
    ndim, _, _, kwargs = config
    x, w, b = operands(config)
    with use_path(engine_path):
        batched = FIXED[ndim](x[:1], w, b, **kwargs)
        unbatched = FIXED[ndim](x[0], w, b, **kwargs)
        generic = conv_transpose(x[0], w, b, **kwargs)
    assert unbatched.shape == batched.shape[1:]
    np.testing.assert_array_equal(unbatched, batched[0])
    np.testing.assert_array_equal(generic, batched[0])


def test_nested_lists_accepted(engine_path):
    x = [[[0.0, 1.0], [2.0, 3.0]]]  # unbatched (C=1, 2, 2)
    w = [[[[1.0, 2.0], [3.0, 4.0]]]]
    b = [0.5]
    with use_path(engine_path):
        out = conv_transpose2d(x, w, b)
        batched = convtranspose.conv_transpose([x], w, b, stride=(1, 2))
    assert out.dtype == np.float64 and out.shape == (1, 3, 3)
    np.testing.assert_array_equal(out, [[[0.5, 1.5, 2.5], [2.5, 10.5, 10.5], [6.5, 17.5, 12.5]]])
    np.testing.assert_array_equal(batched, conv_transpose_naive(np.array([x]), np.array(w), np.array(b), stride=(1, 2)))


def test_nested_lists_in_module(engine_path):
    layer = ConvTranspose2d(1, 1, 2, bias=False, dtype=np.float64)
    layer.weight = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    with use_path(engine_path):
        out = layer([[[[0.0, 1.0], [2.0, 3.0]]]])
    np.testing.assert_array_equal(out, [[[[0.0, 1.0, 2.0], [2.0, 10.0, 10.0], [6.0, 17.0, 12.0]]]])
