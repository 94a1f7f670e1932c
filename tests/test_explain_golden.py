"""Golden cases of the explainer: the seed example under several parameter settings.

Every expected array is a hand constant (from the issue, or derived by hand in the comments
below), never computed by the code under test.
"""

SEED_INPUT = [[0.0, 1.0], [2.0, 3.0]]
SEED_KERNEL = [[1.1, 2.2], [3.3, 4.4]]

# output_padding case: stride 2, padding 1, output_padding 1, by hand.
# Full canvas per axis: (2 - 1)*2 + 1*(2 - 1) + 1 = 4. Stride 2 equals the kernel size, so the four
# scaled kernel copies tile the 4x4 canvas without overlap: x[i,j]*K sits at rows 2i..2i+1, cols 2j..2j+1.
#   x[0,0]=0 -> rows 0-1, cols 0-1: 0 0 / 0 0
#   x[0,1]=1 -> rows 0-1, cols 2-3: 1.1 2.2 / 3.3 4.4
#   x[1,0]=2 -> rows 2-3, cols 0-1: 2.2 4.4 / 6.6 8.8
#   x[1,1]=3 -> rows 2-3, cols 2-3: 3.3 6.6 / 9.9 13.2
# canvas:   0    0    1.1  2.2
#           0    0    3.3  4.4
#           2.2  4.4  3.3  6.6
#           6.6  8.8  9.9  13.2
# padding 1 keeps rows/cols 1..2; output_padding 1 adds canvas row 3 and col 3 back at the end
# (inside the canvas: values padding would otherwise have cropped). Output = canvas rows 1..3, cols 1..3.
OUTPUT_PADDING_EXPECTED = [[0.0, 3.3, 4.4], [4.4, 3.3, 6.6], [8.8, 9.9, 13.2]]

# output_padding beyond the canvas: stride 2, padding 0, output_padding 1, by hand.
# Same 4x4 canvas (nothing cropped); the output is 5x5 and the added row 4 / col 4 lie past the
# canvas: no input reaches them, so they hold only the bias (0.5 here).
BIAS_ONLY_EXPECTED = [
    [0.5, 0.5, 1.6, 2.7, 0.5],
    [0.5, 0.5, 3.8, 4.9, 0.5],
    [2.7, 4.9, 3.8, 7.1, 0.5],
    [7.1, 9.3, 10.4, 13.7, 0.5],
    [0.5, 0.5, 0.5, 0.5, 0.5],
]

#: name -> (parameters, expected output). The first four are the issue's hand constants.
GOLDEN = {
    "stride1": ({}, [[0.0, 1.1, 2.2], [2.2, 11.0, 11.0], [6.6, 18.7, 13.2]]),
    "stride12": (
        {"stride": (1, 2)},
        [[0.0, 0.0, 1.1, 2.2], [2.2, 4.4, 6.6, 11.0], [6.6, 8.8, 9.9, 13.2]],
    ),
    "dilation2": (
        {"dilation": 2},
        [[0.0, 1.1, 0.0, 2.2], [2.2, 3.3, 4.4, 6.6], [0.0, 3.3, 0.0, 4.4], [6.6, 9.9, 8.8, 13.2]],
    ),
    "padding1": ({"padding": 1}, [[11.0]]),
    "output_padding": ({"stride": 2, "padding": 1, "output_padding": 1}, OUTPUT_PADDING_EXPECTED),
    "bias_only": ({"stride": 2, "output_padding": 1, "bias": 0.5}, BIAS_ONLY_EXPECTED),
}

#: CLI arguments of each golden case.
GOLDEN_ARGS = {
    "stride1": [],
    "stride12": ["--stride", "1,2"],
    "dilation2": ["--dilation", "2"],
    "padding1": ["--padding", "1"],
    "output_padding": ["--stride", "2", "--padding", "1", "--output-padding", "1"],
    "bias_only": ["--stride", "2", "--output-padding", "1", "--bias", "0.5"],
}


# ------------------------------------------------------------------------------------------------
# Golden tests: the trace and every view reproduce the hand constants
# ------------------------------------------------------------------------------------------------

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from convtranspose.explain import VIEWS, CellOrigin, StepKind, build_trace, explain  # noqa: E402


def _kwargs(params):
    return {k: v for k, v in params.items() if k != "bias"}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_trace_final_array_matches_hand_constants(name):
    params, expected = GOLDEN[name]
    trace = build_trace(SEED_INPUT, SEED_KERNEL, params.get("bias"), **_kwargs(params))
    np.testing.assert_allclose(trace.output, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.problem.reference, expected, rtol=0, atol=1e-12)
    assert trace.matches_reference


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_view_reproduces_hand_constants(name, view):
    params, expected = GOLDEN[name]
    explanation = explain(SEED_INPUT, SEED_KERNEL, params.get("bias"), view=view, **_kwargs(params))
    np.testing.assert_allclose(explanation.output, expected, rtol=0, atol=1e-12)
    assert explanation.matches_reference


