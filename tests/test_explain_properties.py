"""Property tests: over random small configurations, the trace and every view equal conv_transpose.

The references here are the NumPy loop references of ``oracle.py`` (written independently of the
library) as well as ``convtranspose.conv_transpose``; the trace's and views' own arithmetic is what is
under test.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from convtranspose.explain import (
    StepKind,
    matrix_view,
    overlap_view,
    phase_view,
    trace_problem,
    make_problem,
    zero_insertion_view,
)
from convtranspose.functional import conv_transpose
from oracle import conv_naive, conv_transpose_naive


#: Each example builds a trace and four views; cap the count so the CI profile stays within budget.
_BUDGET = settings(max_examples=min(300, settings.default.max_examples))


@st.composite
def configurations(draw):
    ndim = draw(st.sampled_from([1, 2]))
    dims = lambda lo, hi: tuple(draw(st.integers(lo, hi)) for _ in range(ndim))  # noqa: E731
    input_shape, kernel_shape = dims(1, 3), dims(1, 3)
    stride, dilation = dims(1, 3), dims(1, 3)
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip(input_shape, stride, dilation, kernel_shape)]
    # padding up to the largest value that still leaves at least one output cell
    padding = tuple(draw(st.integers(0, max(0, (f + op - 1) // 2))) for f, op in zip(full, output_padding))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(-3, 3, input_shape), 2)
    k = np.round(rng.uniform(-3, 3, kernel_shape), 2)
    bias = draw(st.one_of(st.none(), st.floats(-2, 2, allow_nan=False)))
    params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    return x, k, bias, params


def _reference(x, k, bias, params):
    return conv_transpose_naive(x[None, None], k[None, None], None if bias is None else np.array([bias]), **params)[0, 0]


@_BUDGET
@given(configurations())
def test_trace_final_equals_conv_transpose(config):
    x, k, bias, params = config
    trace = trace_problem(make_problem(x, k, bias, **params))
    expected = conv_transpose(x[None, None], k[None, None], None if bias is None else np.array([bias]), **params)[0, 0]
    np.testing.assert_allclose(trace.output, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trace.output, _reference(x, k, bias, params), rtol=1e-10, atol=1e-10)
    assert trace.matches_reference


@_BUDGET
@given(configurations())
def test_trace_steps_are_consistent(config):
    x, k, bias, params = config
    trace = trace_problem(make_problem(x, k, bias, **params))
    scatter = trace.scatter_steps
    assert len(scatter) == x.size
    assert [s.index for s in trace.steps] == list(range(len(trace.steps)))
    # each running sum is the previous one plus this step's contribution
    previous = np.zeros_like(scatter[0].running_sum)
    for step in scatter:
        np.testing.assert_allclose(step.running_sum, previous + step.contribution, atol=1e-12)
        assert len(step.cells) == k.size  # one cell per kernel tap (zip below would hide a short list)
        for tap, cell in zip(np.ndindex(*k.shape), step.cells):
            assert step.contribution[cell] == step.input_value * k[tap]
        previous = step.running_sum
    kinds = [s.kind for s in trace.steps]
    assert (StepKind.CROP in kinds) == any(params["padding"])
    assert (StepKind.OUTPUT_PADDING in kinds) == any(params["output_padding"])
    assert (StepKind.BIAS in kinds) == (bias is not None)


@_BUDGET
@given(configurations())
def test_every_view_reproduces_the_output(config):
    x, k, bias, params = config
    problem = make_problem(x, k, bias, **params)
    expected = _reference(x, k, bias, params)
    for build in (zero_insertion_view, matrix_view, phase_view, overlap_view):
        view = build(problem)
        np.testing.assert_allclose(view.output, expected, rtol=1e-10, atol=1e-10, err_msg=build.__name__)
        assert view.matches_reference, build.__name__


@_BUDGET
@given(configurations())
def test_matrix_view_is_the_adjoint_of_the_paired_convolution(config):
    x, k, _, params = config
    view = matrix_view(make_problem(x, k, None, **params))
    # <C^T x, y> == <x, C y>, with C y the naive ordinary convolution (op only pads the end)
    y = np.random.default_rng(0).normal(size=view.problem.output_shape)
    cy = conv_naive(
        y[None, None], k[None, None], stride=params["stride"], padding=params["padding"], dilation=params["dilation"]
    )[0, 0]
    cy = cy[tuple(slice(0, n) for n in x.shape)]
    np.testing.assert_allclose(view.matrix @ y.ravel(), cy.ravel(), rtol=1e-10, atol=1e-10)


@_BUDGET
@given(configurations())
def test_overlap_counts_equal_conv_transpose_of_ones(config):
    x, k, _, params = config
    view = overlap_view(make_problem(x, k, None, **params))
    ones = np.ones((1, 1) + x.shape, dtype=np.int64)
    kernel_ones = np.ones((1, 1) + k.shape, dtype=np.int64)
    np.testing.assert_array_equal(view.counts, conv_transpose_naive(ones, kernel_ones, **params)[0, 0])
