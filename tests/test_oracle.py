"""The test toolkit checks itself: the loop references against hand-computed values and torch,
against each other through the adjoint identity (every padding mode, asymmetric padding, complex),
``assert_close``'s rule (it must fail when it should), and the import blocker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oracle import (
    NP_PAD_MODE,
    TORCH_CONV_FN,
    TORCH_FN,
    adjoint_sides,
    assert_adjoint,
    assert_close,
    conv_naive,
    conv_transpose_naive,
    naive_gradients,
    pad_pairs,
    require_torch,
    requires_torch,
    torch_autograd,
    torch_conv_transpose,
)

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# The loop references
# ----------------------------------------------------------------------------------------------


def test_naive_matches_the_readme_example_by_hand():
    x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    k = np.array([[[[1.1, 2.2], [3.3, 4.4]]]])
    expected = [[0.0, 0.0, 1.1, 2.2], [2.2, 4.4, 6.6, 11.0], [6.6, 8.8, 9.9, 13.2]]
    np.testing.assert_allclose(conv_transpose_naive(x, k, stride=(1, 2))[0, 0], expected, rtol=1e-15, atol=1e-15)


def test_naive_1d_by_hand_with_every_parameter():
    # x = [1, 2], k = [1, 10], stride 3, dilation 2: canvas cells 0, 2 (from x0) and 3, 5 (from x1)
    # = [1, 0, 10, 2, 0, 20]; output_padding 1 appends a 0; padding (1, 2) crops 1 front, 2 back.
    out = conv_transpose_naive(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0]]]), np.array([0.5]),
                               stride=3, dilation=2, output_padding=1, padding=[(1, 2)])
    np.testing.assert_array_equal(out[0, 0], [0.5, 10.5, 2.5, 0.5])


def test_pad_pairs_forms():
    assert pad_pairs(1, 2) == ((1, 1), (1, 1))
    assert pad_pairs((1, 2), 2) == ((1, 1), (2, 2))  # flat: PyTorch's per-axis meaning
    assert pad_pairs(((1, 2), (0, 3)), 2) == ((1, 2), (0, 3))
    with pytest.raises(ValueError, match="expected 2 per-axis values"):
        pad_pairs((1, 2, 3), 2)


@requires_torch
@pytest.mark.parametrize(
    "stride, padding, output_padding, dilation, groups",
    [(1, 0, 0, 1, 1), ((2, 1), (1, 0), (1, 0), (1, 2), 2), (3, 1, 2, 1, 1), (1, 0, 1, 2, 2), ((1, 3), 2, (0, 2), (2, 1), 1)],
)
def test_naive_references_agree_with_torch(stride, padding, output_padding, dilation, groups):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 3, 4))
    w = rng.standard_normal((4, 3, 2, 3))
    b = rng.standard_normal(3 * groups)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = torch_conv_transpose(x, w, b, output_padding=output_padding, **args)
    assert_close(conv_transpose_naive(x, w, b, output_padding=output_padding, **args), expected, np.float64)

    torch = require_torch()
    y = rng.standard_normal(expected.shape)
    conv_expected = TORCH_CONV_FN[2](torch.from_numpy(y), torch.from_numpy(w), **args)
    assert_close(conv_naive(y, w, **args), conv_expected, np.float64, "naive convolution vs torch")


@requires_torch
@pytest.mark.parametrize("mode", sorted(NP_PAD_MODE))
@pytest.mark.parametrize("ndim", [1, 2])
def test_conv_naive_modes_agree_with_torch_pad_then_conv(mode, ndim):
    """``conv_naive(padding_mode=m)`` is torch's ``conv(F.pad(y, pads, m))``, asymmetric pads too."""
    torch = require_torch()
    rng = np.random.default_rng(ndim)
    y = rng.standard_normal((2, 4) + (5,) * ndim)
    w = rng.standard_normal((6, 2) + (3,) * ndim)
    pairs = ((1, 2), (2, 0))[:ndim]
    torch_pads = [p for pair in reversed(pairs) for p in pair]  # F.pad: last axis first
    torch_mode = {"zeros": "constant"}.get(mode, mode)
    padded = torch.nn.functional.pad(torch.from_numpy(y), torch_pads, mode=torch_mode)
    expected = TORCH_CONV_FN[ndim](padded, torch.from_numpy(w), stride=2, dilation=1, groups=2)
    ours = conv_naive(y, w, stride=2, padding=pairs, groups=2, padding_mode=mode)
    assert_close(ours, expected, np.float64, mode)


