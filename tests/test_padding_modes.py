"""Padding forms and modes end to end, against independent references (issue "Beyond PyTorch").

For every padding mode and form, over a hypothesis sweep (1d/2d/3d, groups, stride, dilation,
output_padding, batched/unbatched, float32/float64, bias, every engine path):

* the forward equals, element by element, the vector-Jacobian product of PyTorch's padded ordinary
  convolution ``conv(F.pad(x, pads, mode), w)`` w.r.t. ``x`` at cotangent ``y`` (the definition);
* the adjoint identity <conv_m(x), y> = <x, conv_transpose_m(y)> holds with the paired convolution
  written in NumPy (``np.pad`` + the naive loop reference);
* the gradients w.r.t. input, weight and bias (``conv_transpose_backward`` and the single-gradient
  helpers) equal torch's double-backward of that VJP.

Tolerances are relative to the largest magnitude of the expected array: 1e-4 in float32, 1e-9 in
float64 (float64 sums of a few hundred products).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convtranspose as ct
from convtranspose.engine import available_paths, use_path
from padding_oracle import expected_pads, numpy_padded_conv, output_spatial, torch_double_backward

torch = pytest.importorskip("torch")

MODES = ("zeros", "reflect", "replicate", "circular")
ENGINE_PATHS = available_paths()
#: Each example builds torch's double-backward and the naive reference: slow, so fewer than the
#: profile's default (every example runs on every engine path).
EXAMPLES = 300 if settings.get_current_profile_name() == "ci" else 40
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def assert_close(ours, expected, dtype):
    expected = np.asarray(expected, np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert ours.shape == expected.shape
    np.testing.assert_allclose(np.asarray(ours, np.float64), expected, rtol=0, atol=RTOL[np.dtype(dtype)] * scale)


@st.composite
def cases(draw, modes=MODES):
    ndim = draw(st.integers(1, 3))
    small = ndim == 3
    groups = draw(st.integers(1, 2))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    in_spatial = tuple(draw(st.integers(1, 3 if small else 4)) for _ in range(ndim))
    mode = draw(st.sampled_from(modes))
    kind = draw(st.sampled_from(["int", "pairs", "mixed", "same", "same_lower", "valid"]))
    if kind in ("same", "same_lower", "valid"):
        form = kind
    else:
        pairs = [(draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(ndim)]
        if kind == "int":
            form = draw(st.integers(0, 3))
        elif kind == "pairs":
            form = tuple(pairs)
        else:
            form = tuple(p[0] if draw(st.booleans()) else p for p in pairs)
    pads, ops = expected_pads(form, kernel, stride, dilation, output_padding)
    out = output_spatial(in_spatial, kernel, stride, dilation, pads, ops)
    assume(min(out) >= 1)
    if mode == "reflect":
        assume(all(max(p) < o for p, o in zip(pads, out)))
    if mode == "circular":
        assume(all(max(p) <= o for p, o in zip(pads, out)))
    return dict(
        ndim=ndim, groups=groups, cin=cin, cout=cout, kernel=kernel, stride=stride, dilation=dilation,
        output_padding=output_padding, in_spatial=in_spatial, mode=mode, form=form, pads=pads, ops=ops,
        batch=draw(st.sampled_from([None, 1, 2])), bias=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**32 - 1)),
    )


def operands(case):
    rng = np.random.default_rng(case["seed"])
    batch = case["batch"] or 1
    y = rng.standard_normal((batch, case["cin"]) + case["in_spatial"])
    w = rng.standard_normal((case["cin"], case["cout"] // case["groups"]) + case["kernel"])
    b = rng.standard_normal(case["cout"]) if case["bias"] else None
    return y, w, b


def call_kwargs(case):
    return dict(stride=case["stride"], padding=case["form"], output_padding=case["output_padding"],
                dilation=case["dilation"], groups=case["groups"], padding_mode=case["mode"])


def oracle_kwargs(case):
    return dict(pads=case["pads"], ops=case["ops"], mode=case["mode"], stride=case["stride"],
                dilation=case["dilation"], groups=case["groups"])


def unbatch(array, case):
    return array[0] if case["batch"] is None else array


@settings(max_examples=EXAMPLES)
@given(case=cases())
def test_forward_and_gradients_equal_torch_vjp(case):
    y, w, b = operands(case)
    dtype = np.dtype(case["dtype"])
    out_shape = y.shape[:1] + (case["cout"],) + output_spatial(
        case["in_spatial"], case["kernel"], case["stride"], case["dilation"], case["pads"], case["ops"])
    grad_out = np.random.default_rng(case["seed"] + 1).standard_normal(out_shape)
    expected, gy_t, gw_t, gb_t = torch_double_backward(y, w, b, grad_out, **oracle_kwargs(case))

    yy, ww = unbatch(y, case).astype(dtype), w.astype(dtype)
    bb = None if b is None else b.astype(dtype)
    g = unbatch(grad_out, case).astype(dtype)
    kwargs = call_kwargs(case)
    for engine_path in ENGINE_PATHS:  # torch's double-backward once, every path against it
        with use_path(engine_path):
            out = ct.conv_transpose(yy, ww, bb, **kwargs)
            gy, gw, gb = ct.conv_transpose_backward(g, yy, ww, bias=b is not None, **kwargs)
            only_y = ct.conv_transpose_input_grad(g, yy.shape, ww, **kwargs)
            only_w = ct.conv_transpose_weight_grad(g, yy, ww.shape, **kwargs)
        assert out.dtype == dtype and out.flags.c_contiguous
        assert_close(out, unbatch(expected, case), dtype)
        assert_close(gy, unbatch(gy_t, case), dtype)
        assert_close(only_y, unbatch(gy_t, case), dtype)
        assert_close(gw, gw_t, dtype)
        assert_close(only_w, gw_t, dtype)
        if b is not None:
            assert_close(gb, gb_t, dtype)
        else:
            assert gb is None


@settings(max_examples=EXAMPLES)
@given(case=cases())
def test_adjoint_identity_without_torch(case):
    y, w, _ = operands(case)
    out = ct.conv_transpose(y, w, **call_kwargs(case))
    x = np.random.default_rng(case["seed"] + 2).standard_normal(out.shape)
    conv = numpy_padded_conv(x, w, pads=case["pads"], mode=case["mode"], stride=case["stride"],
                             dilation=case["dilation"], groups=case["groups"], input_spatial=case["in_spatial"])
    lhs, rhs = float(np.vdot(conv, y)), float(np.vdot(x, out))
    scale = float(np.sum(np.abs(conv) * np.abs(y)) + np.sum(np.abs(x) * np.abs(out)))
    assert abs(lhs - rhs) <= 1e-12 * max(scale, 1.0)


def test_reflect_by_hand():
    # canvas of y=[1, 2, 3] with kernel [1, 1, 1], stride 1: [1, 3, 6, 5, 3]; padding 1 crops one
    # cell each side. Reflect's paired conv copies x[1] into both border cells, so both fold onto x[1].
    out = ct.conv_transpose1d(np.array([[[1.0, 2, 3]]]), np.ones((1, 1, 3)), padding=1, padding_mode="reflect")
    assert out.tolist() == [[[3.0, 6 + 1 + 3, 5]]]
    out = ct.conv_transpose1d(np.array([[[1.0, 2, 3]]]), np.ones((1, 1, 3)), padding=1, padding_mode="circular")
    assert out.tolist() == [[[3.0 + 3, 6, 5 + 1]]]
    out = ct.conv_transpose1d(np.array([[[1.0, 2, 3]]]), np.ones((1, 1, 3)), padding=1, padding_mode="replicate")
    assert out.tolist() == [[[3.0 + 1, 6, 5 + 3]]]


def _peak_bytes(call):
    import tracemalloc

    call()  # warm caches (plans, maps, compiled kernels) outside the measurement
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("path_name", ENGINE_PATHS)
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_a_mode_folds_in_the_kernel_without_a_canvas(path_name, mode):
    """Every path folds the border where the zeros mode drops it: a mode's peak memory is the zeros
    call's, scaled by the canvas' size over the output's (the border cells are computed like the
    others), plus the border. A canvas and a copy of the output out of it would add about 2x the
    output."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 8, 12, 12)), rng.standard_normal((8, 8, 4, 4))
    gy = rng.standard_normal((2, 8, 24, 24))
    kwargs = dict(stride=2, padding=1)  # canvas 26 x 26, output 24 x 24
    border_bytes = 2 * 8 * (26 * 26 - 24 * 24) * 8
    with use_path(path_name):
        for run in (
            lambda m: ct.conv_transpose(x, w, padding_mode=m, **kwargs),
            lambda m: ct.conv_transpose_backward(gy, x, w, padding_mode=m, **kwargs),
        ):
            zeros, folded = _peak_bytes(lambda: run("zeros")), _peak_bytes(lambda: run(mode))
            assert folded <= zeros * (26 * 26) / (24 * 24) + 2 * border_bytes, (zeros, folded, border_bytes)


