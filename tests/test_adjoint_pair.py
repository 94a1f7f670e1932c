"""``conv`` (the paired ordinary convolution) and ``as_linear_operator``: dot tests and torch agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import convtranspose as ct
from convtranspose.shape import conv_geometry
from features import HAS_COMPLEX, HAS_FORMS, HAS_MODES
from oracle import TORCH_CONV_FN, assert_close, require_torch, requires_torch

scipy_linalg = pytest.importorskip("scipy.sparse.linalg")

from convtranspose.scipy import as_linear_operator  # noqa: E402


MODES = ["zeros"] + (["circular", "reflect", "replicate"] if HAS_MODES else [])
FORMS = ["int", "tuple"] + (["pairs", "same", "same_lower", "valid"] if HAS_FORMS else [])
DTYPES = [np.float64] + ([np.complex128] if HAS_COMPLEX else [])


def test_every_form_mode_and_dtype_is_swept():
    """Fails when the library loses a padding form, a mode or complex: the sweeps below would skip them."""
    missing = [name for name, have in (("padding modes", HAS_MODES), ("padding forms", HAS_FORMS), ("complex", HAS_COMPLEX)) if not have]
    assert not missing, f"the library does not accept {', '.join(missing)}: the interop sweeps no longer cover them"


@st.composite
def operator_cases(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    c_in, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=ndim, max_size=ndim)))
    spatial = tuple(draw(st.lists(st.integers(1, 4 if ndim < 3 else 3), min_size=ndim, max_size=ndim)))
    form = draw(st.sampled_from(FORMS))
    mode = draw(st.sampled_from(MODES))
    full = [(n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(spatial, kernel, stride, dilation)]
    params = dict(stride=stride, dilation=dilation, groups=groups)
    if form in ("int", "tuple", "pairs"):
        op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        params["output_padding"] = op
        if form == "int":
            params["padding"] = draw(st.integers(0, min(full) // 2))
        elif form == "tuple":
            params["padding"] = tuple(draw(st.integers(0, f // 2)) for f in full)
        else:
            params["padding"] = tuple((draw(st.integers(0, f // 2)), draw(st.integers(0, f // 2))) for f in full)
    else:
        params["padding"] = form
    if mode != "zeros":
        params["padding_mode"] = mode
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return (c_in, per_group) + kernel, batch + (c_in,) + spatial, params, draw(st.sampled_from(DTYPES)), draw(st.integers(0, 999))


def _random(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _operator_or_reject(w, input_shape, params):
    try:
        return as_linear_operator(w, input_shape, **params)
    except (ct.ParameterError, ct.OutputSizeError) as exc:  # e.g. reflect padding >= the output size
        assume(False)
        raise AssertionError("unreachable") from exc


@given(operator_cases())
def test_dot_test(case):
    w_shape, input_shape, params, dtype, seed = case
    rng = np.random.default_rng(seed)
    w = _random(rng, w_shape, dtype)
    A = _operator_or_reject(w, input_shape, params)
    x, y = _random(rng, A.shape[1], dtype), _random(rng, A.shape[0], dtype)
    Ax, AHy = A @ x, A.H @ y
    assert Ax.shape == (A.shape[0],) and AHy.shape == (A.shape[1],)
    lhs, rhs = np.vdot(Ax, y), np.vdot(x, AHy)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, np.linalg.norm(Ax) * np.linalg.norm(y)), (lhs, rhs)
    # matvec is the transposed convolution itself; rmatvec is conv with the conjugated weight
    np.testing.assert_array_equal(Ax.reshape(A.output_shape), ct.conv_transpose(x.reshape(input_shape), w, **params))
    stride, dilation, groups = params["stride"], params["dilation"], params["groups"]
    paired = ct.conv(y.reshape(A.output_shape), np.conj(w), stride=stride, padding=params["padding"], groups=groups,
                     dilation=dilation, padding_mode=params.get("padding_mode", "zeros"))
    # (with stride <= output_padding < dilation, conv's floor size is longer than the input: A^H is its start)
    paired = paired[tuple(slice(0, n) for n in input_shape)]
    np.testing.assert_allclose(paired.ravel(), AHy, rtol=1e-12, atol=1e-12)


FORM_VALUES = {
    "int": 1, "tuple": (1, 2), "pairs": ((2, 0), (1, 3)), "same": "same", "same_lower": "same_lower", "valid": "valid",
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", MODES)
def test_dot_test_every_mode_form_and_dtype(mode, form, dtype):
    """<A x, y> = <x, A^H y> to 1e-10 for each (mode, form, dtype): grouped, strided, dilated, 2-d."""
    params = dict(stride=(2, 1), dilation=(1, 2), groups=2, padding=FORM_VALUES[form], padding_mode=mode)
    if form not in ("same", "same_lower"):
        params["output_padding"] = (1, 0)
    rng = np.random.default_rng(7)
    w = _random(rng, (4, 2, 3, 4), dtype)
    A = as_linear_operator(w, (2, 4, 4, 5), **params)
    x, y = _random(rng, A.shape[1], dtype), _random(rng, A.shape[0], dtype)
    lhs, rhs = np.vdot(A @ x, y), np.vdot(x, A.H @ y)
    assert abs(lhs - rhs) <= 1e-10 * np.linalg.norm(A @ x) * np.linalg.norm(y), (lhs, rhs)
    # and A^H is the conjugate transpose of A's matrix, not merely consistent on one pair of vectors
    dense = A @ np.eye(A.shape[1], dtype=dtype)
    np.testing.assert_allclose(A.H @ y, dense.conj().T @ y, rtol=1e-10, atol=1e-10)


def test_dense_matrix_of_a_small_operator_is_its_adjoints_conjugate_transpose():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 3, 3, 2))
    A = as_linear_operator(w, (2, 3, 4), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=1)
    dense = A @ np.eye(A.shape[1])
    dense_h = A.H @ np.eye(A.shape[0])
    np.testing.assert_allclose(dense_h, dense.T, rtol=1e-13, atol=1e-13)
    assert A.dtype == np.float64 and A.output_shape == (3, 6, 5)


def test_real_operator_on_complex_vectors_and_float32():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((1, 1, 3)).astype(np.float32)
    A = as_linear_operator(w, (1, 1, 5), stride=2, padding=1)
    assert A.dtype == np.float32
    v = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    np.testing.assert_allclose(A @ v, A @ v.real + 1j * (A @ v.imag), rtol=1e-6)
    assert (A @ v.real).dtype == np.float32


def test_lsqr_recovers_the_input():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((1, 1, 4, 4))
    A = as_linear_operator(w, (1, 1, 6, 6), stride=2, padding=1)
    x = rng.standard_normal(36)
    solution = scipy_linalg.lsqr(A, A @ x, atol=1e-12, btol=1e-12, iter_lim=500)[0]
    np.testing.assert_allclose(solution, x, rtol=1e-6, atol=1e-6)


def test_operator_errors():
    with pytest.raises(ct.ShapeError, match="a bias makes the map affine"):
        as_linear_operator(np.ones((1, 1, 2)), (1, 1, 3), bias=np.ones(1))
    with pytest.raises(ct.ShapeError, match="weight.shape\\[0\\] \\(in_channels\\) must equal the input's channel count"):
        as_linear_operator(np.ones((2, 1, 2)), (1, 1, 3))


# --------------------------------------------------------------------------------------------
# conv against torch.nn.functional.conv*d (with F.pad for the modes)
# --------------------------------------------------------------------------------------------

def _torch_conv(y, w, b, stride, pads, dilation, groups, mode):
    torch = require_torch()
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad: last dimension first
    t = torch.from_numpy(y)
    batched = t if y.ndim == w.ndim else t[None]
    padded = torch.nn.functional.pad(batched, flat, mode="constant" if mode == "zeros" else mode)
    fn = TORCH_CONV_FN[w.ndim - 2]
    out = fn(padded, torch.from_numpy(w), None if b is None else torch.from_numpy(b), stride=stride,
             dilation=dilation, groups=groups)
    return (out if y.ndim == w.ndim else out[0]).numpy()


def _pads(padding, spatial, kernel, stride, dilation):
    """Explicit (before, after) pads of every form, for torch (for 'same': issue 12's split)."""
    n = len(kernel)
    if padding == "valid":
        return ((0, 0),) * n
    if padding in ("same", "same_lower"):
        pads = []
        for k, s, d in zip(kernel, stride, dilation):
            total = d * (k - 1) + 1 - s
            small = max(total, 0) // 2
            big = max(total, 0) - small
            pads.append((small, big) if padding == "same" else (big, small))
        return tuple(pads)
    if isinstance(padding, int):
        return ((padding, padding),) * n
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


@requires_torch
@given(operator_cases(), st.booleans())
def test_conv_matches_torch(case, with_bias):
    w_shape, input_shape, params, dtype, seed = case
    assume(not (params["padding"] in ("same", "same_lower") and any(
        d * (k - 1) + 1 < s for k, s, d in zip(w_shape[2:], params["stride"], params["dilation"]))))
    rng = np.random.default_rng(seed)
    w = _random(rng, w_shape, dtype)
    A = _operator_or_reject(w, input_shape, params)
    y = _random(rng, A.output_shape, dtype)
    b = _random(rng, (w_shape[0],), dtype) if with_bias else None
    mode = params.get("padding_mode", "zeros")
    ours = ct.conv(y, w, b, stride=params["stride"], padding=params["padding"], groups=params["groups"],
                   dilation=params["dilation"], padding_mode=mode)
    pads = _pads(params["padding"], A.output_shape[-len(w_shape) + 2:], w_shape[2:], params["stride"], params["dilation"])
    expected = _torch_conv(y, w, b, params["stride"], pads, params["dilation"], params["groups"], mode)
    assert_close(ours, expected)


def test_conv_geometry_and_errors():
    assert conv_geometry((7,), (3,), 2, ((1, 0),), 1) == ((3,), (1,))
    y = np.ones((1, 4, 5))
    with pytest.raises(ct.ShapeError, match=r"conv: the input must have weight.shape\[1\] \* groups = 2 \* 1 channels"):
        ct.conv(y, np.ones((3, 2, 2)))
    with pytest.raises(ct.ShapeError, match=r"shorter than the dilated kernel \(7\)"):
        ct.conv(np.ones((1, 2, 5)), np.ones((3, 2, 4)), dilation=2)
    with pytest.raises(ct.ShapeError, match=r"conv: bias must have shape \(3,\)"):
        ct.conv(np.ones((1, 2, 5)), np.ones((3, 2, 2)), np.ones(2))
    with pytest.raises(ct.ParameterError, match="padding string must be one of 'valid', 'same', 'same_lower', got padding='full'"):
        ct.conv(np.ones((1, 2, 5)), np.ones((3, 2, 2)), padding="full")
    # the padding rules are conv_transpose's (one normalize_padding for both)
    with pytest.raises(ct.ParameterTypeError, match="padding must contain only ints or"):
        ct.conv(np.ones((1, 2, 5)), np.ones((3, 2, 2)), padding=(1.5,))
    with pytest.raises(ct.ParameterError, match=r"padding must be non-negative \(>= 0\), got padding=\(\(1, -1\),\)"):
        ct.conv(np.ones((1, 2, 5)), np.ones((3, 2, 2)), padding=((1, -1),))
    with pytest.raises(ct.ShapeError, match="multiple of its stride"):
        ct.conv(np.ones((1, 2, 5)), np.ones((3, 2, 2)), stride=2, padding="same")


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"stride": 0}, "ParameterError", "stride must be positive (>= 1), got stride=(0,)"),
        ({"stride": (2, 1)}, "ParameterError", "sequence of 1 values"),
        ({"dilation": 0}, "ParameterError", "dilation must be positive (>= 1), got dilation=(0,)"),
        ({"groups": 0}, "ParameterError", "groups must be a positive integer, got groups=0"),
        ({"groups": 1.5}, "ParameterTypeError", "groups must be an int, got 1.5"),
        ({"groups": True}, "ParameterTypeError", "groups must be an int, got True"),
    ],
)
def test_conv_rejects_bad_hyper_parameters_like_conv_transpose(kwargs, error, text):
    import convtranspose.errors as errors

    with pytest.raises(getattr(errors, error)) as info:
        ct.conv(np.ones((1, 1, 4)), np.ones((1, 1, 2)), **kwargs)
    assert text in str(info.value)


@requires_torch
@pytest.mark.parametrize("with_bias", [False, True], ids=["no bias", "bias"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", MODES)
def test_conv_matches_torch_every_mode_and_form(mode, form, with_bias):
    """conv = F.pad with the mode, then F.conv2d: grouped, strided, dilated, for each (mode, form)."""
    params = dict(stride=(2, 1), dilation=(1, 2), groups=2, padding=FORM_VALUES[form])
    rng = np.random.default_rng(11)
    w = rng.standard_normal((4, 2, 3, 4))
    # conv's input has the transposed convolution's output shape (for 'same': a multiple of the stride)
    spatial = (8, 9) if form in ("same", "same_lower") else (9, 10)
    y = rng.standard_normal((2, 4) + spatial)
    b = rng.standard_normal(4) if with_bias else None
    ours = ct.conv(y, w, b, padding_mode=mode, **params)
    pads = _pads(params["padding"], spatial, w.shape[2:], params["stride"], params["dilation"])
    expected = _torch_conv(y, w, b, params["stride"], pads, params["dilation"], params["groups"], mode)
    assert ours.shape == expected.shape
    assert_close(ours, expected)
