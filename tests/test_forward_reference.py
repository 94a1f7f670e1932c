"""Torch-free forward checks: the library against the naive loop reference and the adjoint identity.

This file imports neither torch nor anything that does, so the suite still checks the numerics
where torch is unavailable. (test_forward_torch.py runs the same per-case check with torch added.)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import convtranspose
from convtranspose.engine import use_path
from forward_cases import check_forward_case, forward_cases, scaled
from oracle import adjoint_sides, assert_adjoint, assert_close, conv_naive, conv_transpose_naive


@scaled(0.3)  # ci: 300 cases
@given(case=forward_cases(1))
def test_forward_1d_matches_reference_and_adjoint(case):
    check_forward_case(case, against_torch=False)


@scaled(0.3)  # ci: 300 cases
@given(case=forward_cases(2))
def test_forward_2d_matches_reference_and_adjoint(case):
    check_forward_case(case, against_torch=False)


@scaled(0.2)  # ci: 200 cases
@given(case=forward_cases(3))
def test_forward_3d_matches_reference_and_adjoint(case):
    check_forward_case(case, against_torch=False)


# --------------------------------------------------------------------------------------------
# Hand-checkable cases of the references themselves
# --------------------------------------------------------------------------------------------


def test_naive_transposed_scatter_by_hand():
    # 1-d, stride 2: x = [1, 2], k = [1, 10, 100] -> copies at 0 and 2, overlapping at index 2.
    x = np.array([[[1.0, 2.0]]])
    k = np.array([[[1.0, 10.0, 100.0]]])
    assert conv_transpose_naive(x, k, stride=2).tolist() == [[[1.0, 10.0, 102.0, 20.0, 200.0]]]
    # padding crops one cell at both ends ...
    assert conv_transpose_naive(x, k, stride=2, padding=1).tolist() == [[[10.0, 102.0, 20.0]]]
    # ... and output_padding=1 extends the kept window by one cell at the end (back over the
    # cropped cell here; past the full canvas, where it is zero + bias, without padding).
    assert conv_transpose_naive(x, k, np.array([0.5]), stride=2, padding=1, output_padding=1).tolist() == [
        [[10.5, 102.5, 20.5, 200.5]]
    ]
    assert conv_transpose_naive(x, k, np.array([0.5]), stride=2, output_padding=1).tolist() == [
        [[1.5, 10.5, 102.5, 20.5, 200.5, 0.5]]
    ]
    # dilation 2 spreads the kernel taps two apart.
    assert conv_transpose_naive(x, k, dilation=2).tolist() == [[[1.0, 2.0, 10.0, 20.0, 100.0, 200.0]]]


def test_naive_conv_by_hand():
    y = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    k = np.array([[[1.0, 10.0]]])
    assert conv_naive(y, k).tolist() == [[[21.0, 32.0, 43.0, 54.0]]]
    assert conv_naive(y, k, stride=2, padding=1).tolist() == [[[10.0, 32.0, 54.0]]]
    assert conv_naive(y, k, dilation=3).tolist() == [[[41.0, 52.0]]]


def test_naive_groups_by_hand():
    # Two groups, one channel each: each output channel only sees its own input channel.
    x = np.array([[[1.0], [2.0]]])
    w = np.array([[[3.0]], [[5.0]]])  # (C_in=2, C_out/groups=1, k=1)
    assert conv_transpose_naive(x, w, groups=2).tolist() == [[[3.0], [10.0]]]
    assert conv_transpose_naive(x, np.array([[[3.0]], [[5.0]]]), groups=1).tolist() == [[[13.0]]]


@pytest.mark.parametrize(
    "stride, padding, output_padding, dilation",
    [(1, 0, 1, 2), (2, 1, 2, 3), (1, 1, 2, 3)],  # output_padding >= stride (allowed as dilation > stride)
)
def test_adjoint_when_output_padding_reaches_past_stride(engine_path, stride, padding, output_padding, dilation):
    """The ordinary convolution is longer than x here; adjoint_sides restricts it (see its doc)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 4))
    w = rng.standard_normal((2, 3, 3))
    args = dict(stride=stride, padding=padding, dilation=dilation)
    with use_path(engine_path):
        out = convtranspose.conv_transpose1d(x, w, output_padding=output_padding, **args)
    assert_close(out, conv_transpose_naive(x, w, output_padding=output_padding, **args), np.float64)
    y = rng.standard_normal(out.shape)
    assert_adjoint(*adjoint_sides(x, out, y, w, groups=1, **args), np.float64)
