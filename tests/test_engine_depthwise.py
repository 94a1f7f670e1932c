"""Depthwise layers (``in_channels == groups``) on every engine path, forward and all gradients.

Depthwise layers have their own kernels (NumPy broadcast multiply-adds in ``phase``, fused
compiled runs in ``gemm_jit``), with special cases by the last axis' stride (in place for 1,
unrolled for 2, generic above) and by odd or even output lengths. This sweep draws exactly that
space and compares with torch autograd in float64, with the engine's work split across threads.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convtranspose as ct
from convtranspose import engine
from convtranspose.engine import threads
from convtranspose.shape import spatial_output_shape
from convtranspose.spec import make_spec
from oracle import assert_matches_autograd, conv_transpose_naive


@st.composite
def depthwise_cases(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 4))
    multiplier = draw(st.integers(1, 3))
    batch = draw(st.integers(0, 2))
    axes = []
    for _ in range(ndim):
        size = draw(st.integers(1, 7 if ndim < 3 else 4))
        kernel = draw(st.integers(1, 5 if ndim < 3 else 3))
        stride = draw(st.integers(1, 4))
        dilation = draw(st.integers(1, 3))
        full = (size - 1) * stride + dilation * (kernel - 1) + 1
        padding = draw(st.integers(0, (full - 1) // 2))
        output_padding = draw(st.integers(0, max(stride, dilation) - 1))
        axes.append((size, kernel, stride, dilation, padding, output_padding))
    sizes, kernels, strides, dilations, paddings, output_paddings = zip(*axes)
    return dict(
        x_shape=(batch, groups) + sizes,
        w_shape=(groups, multiplier) + kernels,
        kwargs=dict(stride=strides, padding=paddings, output_padding=output_paddings, groups=groups, dilation=dilations),
    )


@contextlib.contextmanager
def split_everything():
    """Split even the smallest problems across two threads (hypothesis forbids function fixtures)."""
    previous_threads, previous_minimum = threads.get_num_threads(), threads.MIN_PARALLEL_ELEMENTS
    threads.set_num_threads(2)
    threads.MIN_PARALLEL_ELEMENTS = 0
    try:
        yield
    finally:
        threads.MIN_PARALLEL_ELEMENTS = previous_minimum
        threads.set_num_threads(previous_threads)


@given(case=depthwise_cases(), seed=st.integers(0, 2**16))
def test_depthwise_matches_torch_autograd(engine_path, case, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["x_shape"])
    w = rng.standard_normal(case["w_shape"])
    b = rng.standard_normal(case["w_shape"][1] * case["kwargs"]["groups"])
    spec = make_spec(len(case["x_shape"]) - 2, **case["kwargs"])
    spatial_out = spatial_output_shape(case["x_shape"][2:], case["w_shape"][2:], spec)
    placement = np.prod(case["w_shape"][2:]) * np.prod(case["x_shape"][2:]) * np.prod(spatial_out)
    if engine_path == "small" and placement > (1 << 22):  # the small path refuses these, by design
        with engine.use_path("small"), pytest.raises(ct.ParameterError, match="engine path 'small' handles"):
            ct.conv_transpose(x, w, b, **case["kwargs"])
        return
    assert_matches_autograd(x, w, b, engine_path, grad_seed=seed, context=split_everything, **case["kwargs"])


@pytest.mark.parametrize("length", [5, 6])
@pytest.mark.parametrize("output_padding", [0, 1])  # even and odd output lengths along the stride-2 axis
def test_depthwise_stride_two_float32_matches_naive(engine_path, length, output_padding):
    rng = np.random.default_rng(length)
    x = rng.standard_normal((2, 3, 4, length)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    kwargs = dict(stride=2, padding=1, groups=3, output_padding=(0, output_padding))
    with engine.use_path(engine_path):
        out = ct.conv_transpose(x, w, **kwargs)
    expected = conv_transpose_naive(x.astype(np.float64), w.astype(np.float64), None, **kwargs)
    assert out.shape[-1] == 2 * length + output_padding  # (L - 1) * 2 - 2 + 3 + op + 1
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
