"""Size caps of the explainer: beyond these, step-by-step pictures stop being readable.

The caps apply to :func:`convtranspose.explain.explain` (and so to the CLI); the builders
themselves (:func:`~convtranspose.explain.trace.build_trace` and the view builders) accept any size.
"""

from __future__ import annotations

from math import prod
from typing import Optional, Sequence

import numpy as np

from ..errors import ParameterError, ShapeError
from ..shape import AxisGeometry

__all__ = [
    "TooLargeToDrawError",
    "MAX_INPUT_ELEMENTS",
    "MAX_KERNEL_SIDE",
    "MAX_CANVAS_SIDE",
    "MAX_MATRIX_INPUTS",
    "MAX_MATRIX_OUTPUTS",
    "MAX_ABS_VALUE",
    "check_values",
    "check_drawable",
    "caps_summary",
]

#: At most this many input elements (= scatter steps).
MAX_INPUT_ELEMENTS = 64
#: At most this many kernel taps along each axis.
MAX_KERNEL_SIDE = 7
#: At most this many cells along each axis of the full canvas and of the output.
MAX_CANVAS_SIDE = 40
#: The matrix view prints a (output elements x input elements) matrix: at most this many columns...
MAX_MATRIX_INPUTS = 16
#: ... and at most this many rows.
MAX_MATRIX_OUTPUTS = 64
#: Largest magnitude of an input, kernel or bias value: products and sums of up to
#: ``MAX_INPUT_ELEMENTS * MAX_KERNEL_SIDE**2`` terms then stay far from float64 overflow.
MAX_ABS_VALUE = 1e100


class TooLargeToDrawError(ShapeError):
    """The problem is valid but exceeds a cap of the explainer."""


def check_drawable(
    input_shape: Sequence[int], kernel_shape: Sequence[int], geometry: Sequence[AxisGeometry], view: str
) -> None:
    """Raise :class:`TooLargeToDrawError` naming the first cap the problem exceeds for ``view``.

    Needs only shapes and geometry, so it runs before any array is computed.
    """
    size = prod(input_shape)
    full_shape = tuple(g.full for g in geometry)
    output_shape = tuple(g.output for g in geometry)
    if size > MAX_INPUT_ELEMENTS:
        raise TooLargeToDrawError(
            f"input has {size} elements; the explainer draws at most {MAX_INPUT_ELEMENTS} (one step each)"
        )
    if max(kernel_shape) > MAX_KERNEL_SIDE:
        raise TooLargeToDrawError(
            f"kernel of shape {tuple(kernel_shape)} is too large to draw; at most {MAX_KERNEL_SIDE} per side"
        )
    sides = full_shape + output_shape
    if max(sides) > MAX_CANVAS_SIDE:
        raise TooLargeToDrawError(
            f"full canvas {full_shape} / output {output_shape} too large to draw; "
            f"at most {MAX_CANVAS_SIDE} cells per side"
        )
    if view == "matrix":
        outputs = prod(output_shape)
        if size > MAX_MATRIX_INPUTS or outputs > MAX_MATRIX_OUTPUTS:
            raise TooLargeToDrawError(
                f"the matrix view is limited to {MAX_MATRIX_INPUTS} input and {MAX_MATRIX_OUTPUTS} output "
                f"elements, got {size} and {outputs}"
            )


def check_values(input: np.ndarray, kernel: np.ndarray, bias: Optional[float] = None) -> None:
    """Raise :class:`~convtranspose.errors.ParameterError` for a value beyond :data:`MAX_ABS_VALUE`.

    Examples
    --------
    >>> check_values(np.array([1.0, 2e100]), np.array([1.0]))
    Traceback (most recent call last):
    ...
    convtranspose.errors.ParameterError: input values must lie within +-1e+100 for the explainer (so that its products and sums cannot overflow), got 2e+100 at index (1,)
    """
    for name, values in (("input", input), ("kernel", kernel), ("bias", np.array([0.0 if bias is None else bias]))):
        magnitudes = np.abs(values)
        if magnitudes.size and magnitudes.max() > MAX_ABS_VALUE:
            where = np.unravel_index(int(np.argmax(magnitudes)), values.shape)
            position = "" if name == "bias" else f" at index {tuple(int(i) for i in where)}"
            raise ParameterError(
                f"{name} values must lie within +-{MAX_ABS_VALUE:g} for the explainer (so that its products "
                f"and sums cannot overflow), got {values[where]:g}{position}"
            )


def caps_summary() -> str:
    """One line listing the caps (for help texts)."""
    return (
        f"input <= {MAX_INPUT_ELEMENTS} elements, kernel <= {MAX_KERNEL_SIDE} per side, canvas and output "
        f"<= {MAX_CANVAS_SIDE} per side; matrix view: <= {MAX_MATRIX_INPUTS} inputs, <= {MAX_MATRIX_OUTPUTS} outputs"
    )
