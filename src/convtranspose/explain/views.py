"""Four other ways to compute the same transposed convolution, each as plain data.

Every view is built from a :class:`~convtranspose.explain.trace.Problem`, computes the output its
own way (never through the trace or the engine), and exposes ``problem``, ``output`` and
``matches_reference``:

* :class:`ZeroInsertionView` -- insert ``stride - 1`` zeros between inputs, pad by
  ``dilation * (k - 1) - padding`` (a crop when negative) plus ``output_padding`` at the end, then
  an ordinary stride-1 convolution with the dilated kernel rotated by 180 degrees.
* :class:`MatrixView` -- the paired ordinary convolution as a matrix ``C`` (input-sized result from
  an output-sized argument); the transposed convolution is ``C.T @ x``.
* :class:`PhaseView` -- the sub-pixel decomposition: the output splits into ``prod(stride)``
  interleaved grids, each an ordinary small convolution of the input with a sub-kernel.
* :class:`OverlapView` -- which (input element, kernel tap) terms reach each output cell, how many,
  and whether that count is uneven (the cause of checkerboard artifacts).

Examples
--------
>>> from convtranspose.explain.trace import make_problem
>>> p = make_problem([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]], stride=2, padding=1, output_padding=1)
>>> all(v.matches_reference for v in (zero_insertion_view(p), matrix_view(p), phase_view(p), overlap_view(p)))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import prod
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..shape import conv_output_size
from .overlap import AxisOverlap, axis_overlap
from .trace import REFERENCE_ATOL, REFERENCE_RTOL, NotebookDisplay, Problem

__all__ = [
    "ZeroInsertionView",
    "zero_insertion_view",
    "MatrixView",
    "matrix_view",
    "PhaseGrid",
    "PhaseView",
    "phase_view",
    "OverlapView",
    "overlap_view",
]


def _close(output: np.ndarray, problem: Problem) -> bool:
    return bool(np.allclose(output, problem.reference, rtol=REFERENCE_RTOL, atol=REFERENCE_ATOL))


def _with_bias(values: np.ndarray, problem: Problem) -> np.ndarray:
    return values if problem.bias is None else values + problem.bias


# --------------------------------------------------------------------------------------------
# Zero insertion + ordinary convolution with the flipped kernel
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ZeroInsertionView(NotebookDisplay):
    """Transposed convolution as zero insertion, padding and an ordinary convolution.

    Attributes
    ----------
    problem : Problem
    inserted : ndarray
        The input with ``stride - 1`` zeros between neighbours: shape ``(in - 1) * stride + 1``.
        Input ``i`` sits at ``i * stride``.
    pad_before, pad_after : tuple of int
        Per axis, zeros added at the start and the end: ``dilation * (k - 1) - padding`` and that
        plus ``output_padding``. A negative number means that many cells are cropped instead.
    padded : ndarray
        ``inserted`` after padding/cropping; input ``i`` sits at ``i * stride + pad_before``.
    kernel : ndarray
        The dilated kernel (before the flip).
    flipped_kernel : ndarray
        The dilated kernel rotated by 180 degrees (reversed on every axis).
    output : ndarray
        ``padded`` cross-correlated (stride 1) with ``flipped_kernel``, plus the bias.
    """

    problem: Problem
    inserted: np.ndarray
    pad_before: tuple[int, ...]
    pad_after: tuple[int, ...]
    padded: np.ndarray
    kernel: np.ndarray
    flipped_kernel: np.ndarray
    output: np.ndarray

    @property
    def crops(self) -> bool:
        """Whether some "padding" is negative, i.e. a crop."""
        return min(self.pad_before + self.pad_after) < 0

    @property
    def matches_reference(self) -> bool:
        return _close(self.output, self.problem)


def _pad_or_crop(array: np.ndarray, before: Sequence[int], after: Sequence[int]) -> np.ndarray:
    """Zero-pad each axis by non-negative amounts and crop by the negative ones."""
    padded = np.pad(array, [(max(0, b), max(0, a)) for b, a in zip(before, after)])
    crop = tuple(slice(max(0, -b), n - max(0, -a)) for b, a, n in zip(before, after, padded.shape))
    return padded[crop]


def _correlate(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Ordinary stride-1 'valid' convolution as deep-learning libraries define it (no kernel flip)."""
    windows = sliding_window_view(signal, kernel.shape)
    axes = tuple(range(kernel.ndim))
    return np.tensordot(windows, kernel, axes=(tuple(a + kernel.ndim for a in axes), axes))


