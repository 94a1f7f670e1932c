"""Padding forms ((before, after) pairs, 'same', 'same_lower', 'valid') against onnxruntime and a
crop of the full canvas in the naive NumPy reference (issue "Beyond PyTorch").

* onnxruntime's ConvTranspose with explicit ``pads`` (ONNX order: every axis' begin, then every
  axis' end) or ``auto_pad`` = SAME_UPPER / SAME_LOWER / VALID, in float32 (onnxruntime has no
  float64 ConvTranspose kernel): tolerance 1e-4 of the largest magnitude.
* the naive loop reference computes the full canvas (padding 0, the effective output_padding),
  and the expected output is its ``[before : len - after]`` crop, in float64: tolerance 1e-10.

One known disagreement is pinned in a test: when the kernel is shorter than the stride ('same'
needs more cells than the canvas has), onnxruntime returns the uncropped canvas, shorter than
``input · stride``; ONNX's formula (and ours) asks for ``input · stride`` cells, the missing ones at
the end.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import convtranspose as ct
from convtranspose.engine import use_path
from convtranspose.errors import OutputSizeError, ParameterError
from padding_oracle import expected_pads, onnxruntime_conv_transpose, output_spatial
from oracle import conv_transpose_naive

AUTO_PAD = {"same": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}


@st.composite
def form_cases(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    in_spatial = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    form = draw(st.one_of(
        st.sampled_from(["same", "same_lower", "valid"]),
        st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3)) for _ in range(ndim)]),
    ))
    pads, ops = expected_pads(form, kernel, stride, dilation, output_padding)
    assume(min(output_spatial(in_spatial, kernel, stride, dilation, pads, ops)) >= 1)
    return dict(
        form=form, pads=pads, ops=ops, kernel=kernel, stride=stride, dilation=dilation,
        output_padding=output_padding, groups=groups, in_spatial=in_spatial,
        cin=groups * draw(st.integers(1, 2)), cout_g=draw(st.integers(1, 2)), bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def _operands(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((2, case["cin"]) + case["in_spatial"]).astype(dtype)
    w = rng.standard_normal((case["cin"], case["cout_g"]) + case["kernel"]).astype(dtype)
    b = rng.standard_normal(case["cout_g"] * case["groups"]).astype(dtype) if case["bias"] else None
    return x, w, b


def _ours(case, x, w, b):
    return ct.conv_transpose(x, w, b, stride=case["stride"], padding=case["form"],
                             output_padding=case["output_padding"], dilation=case["dilation"], groups=case["groups"])


@given(case=form_cases())
def test_forms_equal_crop_of_full_canvas(case, engine_path):
    x, w, b = _operands(case, np.float64)
    canvas = conv_transpose_naive(x, w, b, stride=case["stride"], padding=0, output_padding=case["ops"],
                                  dilation=case["dilation"], groups=case["groups"])
    crop = (slice(None), slice(None)) + tuple(slice(bf, n - af) for (bf, af), n in zip(case["pads"], canvas.shape[2:]))
    with use_path(engine_path):
        ours = _ours(case, x, w, b)
    np.testing.assert_allclose(ours, canvas[crop], rtol=1e-10, atol=1e-10)


@given(form_cases())
def test_forms_agree_with_onnxruntime(case):
    pytest.importorskip("onnxruntime")
    x, w, b = _operands(case, np.float32)
    ndim = len(case["kernel"])
    # onnxruntime refuses output_padding >= stride (PyTorch allows it below the dilation)
    assume(all(op < s for op, s in zip(case["output_padding"], case["stride"])))
    if isinstance(case["form"], str):
        # onnxruntime returns the bare canvas when 'same' would need more cells than it has
        # (test_same_with_kernel_shorter_than_stride pins that disagreement)
        assume(case["form"] == "valid" or all(
            d * (k - 1) + 1 - s + op >= 0
            for k, s, d, op in zip(case["kernel"], case["stride"], case["dilation"], case["output_padding"])))
        attrs = dict(auto_pad=AUTO_PAD[case["form"]])
    else:
        attrs = dict(pads=[p[0] for p in case["pads"]] + [p[1] for p in case["pads"]])
    expected = onnxruntime_conv_transpose(
        x, w, b, strides=case["stride"], dilations=case["dilation"], group=case["groups"],
        output_padding=case["output_padding"], **attrs)
    ours = _ours(case, x, w, b)
    assert ours.shape == expected.shape, (ours.shape, expected.shape, ndim)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4 * scale)


def test_same_examples_by_hand():
    x, w = np.array([[[1.0, 2.0, 3.0]]]), np.ones((1, 1, 3))
    # canvas [1, 1+0, ...]: stride 2 -> [1, 1, 3, 2, 5, 3, 3]; 'same' needs 6 = 3 * 2 cells,
    # total crop 3 - 1 + 1 - 2 = 1: the odd cell at the end ('same') or at the start ('same_lower')
    assert ct.conv_transpose1d(x, w, stride=2, padding="same").tolist() == [[[1, 1, 3, 2, 5, 3]]]
    assert ct.conv_transpose1d(x, w, stride=2, padding="same_lower").tolist() == [[[1, 3, 2, 5, 3, 3]]]
    assert ct.conv_transpose1d(x, w, stride=2, padding="valid").tolist() == [[[1, 1, 3, 2, 5, 3, 3]]]
    assert ct.conv_transpose1d(x, w, stride=2, padding=((2, 1),)).tolist() == [[[3, 2, 5, 3]]]
    # kernel 1 < stride 3: 9 cells from a 7-cell canvas, the two missing ones at the end
    assert ct.conv_transpose1d(x, np.ones((1, 1, 1)), stride=3, padding="same").tolist() == [
        [[1, 0, 0, 2, 0, 0, 3, 0, 0]]
    ]


def test_same_with_kernel_shorter_than_stride():
    """Ours follows ONNX's formula (input · stride cells); onnxruntime returns the bare canvas."""
    pytest.importorskip("onnxruntime")
    x, w = np.array([[[1.0, 2.0, 3.0]]], np.float32), np.ones((1, 1, 1), np.float32)
    theirs = onnxruntime_conv_transpose(x, w, strides=[3], dilations=[1], group=1, output_padding=[0],
                                        auto_pad="SAME_UPPER")
    ours = ct.conv_transpose1d(x, w, stride=3, padding="same")
    assert theirs.shape[-1] == 7 and ours.shape[-1] == 9
    np.testing.assert_array_equal(ours[..., :7], theirs)


