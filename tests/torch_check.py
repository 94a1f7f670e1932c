"""One shared check: our forward and all gradients against torch autograd, in float64.

Used by the engine tests that sweep special cases (depthwise, dense); the general sweeps live in
``test_forward_torch.py`` and ``test_gradients_torch.py``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

import convtranspose as ct
from convtranspose import engine

TORCH_FN = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
            3: torch.nn.functional.conv_transpose3d}


def torch_autograd(x, w, b, grad_seed, **kwargs):
    """torch's output, the ``grad_y`` drawn from ``grad_seed``, and torch's three gradients."""
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    expected = TORCH_FN[x.ndim - 2](tx, tw, tb, **kwargs)
    grad_y = np.random.default_rng(grad_seed).standard_normal(tuple(expected.shape))
    expected.backward(torch.tensor(grad_y))
    return expected.detach().numpy(), grad_y, (tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())


def assert_matches_torch_autograd(x, w, b, engine_path, grad_seed=0, context=contextlib.nullcontext, **kwargs):
    """Forward, ``conv_transpose_backward`` and the single-gradient helpers, all against torch."""
    expected, grad_y, (tgx, tgw, tgb) = torch_autograd(x, w, b, grad_seed, **kwargs)
    with engine.use_path(engine_path), context():
        out = ct.conv_transpose(x, w, b, **kwargs)
        gx, gw, gb = ct.conv_transpose_backward(grad_y, x, w, **kwargs)
        only_x = ct.conv_transpose_input_grad(grad_y, x.shape, w, **kwargs)
        only_w = ct.conv_transpose_weight_grad(grad_y, x, w.shape, **kwargs)
        only_b = ct.conv_transpose_bias_grad(grad_y)
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    for ours, theirs in ((gx, tgx), (gw, tgw), (gb, tgb), (only_x, tgx), (only_w, tgw), (only_b, tgb)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
