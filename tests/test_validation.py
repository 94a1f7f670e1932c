"""Every validation rule: the exception class AND the message text (pytest.raises(match=...)).

Messages must name the parameter, the rule and the offending value (and the valid range where
there is one). All our errors subclass ConvTransposeError and ValueError or TypeError.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import convtranspose
from convtranspose import (
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    ConvTransposeError,
    DTypeError,
    OutputSizeError,
    ParameterError,
    ParameterTypeError,
    ShapeError,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)

X2 = np.ones((1, 2, 3, 3))  # batched 2-d input, 2 channels
W2 = np.ones((2, 3, 2, 2))  # 2 -> 3 channels, 2x2 kernel


def esc(text: str) -> str:
    return re.escape(text)


def test_error_hierarchy():
    assert issubclass(ParameterError, ValueError) and issubclass(ParameterError, ConvTransposeError)
    assert issubclass(ShapeError, ValueError) and issubclass(OutputSizeError, ShapeError)
    assert issubclass(ParameterTypeError, TypeError) and issubclass(DTypeError, TypeError)
    assert issubclass(DTypeError, ConvTransposeError) and issubclass(ParameterTypeError, ConvTransposeError)


# --------------------------------------------------------------------------------------------
# Hyper-parameter values (functional API)
# --------------------------------------------------------------------------------------------

FUNCTIONAL_PARAMETER_ERRORS = [
    # non-positive stride / dilation
    (dict(stride=0), ParameterError, esc("stride must be positive (>= 1), got stride=(0, 0)")),
    (dict(stride=(1, -2)), ParameterError, esc("stride must be positive (>= 1), got stride=(1, -2)")),
    (dict(dilation=0), ParameterError, esc("dilation must be positive (>= 1), got dilation=(0, 0)")),
    (dict(dilation=(2, -1)), ParameterError, esc("dilation must be positive (>= 1), got dilation=(2, -1)")),
    # negative padding / output_padding
    (dict(padding=-1), ParameterError, esc("padding must be non-negative (>= 0), got padding=(-1, -1)")),
    (dict(padding=(0, -3)), ParameterError, esc("padding must be non-negative (>= 0), got padding=(0, -3)")),
    (
        dict(output_padding=(-1, 0)),
        ParameterError,
        esc("output_padding must be non-negative (>= 0), got output_padding=(-1, 0)"),
    ),
    # output_padding not smaller than either stride or dilation, per dimension
    (
        dict(stride=2, output_padding=2),
        ParameterError,
        esc("output_padding must be smaller than either stride or dilation")
        + ".*"
        + esc("in dimension 0: 2 is not < max(2, 1); valid range 0..1"),
    ),
    (
        dict(stride=(3, 1), dilation=(1, 2), output_padding=(2, 2)),
        ParameterError,
        esc("output_padding=(2, 2), stride=(3, 1), dilation=(1, 2) (in dimension 1: 2 is not < max(1, 2); "
            "valid range 0..1)"),
    ),
    (
        dict(output_padding=1),  # stride 1, dilation 1: no output padding at all
        ParameterError,
        esc("in dimension 0: 1 is not < max(1, 1); valid range 0..0"),
    ),
    # groups
    (dict(groups=0), ParameterError, esc("groups must be a positive integer, got groups=0")),
    (dict(groups=-2), ParameterError, esc("groups must be a positive integer, got groups=-2")),
    (
        dict(groups=3),
        ParameterError,
        esc("conv_transpose2d: groups must divide in_channels, got groups=3 for in_channels=2"),
    ),
    # tuple length mismatch
    (
        dict(stride=(1, 2, 3)),
        ParameterError,
        esc("expected stride to be a single integer value or a sequence of 2 values to match the "
            "convolution dimensions, but got stride=(1, 2, 3)"),
    ),
    (dict(padding=(1,)), ParameterError, esc("sequence of 2 values") + ".*" + esc("padding=(1,)")),
    (dict(dilation=[1, 1, 1]), ParameterError, esc("but got dilation=(1, 1, 1)")),
    (dict(output_padding=()), ParameterError, esc("but got output_padding=()")),
    # non-int parameter types: float, bool, str, None
    (dict(stride=1.0), ParameterTypeError, esc("stride must be an int or a sequence of 2 ints, got 1.0 of type float")),
    (dict(stride=True), ParameterTypeError, esc("stride must be an int or a sequence of 2 ints, got True of type bool")),
    (dict(padding="1"), ParameterError, esc("padding string must be one of 'valid', 'same', 'same_lower', got padding='1'")),
    (dict(padding_mode="mirror"), ParameterError,
     esc("padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got padding_mode='mirror'")),
    (dict(padding=((2, 0), 0), padding_mode="reflect"), ParameterError,
     esc("padding_mode='reflect' needs padding smaller than the output size in every dimension")),
    (dict(dilation=None), ParameterTypeError, esc("dilation must be an int or a sequence of 2 ints, got None")),
    (
        dict(stride=(1, 2.0)),
        ParameterTypeError,
        esc("stride must contain only ints, got stride=(1, 2.0) (offending entry 2.0 of type float)"),
    ),
    (
        dict(output_padding=(False, 0)),
        ParameterTypeError,
        esc("output_padding must contain only ints") + ".*" + esc("offending entry False of type bool"),
    ),
    (dict(groups=1.0), ParameterTypeError, esc("groups must be an int, got 1.0 of type float")),
    (dict(groups=True), ParameterTypeError, esc("groups must be an int, got True of type bool")),
    (dict(groups="2"), ParameterTypeError, esc("groups must be an int, got '2' of type str")),
]


@pytest.mark.parametrize("kwargs, error, message", FUNCTIONAL_PARAMETER_ERRORS)
def test_functional_parameter_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        conv_transpose2d(X2, W2, **kwargs)
    with pytest.raises(error, match=message.replace("conv_transpose2d", "conv_transpose")):
        conv_transpose(X2, W2, **kwargs)


def test_numpy_integers_are_ints():
    out = conv_transpose2d(X2, W2, stride=np.int64(2), padding=(np.int32(1), 0), groups=np.int8(1))
    assert out.shape == (1, 3, 4, 6)


# --------------------------------------------------------------------------------------------
# Shapes: ranks, channels, bias, output size
# --------------------------------------------------------------------------------------------

SHAPE_ERRORS = [
    # weight / input channel mismatch
    (
        lambda: conv_transpose2d(np.ones((1, 3, 3, 3)), W2),
        ShapeError,
        esc("conv_transpose2d: weight.shape[0] (in_channels) must equal the input's channel count, got weight "
            "of shape (2, 3, 2, 2) for an input with 3 channels"),
    ),
    (
        lambda: conv_transpose2d(np.ones((3, 3, 3)), W2),  # unbatched: channel axis is axis 0
        ShapeError,
        esc("for an input with 3 channels"),
    ),
    # wrong input rank
    (
        lambda: conv_transpose2d(np.ones((1, 1, 2, 3, 3)), W2),
        ShapeError,
        esc("conv_transpose2d: expected a 3-d (unbatched) or 4-d (batched) input, got input of shape (1, 1, 2, 3, 3)"),
    ),
    (
        lambda: conv_transpose1d(np.ones(3), np.ones((1, 1, 2))),
        ShapeError,
        esc("conv_transpose1d: expected a 2-d (unbatched) or 3-d (batched) input, got input of shape (3,)"),
    ),
    (
        lambda: conv_transpose(np.ones((2, 3)), W2),
        ShapeError,
        esc("conv_transpose: expected a 3-d (unbatched) or 4-d (batched) input, got input of shape (2, 3)"),
    ),
    # empty channel / spatial sizes (only the batch may be empty)
    (
        lambda: conv_transpose2d(np.ones((1, 2, 0, 3)), W2),
        ShapeError,
        esc("input channels and spatial sizes must be positive (only the batch may be empty), "
            "got input of shape (1, 2, 0, 3)"),
    ),
    # wrong weight rank for conv_transpose2d / 1d / 3d and the generic function
    (
        lambda: conv_transpose2d(X2, np.ones((2, 3, 2))),
        ShapeError,
        esc("conv_transpose2d: expected a 4-d weight of shape (in_channels, out_channels / groups, k, k), "
            "got weight of shape (2, 3, 2)"),
    ),
    (
        lambda: conv_transpose3d(np.ones((1, 2, 3, 3, 3)), W2),
        ShapeError,
        esc("conv_transpose3d: expected a 5-d weight of shape (in_channels, out_channels / groups, k, k, k), "
            "got weight of shape (2, 3, 2, 2)"),
    ),
    (
        lambda: conv_transpose1d(np.ones((1, 2, 3)), W2),
        ShapeError,
        esc("conv_transpose1d: expected a 3-d weight"),
    ),
    (
        lambda: conv_transpose(np.ones((2, 3)), np.ones((2, 3))),
        ShapeError,
        esc("conv_transpose: weight must have shape (in_channels, out_channels / groups, *kernel) with at "
            "least one kernel dimension, got weight of shape (2, 3)"),
    ),
    # non-positive kernel (a weight with an empty kernel axis)
    (
        lambda: conv_transpose2d(X2, np.ones((2, 3, 0, 2))),
        ShapeError,
        esc("conv_transpose2d: every weight dimension must be positive, got weight of shape (2, 3, 0, 2)"),
    ),
    # bias shape
    (
        lambda: conv_transpose2d(X2, W2, np.ones(2)),
        ShapeError,
        esc("conv_transpose2d: bias must have shape (3,) (out_channels = weight.shape[1] * groups), "
            "got bias of shape (2,)"),
    ),
    (
        lambda: conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2)), np.ones(3), groups=2),
        ShapeError,
        esc("bias must have shape (6,)") + ".*" + esc("got bias of shape (3,)"),
    ),
    (
        lambda: conv_transpose2d(X2, W2, np.ones((3, 1))),
        ShapeError,
        esc("got bias of shape (3, 1)"),
    ),
    # non-positive computed output size
    (
        lambda: conv_transpose2d(X2, W2, padding=(3, 0)),
        OutputSizeError,
        esc("computed output size (-2, 4) is too small (must be >= 1 in every dimension) for an input of "
            "(3, 3) with kernel_size=(2, 2), stride=(1, 1), padding=(3, 0), output_padding=(0, 0), "
            "dilation=(1, 1); padding may be at most (1, 1) here"),
    ),
    (
        lambda: conv_transpose1d(np.ones((1, 1, 1)), np.ones((1, 1, 2)), padding=1),
        OutputSizeError,
        esc("computed output size (0,) is too small") + ".*" + esc("padding may be at most (0,) here"),
    ),
]


# Gradient helpers: the bias gradient needs a batched grad_output; the shape arguments that stand
# in for an operand must be sequences of non-negative ints.
SHAPE_ERRORS += [
    (
        lambda: convtranspose.conv_transpose_bias_grad(np.zeros((3, 4))),
        ShapeError,
        esc("conv_transpose_bias_grad: expected a batched (N, C_out, *S) grad_output, got shape (3, 4)"),
    ),
    (
        lambda: convtranspose.conv_transpose_input_grad(np.zeros((1, 3, 4, 4)), 5, W2),
        ParameterTypeError,
        esc("input_shape must be a sequence of ints, got 5"),
    ),
    (
        lambda: convtranspose.conv_transpose_input_grad(np.zeros((1, 3, 4, 4)), (1, 2, -3, 3), W2),
        ParameterError,
        esc("input_shape must contain only non-negative ints, got input_shape=(1, 2, -3, 3)"),
    ),
    (
        lambda: convtranspose.conv_transpose_weight_grad(np.zeros((1, 3, 4, 4)), X2, "2x3"),
        ParameterTypeError,
        esc("weight_shape must be a sequence of ints, got '2x3'"),
    ),
    (
        lambda: convtranspose.conv_transpose_weight_grad(np.zeros((1, 3, 4, 4)), X2, (2, 3, 2.0, 2)),
        ParameterError,
        esc("weight_shape must contain only non-negative ints, got weight_shape=(2, 3, 2.0, 2)"),
    ),
]


@pytest.mark.parametrize("call, error, message", SHAPE_ERRORS)
def test_shape_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------------------------
# output_size
# --------------------------------------------------------------------------------------------

OUTPUT_SIZE_ERRORS = [
    # out of range, with PyTorch's message; input (3, 3), kernel 2, stride 2: valid 6..7 per axis
    (
        dict(stride=2, output_size=(8, 6)),
        OutputSizeError,
        esc("requested an output size of (8, 6), but valid sizes range from (6, 6) to (7, 7) "
            "(for an input of (3, 3))"),
    ),
    (
        dict(stride=2, output_size=(1, 2, 6, 5)),  # leading (N, C) sizes are ignored
        OutputSizeError,
        esc("requested an output size of (6, 5), but valid sizes range from (6, 6) to (7, 7)"),
    ),
    (
        dict(stride=1, padding=1, output_size=(2, 3)),
        OutputSizeError,
        esc("requested an output size of (2, 3), but valid sizes range from (2, 2) to (2, 2) "
            "(for an input of (3, 3))"),
    ),
    # wrong length
    (
        dict(output_size=(4,)),
        ParameterError,
        esc("for 2-d transposed convolution, output_size must have 2 or 4 elements (got 1: output_size=(4,))"),
    ),
    (
        dict(output_size=(1, 4, 4)),
        ParameterError,
        esc("output_size must have 2 or 4 elements (got 3: output_size=(1, 4, 4))"),
    ),
    # wrong type
    (dict(output_size=4), ParameterTypeError, esc("output_size must be a sequence of 2 (or 4) ints, got 4")),
    (dict(output_size="44"), ParameterTypeError, esc("output_size must be a sequence of 2 (or 4) ints, got '44'")),
    (
        dict(output_size=(4.0, 4)),
        ParameterTypeError,
        esc("output_size must contain only ints, got output_size=(4.0, 4)"),
    ),
    # together with output_padding
    (
        dict(stride=2, output_padding=1, output_size=(7, 7)),
        ParameterError,
        esc("conv_transpose2d: pass either output_size or output_padding, not both "
            "(got output_size=(7, 7), output_padding=(1, 1))"),
    ),
]


@pytest.mark.parametrize("kwargs, error, message", OUTPUT_SIZE_ERRORS)
def test_output_size_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        conv_transpose2d(X2, W2, **kwargs)


def test_output_size_errors_module():
    layer = ConvTranspose2d(2, 3, 2, stride=2, output_padding=1)
    with pytest.raises(OutputSizeError, match=esc("requested an output size of (5, 6), but valid sizes range "
                                                  "from (6, 6) to (7, 7) (for an input of (3, 3))")):
        layer(X2.astype(np.float32), output_size=(5, 6))
    with pytest.raises(ParameterError, match=esc("output_size must have 2 or 4 elements (got 5")):
        layer(X2.astype(np.float32), output_size=(1, 1, 1, 6, 6))


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------

BAD_DTYPES = [np.int32, np.bool_, object, np.uint8, np.int8, np.float128 if hasattr(np, "float128") else np.longdouble]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("operand", ["input", "weight", "bias"])
def test_unsupported_dtype(operand, dtype):
    arrays = {name: a.astype(dtype) for name, a in (("input", X2), ("weight", W2), ("bias", np.ones(3)))}
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        expected = f"{operand} has dtype {dtype}, which is not supported: of the integer dtypes only int64 is"
    else:
        expected = f"{operand} must be an array of dtype float16, bfloat16, float32, float64, complex64, complex128 or int64, got dtype {dtype}"
    arrays = {name: (a if name == operand else a.astype(np.float64)) for name, a in arrays.items()}
    with pytest.raises(DTypeError, match=esc(expected)):
        conv_transpose2d(arrays["input"], arrays["weight"], arrays["bias"])


def test_integer_nested_lists_are_int64():
    """Python ints make an int64 array, which torch's CPU kernel (and ours) computes exactly."""
    out = conv_transpose1d([[[1, 2]]], np.ones((1, 1, 2), np.int64))
    assert out.dtype == np.int64 and out.tolist() == [[[1, 3, 2]]]


