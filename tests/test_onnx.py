"""The ONNX adapter against ONNX's conformance cases, onnxruntime, and its own error rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convtranspose as ct

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from convtranspose.onnx import conv_transpose_attributes, run_conv_transpose, run_model, run_node  # noqa: E402

_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


def _model(x, w, b=None, **attrs):
    names = ["X", "W"] + (["B"] if b is not None else [])
    elem = _ELEM[x.dtype]
    inputs = [helper.make_tensor_value_info(name, elem, None) for name in names]
    node = helper.make_node("ConvTranspose", names, ["Y"], **attrs)
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("Y", elem, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    return model, dict(zip(names, (x, w, b)))


def run_onnxruntime(x, w, b=None, **attrs):
    """onnxruntime's CPU ConvTranspose (float32 only: it has no float64 kernel)."""
    model, feeds = _model(x, w, b, **attrs)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def run_reference(x, w, b=None, **attrs):
    """ONNX's reference implementation (``onnx.reference``)."""
    from onnx.reference import ReferenceEvaluator

    model, feeds = _model(x, w, b, **attrs)
    return ReferenceEvaluator(model).run(None, feeds)[0]


# --------------------------------------------------------------------------------------------
# The conformance cases shipped in the onnx package
# --------------------------------------------------------------------------------------------


def _conformance_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # other operators' cases divide by zero on purpose
        return collect_testcases("ConvTranspose")


CASES = _conformance_cases()


def test_there_are_eleven_conformance_cases():
    assert sorted(case.name for case in CASES) == sorted([
        "test_convtranspose", "test_convtranspose_1d", "test_convtranspose_3d",
        "test_convtranspose_output_shape", "test_convtranspose_pad", "test_convtranspose_kernel_shape",
        "test_convtranspose_pads", "test_convtranspose_dilations", "test_convtranspose_autopad_same",
        "test_convtranspose_group_2", "test_convtranspose_group_2_image_3",
    ])


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_conformance_case(case):
    (node,) = case.model.graph.node
    assert node.op_type == "ConvTranspose"
    for inputs, (expected,) in case.data_sets:
        out = run_node(node, inputs)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-5)
        # and the whole model through run_model (ConvTranspose by us, nothing else in the graph)
        feeds = {value.name: array for value, array in zip(case.model.graph.input, inputs)}
        (from_model,) = run_model(case.model, feeds).values()
        np.testing.assert_array_equal(from_model, out)


# --------------------------------------------------------------------------------------------
# A sweep of node attributes against onnxruntime
# --------------------------------------------------------------------------------------------


