"""How many kernel taps reach each output position, and when that count is uneven.

Along one axis, canvas position ``c`` receives input ``i`` through kernel tap ``t`` when
``i * stride + t * dilation == c``. Away from the borders (enough inputs on both sides) the number
of such terms depends only on ``c mod stride``: it is the number of taps ``t`` with
``t * dilation == c (mod stride)``. If those per-phase counts differ, neighbouring output cells
sum different numbers of terms -- the periodic pattern behind checkerboard artifacts. A phase with
no tap at all is a gap: those cells receive no input, only the bias.

Examples
--------
>>> phase_tap_counts(kernel_size=3, stride=2, dilation=1)
(2, 1)
>>> phase_tap_counts(kernel_size=4, stride=2, dilation=1)
(2, 2)
>>> phase_tap_counts(kernel_size=2, stride=2, dilation=2)  # both taps land on even positions
(2, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = ["phase_tap_counts", "AxisOverlap", "axis_overlap", "overlap_is_even"]


def phase_tap_counts(kernel_size: int, stride: int, dilation: int) -> tuple[int, ...]:
    """Per canvas phase ``r = c mod stride``, the number of kernel taps landing on that phase."""
    counts = [0] * stride
    for tap in range(kernel_size):
        counts[(tap * dilation) % stride] += 1
    return tuple(counts)


@dataclass(frozen=True)
class AxisOverlap:
    """The steady-state overlap pattern of one axis.

    Attributes
    ----------
    counts : tuple of int
        :func:`phase_tap_counts` for the axis.
    even : bool
        Every phase gets the same number of terms (no periodic pattern).
    gaps : bool
        Some phase gets no term at all (those cells hold only the bias).
    """

    counts: tuple[int, ...]

    @property
    def even(self) -> bool:
        return len(set(self.counts)) == 1

    @property
    def gaps(self) -> bool:
        return min(self.counts) == 0


def axis_overlap(kernel_size: int, stride: int, dilation: int) -> AxisOverlap:
    """:class:`AxisOverlap` of one axis."""
    return AxisOverlap(phase_tap_counts(kernel_size, stride, dilation))


def overlap_is_even(axes: Sequence[AxisOverlap]) -> bool:
    """True when every axis is even (the 2-d count is the product of the axes' counts)."""
    return all(axis.even for axis in axes)