@pytest.mark.parametrize(
    "dtypes, listed",
    [
        (("float32", "float64", None), "input is float32, weight is float64"),
        (("float64", "float32", None), "input is float64, weight is float32"),
        (("float32", "float32", "float64"), "input is float32, weight is float32, bias is float64"),
        (("float64", "float64", "float16"), "input is float64, weight is float64, bias is float16"),
        (("float16", "float32", "float32"), "input is float16, weight is float32, bias is float32"),
    ],
)
def test_dtype_mismatch_rejected(dtypes, listed):
    """We deliberately reject mixed dtypes (torch sometimes accepts, e.g., a float64 bias)."""
    x_dtype, w_dtype, b_dtype = dtypes
    bias = None if b_dtype is None else np.ones(3, dtype=b_dtype)
    with pytest.raises(DTypeError, match=esc(f"all operands must have the same dtype, but {listed}")):
        conv_transpose2d(X2.astype(x_dtype), W2.astype(w_dtype), bias)


# --------------------------------------------------------------------------------------------
# Module construction
# --------------------------------------------------------------------------------------------

MODULE_ERRORS = [
    # non-positive kernel / stride / dilation
    (lambda: ConvTranspose2d(2, 3, 0), ParameterError, esc("kernel_size must be positive (>= 1), got kernel_size=(0, 0)")),
    (lambda: ConvTranspose2d(2, 3, (2, -1)), ParameterError, esc("got kernel_size=(2, -1)")),
    (lambda: ConvTranspose1d(2, 3, 2, stride=0), ParameterError, esc("stride must be positive (>= 1), got stride=(0,)")),
    (lambda: ConvTranspose3d(2, 3, 2, dilation=(1, 0, 1)), ParameterError, esc("dilation must be positive (>= 1), got dilation=(1, 0, 1)")),
    (lambda: ConvTranspose2d(2, 3, 2, padding=-1), ParameterError, esc("padding must be non-negative (>= 0), got padding=(-1, -1)")),
    (lambda: ConvTranspose2d(2, 3, 2, output_padding=-1), ParameterError, esc("output_padding must be non-negative")),
    (
        lambda: ConvTranspose2d(2, 3, 2, stride=(2, 1), output_padding=(1, 1)),
        ParameterError,
        esc("output_padding must be smaller than either stride or dilation") + ".*"
        + esc("in dimension 1: 1 is not < max(1, 1); valid range 0..0"),
    ),
    # channels and groups
    (lambda: ConvTranspose2d(0, 3, 2), ParameterError, esc("in_channels must be positive (>= 1), got in_channels=0")),
    (lambda: ConvTranspose2d(2, -1, 2), ParameterError, esc("out_channels must be positive (>= 1), got out_channels=-1")),
    (lambda: ConvTranspose2d(2.0, 3, 2), ParameterTypeError, esc("in_channels must be an int, got 2.0 of type float")),
    (lambda: ConvTranspose2d(2, True, 2), ParameterTypeError, esc("out_channels must be an int, got True of type bool")),
    (
        lambda: ConvTranspose2d(3, 4, 2, groups=2),
        ParameterError,
        esc("in_channels must be divisible by groups, got in_channels=3, groups=2"),
    ),
    (
        lambda: ConvTranspose2d(4, 3, 2, groups=2),
        ParameterError,
        esc("out_channels must be divisible by groups, got out_channels=3, groups=2"),
    ),
    (lambda: ConvTranspose2d(2, 2, 2, groups=0), ParameterError, esc("groups must be a positive integer, got groups=0")),
    # types and tuple lengths
    (lambda: ConvTranspose2d(2, 3, 2.5), ParameterTypeError, esc("kernel_size must be an int or a sequence of 2 ints, got 2.5 of type float")),
    (lambda: ConvTranspose2d(2, 3, (2, 2, 2)), ParameterError, esc("expected kernel_size to be a single integer value or a sequence of 2 values")),
    (lambda: ConvTranspose2d(2, 3, 2, stride="2"), ParameterTypeError, esc("stride must be an int or a sequence of 2 ints, got '2' of type str")),
    (lambda: ConvTranspose2d(2, 3, 2, padding=(1, True)), ParameterTypeError, esc("padding must contain only ints")),
    # padding_mode, device, dtype
    (
        lambda: ConvTranspose2d(2, 3, 2, padding_mode="Reflect"),
        ParameterError,
        esc("padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got padding_mode='Reflect'"),
    ),
    (
        lambda: ConvTranspose2d(2, 3, 2, device="cuda"),
        ParameterError,
        esc("device must be None or 'cpu' (arrays live in host memory), got 'cuda'"),
    ),
    (lambda: ConvTranspose2d(2, 3, 2, dtype=np.int32), DTypeError, esc("dtype must be float16, float32 or float64, got int32")),
    (lambda: ConvTranspose2d(2, 3, 2, dtype="complex64"), DTypeError, esc("dtype must be float16, float32 or float64, got complex64")),
    (lambda: ConvTranspose2d(2, 3, 2, dtype=bool), DTypeError, esc("got bool")),
    (lambda: ConvTranspose2d(2, 3, 2, dtype="not a dtype"), DTypeError, esc("dtype must be float16, float32 or float64, got 'not a dtype'")),
    # the generic module: its number of spatial dimensions
    (
        lambda: convtranspose.ConvTransposeNd(2, 3, 2),
        ParameterError,
        esc("ConvTransposeNd needs ndim=... or a per-dimension kernel_size tuple to know its number of spatial "
            "dimensions, got kernel_size=2 and no ndim"),
    ),
    (lambda: convtranspose.ConvTransposeNd(2, 3, 2, ndim=0), ParameterError, esc("ndim must be positive (>= 1), got ndim=0")),
    (lambda: convtranspose.ConvTransposeNd(2, 3, 2, ndim=2.0), ParameterTypeError, esc("ndim must be an int, got 2.0 of type float")),
    (lambda: ConvTranspose2d(2, 3, 2, ndim=3), ParameterError, esc("ConvTranspose2d is 2-d, got ndim=3")),
    # the spec on its own
    (
        lambda: convtranspose.make_spec(0),
        ParameterError,
        esc("ndim (the number of spatial dimensions) must be positive (>= 1), got ndim=0"),
    ),
    (
        lambda: convtranspose.make_spec("2"),
        ParameterTypeError,
        esc("ndim (the number of spatial dimensions) must be an int, got '2' of type str"),
    ),
]


