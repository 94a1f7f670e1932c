"""Shape arithmetic: output_size, output_size_range, output_padding_for.

Checked against the formula (written out here) and against torch: torch's actual output shapes
(float64, batch 1 -- torch's strictest backend, see forward_cases.torch_canonical_error) and the
range/padding resolution of torch's modules (``_ConvTransposeNd._output_padding``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from convtranspose import (
    OutputSizeError,
    ParameterError,
    ParameterTypeError,
    output_padding_for,
    output_size,
    output_size_range,
)
from forward_cases import scaled

from oracle import TORCH_FN, TORCH_MODULE, requires_torch, torch


def formula(n, k, s, p, op, d):
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


@st.composite
def geometries(draw):
    """Per-axis parameters for 1..3 axes; ``scalar`` means: pass plain ints (1 axis)."""
    ndim = draw(st.integers(1, 3))
    scalar = ndim == 1 and draw(st.booleans())
    axes = []
    for _ in range(ndim):
        s, d = draw(st.integers(1, 5)), draw(st.integers(1, 4))
        axes.append(
            dict(n=draw(st.integers(1, 12)), k=draw(st.integers(1, 6)), s=s, d=d,
                 p=draw(st.integers(0, 6)), op=draw(st.integers(0, max(s, d) - 1)))
        )
    return scalar, axes


def pack(scalar, axes, key):
    values = tuple(a[key] for a in axes)
    return values[0] if scalar else values


def torch_output_shape(axes):
    """Spatial output shape from torch (float64, batch 1), or the exception it raises."""
    ndim = len(axes)
    x = torch.zeros((1, 1) + tuple(a["n"] for a in axes), dtype=torch.float64)
    w = torch.zeros((1, 1) + tuple(a["k"] for a in axes), dtype=torch.float64)
    conv = TORCH_FN[ndim]
    try:
        out = conv(x, w, None, tuple(a["s"] for a in axes), tuple(a["p"] for a in axes),
                   tuple(a["op"] for a in axes), 1, tuple(a["d"] for a in axes))
    except RuntimeError as exc:
        return exc
    return tuple(out.shape[2:])


def torch_output_padding(axes, requested):
    """torch's module resolution of ``output_size`` into ``output_padding`` (or its exception)."""
    ndim = len(axes)
    x = torch.zeros((1, 1) + tuple(a["n"] for a in axes))
    try:
        return tuple(
            TORCH_MODULE[ndim](1, 1, 1)._output_padding(
                x, list(requested), [a["s"] for a in axes], [a["p"] for a in axes],
                [a["k"] for a in axes], ndim, [a["d"] for a in axes],
            )
        )
    except ValueError as exc:
        return exc


@requires_torch
@scaled(1.0)  # ci: 1000 cases
@given(geometries())
def test_output_size_matches_formula_and_torch(geometry):
    scalar, axes = geometry
    expected = tuple(formula(**a) for a in axes)
    args = {key: pack(scalar, axes, key) for key in ("n", "k", "s", "p", "op", "d")}
    call = lambda: output_size(args["n"], args["k"], stride=args["s"], padding=args["p"],  # noqa: E731
                               output_padding=args["op"], dilation=args["d"])
    theirs = torch_output_shape(axes)
    if min(expected) < 1:
        event("output size <= 0: rejected")
        with pytest.raises(OutputSizeError, match=re.escape("is too small (must be >= 1 in every dimension)")):
            call()
        assert isinstance(theirs, Exception), theirs
        return
    event("valid")
    assert call() == (expected[0] if scalar else expected)
    assert theirs == expected


@requires_torch
@scaled(1.0)  # ci: 1000 cases
@given(geometries(), st.data())
def test_output_size_range_and_output_padding_for_match_torch(geometry, data):
    scalar, axes = geometry
    args = {key: pack(scalar, axes, key) for key in ("n", "k", "s", "p", "d")}
    low = tuple(formula(**{**a, "op": 0}) for a in axes)
    high = tuple(lo + a["s"] - 1 for lo, a in zip(low, axes))
    got_low, got_high = output_size_range(args["n"], args["k"], stride=args["s"], padding=args["p"],
                                          dilation=args["d"])
    assert (got_low, got_high) == ((low[0], high[0]) if scalar else (low, high))

    # torch's module accepts exactly the sizes in [low, high] (and calls them "valid sizes")
    # mostly in range; one case in three may step outside on any axis
    outside = data.draw(st.integers(0, 2), label="outside") == 0
    offsets = [
        data.draw(st.integers(-2, a["s"] + 1) if outside else st.integers(0, a["s"] - 1), label=f"offset {i}")
        for i, a in enumerate(axes)
    ]
    requested = tuple(lo + o for lo, o in zip(low, offsets))
    in_range = all(lo <= r <= hi for r, lo, hi in zip(requested, low, high))
    theirs = torch_output_padding(axes, requested)
    assert isinstance(theirs, Exception) != in_range
    call = lambda: output_padding_for(  # noqa: E731
        args["n"], requested[0] if scalar else requested, args["k"], stride=args["s"], padding=args["p"],
        dilation=args["d"],
    )
    if in_range and min(requested) >= 1:
        event("in range")
        result = call()
        assert result == (theirs[0] if scalar else theirs)
        assert all(0 <= op < a["s"] for op, a in zip(theirs, axes))
        # and the output size it yields is the requested one
        resolved = theirs
        assert tuple(formula(**{**a, "op": op}) for a, op in zip(axes, resolved)) == requested
    else:
        # out of range (torch: the same message with lists), or a size < 1 that torch's range
        # check lets through but its convolution then rejects
        event("out of range" if not in_range else "non-positive size in range: rejected")
        message = (
            f"requested an output size of {fmt(requested)}, but valid sizes range from {fmt(low)} to "
            f"{fmt(high)} (for an input of {fmt(tuple(a['n'] for a in axes))})"
        )
        with pytest.raises(OutputSizeError, match=re.escape(message)):
            call()
        if in_range:
            assert isinstance(torch_output_shape([{**a, "op": op} for a, op in zip(axes, theirs)]), Exception)


