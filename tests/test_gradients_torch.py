"""Gradients of ``conv_transpose`` against torch autograd, over a hypothesis sweep.

The sweep covers the same space as the forward tests: 1d/2d/3d, groups, dilation, stride, padding,
output_padding, output_size, batched/unbatched/empty batch, float32/float64, bias on/off -- on every
engine path. The expected values come from torch: ``loss = (y * grad_output).sum()`` followed by
``loss.backward()``, so ``x.grad``, ``w.grad`` and ``b.grad`` are exactly the vector-Jacobian
products ``conv_transpose_backward`` must return. Tests taking ``engine_path`` run once per
registered engine path (conftest.py parametrizes them) under ``use_path(engine_path)``.

Tolerances are relative to the largest magnitude of the expected array (a sum of many products
can cancel to ~0 at single positions, so an elementwise relative tolerance would be meaningless):
the dtype's tolerance in :data:`oracle.RTOL` (1e-4 in float32, 1e-10 in float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convtranspose
from convtranspose import (
    conv_transpose_backward,
    conv_transpose_bias_grad,
    conv_transpose_input_grad,
    conv_transpose_weight_grad,
)
from convtranspose.engine import use_path

from oracle import TORCH_FN, assert_close, requires_torch, torch

pytestmark = requires_torch


# --------------------------------------------------------------------------------------------
# The case space
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One transposed convolution: hyper-parameters, operand shapes and the seed of its data."""

    batch: Optional[int]  # None = unbatched input
    in_channels: int
    out_channels: int
    input_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]  # what torch gets
    dilation: tuple[int, ...]
    groups: int
    via_output_size: bool  # convtranspose gets output_size (the size output_padding gives) instead
    bias: bool
    dtype: np.dtype
    seed: int

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def input_shape(self) -> tuple[int, ...]:
        channels_and_space = (self.in_channels,) + self.input_spatial
        return channels_and_space if self.batch is None else (self.batch,) + channels_and_space

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels // self.groups) + self.kernel

    @property
    def output_spatial(self) -> tuple[int, ...]:
        return tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            for n, k, s, p, op, d in zip(
                self.input_spatial, self.kernel, self.stride, self.padding, self.output_padding, self.dilation
            )
        )

    @property
    def output_shape(self) -> tuple[int, ...]:
        channels_and_space = (self.out_channels,) + self.output_spatial
        return channels_and_space if self.batch is None else (self.batch,) + channels_and_space

    def kwargs(self) -> dict:
        """Hyper-parameters as keyword arguments of the convtranspose functions."""
        return dict(
            stride=self.stride,
            padding=self.padding,
            output_padding=(0,) * self.ndim if self.via_output_size else self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
            output_size=self.output_spatial if self.via_output_size else None,
        )

    def arrays(self):
        """Random input, weight, bias (or None) and grad_output in the case's dtype."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal(self.input_shape).astype(self.dtype)
        w = rng.standard_normal(self.weight_shape).astype(self.dtype)
        b = rng.standard_normal(self.out_channels).astype(self.dtype) if self.bias else None
        gy = rng.standard_normal(self.output_shape).astype(self.dtype)
        return x, w, b, gy


@st.composite
def axis_params(draw, max_input: int, max_kernel: int, for_output_size: bool):
    """(input, kernel, stride, padding, output_padding, dilation) of one axis with output >= 1.

    PyTorch allows ``output_padding < max(stride, dilation)``, but a requested ``output_size`` must
    lie in ``[min, min + stride - 1]``, so ``for_output_size`` keeps ``output_padding < stride``.
    """
    n = draw(st.integers(1, max_input))
    k = draw(st.integers(1, max_kernel))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 3))
    op = draw(st.integers(0, (s if for_output_size else max(s, d)) - 1))
    full = (n - 1) * s + d * (k - 1) + 1
    p = draw(st.integers(0, min(3, (full + op - 1) // 2)))  # keeps the output length >= 1
    return n, k, s, p, op, d


@st.composite
def cases(draw, dtypes=(np.float32, np.float64)) -> Case:
    ndim = draw(st.sampled_from([1, 2, 3]))
    max_input, max_kernel = {1: (6, 4), 2: (4, 3), 3: (3, 2)}[ndim]
    via_output_size = draw(st.booleans())
    axes = [draw(axis_params(max_input, max_kernel, via_output_size)) for _ in range(ndim)]
    n, k, s, p, op, d = (tuple(values) for values in zip(*axes))
    groups = draw(st.integers(1, 3))
    return Case(
        batch=draw(st.one_of(st.none(), st.integers(0, 3))),
        in_channels=groups * draw(st.integers(1, 3)),
        out_channels=groups * draw(st.integers(1, 3)),
        input_spatial=n,
        kernel=k,
        stride=s,
        padding=p,
        output_padding=op,
        dilation=d,
        groups=groups,
        via_output_size=via_output_size,
        bias=draw(st.booleans()),
        dtype=np.dtype(draw(st.sampled_from(dtypes))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


# --------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def single_threaded_torch():
    """These tiny problems run ~30x faster on one torch thread than on a busy multi-core box."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def torch_gradients(case: Case, x, w, b, gy):
    """(grad_input, grad_weight, grad_bias or None) from torch autograd of ``sum(y * gy)``.

    torch's functional API has no ``output_size``: it always gets the case's ``output_padding``.
    """
    functional = TORCH_FN[case.ndim]
    tx, tw = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w))
    tb = None if b is None else torch.from_numpy(b.copy()).requires_grad_(True)
    y = functional(
        tx,
        tw,
        tb,
        stride=case.stride,
        padding=case.padding,
        output_padding=case.output_padding,
        groups=case.groups,
        dilation=case.dilation,
    )
    assert tuple(y.shape) == case.output_shape, "the test's own output-shape arithmetic disagrees with torch"
    (y * torch.from_numpy(gy)).sum().backward()
    return tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy()


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