@st.composite
def onnx_calls(draw):
    n = draw(st.integers(1, 3))
    batch = draw(st.integers(1, 2))
    group = draw(st.integers(1, 3))
    c_in = group * draw(st.integers(1, 2))
    per_group_out = draw(st.integers(1, 3))  # several output channels per group included
    size_cap = 4 if n < 3 else 3
    kernel = tuple(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)))
    spatial = tuple(draw(st.lists(st.integers(1, size_cap), min_size=n, max_size=n)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=n, max_size=n)))
    attrs = dict(strides=list(stride), dilations=list(dilation))
    if group > 1 or draw(st.booleans()):
        attrs["group"] = group
    if draw(st.booleans()):
        attrs["output_padding"] = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]  # >= stride: refused
    if draw(st.booleans()):
        attrs["kernel_shape"] = list(kernel)
    full = [s * (i - 1) + d * (k - 1) + 1 for i, k, s, d in zip(spatial, kernel, stride, dilation)]
    form = draw(st.sampled_from(["pads", "none", "SAME_UPPER", "SAME_LOWER", "VALID", "output_shape"]))
    if form == "pads":
        attrs["pads"] = [draw(st.integers(0, f // 2)) for f in full] + [draw(st.integers(0, f // 2)) for f in full]
    elif form == "output_shape":
        attrs["output_shape"] = [draw(st.integers(max(1, f - 3), f + s - 1)) for f, s in zip(full, stride)]
        if draw(st.booleans()):
            attrs["auto_pad"] = draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
        if draw(st.booleans()):  # output_shape overrides pads
            attrs["pads"] = [1] * (2 * n)
            attrs.pop("auto_pad", None)
    elif form != "none":
        attrs["auto_pad"] = form
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c_in) + spatial).astype(np.float32)
    w = rng.standard_normal((c_in, per_group_out) + kernel).astype(np.float32)
    b = rng.standard_normal(per_group_out * group).astype(np.float32) if draw(st.booleans()) else None
    return x, w, b, attrs


@settings(max_examples=min(400, settings.default.max_examples * 2))
@given(onnx_calls())
def test_agrees_with_onnxruntime(call):
    x, w, b, attrs = call
    try:
        expected = run_onnxruntime(x, w, b, **attrs)
    except Exception as exc:  # onnxruntime refuses: so must we (checked with the same call)
        with pytest.raises(ct.ConvTransposeError):
            run_conv_transpose(x, w, b, **attrs)
        assume(False)
        raise AssertionError("unreachable") from exc
    ours = run_conv_transpose(x, w, b, **attrs)
    assert ours.dtype == np.float32
    if attrs.get("auto_pad", "NOTSET").startswith("SAME") and "output_shape" not in attrs and ours.shape != expected.shape:
        # Kernel shorter than the stride: the spec's out = in * stride (we add the missing cells at
        # the end, zeros plus bias); onnxruntime returns only the canvas.
        assert ours.shape[2:] == tuple(i * s for i, s in zip(x.shape[2:], attrs["strides"]))
        window = tuple(slice(0, e) for e in expected.shape)
        np.testing.assert_allclose(ours[window], expected, rtol=1e-4, atol=1e-4)
        rest = ours.copy()
        rest[window] = np.nan
        fill = np.zeros(ours.shape[1], np.float32) if b is None else b
        extra = ~np.isnan(rest)
        np.testing.assert_array_equal(rest[extra], np.broadcast_to(fill.reshape((1, -1) + (1,) * (x.ndim - 2)), ours.shape)[extra])
        return
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_float64_matches_float32_sweep_case():
    """onnxruntime has no float64 ConvTranspose; float64 goes through the same crop as float32."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(6)
    attrs = dict(group=2, strides=[2, 3], pads=[1, 0, 2, 1], output_padding=[1, 0])
    expected = run_onnxruntime(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), **attrs)
    ours = run_conv_transpose(x, w, b, **attrs)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Where ONNX's reference implementation and onnxruntime disagree, we follow onnxruntime
# --------------------------------------------------------------------------------------------


def test_reference_implementation_disagrees_with_onnxruntime():
    rng = np.random.default_rng(0)
    # 1. Grouped with a bias: onnx.reference adds B[0] to every group's first channel.
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    w = rng.standard_normal((2, 1, 2, 2)).astype(np.float32)
    b = np.array([1.0, 10.0], np.float32)
    runtime, reference = run_onnxruntime(x, w, b, group=2), run_reference(x, w, b, group=2)
    np.testing.assert_allclose(reference[:, 0], runtime[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reference[:, 1] - runtime[:, 1], -9.0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_conv_transpose(x, w, b, group=2), runtime, rtol=1e-5, atol=1e-5)

    # 2. Grouped with several output channels per group: onnx.reference cannot run it at all.
    x = rng.standard_normal((1, 4, 3, 3)).astype(np.float32)
    w = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)
    runtime = run_onnxruntime(x, w, group=2)
    with pytest.raises(ValueError, match="could not broadcast"):
        run_reference(x, w, group=2)
    np.testing.assert_allclose(run_conv_transpose(x, w, group=2), runtime, rtol=1e-5, atol=1e-5)

    # 3. output_shape without auto_pad: the spec's formula crops the odd cell at the start
    #    (onnxruntime does); onnx.reference keeps the canvas' start and drops the output_padding cell.
    x = np.arange(1, 4, dtype=np.float32).reshape(1, 1, 3)
    w = np.ones((1, 1, 3), np.float32)
    attrs = dict(strides=[2], output_padding=[1], output_shape=[7])
    runtime, reference = run_onnxruntime(x, w, **attrs), run_reference(x, w, **attrs)
    assert runtime[0, 0].tolist() == [1, 3, 2, 5, 3, 3, 0]
    assert reference[0, 0].tolist() == [1, 1, 3, 2, 5, 3, 3]
    assert run_conv_transpose(x, w, **attrs)[0, 0].tolist() == [1, 3, 2, 5, 3, 3, 0]


def test_same_with_kernel_shorter_than_stride_follows_the_spec():
    x = np.arange(1, 4, dtype=np.float32).reshape(1, 1, 3)
    w = np.ones((1, 1, 3), np.float32)
    for auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        ours = run_conv_transpose(x, w, np.array([0.5], np.float32), strides=[4], auto_pad=auto_pad)
        assert ours[0, 0].tolist() == [1.5, 1.5, 1.5, 0.5, 2.5, 2.5, 2.5, 0.5, 3.5, 3.5, 3.5, 0.5]
        assert run_onnxruntime(x, w, strides=[4], auto_pad=auto_pad)[0, 0].tolist() == [1, 1, 1, 0, 2, 2, 2, 0, 3, 3, 3]


# --------------------------------------------------------------------------------------------
# A model with several nodes
# --------------------------------------------------------------------------------------------


def test_run_model_with_initializers_and_other_operators():
    rng = np.random.default_rng(3)
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(6).astype(np.float32)
    w2 = rng.standard_normal((6, 1, 4, 4)).astype(np.float32)
    nodes = [
        helper.make_node("ConvTranspose", ["X", "W1", "B1"], ["H"], group=2, auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("Relu", ["H"], ["R"]),
        helper.make_node("ConvTranspose", ["R", "W2"], ["Y"], strides=[2, 2], pads=[1, 2, 2, 1]),
    ]
    graph = helper.make_graph(
        nodes, "decoder", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4, 5, 5])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(a, name) for a, name in ((w1, "W1"), (b1, "B1"), (w2, "W2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"X": x})
    ours = run_model(model, {"X": x})["Y"]
    assert ours.shape == expected.shape == (1, 1, 19, 19)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

_X, _W = np.ones((1, 4, 3, 3), np.float32), np.ones((4, 1, 2, 2), np.float32)


@pytest.mark.parametrize("x_shape, w_shape, attrs, error, message", [
    ((1, 3, 3, 3), (3, 1, 2, 2), dict(group=2), ct.ParameterError,
     r"group must divide the input channels C, got group=2 for C=3"),
    ((1, 4, 3, 3), (2, 1, 2, 2), dict(), ct.ShapeError, r"W.shape\[0\] must equal the input channels C=4"),
    ((1, 4, 3, 3), (4, 1, 2), dict(), ct.ShapeError, r"W must have shape \(C, M / group, k1, ..., k2\)"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(group=0), ct.ParameterError, r"group must be at least 1, got group=0"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(kernel_shape=[3, 3]), ct.ParameterError,
     r"kernel_shape must equal W's spatial shape \[2, 2\], got kernel_shape=\[3, 3\]"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(pads=[1, 1]), ct.ParameterError,
     r"pads must have 4 entries \(the begin values, then the end values of every spatial axis\), got pads=\[1, 1\]"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(pads=[0, 0, -1, 0]), ct.ParameterError, r"pads must be non-negative"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(strides=[0, 1]), ct.ParameterError, r"strides must be positive, got strides=\[0, 1\]"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(strides=[2, 2], output_padding=[2, 0]), ct.ParameterError,
     r"output_padding\[0\] must be non-negative and smaller than strides\[0\] = 2"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(auto_pad="SAME"), ct.ParameterError,
     r"auto_pad must be one of NOTSET, SAME_UPPER, SAME_LOWER, VALID, got auto_pad='SAME'"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(auto_pad="VALID", pads=[0, 0, 0, 0]), ct.ParameterError,
     r"auto_pad='VALID' and pads=\[0, 0, 0, 0\] cannot be used together"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(strides=[2, 2], output_shape=[9, 6]), ct.OutputSizeError,
     r"output_shape\[0\] must be between 1 and 7 for an input of 3"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(pads=[2, 2, 2, 2]), ct.OutputSizeError,
     r"the output would have spatial shape \[0, 0\]"),
    ((1, 4, 3, 3), (4, 1, 2, 2), dict(strides=[1.5, 1]), ct.ParameterTypeError, r"strides must contain only ints"),
])
def test_bad_attributes(x_shape, w_shape, attrs, error, message):
    with pytest.raises(error, match=message):
        conv_transpose_attributes(x_shape, w_shape, **attrs)


def test_onnxruntime_accepts_what_the_spec_does_not_check_group():
    """onnx#7802: shape inference accepts C % group != 0; we refuse with our error."""
    x, w = np.ones((1, 3, 2, 2), np.float32), np.ones((3, 1, 2, 2), np.float32)
    with pytest.raises(ct.ParameterError, match="group must divide"):
        run_conv_transpose(x, w, group=2)


def test_bad_bias_and_unknown_attribute():
    with pytest.raises(ct.ShapeError, match="bias"):
        run_conv_transpose(_X, _W, np.ones(3, np.float32), group=4)
    with pytest.raises(ct.ShapeError, match=r"B must have shape \(4,\)"):
        run_conv_transpose(_X, _W, np.ones(3, np.float32), group=4, pads=[1, 0, 0, 0])
    with pytest.raises(ct.ParameterError, match=r"unknown attribute\(s\) \['stride'\]"):
        run_conv_transpose(_X, _W, stride=[2, 2])
    with pytest.raises(ct.ParameterError, match="expected a ConvTranspose node, got op_type='Conv'"):
        run_node(helper.make_node("Conv", ["X", "W"], ["Y"]), [_X, _W])