@pytest.mark.parametrize("build, error, message", MODULE_ERRORS)
def test_module_construction_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_module_cpu_device_and_dtypes_accepted():
    assert ConvTranspose2d(2, 3, 2, device="cpu").dtype == np.float32
    assert ConvTranspose2d(2, 3, 2, dtype="float64").weight.dtype == np.float64
    assert ConvTranspose2d(2, 3, 2, dtype=np.float16).bias.dtype == np.float16


# --------------------------------------------------------------------------------------------
# Module parameters and state dicts
# --------------------------------------------------------------------------------------------


def test_weight_assignment_errors():
    layer = ConvTranspose2d(2, 3, 2)
    with pytest.raises(ShapeError, match=esc("weight must have shape (2, 3, 2, 2), got (3, 2, 2, 2)")):
        layer.weight = np.ones((3, 2, 2, 2), dtype=np.float32)
    with pytest.raises(DTypeError, match=esc("weight must have the layer's dtype float32, got float64 "
                                             "(convert with .astype(np.float32))")):
        layer.weight = np.ones((2, 3, 2, 2))
    with pytest.raises(ParameterTypeError, match=esc("weight must be a numpy.ndarray, got list")):
        layer.weight = np.ones((2, 3, 2, 2), dtype=np.float32).tolist()
    with pytest.raises(ShapeError, match=esc("bias must have shape (3,), got (2,)")):
        layer.bias = np.ones(2, dtype=np.float32)
    with pytest.raises(DTypeError, match=esc("bias must have the layer's dtype float32, got float16")):
        layer.bias = np.ones(3, dtype=np.float16)
    with pytest.raises(ParameterTypeError, match=esc("bias must be a numpy.ndarray, got float")):
        layer.bias = 1.0