@given(case=cases())
def test_backward_matches_torch(engine_path, case):
    x, w, b, gy = case.arrays()
    expected_x, expected_w, expected_b = torch_gradients(case, x, w, b, gy)
    with use_path(engine_path):
        grad_x, grad_w, grad_b = conv_transpose_backward(gy, x, w, bias=case.bias, **case.kwargs())
    assert_close(grad_x, expected_x, case.dtype, "grad_input")
    assert_close(grad_w, expected_w, case.dtype, "grad_weight")
    if case.bias:
        assert_close(grad_b, expected_b, case.dtype, "grad_bias")
    else:
        assert grad_b is None


@given(case=cases(), need_input=st.booleans(), need_weight=st.booleans())
def test_requested_gradients_only(engine_path, case, need_input, need_weight):
    x, w, b, gy = case.arrays()
    expected_x, expected_w, expected_b = torch_gradients(case, x, w, b, gy)
    with use_path(engine_path):
        grad_x, grad_w, grad_b = conv_transpose_backward(
            gy, x, w, bias=case.bias, need_input_grad=need_input, need_weight_grad=need_weight, **case.kwargs()
        )
    if need_input:
        assert_close(grad_x, expected_x, case.dtype, "grad_input")
    else:
        assert grad_x is None
    if need_weight:
        assert_close(grad_w, expected_w, case.dtype, "grad_weight")
    else:
        assert grad_w is None
    if case.bias:
        assert_close(grad_b, expected_b, case.dtype, "grad_bias")
    else:
        assert grad_b is None


@given(case=cases())
def test_single_gradient_helpers(engine_path, case):
    x, w, b, gy = case.arrays()
    expected_x, expected_w, expected_b = torch_gradients(case, x, w, b, gy)
    with use_path(engine_path):
        grad_x = conv_transpose_input_grad(gy, x.shape, w, **case.kwargs())
        grad_w = conv_transpose_weight_grad(gy, x, w.shape, **case.kwargs())
    assert_close(grad_x, expected_x, case.dtype, "conv_transpose_input_grad")
    assert_close(grad_w, expected_w, case.dtype, "conv_transpose_weight_grad")
    if case.bias:
        batched_gy = gy if case.batch is not None else gy[np.newaxis]
        assert_close(conv_transpose_bias_grad(batched_gy), expected_b, case.dtype, "conv_transpose_bias_grad")


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_fixed_rank_example_with_everything_at_once(engine_path, ndim):
    """One deterministic case per rank with every hyper-parameter away from its default."""
    case = Case(
        batch=2,
        in_channels=4,
        out_channels=6,
        input_spatial=(3,) * ndim,
        kernel=(3,) * ndim,
        stride=(2,) * ndim,
        padding=(1,) * ndim,
        output_padding=(1,) * ndim,
        dilation=(2,) * ndim,
        groups=2,
        via_output_size=True,  # output_size (8, ...): (3-1)*2 - 2 + 2*2 + 1 = 7, plus output_padding 1
        bias=True,
        dtype=np.dtype(np.float64),
        seed=ndim,
    )
    x, w, b, gy = case.arrays()
    expected = torch_gradients(case, x, w, b, gy)
    with use_path(engine_path):
        actual = conv_transpose_backward(gy, x, w, bias=True, **case.kwargs())
    for name, got, want in zip(("grad_input", "grad_weight", "grad_bias"), actual, expected):
        assert_close(got, want, case.dtype, name)


def test_float16_gradients_are_float16_and_close_to_float64_torch():
    """float16 is computed in float32 and returned as float16 (half-precision rounding tolerance)."""
    case = Case(
        batch=2,
        in_channels=2,
        out_channels=2,
        input_spatial=(4, 4),
        kernel=(3, 3),
        stride=(2, 2),
        padding=(1, 1),
        output_padding=(1, 1),
        dilation=(1, 1),
        groups=1,
        via_output_size=False,
        bias=True,
        dtype=np.dtype(np.float64),
        seed=7,
    )
    x, w, b, gy = (a.astype(np.float16) for a in case.arrays())
    exact = torch_gradients(case, *(a.astype(np.float64) for a in (x, w, b, gy)))
    actual = conv_transpose_backward(gy, x, w, bias=True, **case.kwargs())
    for name, got, want in zip(("grad_input", "grad_weight", "grad_bias"), actual, exact):
        assert_close(got, want, np.float16, name)


def test_public_names_are_exported():
    for name in (
        "conv_transpose_backward",
        "conv_transpose_input_grad",
        "conv_transpose_weight_grad",
        "conv_transpose_bias_grad",
    ):
        assert name in convtranspose.__all__