@pytest.mark.parametrize("path_name", ENGINE_PATHS)
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_a_depthwise_mode_adds_the_bias_once(path_name, mode):
    """Depthwise, with a border along the last axis on both sides and a large bias: the border
    cells fold their products only (the compiled depthwise kernel builds whole canvas lines in its
    scratch, bias included, so a border cell that carried the bias would add it twice)."""
    rng = np.random.default_rng(3)
    y, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((3, 2, 3, 4)), np.array([1e3, -7.0, 0.5, 2.0, 1e6, 3.0])
    pads, stride, dilation = ((1, 2), (2, 1)), (2, 2), (1, 1)
    expected, *_ = torch_double_backward(
        y, w, b, np.zeros((2, 6, 8, 11)), pads=pads, ops=(0, 0), mode=mode, stride=stride, dilation=dilation, groups=3
    )
    with use_path(path_name):
        out = ct.conv_transpose(y, w, b, stride=stride, padding=pads, groups=3, padding_mode=mode)
    assert_close(out, expected, np.float64)
    # and a non-finite bias stays what it is, with no inf - inf anywhere
    with use_path(path_name):
        out = ct.conv_transpose(y, w, np.array([np.inf, 0, 0, 0, 0, -np.inf]), stride=stride, padding=pads, groups=3,
                                padding_mode=mode)
    assert np.all(out[:, 0] == np.inf) and np.all(out[:, 5] == -np.inf) and np.isfinite(out[:, 1:5]).all()