@pytest.mark.parametrize("mode", sorted(NP_PAD_MODE))
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize(
    "x_spatial, kernel, stride, padding, output_padding, dilation",
    [
        ((4,), (3,), 2, [(1, 2)], 1, 1),
        ((5,), (2,), 1, [(0, 1)], 0, 3),
        ((3, 4), (3, 2), (2, 1), ((2, 1), (0, 1)), (1, 0), (1, 2)),
        ((3, 3), (2, 2), 3, 1, 2, 1),
    ],
)
def test_naive_pair_is_adjoint_for_every_mode(mode, dtype, x_spatial, kernel, stride, padding, output_padding, dilation):
    """The transposed reference (fold) and the convolution reference (np.pad) are exact adjoints."""
    rng = np.random.default_rng(len(x_spatial))

    def draw(shape):
        data = rng.standard_normal(shape)
        return data + 1j * rng.standard_normal(shape) if dtype == np.complex128 else data

    x = draw((2, 4) + x_spatial)
    w = draw((4, 3) + kernel)
    common = dict(stride=stride, padding=padding, dilation=dilation, groups=2, padding_mode=mode)
    transposed = conv_transpose_naive(x, w, output_padding=output_padding, **common)
    assert transposed.dtype == dtype
    y = draw(transposed.shape)
    lhs, rhs, scale = adjoint_sides(x, transposed, y, w, **common)
    assert_adjoint(lhs, rhs, scale, dtype, mode)
    # and a wrong pair fails: another mode's fold is not the adjoint (zeros vs the rest differ)
    if mode != "zeros":
        other = conv_transpose_naive(x, w, output_padding=output_padding, **{**common, "padding_mode": "zeros"})
        lhs, rhs, scale = adjoint_sides(x, other, y, w, **common)
        with pytest.raises(AssertionError, match="adjoint identity violated"):
            assert_adjoint(lhs, rhs, scale, dtype, mode)


def test_naive_complex_is_bilinear_in_real_and_imaginary_parts():
    rng = np.random.default_rng(3)
    xr, xi, wr, wi = (rng.standard_normal(s) for s in [(1, 2, 4)] * 2 + [(2, 3, 3)] * 2)
    args: dict[str, Any] = dict(stride=2, padding=1)
    out = conv_transpose_naive(xr + 1j * xi, wr + 1j * wi, **args)
    real = conv_transpose_naive(xr, wr, **args) - conv_transpose_naive(xi, wi, **args)
    imag = conv_transpose_naive(xr, wi, **args) + conv_transpose_naive(xi, wr, **args)
    assert_close(out, real + 1j * imag, np.complex128)


def test_naive_integers_are_exact_int64():
    big = 2**31 + 1  # big * big = 2**62 + 2**32 + 1 has no float64 representation
    out = conv_transpose_naive(np.array([[[big, 3]]]), np.array([[[big, 1]]]), stride=1)
    assert out.dtype == np.int64
    assert out[0, 0].tolist() == [big * big, big + 3 * big, 3]


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((2, 4, 5), (4, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
        ((1, 2, 3, 4), (2, 2, 2, 3), dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1))),
    ],
)
def test_naive_gradients_match_torch_autograd(x_shape, w_shape, kwargs):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    out, gy, expected = torch_autograd(x, w, b, 3, **kwargs)
    assert_close(conv_transpose_naive(x, w, b, **kwargs), out, np.float64, "forward")
    for name, ours, theirs in zip(("x", "weight", "bias"), naive_gradients(x, w, gy, **kwargs), expected):
        assert_close(ours, theirs, np.float64, name)


