"""bfloat16, complex64/128 and int64 against torch, forward and gradients (issue "Beyond PyTorch").

* PyTorch's own OpInfo sample inputs for ``nn.functional.conv_transpose{1,2,3}d``
  (``torch.testing._internal.common_methods_invocations``; it needs ``expecttest``) in every dtype
  the OpInfo lists, on every engine path: forward, and the three gradients where torch has them
  (a path that refuses a call, such as 'small' on a large sample, is skipped for that sample).
* A sweep of random layers in complex and int64 on every path, and bf16 passed both as an
  ``ml_dtypes.bfloat16`` array and as a torch bfloat16 tensor.

Tolerances (absolute, times the largest magnitude of the expected array, never below 1):
float64/complex128 1e-10, float32/complex64 1e-4, float16 2e-3, bfloat16 2e-2 (torch's CPU kernel
for the half types does not round at the same points as our float32 computation, and a bfloat16
has 8 significant bits); int64 exact. Gradients of int64 are compared with torch's float64 autograd
on the same integer values (exact for these magnitudes): torch has no integer autograd.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convtranspose as ct
from convtranspose.engine import available_paths, use_path
from convtranspose.errors import DTypeError, ParameterError

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")
F = torch.nn.functional

TOL = {
    torch.float64: 1e-10, torch.complex128: 1e-10, torch.float32: 1e-4, torch.complex64: 1e-4,
    torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.int64: 0.0,
}
ENGINE_PATHS = available_paths()
#: Each example runs on every engine path against torch's (slow, complex) autograd computed once.
SWEEP_EXAMPLES = 100 if settings.get_current_profile_name() == "ci" else 20
TORCH_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
OURS = {1: ct.conv_transpose1d, 2: ct.conv_transpose2d, 3: ct.conv_transpose3d}


def to_numpy(tensor):
    """A torch tensor as NumPy (bfloat16 through ml_dtypes, bit for bit)."""
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def assert_close(ours, expected, tdtype):
    expected = to_numpy(expected) if isinstance(expected, torch.Tensor) else expected
    assert ours.dtype == expected.dtype, (ours.dtype, expected.dtype)
    assert ours.shape == expected.shape
    if tdtype == torch.int64:
        np.testing.assert_array_equal(ours, expected)
        return
    wide = np.complex128 if np.iscomplexobj(expected) else np.float64
    e, o = expected.astype(wide), ours.astype(wide)
    scale = max(1.0, float(np.abs(e).max(initial=0.0)))
    np.testing.assert_allclose(o, e, rtol=0, atol=TOL[tdtype] * scale)


def path_takes(engine_path, x, w, kwargs):
    """False when a forced engine path refuses this call (it says so with a ParameterError)."""
    try:
        with use_path(engine_path):
            OURS[w.ndim - 2](np.zeros(x.shape), np.zeros(w.shape), **kwargs)
    except ParameterError as exc:
        if "cannot take this call" in str(exc):
            return False
        raise
    return True


def _opinfo_cases():
    try:
        from torch.testing._internal.common_methods_invocations import op_db
    except ImportError as exc:  # expecttest missing
        reason = f"torch's OpInfo database is not importable ({exc}); pip install expecttest"
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=reason), id="opinfo-unavailable")]
    cases = []
    for op in op_db:
        if op.name.startswith("nn.functional.conv_transpose"):
            for dtype in sorted(op.dtypes, key=str):
                cases.append(pytest.param(op, dtype, id=f"{op.name.split('.')[-1]}-{str(dtype).split('.')[-1]}"))
    return cases


OPINFO_CASES = _opinfo_cases()


@pytest.mark.parametrize("op, tdtype", OPINFO_CASES)
def test_opinfo_samples(op, tdtype):
    """Every sample on every engine path (torch's expected values computed once per sample)."""
    grads = tdtype.is_floating_point or tdtype.is_complex
    ndim = int(op.name[-2])
    samples = list(op.sample_inputs("cpu", tdtype, requires_grad=grads))
    assert samples
    for sample in samples:
        weight, bias = sample.args[0], sample.args[1] if len(sample.args) > 1 else None
        expected = op(sample.input, *sample.args, **sample.kwargs)
        leaves = [sample.input, weight] + ([] if bias is None else [bias])
        if grads:
            g = torch.randn(expected.shape, dtype=tdtype) if tdtype.is_complex else torch.randn(expected.shape).to(tdtype)
            torch_grads = torch.autograd.grad(expected, leaves, g)
        for engine_path in ENGINE_PATHS:
            if not path_takes(engine_path, to_numpy(sample.input), to_numpy(weight), sample.kwargs):
                continue  # e.g. 'small' refuses a large 3-d sample; the other paths cover it
            with use_path(engine_path):
                # bf16 tensors are passed directly; the others as NumPy arrays
                direct = tdtype == torch.bfloat16
                args = [t if direct else to_numpy(t) for t in (sample.input, weight)]
                b = None if bias is None else (bias if direct else to_numpy(bias))
                out = OURS[ndim](*args, b, **sample.kwargs)
                assert_close(out, expected, tdtype)
                if not grads:
                    continue
                gx, gw, gb = ct.conv_transpose_backward(
                    to_numpy(g), to_numpy(sample.input), to_numpy(weight), bias=bias is not None, **sample.kwargs
                )
            assert_close(gx, torch_grads[0], tdtype)
            assert_close(gw, torch_grads[1], tdtype)
            if bias is not None:
                assert_close(gb, torch_grads[2], tdtype)


@st.composite
def layers(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    return dict(
        x_shape=(draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))) + tuple(draw(st.integers(1, 4)) for _ in range(ndim)),
        w_rest=(draw(st.integers(1, 3)),) + kernel,
        kwargs=dict(stride=stride, dilation=dilation, groups=groups,
                    padding=tuple(draw(st.integers(0, d * (k - 1) // 2)) for k, d in zip(kernel, dilation)),
                    output_padding=tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def _operands(layer, tdtype):
    gen = torch.Generator().manual_seed(layer["seed"])
    w_shape = (layer["x_shape"][1],) + layer["w_rest"]
    shapes = (layer["x_shape"], w_shape, (layer["w_rest"][0] * layer["kwargs"]["groups"],))
    if tdtype == torch.int64:
        return [torch.randint(-20, 20, s, generator=gen) for s in shapes]
    return [torch.randn(s, generator=gen, dtype=tdtype) for s in shapes]


@pytest.mark.parametrize("tdtype", [torch.complex64, torch.complex128, torch.int64, torch.bfloat16])
@settings(max_examples=SWEEP_EXAMPLES)
@given(layer=layers())
def test_sweep_against_torch(layer, tdtype):
    x, w, b = _operands(layer, tdtype)
    kwargs = layer["kwargs"]
    exact = tdtype == torch.int64
    leaves = [(t.double() if exact else t.clone()).requires_grad_(True) for t in (x, w, b)]
    expected = TORCH_FN[x.ndim - 2](*leaves, **kwargs)
    gen = torch.Generator().manual_seed(layer["seed"] + 1)
    if exact:
        g = torch.randint(-20, 20, expected.shape, generator=gen)
        grads = [t.to(torch.int64) for t in torch.autograd.grad(expected, leaves, g.double())]
        expected = expected.detach().to(torch.int64)
    else:
        g = torch.randn(expected.shape, generator=gen, dtype=tdtype)
        grads = torch.autograd.grad(expected, leaves, g)
    for engine_path in ENGINE_PATHS:
        with use_path(engine_path):
            out = ct.conv_transpose(*(to_numpy(t) for t in (x, w, b)), **kwargs)
            gx, gw, gb = ct.conv_transpose_backward(to_numpy(g), to_numpy(x), to_numpy(w), **kwargs)
        assert_close(out, expected, tdtype)
        for ours, theirs in zip((gx, gw, gb), grads):
            assert_close(ours, theirs, tdtype)


def test_bfloat16_tensor_in_ml_dtypes_out():
    x, w = torch.randn(1, 2, 3, 3).bfloat16(), torch.randn(2, 1, 2, 2).bfloat16()
    out = ct.conv_transpose2d(x, w, stride=2)
    assert out.dtype == ml_dtypes.bfloat16 and out.flags.c_contiguous
    assert_close(out, F.conv_transpose2d(x, w, stride=2), torch.bfloat16)


@pytest.mark.parametrize(
    "x_dtype, w_dtype, message",
    [
        (np.float64, np.complex128, "all operands must have the same dtype"),
        (np.complex64, np.float32, "all operands must have the same dtype"),
        (np.int64, np.float64, "all operands must have the same dtype"),
        (np.int32, np.int32, "input has dtype int32, which is not supported: of the integer dtypes only int64 is"),
        (np.uint8, np.uint8, "input has dtype uint8, which is not supported"),
        (np.bool_, np.bool_, "input has dtype bool, which is not supported"),
    ],
)
def test_dtype_errors(x_dtype, w_dtype, message):
    with pytest.raises(DTypeError, match=message):
        ct.conv_transpose2d(np.ones((1, 1, 2, 2), x_dtype), np.ones((1, 1, 2, 2), w_dtype))


def test_int64_overflow_wraps_like_torch():
    x = np.full((1, 1, 2), 2**62, np.int64)
    w = np.full((1, 1, 2), 4, np.int64)
    expected = F.conv_transpose1d(torch.tensor(x), torch.tensor(w)).numpy()
    np.testing.assert_array_equal(ct.conv_transpose1d(x, w), expected)