def test_rejected_assignment_leaves_parameters_unchanged():
    layer = ConvTranspose2d(2, 3, 2, rng=0)
    before = layer.weight.copy()
    with pytest.raises(ShapeError):
        layer.weight = np.zeros((2, 3, 3, 3), dtype=np.float32)
    np.testing.assert_array_equal(layer.weight, before)


def test_load_state_dict_errors():
    layer = ConvTranspose2d(2, 3, 2)
    weight = np.zeros((2, 3, 2, 2), dtype=np.float32)
    bias = np.zeros(3, dtype=np.float32)
    with pytest.raises(ParameterError, match=esc("state_dict keys do not match: missing ['bias'], unexpected []")):
        layer.load_state_dict({"weight": weight})
    with pytest.raises(ParameterError, match=esc("missing [], unexpected ['extra']")):
        layer.load_state_dict({"weight": weight, "bias": bias, "extra": bias})
    with pytest.raises(ParameterError, match=esc("missing [], unexpected ['bias']")):
        ConvTranspose2d(2, 3, 2, bias=False).load_state_dict({"weight": weight, "bias": bias})
    with pytest.raises(ShapeError, match=esc("state_dict['weight'] must have shape (2, 3, 2, 2), got (3, 2, 2, 2)")):
        layer.load_state_dict({"weight": np.zeros((3, 2, 2, 2), dtype=np.float32), "bias": bias})
    with pytest.raises(ShapeError, match=esc("state_dict['bias'] must have shape (3,), got (4,)")):
        layer.load_state_dict({"weight": weight, "bias": np.zeros(4, dtype=np.float32)})
    with pytest.raises(DTypeError, match=esc("state_dict['weight'] must be floating point, got dtype int64")):
        layer.load_state_dict({"weight": weight.astype(np.int64), "bias": bias})