@pytest.mark.parametrize("mode", sorted(NP_PAD_MODE))
def test_naive_weight_gradient_is_the_derivative_for_every_mode(mode):
    """<d out / d w, gy> by exact linearity: out(w + e) - out(w) = out_{w=e} (no bias), any mode."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 2, 4, 3)), rng.standard_normal((2, 2, 3, 2))
    args = dict(stride=(2, 1), padding=((1, 2), (0, 1)), groups=1, padding_mode=mode)
    gy = rng.standard_normal(conv_transpose_naive(x, w, output_padding=1, **args).shape)
    _, grad_w, _ = naive_gradients(x, w, gy, **args)
    direction = rng.standard_normal(w.shape)
    along = float(np.sum(conv_transpose_naive(x, direction, output_padding=1, **args) * gy))
    assert abs(along - float(np.sum(grad_w * direction))) <= 1e-10 * np.sum(np.abs(grad_w * direction))


@requires_torch
def test_torch_tables_are_torchs_functions():
    torch = require_torch()
    assert TORCH_FN[2] is torch.nn.functional.conv_transpose2d
    assert TORCH_CONV_FN[3] is torch.nn.functional.conv3d
    assert list(TORCH_FN) == [1, 2, 3]
    with pytest.raises(KeyError):
        TORCH_FN[4]


# ----------------------------------------------------------------------------------------------
# assert_close: its rule, including the cases where it must fail
# ----------------------------------------------------------------------------------------------


def test_assert_close_uses_the_references_magnitude_and_dtype_tolerance():
    expected = np.array([1000.0, 0.0])
    assert_close(np.array([1000.0, 5e-8]), expected, np.float64)  # 5e-8 <= 1e-10 * 1000
    with pytest.raises(AssertionError, match="max abs error"):
        assert_close(np.array([1000.0, 2e-7]), expected, np.float64)
    assert_close(np.array([1000.0, 0.05], np.float32), expected, np.float32)  # 1e-4 * 1000
    with pytest.raises(AssertionError, match="max abs error"):
        assert_close(np.array([1000.0, 0.2], np.float32), expected, np.float32)
    with pytest.raises(AssertionError, match="max abs error"):
        assert_close(np.array([1000.0, 5e-8]), expected, np.float64, rtol=1e-12)


def test_assert_close_checks_dtype_shape_and_type():
    with pytest.raises(AssertionError, match="dtype float32 != float64"):
        assert_close(np.zeros(2, np.float32), np.zeros(2), np.float64)
    with pytest.raises(AssertionError, match=r"shape \(2,\) != \(3,\)"):
        assert_close(np.zeros(2), np.zeros(3))
    with pytest.raises(AssertionError, match="expected an ndarray, got NoneType"):
        assert_close(None, np.zeros(3))
    with pytest.raises(AssertionError, match="all-zero"):
        assert_close(np.array([1e-300]), np.zeros(1), context="all-zero")


def test_assert_close_non_finite_cells_must_match_exactly():
    expected = np.array([np.inf, -np.inf, np.nan, 1.0])
    assert_close(np.array([np.inf, -np.inf, np.nan, 1.0]), expected)
    for wrong in ([np.nan, -np.inf, np.nan, 1.0], [np.inf, np.inf, np.nan, 1.0], [np.inf, -np.inf, 0.0, 1.0]):
        with pytest.raises(AssertionError, match="non-finite"):
            assert_close(np.array(wrong), expected)
    with pytest.raises(AssertionError, match="max abs error nan"):
        assert_close(np.array([np.inf, -np.inf, np.nan, np.nan]), expected)


def test_assert_close_integers_exact_and_complex_by_modulus():
    assert_close(np.array([2**62, 1]), np.array([2**62, 1]), np.int64)
    with pytest.raises(AssertionError, match="integer results must be exact"):
        assert_close(np.array([2**62 + 1, 1]), np.array([2**62, 1]), np.int64)
    assert_close(np.array([1 + 1e-5j], np.complex64), np.array([1.0 + 0j]), np.complex64)
    with pytest.raises(AssertionError, match="max abs error"):
        assert_close(np.array([1 + 1e-3j], np.complex64), np.array([1.0 + 0j]), np.complex64)


def test_assert_close_accepts_a_torch_reference():
    torch = require_torch()
    assert_close(np.ones(3), torch.ones(3, dtype=torch.float64, requires_grad=True), np.float64)


# ----------------------------------------------------------------------------------------------
# The import blocker
# ----------------------------------------------------------------------------------------------


def test_import_blocker_blocks_packages_and_submodules_in_a_subprocess():
    env = dict(os.environ, CONVTRANSPOSE_TEST_BLOCK="json, numba",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "blocker"), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import importlib\n"
        "import importlib.util\n"
        "print('find_spec', importlib.util.find_spec('numba'), importlib.util.find_spec('csv') is not None)\n"
        "for name in ('json', 'json.decoder', 'numba', 'csv'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as error:\n"
        "        print(name, 'blocked:', error.name, error)\n"
        "    else:\n"
        "        print(name, 'imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "find_spec None True",
        "json blocked: json No module named 'json' (blocked by CONVTRANSPOSE_TEST_BLOCK)",
        "json.decoder blocked: json No module named 'json' (blocked by CONVTRANSPOSE_TEST_BLOCK)",
        "numba blocked: numba No module named 'numba' (blocked by CONVTRANSPOSE_TEST_BLOCK)",
        "csv imported",
    ]