def fmt(values):
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"


# --------------------------------------------------------------------------------------------
# Examples and errors
# --------------------------------------------------------------------------------------------


def test_examples():
    assert output_size(16, kernel_size=4, stride=2, padding=1) == 32
    assert output_size((2, 2), kernel_size=2, stride=(1, 2)) == (3, 4)
    assert output_size((2, 2, 2), kernel_size=(1, 2, 3), dilation=(1, 2, 3)) == (2, 4, 8)
    assert output_size_range(16, kernel_size=3, stride=2, padding=1) == (31, 32)
    assert output_size_range((4, 5), kernel_size=2, stride=(3, 1)) == ((11, 6), (13, 6))
    assert output_padding_for(16, 32, kernel_size=3, stride=2, padding=1) == 1
    assert output_padding_for((16, 5), (31, 6), kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)) == (0, 0)
    assert output_size(np.int64(3), np.int32(2)) == 4


SHAPE_FUNCTION_ERRORS = [
    (lambda: output_size(0, 3), ParameterError, "input_size must be positive (>= 1), got input_size=0"),
    (lambda: output_size((3, -1), 3), ParameterError, "input_size must be positive (>= 1), got input_size=(3, -1)"),
    (lambda: output_size(3, 0), ParameterError, "kernel_size must be positive (>= 1), got kernel_size=0"),
    (lambda: output_size(3, 2, stride=0), ParameterError, "stride must be positive (>= 1), got stride=(0,)"),
    (lambda: output_size(3, 2, dilation=-1), ParameterError, "dilation must be positive (>= 1), got dilation=(-1,)"),
    (lambda: output_size(3, 2, padding=-1), ParameterError, "padding must be non-negative (>= 0), got padding=(-1,)"),
    (
        lambda: output_size(3, 2, stride=2, output_padding=2),
        ParameterError,
        "output_padding must be smaller than either stride or dilation, but got output_padding=(2,), stride=(2,), "
        "dilation=(1,) (in dimension 0: 2 is not < max(2, 1); valid range 0..1)",
    ),
    (
        lambda: output_size((3, 3), (3, 3, 3)),
        ParameterError,
        "per-dimension arguments disagree on the number of dimensions: [2, 3]",
    ),
    (
        lambda: output_size(3, 3, padding=3),
        OutputSizeError,
        "computed output size (-1,) is too small (must be >= 1 in every dimension) for an input of (3,) with "
        "kernel_size=(3,), stride=(1,), padding=(3,), output_padding=(0,), dilation=(1,); padding may be at most "
        "(2,) here",
    ),
    (lambda: output_size(3.0, 2), ParameterTypeError, "input_size must be an int or a sequence of 1 ints, got 3.0 of type float"),
    (lambda: output_size(3, True), ParameterTypeError, "kernel_size must be an int or a sequence of 1 ints, got True of type bool"),
    (lambda: output_size(3, 2, stride="2"), ParameterTypeError, "stride must be an int or a sequence of 1 ints, got '2' of type str"),
    (lambda: output_size_range(3, 2, stride=0), ParameterError, "stride must be positive (>= 1), got stride=(0,)"),
    (lambda: output_size_range(3, 2, padding=(1, 1, 1), stride=(1, 1)), ParameterError, "disagree on the number of dimensions: [2, 3]"),
    (
        lambda: output_padding_for(16, 34, 3, stride=2, padding=1),
        OutputSizeError,
        "requested an output size of (34,), but valid sizes range from (31,) to (32,) (for an input of (16,))",
    ),
    (
        lambda: output_padding_for((4, 4), (8, 3), 2, stride=2),
        OutputSizeError,
        "requested an output size of (8, 3), but valid sizes range from (8, 8) to (9, 9) (for an input of (4, 4))",
    ),
    (
        lambda: output_padding_for(2, 0, 3, padding=2),
        OutputSizeError,
        "requested an output size of (0,), but valid sizes range from (0,) to (0,) (for an input of (2,))",
    ),
    (lambda: output_padding_for((16, 16), (33,), 3), ParameterError, "disagree on the number of dimensions: [1, 2]"),
    (lambda: output_padding_for(16, 32.0, 3), ParameterTypeError, "output_size must be an int or a sequence of 1 ints"),
]


@pytest.mark.parametrize("call, error, message", SHAPE_FUNCTION_ERRORS)
def test_shape_function_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
