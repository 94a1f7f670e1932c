"""The issue's seed examples, through the module API, with hand-given expected values.

``ConvTranspose2d(1, 1, 2, bias=False)`` with its weight set to [[1.1, 2.2], [3.3, 4.4]] applied to
the 1x1x2x2 input [[0, 1], [2, 3]]. The expected arrays below are constants written out by hand
from the definition (input element i, j stamps its value times the kernel at (i*s + t*d - p)),
not computed by the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import convtranspose
from convtranspose import ConvTranspose2d
from convtranspose.engine import use_path
from oracle import assert_close, engine_path_params, torch_conv_transpose

INPUT = [[[[0.0, 1.0], [2.0, 3.0]]]]
KERNEL = [[[[1.1, 2.2], [3.3, 4.4]]]]

SEEDS = {
    "stride 1": (
        dict(),
        [[0.0, 1.1, 2.2], [2.2, 11.0, 11.0], [6.6, 18.7, 13.2]],
    ),
    "stride (1, 2)": (
        dict(stride=(1, 2)),
        [[0.0, 0.0, 1.1, 2.2], [2.2, 4.4, 6.6, 11.0], [6.6, 8.8, 9.9, 13.2]],
    ),
    "dilation 2": (
        dict(dilation=2),
        [[0.0, 1.1, 0.0, 2.2], [2.2, 3.3, 4.4, 6.6], [0.0, 3.3, 0.0, 4.4], [6.6, 9.9, 8.8, 13.2]],
    ),
    "padding 1": (
        dict(padding=1),
        [[11.0]],
    ),
}


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("name", list(SEEDS))
def test_seed_example(engine_path, name, dtype, rtol):
    kwargs, expected = SEEDS[name]
    layer = ConvTranspose2d(1, 1, 2, bias=False, dtype=dtype, **kwargs)
    layer.weight = np.array(KERNEL, dtype=dtype)
    with use_path(engine_path):
        out = layer(np.array(INPUT, dtype=dtype))
    assert out.dtype == dtype
    assert out.shape == (1, 1) + np.shape(expected)
    np.testing.assert_allclose(out[0, 0], np.array(expected), rtol=rtol, atol=rtol * 20)


@pytest.mark.parametrize("name", list(SEEDS))
def test_seed_example_functional(engine_path, name):
    kwargs, expected = SEEDS[name]
    with use_path(engine_path):
        out = convtranspose.conv_transpose2d(np.array(INPUT), np.array(KERNEL), **kwargs)
    np.testing.assert_allclose(out[0, 0], np.array(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", [None, *engine_path_params()])
def test_seed_example_shape_dcgan_layer(path):
    """(1, 32, 16, 16) -> (1, 64, 32, 32), with the automatic path choice (None) and on each path,
    against torch."""
    layer = ConvTranspose2d(32, 64, kernel_size=4, stride=2, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((1, 32, 16, 16)).astype(np.float32)
    with use_path(path):
        out = layer(x)
    assert out.shape == (1, 64, 32, 32)
    assert out.dtype == np.float32
    assert_close(out, torch_conv_transpose(x, layer.weight, layer.bias, stride=2, padding=1), np.float32)