def zero_insertion_view(problem: Problem) -> ZeroInsertionView:
    """Build the :class:`ZeroInsertionView` of ``problem``."""
    inserted_shape = tuple((n - 1) * s + 1 for n, s in zip(problem.input.shape, problem.stride))
    inserted = np.zeros(inserted_shape)
    inserted[tuple(slice(None, None, s) for s in problem.stride)] = problem.input
    reach = tuple(g.dilation * (g.kernel_size - 1) for g in problem.geometry)
    before = tuple(r - g.padding for r, g in zip(reach, problem.geometry))
    after = tuple(b + g.output_padding for b, g in zip(before, problem.geometry))
    padded = _pad_or_crop(inserted, before, after)
    flipped = np.flip(problem.dilated_kernel)
    return ZeroInsertionView(
        problem=problem,
        inserted=inserted,
        pad_before=before,
        pad_after=after,
        padded=padded,
        kernel=problem.dilated_kernel,
        flipped_kernel=flipped,
        output=_with_bias(_correlate(padded, flipped), problem),
    )


# --------------------------------------------------------------------------------------------
# Matrix view
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MatrixView(NotebookDisplay):
    """Transposed convolution as the transpose of a convolution's matrix.

    The paired ordinary convolution (same kernel, stride, padding, dilation) maps an output-sized
    array ``y`` to an input-sized one: ``conv(y) == C @ y.ravel()``. The transposed convolution is
    ``C.T @ x.ravel()`` -- hence the name.

    Attributes
    ----------
    problem : Problem
    matrix : ndarray, shape (input elements, output elements)
        ``C``; row ``r`` holds the kernel taps the convolution's output ``r`` reads.
    transposed : ndarray, shape (output elements, input elements)
        ``C.T``.
    input_labels, output_labels : tuple of tuple of int
        The multi-index of every flattened input element (rows of ``C``) and output cell (columns).
    input_vector : ndarray
        ``x.ravel()`` in C order.
    product : ndarray
        ``C.T @ input_vector``, before the bias.
    output : ndarray
        ``product`` reshaped to the output shape, plus the bias.
    paired_conv_rows : int
        How many outputs the paired convolution would produce on an output-sized array
        (``prod(conv_output_size(...))``). It exceeds the number of input elements only when
        ``output_padding >= stride`` (possible when dilation > stride); ``C`` keeps the first rows.
    """

    problem: Problem
    matrix: np.ndarray
    transposed: np.ndarray
    input_labels: tuple[tuple[int, ...], ...]
    output_labels: tuple[tuple[int, ...], ...]
    input_vector: np.ndarray
    product: np.ndarray
    output: np.ndarray
    paired_conv_rows: int

    @property
    def matches_reference(self) -> bool:
        return _close(self.output, self.problem)