def test_shape_functions_take_every_form():
    assert ct.output_size(3, kernel_size=3, stride=2, padding="same") == 6
    assert ct.output_size(3, kernel_size=3, stride=2, padding="valid") == 7
    assert ct.output_size((3, 3), kernel_size=3, stride=2, padding=((2, 1), (0, 0))) == (4, 7)
    assert ct.output_size_range(3, kernel_size=3, stride=2, padding=((2, 1),)) == ((4,), (5,))
    assert ct.output_size_range(3, kernel_size=3, stride=2, padding="same") == (6, 6)
    assert ct.output_padding_for(3, 5, kernel_size=3, stride=2, padding=((2, 1),)) == (1,)
    assert ct.output_padding_for(3, 6, kernel_size=3, stride=2, padding="same") == 0


def test_output_size_with_forms():
    x, w = np.ones((1, 1, 3)), np.ones((1, 1, 3))
    assert ct.conv_transpose1d(x, w, stride=2, padding=((2, 1),), output_size=(5,)).shape == (1, 1, 5)
    assert ct.conv_transpose1d(x, w, stride=2, padding="same", output_size=(6,)).shape == (1, 1, 6)
    with pytest.raises(OutputSizeError, match=r"padding='same' gives exactly input · stride = \(6,\) cells, "
                                              r"but output_size=\(7,\) was requested"):
        ct.conv_transpose1d(x, w, stride=2, padding="same", output_size=(7,))
    with pytest.raises(OutputSizeError, match=r"requested an output size of \(6,\), but valid sizes range from \(4,\) "
                                              r"to \(5,\) \(for an input of \(3,\)\)"):
        ct.conv_transpose1d(x, w, stride=2, padding=((2, 1),), output_size=(6,))


@pytest.mark.parametrize(
    "padding, message",
    [
        (((2, 3),), r"computed output size \(-2,\) is too small .* padding=\(\(2, 3\),\).*before \+ after may be at most \(2,\) here"),
        ("full", r"padding string must be one of 'valid', 'same', 'same_lower', got padding='full'"),
        (((1, 2, 3),), r"dimension 0 has 3 entries"),
    ],
)
def test_form_error_messages(padding, message):
    with pytest.raises((ParameterError, OutputSizeError), match=message):
        ct.conv_transpose1d(np.ones((1, 1, 2)), np.ones((1, 1, 2)), padding=padding)
