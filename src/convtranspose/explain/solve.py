"""Which (kernel, stride, padding, output_padding, dilation) map an input length to an output length?

:func:`solve` enumerates every combination within :class:`SolveBounds`, keeps those whose output
length (:func:`convtranspose.shape.full_size` minus ``2 * padding`` plus ``output_padding``) equals the
target with a valid ``output_padding`` (``0 <= output_padding < max(stride, dilation)``, PyTorch's
rule), and ranks them: even overlap first (no checkerboard pattern, see :mod:`.overlap`), then
smaller kernels -- by the span ``dilation * (kernel - 1) + 1`` they cover, plain kernels before
dilated ones of the same span -- then no output_padding, smaller padding, smaller stride.

Examples
--------
>>> result = solve(16, 32)
>>> [(s.kernel_size, s.stride, s.padding, s.output_padding, s.dilation) for s in result.solutions[:3]]
[(2, 2, 0, 0, 1), (4, 2, 1, 0, 1), (2, 2, 1, 0, 3)]
>>> result.solutions[0].checkerboard_prone
False
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from ..errors import ParameterError, ParameterTypeError
from ..shape import full_size
from .._checks import is_int
from .overlap import AxisOverlap, axis_overlap

__all__ = ["SolveBounds", "Solution", "SolveResult", "solve", "MAX_SOLVE_SIZE", "MAX_BOUND"]

#: Largest input or output length the solver accepts.
MAX_SOLVE_SIZE = 100_000
#: Largest upper bound of any searched parameter.
MAX_BOUND = 64


@dataclass(frozen=True)
class SolveBounds:
    """Inclusive search ranges, each ``(low, high)``.

    ``output_padding`` is not bounded separately: every valid value ``0 .. max(stride, dilation) - 1``
    is tried.
    """

    kernel: tuple[int, int] = (1, 8)
    stride: tuple[int, int] = (1, 4)
    padding: tuple[int, int] = (0, 4)
    dilation: tuple[int, int] = (1, 3)

    def validate(self) -> None:
        """Raise :class:`ParameterError` for an empty, negative or oversized range."""
        minimum = {"kernel": 1, "stride": 1, "padding": 0, "dilation": 1}
        for name, low_allowed in minimum.items():
            low, high = getattr(self, name)
            if not (is_int(low) and is_int(high)):
                raise ParameterTypeError(f"{name} bounds must be ints, got {(low, high)!r}")
            if not (low_allowed <= low <= high <= MAX_BOUND):
                raise ParameterError(
                    f"{name} bounds must satisfy {low_allowed} <= low <= high <= {MAX_BOUND}, got {low}..{high}"
                )


@dataclass(frozen=True)
class Solution:
    """One parameter combination that maps the input length to the output length.

    Attributes
    ----------
    kernel_size, stride, padding, output_padding, dilation : int
    overlap : AxisOverlap
        Taps per canvas phase; uneven counts mean a checkerboard-prone layer.
    """

    kernel_size: int
    stride: int
    padding: int
    output_padding: int
    dilation: int
    overlap: AxisOverlap

    @property
    def even(self) -> bool:
        return self.overlap.even

    @property
    def gaps(self) -> bool:
        return self.overlap.gaps

    @property
    def checkerboard_prone(self) -> bool:
        """Uneven overlap: neighbouring outputs sum different numbers of terms."""
        return not self.overlap.even

    @property
    def span(self) -> int:
        """Canvas cells one kernel copy covers: ``dilation * (kernel_size - 1) + 1``."""
        return self.dilation * (self.kernel_size - 1) + 1

    def rank_key(self) -> tuple[int, ...]:
        """Sort key: even overlap, no gaps, small span, no dilation, small kernel, op, padding, stride."""
        return (
            int(not self.even),
            int(self.gaps),
            self.span,
            self.dilation,
            self.kernel_size,
            self.output_padding,
            self.padding,
            self.stride,
        )


@dataclass(frozen=True)
class SolveResult:
    """All solutions, ranked best first, with the question and the bounds searched."""

    input_size: int
    output_size: int
    bounds: SolveBounds
    solutions: tuple[Solution, ...]


def _check_size(name: str, value: object) -> int:
    if not is_int(value):
        raise ParameterTypeError(f"{name} must be an int, got {value!r}")
    number = int(value)  # an integral number (checked above)
    if not (1 <= number <= MAX_SOLVE_SIZE):
        raise ParameterError(f"{name} must be between 1 and {MAX_SOLVE_SIZE}, got {name}={value}")
    return number


def solve(input_size: int, output_size: int, bounds: SolveBounds = SolveBounds()) -> SolveResult:
    """Every parameter combination within ``bounds`` that maps ``input_size`` to ``output_size``.

    Raises
    ------
    ParameterError, ParameterTypeError
        For non-positive sizes or invalid bounds.
    """
    n = _check_size("input size", input_size)
    target = _check_size("output size", output_size)
    bounds.validate()
    ranges = [range(low, high + 1) for low, high in (bounds.kernel, bounds.stride, bounds.padding, bounds.dilation)]
    found = []
    for kernel, stride, padding, dilation in product(*ranges):
        if kernel == 1 and dilation > 1:
            continue  # dilation does nothing to a one-tap kernel; keep only dilation 1
        output_padding = target - (full_size(n, kernel, stride, dilation) - 2 * padding)
        if 0 <= output_padding < max(stride, dilation):
            found.append(
                Solution(kernel, stride, padding, output_padding, dilation, axis_overlap(kernel, stride, dilation))
            )
    ranked = tuple(sorted(found, key=Solution.rank_key))
    return SolveResult(input_size=n, output_size=target, bounds=bounds, solutions=ranked)