def matrix_view(problem: Problem) -> MatrixView:
    """Build the :class:`MatrixView` of ``problem``."""
    in_shape, out_shape = problem.input.shape, problem.output_shape
    matrix = np.zeros((prod(in_shape), prod(out_shape)))
    for row, element in enumerate(np.ndindex(*in_shape)):
        for tap in problem.taps:
            # The convolution's output `element` reads y at element*stride - padding + tap*dilation.
            position = tuple(
                i * s - p + t * d
                for i, t, s, p, d in zip(element, tap, problem.stride, problem.padding, problem.dilation)
            )
            if all(0 <= q < n for q, n in zip(position, out_shape)):
                matrix[row, np.ravel_multi_index(position, out_shape)] += problem.kernel[tap]
    vector = problem.input.ravel()
    product_ = matrix.T @ vector
    paired_rows = prod(
        conv_output_size(o, g.kernel_size, g.stride, g.padding, g.dilation)
        for o, g in zip(out_shape, problem.geometry)
    )
    return MatrixView(
        problem=problem,
        matrix=matrix,
        transposed=matrix.T.copy(),
        input_labels=tuple(tuple(int(i) for i in e) for e in np.ndindex(*in_shape)),
        output_labels=tuple(tuple(int(i) for i in e) for e in np.ndindex(*out_shape)),
        input_vector=vector,
        product=product_,
        output=_with_bias(product_.reshape(out_shape), problem),
        paired_conv_rows=paired_rows,
    )


# --------------------------------------------------------------------------------------------
# Phase (sub-pixel) decomposition
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PhaseGrid:
    """One of the ``prod(stride)`` interleaved sub-grids of the output.

    Attributes
    ----------
    residue : tuple of int
        Per axis, the canvas phase ``r``: this sub-grid holds output cells ``o`` with
        ``(o + padding) % stride == r``.
    taps : tuple of tuple of int
        The kernel taps landing on this phase: ``tap * dilation % stride == r`` on every axis.
    sub_kernel : ndarray
        The small kernel of this phase: tap ``t`` placed at shift ``(t * dilation - r) // stride``
        (zeros where no tap has that shift). Shape ``(0, ...)`` when no tap lands here.
    result : ndarray
        Full stride-1 convolution of the input with ``sub_kernel``: value ``m`` goes to canvas
        position ``r + m * stride``.
    output_positions : tuple of tuple of int
        Per axis, the output indices this phase fills, in order.
    values : ndarray
        This phase's output cells (before the bias), shape ``len(output_positions[a])`` per axis.
    """

    residue: tuple[int, ...]
    taps: tuple[tuple[int, ...], ...]
    sub_kernel: np.ndarray
    result: np.ndarray
    output_positions: tuple[tuple[int, ...], ...]
    values: np.ndarray

    @property
    def empty(self) -> bool:
        """No tap lands on this phase: its cells get no input, only the bias."""
        return not self.taps


@dataclass(frozen=True, eq=False)
class PhaseView(NotebookDisplay):
    """The sub-pixel decomposition: ``prod(stride)`` small convolutions, interleaved.

    Attributes
    ----------
    problem : Problem
    phases : tuple of PhaseGrid
        In C order of ``residue``.
    output : ndarray
        The phases' values interleaved into the output grid, plus the bias.
    """

    problem: Problem
    phases: tuple[PhaseGrid, ...]
    output: np.ndarray

    @property
    def matches_reference(self) -> bool:
        return _close(self.output, self.problem)