def test_failed_load_state_dict_changes_nothing():
    layer = ConvTranspose2d(2, 3, 2, rng=0)
    before = layer.state_dict()
    with pytest.raises(ShapeError):
        layer.load_state_dict({"weight": np.zeros((2, 3, 2, 2), dtype=np.float32), "bias": np.zeros(4, dtype=np.float32)})
    after = layer.state_dict()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_non_strict_load_state_dict_allows_missing_and_unexpected():
    layer = ConvTranspose2d(2, 3, 2, rng=0)
    bias = layer.bias.copy()
    layer.load_state_dict({"weight": np.full((2, 3, 2, 2), 0.5), "other": 1}, strict=False)
    assert layer.weight.dtype == np.float32 and np.all(layer.weight == 0.5)
    np.testing.assert_array_equal(layer.bias, bias)


def test_engine_use_path_rejects_unknown_path():
    with pytest.raises(ParameterError, match=esc("unknown engine path 'nope'; available paths: ")):
        with convtranspose.engine.use_path("nope"):
            pass


# --------------------------------------------------------------------------------------------
# Sizes beyond what 64-bit positions and arrays can hold; operands NumPy cannot convert
# --------------------------------------------------------------------------------------------

LIMIT_ERRORS = [
    (
        lambda: conv_transpose1d(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2**62 + 1),
        ParameterError,
        esc("stride must be at most 2**62 = 4611686018427387904 (positions are computed in 64-bit integers), "
            "got stride=(4611686018427387905,)"),
    ),
    (
        lambda: conv_transpose1d(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2**61),
        OutputSizeError,
        esc("the canvas of dimension 0 would be 4611686018427387906 long (output size (4611686018427387906,))")
        + ".*" + esc("at most 2**62 = 4611686018427387904 positions per dimension are supported"),
    ),
    (
        lambda: conv_transpose2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), stride=2**60),
        OutputSizeError,
        esc("conv_transpose2d: the output would have shape (1, 1, 2305843009213693954, 2305843009213693954)")
        + ".*" + esc("more than any array can hold (at most 9223372036854775807 bytes)"),
    ),
    (
        lambda: convtranspose.make_spec(63),
        ParameterError,
        esc("ndim (the number of spatial dimensions) must be at most 62 (NumPy arrays have at most 64 axes, "
            "two of them batch and channels), got ndim=63"),
    ),
    (
        lambda: ConvTranspose2d(10**9, 10**9, 3),
        ParameterError,
        esc("in_channels=1000000000, out_channels=1000000000 and kernel_size=(3, 3) give a weight of shape "
            "(1000000000, 1000000000, 3, 3), 36000000000000000000 bytes: more than any array can hold"),
    ),
    (
        lambda: conv_transpose1d(np.ma.masked_array(np.ones((1, 1, 3))), np.ones((1, 1, 2))),
        ParameterTypeError,
        esc("input is a masked array; masked entries have no value to convolve, so pass input.filled(v) with "
            "the value v they should take"),
    ),
    (
        lambda: conv_transpose1d([[[1.0, 2.0], [1.0]]], np.ones((2, 3, 2))),
        ShapeError,
        esc("input cannot be made into a rectangular array of numbers (setting an array element with a sequence"),
    ),
    (
        lambda: convtranspose.conv_transpose_backward(np.ones((1, 3, 4)), np.ones((1, 2, 3)), np.ones((2, 3, 2)),
                                                      bias=np.ones(3)),
        ParameterTypeError,
        esc("conv_transpose_backward: bias must be True or False (whether the forward had a bias, not the bias "
            "itself), got an array of shape (3,)"),
    ),
    (
        lambda: convtranspose.conv_transpose_backward(np.ones((1, 3, 4)), np.ones((1, 2, 3)), np.ones((2, 3, 2)),
                                                      need_input_grad=1),
        ParameterTypeError,
        esc("conv_transpose_backward: need_input_grad must be True or False, got 1 of type int"),
    ),
    (
        lambda: ConvTranspose1d(1, 1, 2).load_state_dict(None),
        ParameterTypeError,
        esc("state_dict must be a mapping of parameter names to arrays (like the one state_dict() returns), "
            "got NoneType"),
    ),
    (
        lambda: ConvTranspose1d(1, 1, 2).load_state_dict({"weight": [[1.0], [1.0, 2.0]], "bias": np.ones(1)}),
        ShapeError,
        esc("state_dict['weight'] cannot be made into a rectangular array of numbers"),
    ),
    (lambda: ConvTranspose1d(1, 1, 2, rng=-1), ParameterError, esc("rng, an int seed, must be non-negative (>= 0), got rng=-1")),
    (
        lambda: ConvTranspose1d(1, 1, 2, rng=1.5),
        ParameterTypeError,
        esc("rng must be None, an int seed or a numpy.random.Generator, got 1.5 of type float"),
    ),
    (lambda: ConvTranspose1d(1, 1, 2, ndim=True), ParameterTypeError, esc("ndim must be an int, got True of type bool")),
    (
        lambda: convtranspose.engine.use_path(["gemm"]).__enter__(),
        ParameterTypeError,
        esc("engine path must be a str or None, got ['gemm'] of type list"),
    ),
]


