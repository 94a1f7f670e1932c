"""Gradients of ``conv_transpose`` against central finite differences in float64 (torch-free).

The scalar loss is ``L(x, w, b) = <conv_transpose(x, w, b), R>`` with a random ``R``, so the
gradients ``conv_transpose_backward`` returns for ``grad_output = R`` must equal ``dL/dx``,
``dL/dw`` and ``dL/db``. ``L`` is linear in each operand separately, so the central difference
``(L(p + h e) - L(p - h e)) / 2h`` has no truncation error: the only error is float64 rounding,
and a tight tolerance (1e-8 relative to the gradient's largest magnitude) applies.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convtranspose import conv_transpose, conv_transpose_backward
from convtranspose.engine import use_path

STEP = 1e-3
RTOL = 1e-8


def numerical_gradient(loss, array: np.ndarray) -> np.ndarray:
    """Central differences of ``loss()`` w.r.t. every element of ``array`` (perturbed in place)."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for index in range(flat.size):
        original = flat[index]
        flat[index] = original + STEP
        plus = loss()
        flat[index] = original - STEP
        minus = loss()
        flat[index] = original
        flat_grad[index] = (plus - minus) / (2 * STEP)
    return grad


def check_against_finite_differences(x_shape, w_shape, bias, seed, **kwargs) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1)) if bias else None
    r = rng.standard_normal(conv_transpose(x, w, b, **kwargs).shape)

    def loss() -> float:
        return float(np.sum(conv_transpose(x, w, b, **kwargs) * r))

    expected = {"grad_input": numerical_gradient(loss, x), "grad_weight": numerical_gradient(loss, w)}
    if bias:
        expected["grad_bias"] = numerical_gradient(loss, b)

    grad_x, grad_w, grad_b = conv_transpose_backward(r, x, w, bias=bias, **kwargs)
    actual = {"grad_input": grad_x, "grad_weight": grad_w, "grad_bias": grad_b}
    if not bias:
        assert grad_b is None
    for name, want in expected.items():
        got = actual[name]
        assert got.shape == want.shape and got.dtype == np.float64, name
        scale = np.abs(want).max()
        error = np.abs(got - want).max()
        assert error <= RTOL * scale, f"{name}: max error {error:.3g} vs scale {scale:.3g}"


# (x shape, weight shape, bias, keyword arguments); weight is (C_in, C_out / groups, *kernel)
CASES = {
    "1d plain": ((2, 2, 5), (2, 3, 3), True, {}),
    "1d stride 3 padding 1 output_padding 2": ((1, 2, 4), (2, 2, 3), True, dict(stride=3, padding=1, output_padding=2)),
    "1d dilation 3 output_padding 2 (op < dilation)": ((2, 1, 3), (1, 2, 2), False, dict(dilation=3, output_padding=2)),
    "1d groups 3": ((2, 6, 3), (6, 1, 3), True, dict(groups=3, stride=2)),
    "1d unbatched": ((3, 4), (3, 2, 2), True, dict(stride=2, padding=1)),
    "2d stride (2, 3) padding (1, 0)": ((2, 2, 3, 3), (2, 2, 3, 2), True, dict(stride=(2, 3), padding=(1, 0))),
    "2d dilation 2 output_padding 1": ((1, 2, 3, 3), (2, 2, 2, 2), False, dict(dilation=2, output_padding=1)),
    "2d groups 2 stride 2 padding 1 output_padding 1": (
        (2, 4, 2, 3),
        (4, 1, 3, 3),
        True,
        dict(groups=2, stride=2, padding=1, output_padding=1),
    ),
    "2d output_size": ((1, 2, 3, 3), (2, 2, 3, 3), True, dict(stride=2, padding=1, output_size=(6, 5))),
    "2d unbatched heavy padding": ((2, 3, 3), (2, 2, 3, 3), True, dict(padding=2)),
    "3d stride 2 padding 1 output_padding 1": (
        (1, 2, 2, 2, 2),
        (2, 2, 3, 2, 2),
        True,
        dict(stride=2, padding=(1, 0, 0), output_padding=1),
    ),
    "3d groups 2 dilation (1, 2, 1)": ((1, 4, 2, 2, 3), (4, 1, 2, 2, 2), True, dict(groups=2, dilation=(1, 2, 1))),
    "3d unbatched": ((2, 2, 2, 2), (2, 1, 2, 2, 2), False, dict(stride=(1, 2, 3))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_finite_differences(engine_path, name):
    x_shape, w_shape, bias, kwargs = CASES[name]
    with use_path(engine_path):
        check_against_finite_differences(x_shape, w_shape, bias, seed=len(name), **kwargs)


@st.composite
def small_cases(draw):
    """Small random problems (few elements, so the O(elements) finite differences stay fast)."""
    ndim = draw(st.integers(1, 3))
    max_input, max_kernel = {1: (5, 3), 2: (3, 3), 3: (2, 2)}[ndim]
    groups = draw(st.integers(1, 2))
    spatial, kernel, stride, padding, output_padding, dilation = [], [], [], [], [], []
    for _ in range(ndim):
        n, k = draw(st.integers(1, max_input)), draw(st.integers(1, max_kernel))
        s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        op = draw(st.integers(0, max(s, d) - 1))
        full = (n - 1) * s + d * (k - 1) + 1
        p = draw(st.integers(0, (full + op - 1) // 2))
        for values, value in zip((spatial, kernel, stride, padding, output_padding, dilation), (n, k, s, p, op, d)):
            values.append(value)
    channels = (groups * draw(st.integers(1, 2)),)
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    x_shape = batch + channels + tuple(spatial)
    w_shape = (channels[0], draw(st.integers(1, 2))) + tuple(kernel)
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    return x_shape, w_shape, draw(st.booleans()), draw(st.integers(0, 2**32 - 1)), kwargs


@settings(max_examples=40, deadline=None)
@given(case=small_cases())
def test_random_small_cases_match_finite_differences(engine_path, case):
    x_shape, w_shape, bias, seed, kwargs = case
    with use_path(engine_path):
        check_against_finite_differences(x_shape, w_shape, bias, seed, **kwargs)