def _full_convolution(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``y[m] = sum_e kernel[e] * signal[m - e]`` for every ``m`` where a term exists."""
    result = np.zeros(tuple(n + k - 1 for n, k in zip(signal.shape, kernel.shape)))
    for shift in np.ndindex(*kernel.shape):
        window = tuple(slice(e, e + n) for e, n in zip(shift, signal.shape))
        result[window] += kernel[shift] * signal
    return result


def _phase(problem: Problem, residue: tuple[int, ...]) -> PhaseGrid:
    axes_taps = [
        [t for t in range(g.kernel_size) if (t * g.dilation) % g.stride == r]
        for g, r in zip(problem.geometry, residue)
    ]
    taps = tuple(product(*axes_taps))
    shifts = [[(t * g.dilation - r) // g.stride for t in ts] for ts, g, r in zip(axes_taps, problem.geometry, residue)]
    sub_shape = tuple(max(s) + 1 if s else 0 for s in shifts)
    sub_kernel = np.zeros(sub_shape)
    for tap in taps:
        shift = tuple((t * g.dilation - r) // g.stride for t, g, r in zip(tap, problem.geometry, residue))
        sub_kernel[shift] = problem.kernel[tap]
    result = _full_convolution(problem.input, sub_kernel) if taps else np.zeros(sub_shape)
    positions = tuple(
        tuple(o for o in range(g.output) if (o + g.padding) % g.stride == r)
        for g, r in zip(problem.geometry, residue)
    )
    values = np.zeros(tuple(len(p) for p in positions))
    for local in np.ndindex(*values.shape):
        canvas = [positions[a][local[a]] + problem.geometry[a].padding for a in range(problem.ndim)]
        m = tuple((c - r) // g.stride for c, r, g in zip(canvas, residue, problem.geometry))
        if all(0 <= mi < n for mi, n in zip(m, result.shape)):
            values[local] = result[m]
    return PhaseGrid(residue=residue, taps=taps, sub_kernel=sub_kernel, result=result, output_positions=positions, values=values)


def phase_view(problem: Problem) -> PhaseView:
    """Build the :class:`PhaseView` of ``problem``."""
    phases = tuple(_phase(problem, residue) for residue in np.ndindex(*problem.stride))
    output = np.zeros(problem.output_shape)
    for phase in phases:
        if phase.values.size:
            output[np.ix_(*phase.output_positions)] = phase.values
    return PhaseView(problem=problem, phases=phases, output=_with_bias(output, problem))


# --------------------------------------------------------------------------------------------
# Overlap map
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OverlapView(NotebookDisplay):
    """Which terms reach each output cell, how many, and whether the count is uneven.

    Attributes
    ----------
    problem : Problem
    terms : ndarray of object, output shape
        Per output cell, a tuple of ``(input_index, tap)`` pairs: ``x[input_index] * K[tap]``.
    counts : ndarray of int, output shape
        ``len(terms)`` per cell.
    axes : tuple of AxisOverlap
        Per axis, the steady-state number of taps per canvas phase (``counts``, ``even``, ``gaps``).
    output : ndarray
        Sum of each cell's terms, plus the bias.
    """

    problem: Problem
    terms: np.ndarray
    counts: np.ndarray
    axes: tuple[AxisOverlap, ...]
    output: np.ndarray

    @property
    def even(self) -> bool:
        """Interior cells all receive the same number of terms (no periodic pattern)."""
        return all(axis.even for axis in self.axes)

    @property
    def gaps(self) -> bool:
        """Some phase receives no term at all (cells holding only the bias)."""
        return any(axis.gaps for axis in self.axes)

    @property
    def uneven_axes(self) -> tuple[int, ...]:
        """Axes whose per-phase counts differ."""
        return tuple(a for a, axis in enumerate(self.axes) if not axis.even)

    @property
    def matches_reference(self) -> bool:
        return _close(self.output, self.problem)


def overlap_view(problem: Problem) -> OverlapView:
    """Build the :class:`OverlapView` of ``problem``."""
    out_shape = problem.output_shape
    cell_terms: dict[tuple[int, ...], list] = {cell: [] for cell in np.ndindex(*out_shape)}
    for element in np.ndindex(*problem.input.shape):
        for tap in problem.taps:
            cell = tuple(
                i * s + t * d - p
                for i, t, s, d, p in zip(element, tap, problem.stride, problem.dilation, problem.padding)
            )
            if cell in cell_terms:
                cell_terms[cell].append((tuple(int(i) for i in element), tap))
    terms = np.empty(out_shape, dtype=object)
    counts = np.zeros(out_shape, dtype=int)
    values = np.zeros(out_shape)
    for cell, pairs in cell_terms.items():
        terms[cell] = tuple(pairs)
        counts[cell] = len(pairs)
        values[cell] = sum(problem.input[e] * problem.kernel[t] for e, t in pairs)
    axes = tuple(axis_overlap(g.kernel_size, g.stride, g.dilation) for g in problem.geometry)
    return OverlapView(problem=problem, terms=terms, counts=counts, axes=axes, output=_with_bias(values, problem))