@pytest.mark.parametrize("call, error, message", LIMIT_ERRORS)
def test_limit_and_conversion_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_allocation_failure_is_our_out_of_memory_error(monkeypatch):
    """A valid call too large for the machine: NumPy's MemoryError becomes OutOfMemoryError."""

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 21.8 TiB for an array")

    monkeypatch.setattr(convtranspose.engine, "forward", no_memory)
    monkeypatch.setattr(convtranspose.engine, "backward", no_memory)
    x, w = np.ones((1, 1, 3)), np.ones((1, 1, 2))
    with pytest.raises(convtranspose.OutOfMemoryError, match=esc(
        "conv_transpose1d: not enough memory for this call (Unable to allocate 21.8 TiB for an array)"
    )) as caught:
        conv_transpose1d(x, w, output_size=(4,))  # output_size: the general (uncached) path
    assert isinstance(caught.value, MemoryError) and isinstance(caught.value, ConvTransposeError)
    with pytest.raises(convtranspose.OutOfMemoryError, match="conv_transpose_backward: not enough memory"):
        convtranspose.conv_transpose_backward(np.ones((1, 1, 4)), x, w)
    # the cached fast path (a runner per call signature) too
    monkeypatch.setattr(convtranspose.engine, "forward_runner", lambda *args: no_memory)
    monkeypatch.setattr(convtranspose.functional, "_RUNNERS", {})
    with pytest.raises(convtranspose.OutOfMemoryError, match="conv_transpose1d: not enough memory"):
        conv_transpose1d(x, w)
