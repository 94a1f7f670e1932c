"""Explainer: the numbers of one transposed convolution, step by step and in four other views.

Entry point: :func:`explain` validates a 1-d or 2-d single-plane problem, applies the drawing caps
of :mod:`.limits`, and returns the *explanation* object for the chosen view:

===========  ======================================  ============================================
``view``     object returned                          what it holds
===========  ======================================  ============================================
"scatter"    :class:`~.trace.Trace`                   dilated kernel, one scatter step per input
                                                      element (contribution + running sum), full
                                                      canvas, crop, output_padding cells, bias
"conv"       :class:`~.views.ZeroInsertionView`       zero-inserted input, pad/crop amounts,
                                                      padded input, kernel and its 180-degree flip
"matrix"     :class:`~.views.MatrixView`              ``C`` and ``C.T`` with row/column labels
"phase"      :class:`~.views.PhaseView`               ``prod(stride)`` phases: taps, sub-kernel,
                                                      output positions and values
"overlap"    :class:`~.views.OverlapView`             terms and counts per output cell, per-axis
                                                      phase counts, ``even`` / ``gaps`` flags
===========  ======================================  ============================================

Every explanation object has ``.problem`` (:class:`~.trace.Problem`: input, kernel, bias, spec,
geometry, dilated kernel, ``reference`` = ``conv_transpose``'s result), ``.output`` (the array that
view computes) and ``.matches_reference``. Renderers (:mod:`convtranspose.render`) take any of them.

:func:`~.solve.solve` answers "which parameters map length ``in`` to length ``out``?".

Examples
--------
>>> e = explain([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]], view="phase", stride=2)
>>> type(e).__name__, len(e.phases), e.matches_reference
('PhaseView', 4, True)
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from ..errors import ParameterError
from ..shape import geometries
from ..spec import IntOrTuple
from .limits import (
    MAX_CANVAS_SIDE,
    MAX_INPUT_ELEMENTS,
    MAX_KERNEL_SIDE,
    MAX_MATRIX_INPUTS,
    MAX_MATRIX_OUTPUTS,
    TooLargeToDrawError,
    MAX_ABS_VALUE,
    caps_summary,
    check_drawable,
    check_values,
)
from .overlap import AxisOverlap, axis_overlap, phase_tap_counts
from .solve import Solution, SolveBounds, SolveResult, solve
from .trace import (
    BiasStep,
    CellOrigin,
    ChannelSummary,
    CropStep,
    DilateKernelStep,
    FullCanvasStep,
    OutputPaddingCell,
    OutputPaddingStep,
    Problem,
    ScatterStep,
    Step,
    StepKind,
    Trace,
    as_grid,
    build_trace,
    channel_summary,
    make_problem,
    problem_from_validated,
    trace_problem,
    validate_operands,
)
from .views import (
    MatrixView,
    OverlapView,
    PhaseGrid,
    PhaseView,
    ZeroInsertionView,
    matrix_view,
    overlap_view,
    phase_view,
    zero_insertion_view,
)

__all__ = [
    "VIEWS",
    "Explanation",
    "explain",
    "Problem",
    "make_problem",
    "problem_from_validated",
    "Trace",
    "build_trace",
    "trace_problem",
    "Step",
    "StepKind",
    "CellOrigin",
    "DilateKernelStep",
    "ScatterStep",
    "FullCanvasStep",
    "CropStep",
    "OutputPaddingCell",
    "OutputPaddingStep",
    "BiasStep",
    "ChannelSummary",
    "channel_summary",
    "as_grid",
    "ZeroInsertionView",
    "zero_insertion_view",
    "MatrixView",
    "matrix_view",
    "PhaseGrid",
    "PhaseView",
    "phase_view",
    "OverlapView",
    "overlap_view",
    "AxisOverlap",
    "axis_overlap",
    "phase_tap_counts",
    "Solution",
    "SolveBounds",
    "SolveResult",
    "solve",
    "TooLargeToDrawError",
    "check_drawable",
    "check_values",
    "MAX_ABS_VALUE",
    "caps_summary",
    "MAX_INPUT_ELEMENTS",
    "MAX_KERNEL_SIDE",
    "MAX_CANVAS_SIDE",
    "MAX_MATRIX_INPUTS",
    "MAX_MATRIX_OUTPUTS",
]

#: The view names :func:`explain` accepts.
VIEWS = ("scatter", "conv", "matrix", "phase", "overlap")

#: Any object :func:`explain` returns.
Explanation = Union[Trace, ZeroInsertionView, MatrixView, PhaseView, OverlapView]

_BUILDERS: dict[str, Callable[[Problem], Explanation]] = {
    "scatter": trace_problem,
    "conv": zero_insertion_view,
    "matrix": matrix_view,
    "phase": phase_view,
    "overlap": overlap_view,
}


def explain(
    input: object,
    kernel: object,
    bias: Optional[float] = None,
    *,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    view: str = "scatter",
    channels: Optional[ChannelSummary] = None,
) -> Explanation:
    """Build the explanation of one 1-d or 2-d plane for ``view`` (see the module docstring).

    Parameters
    ----------
    input, kernel : array_like, 1-d or 2-d, same rank
    bias : float, optional
    stride, padding, output_padding, dilation : int or tuple of int
    view : {"scatter", "conv", "matrix", "phase", "overlap"}
    channels : ChannelSummary, optional
        Describes the multi-channel layer the plane belongs to (shown as a note).

    Raises
    ------
    ParameterError
        Unknown ``view``, or invalid parameters.
    ShapeError, OutputSizeError, ParameterTypeError
        Invalid operands or an empty output.
    TooLargeToDrawError
        The problem exceeds a cap of :mod:`.limits` (a ``ShapeError``).
    """
    if view not in _BUILDERS:
        raise ParameterError(f"view must be one of {', '.join(VIEWS)}, got view={view!r}")
    x, k, spec, bias_value = validate_operands(
        input, kernel, bias, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation
    )
    check_values(x, k, bias_value)
    check_drawable(x.shape, k.shape, geometries(x.shape, k.shape, spec), view)
    return _BUILDERS[view](problem_from_validated(x, k, spec, bias_value, channels))