def test_seed_stride1_scatter_steps_by_hand():
    trace = build_trace(SEED_INPUT, SEED_KERNEL)
    assert [s.kind for s in trace.steps] == [StepKind.DILATE_KERNEL] + [StepKind.SCATTER] * 4 + [StepKind.FULL_CANVAS]
    assert [s.index for s in trace.steps] == list(range(6))
    steps = trace.scatter_steps
    assert [s.input_index for s in steps] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [s.input_value for s in steps] == [0.0, 1.0, 2.0, 3.0]
    assert [s.offset for s in steps] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # x[0,1] = 1: the kernel itself at rows 0..1, cols 1..2.
    np.testing.assert_allclose(steps[1].contribution, [[0, 1.1, 2.2], [0, 3.3, 4.4], [0, 0, 0]], atol=1e-12)
    assert steps[1].cells == ((0, 1), (0, 2), (1, 1), (1, 2))
    # running sum after x[1,0] = 2: 2*K at rows 1..2, cols 0..1 added; (1,1) = 3.3 + 4.4 = 7.7.
    np.testing.assert_allclose(steps[2].running_sum, [[0, 1.1, 2.2], [2.2, 7.7, 4.4], [6.6, 8.8, 0]], atol=1e-12)
    np.testing.assert_allclose(trace.steps[-1].canvas, GOLDEN["stride1"][1], atol=1e-12)


def test_dilation2_kernel_has_holes():
    step = build_trace(SEED_INPUT, SEED_KERNEL, dilation=2).steps[0]
    assert step.kind is StepKind.DILATE_KERNEL
    np.testing.assert_array_equal(step.dilated, [[1.1, 0, 2.2], [0, 0, 0], [3.3, 0, 4.4]])
    assert step.tap_positions == ((0, 0), (0, 2), (2, 0), (2, 2))


def test_padding1_crop_removes_the_outer_ring():
    trace = build_trace(SEED_INPUT, SEED_KERNEL, padding=1)
    crop = trace.step(StepKind.CROP)
    assert crop.kept == ((1, 2), (1, 2))
    expected_removed = np.ones((3, 3), dtype=bool)
    expected_removed[1, 1] = False
    np.testing.assert_array_equal(crop.removed, expected_removed)
    np.testing.assert_allclose(crop.cropped, [[11.0]], atol=1e-12)
    assert trace.step(StepKind.OUTPUT_PADDING) is None and trace.step(StepKind.BIAS) is None


def test_output_padding_cells_are_recovered_values():
    trace = build_trace(SEED_INPUT, SEED_KERNEL, stride=2, padding=1, output_padding=1)
    step = trace.step(StepKind.OUTPUT_PADDING)
    assert step.added == (range(2, 3), range(2, 3))
    # the added row 2 and column 2 of the output: (0,2), (1,2), (2,0), (2,1), (2,2)
    assert [c.output_index for c in step.cells] == [(0, 2), (1, 2), (2, 0), (2, 1), (2, 2)]
    assert [c.canvas_index for c in step.cells] == [(1, 3), (2, 3), (3, 1), (3, 2), (3, 3)]
    assert all(c.origin is CellOrigin.RECOVERED for c in step.cells)
    assert [c.value for c in step.cells] == pytest.approx([4.4, 6.6, 8.8, 9.9, 13.2])
    assert step.origins[0, 0] is CellOrigin.KEPT and step.origins[2, 2] is CellOrigin.RECOVERED


def test_output_padding_past_the_canvas_is_bias_only():
    trace = build_trace(SEED_INPUT, SEED_KERNEL, 0.5, stride=2, output_padding=1)
    step = trace.step(StepKind.OUTPUT_PADDING)
    assert len(step.cells) == 9  # row 4 (5 cells) and column 4 (4 more)
    assert all(c.origin is CellOrigin.BIAS_ONLY and c.value == 0.0 for c in step.cells)
    bias = trace.step(StepKind.BIAS)
    assert bias.bias == 0.5 and trace.steps[-1] is bias
    np.testing.assert_allclose(bias.after - bias.before, np.full((5, 5), 0.5))


def test_one_dimensional_trace_by_hand():
    # x = [1, 2], K = [1, 1, 1], stride 2: copies at 0..2 and 2..4 -> [1, 1, 3, 2, 2];
    # padding 1 keeps 1..3 -> [1, 3, 2]; output_padding 1 adds canvas 4 -> [1, 3, 2, 2].
    trace = build_trace([1.0, 2.0], [1.0, 1.0, 1.0], stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(trace.step(StepKind.FULL_CANVAS).canvas, [1, 1, 3, 2, 2])
    np.testing.assert_allclose(trace.output, [1, 3, 2, 2])
    assert [s.region for s in trace.scatter_steps] == [(slice(0, 3),), (slice(2, 5),)]
