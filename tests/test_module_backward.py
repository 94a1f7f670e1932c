"""Layer-level backpropagation: ``layer.backward(grad_output)``, ``weight_grad``/``bias_grad``,
``zero_grad()`` and ``gradients()``, compared with the ``.grad`` of the same torch module."""

from __future__ import annotations

import re

import numpy as np
import pytest

from convtranspose import (
    ConvTranspose1d,
    ConvTranspose2d,
    DTypeError,
    ParameterError,
    ShapeError,
    conv_transpose_backward,
)

from oracle import OURS_MODULE as OURS
from oracle import TORCH_MODULE as THEIRS
from oracle import assert_close, requires_torch, torch

# constructor arguments shared by both libraries, and the input's spatial size, per rank
CONFIGS = {
    1: (dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2), (5,)),
    2: (dict(in_channels=2, out_channels=3, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (3, 4)),
    3: (dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, groups=2, bias=False), (2, 3, 2)),
}


def make_pair(ndim: int, dtype=np.float64, **overrides):
    """Our layer and torch's with identical parameters."""
    kwargs, spatial = CONFIGS[ndim]
    kwargs = {**kwargs, **overrides}
    ours = OURS[ndim](**kwargs, dtype=dtype, rng=ndim)
    theirs = THEIRS[ndim](**kwargs, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    theirs.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in ours.state_dict().items()})
    return ours, theirs, spatial


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@requires_torch
def test_gradients_equal_torch_module_grads(ndim, batched):
    ours, theirs, spatial = make_pair(ndim)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(((2,) if batched else ()) + (ours.in_channels,) + spatial)
    y = ours(x)
    r = rng.standard_normal(y.shape)

    tx = torch.from_numpy(x).requires_grad_(True)
    (theirs(tx) * torch.from_numpy(r)).sum().backward()
    grad_x = ours.backward(r)

    assert_close(y, theirs(torch.from_numpy(x)), np.float64)
    assert_close(grad_x, tx.grad, np.float64)
    assert_close(ours.weight_grad, theirs.weight.grad, np.float64)
    if theirs.bias is None:
        assert ours.bias_grad is None
        assert set(ours.gradients()) == {"weight"}
    else:
        assert_close(ours.bias_grad, theirs.bias.grad, np.float64)
        assert set(ours.gradients()) == {"weight", "bias"}
    assert ours.gradients()["weight"] is ours.weight_grad


@requires_torch
def test_gradients_accumulate_over_two_backward_calls_like_torch():
    ours, theirs, spatial = make_pair(2)
    rng = np.random.default_rng(1)
    x1, x2 = (rng.standard_normal((3, 2) + spatial) for _ in range(2))
    r1, r2 = (rng.standard_normal(ours(x1).shape) for _ in range(2))

    for x, r in ((x1, r1), (x2, r2)):
        ours(x)
        ours.backward(r)
        (theirs(torch.from_numpy(x)) * torch.from_numpy(r)).sum().backward()
    assert_close(ours.weight_grad, theirs.weight.grad, np.float64)
    assert_close(ours.bias_grad, theirs.bias.grad, np.float64)

    # the accumulated value is the sum of the two single-step gradients
    singles = []
    for x, r in ((x1, r1), (x2, r2)):
        ours.zero_grad()
        ours(x)
        ours.backward(r)
        singles.append((ours.weight_grad, ours.bias_grad))
    assert_close(singles[0][0] + singles[1][0], theirs.weight.grad, np.float64)
    assert_close(singles[0][1] + singles[1][1], theirs.bias.grad, np.float64)


def test_zero_grad_resets_to_none():
    layer = ConvTranspose2d(2, 3, 3, rng=0)
    assert layer.weight_grad is None and layer.bias_grad is None
    y = layer(np.ones((1, 2, 4, 4), dtype=np.float32))
    layer.backward(np.ones_like(y))
    assert layer.weight_grad is not None and layer.bias_grad is not None
    layer.zero_grad()
    assert layer.weight_grad is None and layer.bias_grad is None
    assert layer.gradients() == {"weight": None, "bias": None}


def test_backward_before_forward_raises():
    layer = ConvTranspose1d(1, 1, 2)
    with pytest.raises(ParameterError, match="before forward"):
        layer.backward(np.ones((1, 1, 3), dtype=np.float32))


@requires_torch
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_backward_after_forward_with_output_size(batched):
    ours, theirs, _ = make_pair(2, in_channels=2, out_channels=2, kernel_size=3, stride=3, padding=1, dilation=1)
    x = np.random.default_rng(2).standard_normal(((1,) if batched else ()) + (2, 3, 4))
    output_size = (9, 10)  # the minimum is (7, 10); stride 3 allows up to +2
    y = ours(x, output_size=output_size)
    assert y.shape[-2:] == output_size
    r = np.random.default_rng(3).standard_normal(y.shape)

    tx = torch.from_numpy(x).requires_grad_(True)
    (theirs(tx, output_size=list(output_size)) * torch.from_numpy(r)).sum().backward()
    assert_close(ours.backward(r), tx.grad, np.float64)
    assert_close(ours.weight_grad, theirs.weight.grad, np.float64)
    assert_close(ours.bias_grad, theirs.bias.grad, np.float64)


@requires_torch
def test_float32_layer_gradients_are_float32():
    ours, theirs, spatial = make_pair(1, dtype=np.float32)
    x = np.random.default_rng(4).standard_normal((2, 4) + spatial).astype(np.float32)
    r = np.ones(ours(x).shape, dtype=np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    theirs(tx).sum().backward()
    grad_x = ours.backward(r)
    for got, want in ((grad_x, tx.grad), (ours.weight_grad, theirs.weight.grad), (ours.bias_grad, theirs.bias.grad)):
        assert_close(got, want, np.float32, rtol=1e-5)


def test_sgd_step_on_live_parameters_reduces_the_loss():
    """``parameters()`` and ``gradients()`` line up by name, so an optimizer is a dict loop."""
    layer = ConvTranspose2d(1, 1, 2, stride=2, dtype=np.float64, rng=0)
    rng = np.random.default_rng(5)
    x, target = rng.standard_normal((4, 1, 3, 3)), rng.standard_normal((4, 1, 6, 6))

    def loss_and_backward():
        layer.zero_grad()
        error = layer(x) - target
        layer.backward(2 * error / error.size)
        return float(np.mean(error**2))

    before = loss_and_backward()
    params, grads = layer.parameters(), layer.gradients()
    for name, value in params.items():
        value -= 0.1 * grads[name]  # in place: the layer sees the update
    assert loss_and_backward() < before


# -- error messages ---------------------------------------------------------------------------


def test_module_backward_rejects_grad_output_of_wrong_shape():
    layer = ConvTranspose2d(2, 3, 3, stride=2, rng=0)
    layer(np.zeros((1, 2, 4, 4), dtype=np.float32))  # output (1, 3, 9, 9)
    with pytest.raises(ShapeError, match=r"grad_output must have the forward output's shape \(1, 3, 9, 9\)"):
        layer.backward(np.zeros((1, 3, 8, 9), dtype=np.float32))
    assert layer.weight_grad is None  # nothing accumulated by the failed call


def test_module_backward_rejects_grad_output_of_wrong_dtype():
    layer = ConvTranspose1d(1, 1, 2, rng=0)
    layer(np.zeros((1, 1, 3), dtype=np.float32))
    with pytest.raises(DTypeError, match="grad_output dtype float64 must match the input dtype float32"):
        layer.backward(np.zeros((1, 1, 4), dtype=np.float64))
    with pytest.raises(DTypeError, match="grad_output has dtype int32, which is not supported"):
        layer.backward(np.zeros((1, 1, 4), dtype=np.int32))


def test_functional_backward_rejects_bad_grad_output():
    x, w = np.zeros((2, 1, 3)), np.zeros((1, 2, 2))
    with pytest.raises(ShapeError, match=r"\(2, 2, 4\)"):
        conv_transpose_backward(np.zeros((2, 2, 5)), x, w)
    with pytest.raises(ShapeError, match=re.escape(
        "conv_transpose_backward: grad_output must have the forward output's shape (2, 4), "
        "got grad_output of shape (1, 2, 4)"
    )):
        conv_transpose_backward(np.zeros((1, 2, 4)), x[0], w)  # unbatched input: expects (2, 4)
    with pytest.raises(DTypeError, match=re.escape(
        "conv_transpose_backward: grad_output dtype float32 must match the input dtype float64"
    )):
        conv_transpose_backward(np.zeros((2, 2, 4), dtype=np.float32), x, w)
