"""The trace model: every step of one transposed convolution, as plain data.

A :class:`Trace` is what the text renderer, the figure renderer and the tests read. It holds no
rendering decisions: only arrays, indices and small enums. The steps, in order:

1. :class:`DilateKernelStep` -- the kernel with ``dilation - 1`` zeros between its taps
   (always present; with dilation 1 the "dilated" kernel is the kernel itself).
2. :class:`ScatterStep` -- one per input element, in C order: ``x[i, j] * K`` stamped on the full
   canvas at offset ``(i * stride_h, j * stride_w)``, with the running sum after it.
3. :class:`FullCanvasStep` -- the uncropped canvas once every element has been stamped.
4. :class:`CropStep` -- ``padding`` removes ``(before, after)`` cells from the two ends of each
   axis (PyTorch's ``padding=p`` is ``(p, p)``; present only when some padding is non-zero).
5. :class:`OutputPaddingStep` -- ``output_padding`` adds cells at the *end* side of each axis
   only; each added cell is either a value that padding would otherwise have cropped, or a cell no
   input reaches (bias only). Present only when some output_padding is non-zero.
6. :class:`FoldStep` -- with a ``padding_mode`` other than ``'zeros'``, the cropped border cells
   are added back onto the output cells they fold onto (present only when there is a border).
7. :class:`BiasStep` -- the bias added to every output cell (present only when a bias is given).

Coordinates: "canvas" positions index the full canvas (length ``AxisGeometry.full`` per axis, see
:mod:`convtranspose.shape`); "output" positions index the final output. Output position ``o`` is
canvas position ``o + before`` (the crop at the start). Arrays are 1-d for a 1-d problem and 2-d for a 2-d problem; use
:func:`as_grid` to view any of them as 2-d (a 1-d array becomes one row).

The trace covers one (input channel -> output channel) plane. With several channels and groups,
every output channel is its bias plus the sum of such planes; :class:`ChannelSummary` says which.

Examples
--------
>>> trace = build_trace([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]])
>>> [step.kind.value for step in trace.steps]  # doctest: +NORMALIZE_WHITESPACE
['dilate_kernel', 'scatter', 'scatter', 'scatter', 'scatter', 'full_canvas']
>>> trace.output.round(6).tolist()
[[0.0, 1.1, 2.2], [2.2, 11.0, 11.0], [6.6, 18.7, 13.2]]
>>> trace.matches_reference
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from itertools import product
from typing import ClassVar, Optional, Sequence, Union

import numpy as np

from ..errors import ParameterError, ParameterTypeError, ShapeError
from ..padding import PaddingArg
from ..functional import conv_transpose
from ..padding import check_padding_mode, fold_sources
from ..shape import AxisGeometry, geometries, spatial_output_shape
from .._checks import is_int
from ..spec import ConvTransposeSpec, IntOrTuple, make_spec

__all__ = [
    "StepKind",
    "CellOrigin",
    "NotebookDisplay",
    "ChannelSummary",
    "channel_summary",
    "Problem",
    "make_problem",
    "problem_from_validated",
    "validate_operands",
    "DilateKernelStep",
    "ScatterStep",
    "FullCanvasStep",
    "CropStep",
    "OutputPaddingCell",
    "OutputPaddingStep",
    "FoldMove",
    "FoldStep",
    "BiasStep",
    "Step",
    "Trace",
    "build_trace",
    "trace_problem",
    "dilate",
    "as_grid",
    "REFERENCE_RTOL",
    "REFERENCE_ATOL",
]

#: Tolerances of the "equals conv_transpose" check. The trace adds contributions input element by
#: input element, the engine kernel tap by kernel tap, so float64 sums may differ in the last bit.
REFERENCE_RTOL = 1e-12
REFERENCE_ATOL = 1e-12


class NotebookDisplay:
    """Mixin of every explanation object: Jupyter shows it as the interactive page.

    ``_repr_html_`` returns the offline page (``convtranspose.web``) in an ``<iframe srcdoc>``;
    no server and no network are needed.
    """

    def _repr_html_(self) -> str:
        from ..web.page import notebook_html  # the web layer is above this one: load it on use

        return notebook_html(self)


class StepKind(str, enum.Enum):
    """What a step does (its ``.value`` is a stable string for renderers and tests)."""

    DILATE_KERNEL = "dilate_kernel"
    SCATTER = "scatter"
    FULL_CANVAS = "full_canvas"
    CROP = "crop"
    OUTPUT_PADDING = "output_padding"
    FOLD = "fold"
    BIAS = "bias"


class CellOrigin(str, enum.Enum):
    """Where an output cell's value (before bias) comes from."""

    #: Inside the window that padding keeps: an ordinary canvas value.
    KEPT = "kept"
    #: Added by output_padding, and the canvas has a value there: padding would otherwise have cropped it.
    RECOVERED = "recovered"
    #: Added by output_padding beyond the full canvas: no input reaches it, it holds the bias only.
    BIAS_ONLY = "bias_only"


# --------------------------------------------------------------------------------------------
# The problem: operands, parameters, geometry, reference result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSummary:
    """How channels and groups combine traced planes (the trace itself shows one plane).

    Attributes
    ----------
    in_channels, out_channels, groups : int
        As in ``ConvTranspose2d(in_channels, out_channels, ..., groups=groups)``.
    in_per_group, out_per_group : int
        ``in_channels // groups`` and ``out_channels // groups``.
    weight_shape : tuple of int
        ``(in_channels, out_per_group, *kernel)``, PyTorch's weight layout.
    """

    in_channels: int
    out_channels: int
    groups: int
    in_per_group: int
    out_per_group: int
    weight_shape: tuple[int, ...]

    def inputs_for_output(self, out_channel: int) -> range:
        """Input channels whose planes are summed into output channel ``out_channel``."""
        group = out_channel // self.out_per_group
        return range(group * self.in_per_group, (group + 1) * self.in_per_group)

    def weight_index(self, in_channel: int, out_channel: int) -> tuple[int, int]:
        """Index ``(c_in, c_out % out_per_group)`` of the kernel plane used for that pair."""
        return in_channel, out_channel % self.out_per_group


def channel_summary(
    in_channels: int, out_channels: int, groups: int = 1, kernel_shape: Sequence[int] = ()
) -> ChannelSummary:
    """Validate channel counts and groups and describe how planes combine.

    Raises
    ------
    ParameterError
        If a count is not positive or ``groups`` does not divide both channel counts.

    Examples
    --------
    >>> s = channel_summary(4, 6, groups=2, kernel_shape=(3, 3))
    >>> list(s.inputs_for_output(5)), s.weight_shape
    ([2, 3], (4, 3, 3, 3))
    """
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if not is_int(value):
            raise ParameterTypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ParameterError(f"{name} must be positive (>= 1), got {name}={value}")
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value % groups:
            raise ParameterError(f"groups must divide {name}, got groups={groups} for {name}={value}")
    out_per_group = out_channels // groups
    return ChannelSummary(
        in_channels=int(in_channels),
        out_channels=int(out_channels),
        groups=int(groups),
        in_per_group=in_channels // groups,
        out_per_group=out_per_group,
        weight_shape=(int(in_channels), out_per_group) + tuple(int(k) for k in kernel_shape),
    )


@dataclass(frozen=True, eq=False)
class Problem:
    """One single-plane transposed convolution, validated, with its reference result.

    Attributes
    ----------
    input : ndarray of float64, shape (n,) or (h, w)
        The input plane.
    kernel : ndarray of float64, same rank as ``input``
        The kernel plane (``weight[c_in, c_out]`` in PyTorch's layout).
    bias : float or None
        The bias of the output channel, if any.
    spec : ConvTransposeSpec
        Per-dimension stride, padding, output_padding, dilation (groups is 1 for a plane).
    geometry : tuple of AxisGeometry
        One per axis: input/kernel sizes, ``full`` (canvas length) and ``output`` length.
    dilated_kernel : ndarray of float64
        The kernel with ``dilation - 1`` zeros between taps; shape ``dilation * (k - 1) + 1``.
    reference : ndarray of float64
        ``conv_transpose`` of the same operands: the number every view must reproduce.
    channels : ChannelSummary or None
        Optional description of the multi-channel layer this plane belongs to.
    """

    input: np.ndarray
    kernel: np.ndarray
    bias: Optional[float]
    spec: ConvTransposeSpec
    geometry: tuple[AxisGeometry, ...]
    dilated_kernel: np.ndarray
    reference: np.ndarray
    channels: Optional[ChannelSummary] = None

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (1 or 2)."""
        return self.input.ndim

    @property
    def stride(self) -> tuple[int, ...]:
        return self.spec.stride

    @property
    def padding(self) -> Union[tuple, str]:
        """As given: per-dimension ints, (before, after) pairs or a form's name (``pads``: resolved)."""
        return self.spec.padding

    @property
    def output_padding(self) -> tuple[int, ...]:
        return self.spec.output_padding

    @property
    def padding_label(self) -> str:
        """``padding`` as given, for display: ``(1, 1)``, ``((1, 2), (0, 0))`` or ``'same'``."""
        padding = self.spec.padding
        if isinstance(padding, str):
            return repr(padding)
        if all(isinstance(p, int) for p in padding):
            return "(" + ", ".join(str(p) for p in padding) + ("," if len(padding) == 1 else "") + ")"
        return str(tuple(tuple(p) for p in padding))

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """Per axis, the cells cropped from the start and the end of the canvas (a negative end:
        cells added there, as ``'same'`` does with a kernel shorter than the stride)."""
        return tuple((g.pad_before, g.pad_after) for g in self.geometry)

    @property
    def added(self) -> tuple[int, ...]:
        """Per axis, the cells added at the end: ``output_padding`` plus any negative end crop."""
        return tuple(g.output_padding + max(-g.pad_after, 0) for g in self.geometry)

    @property
    def padding_mode(self) -> str:
        return self.spec.padding_mode

    @property
    def dilation(self) -> tuple[int, ...]:
        return self.spec.dilation

    @property
    def full_shape(self) -> tuple[int, ...]:
        """Shape of the uncropped canvas."""
        return tuple(g.full for g in self.geometry)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the output."""
        return tuple(g.output for g in self.geometry)

    @property
    def taps(self) -> tuple[tuple[int, ...], ...]:
        """Every kernel tap index, in C order."""
        return tuple(product(*(range(k) for k in self.kernel.shape)))

    def tap_position(self, tap: Sequence[int]) -> tuple[int, ...]:
        """Position of kernel tap ``tap`` inside the dilated kernel: ``tap * dilation``."""
        return tuple(t * d for t, d in zip(tap, self.dilation))


def _plane(name: str, value: object) -> np.ndarray:
    """``value`` as a 1-d or 2-d float64 array of finite numbers, or a clear error."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{name} must be a 1-d or 2-d array of numbers ({exc})") from None
    if array.ndim not in (1, 2):
        raise ShapeError(f"{name} must be 1-d or 2-d (one plane), got {array.ndim}-d shape {array.shape}")
    if array.size == 0:
        raise ShapeError(f"{name} must not be empty, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} must contain only finite numbers")
    return array


def validate_operands(
    input: object,
    kernel: object,
    bias: Optional[float] = None,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
) -> tuple[np.ndarray, np.ndarray, ConvTransposeSpec, Optional[float]]:
    """Check operands and parameters without computing anything large.

    Returns the float64 input and kernel planes, the validated spec and the bias as a float (or
    None). Raises the same errors as :func:`make_problem`.
    """
    x = _plane("input", input)
    k = _plane("kernel", kernel)
    if x.ndim != k.ndim:
        raise ShapeError(f"input and kernel must have the same rank, got input {x.shape} and kernel {k.shape}")
    spec = make_spec(
        x.ndim, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
        padding_mode=padding_mode,
    )
    out = spatial_output_shape(x.shape, k.shape, spec)  # raises OutputSizeError for an empty output
    if spec.padding_mode != "zeros":
        geo = geometries(x.shape, k.shape, spec)
        check_padding_mode(spec.padding_mode, tuple((g.pad_before, max(g.pad_after, 0)) for g in geo), out, spec.padding)
    bias_value = None if bias is None else float(bias)
    if bias_value is not None and not np.isfinite(bias_value):
        raise ParameterError(f"bias must be a finite number, got {bias!r}")
    return x, k, spec, bias_value


def make_problem(
    input: object,
    kernel: object,
    bias: Optional[float] = None,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    channels: Optional[ChannelSummary] = None,
    padding_mode: str = "zeros",
) -> Problem:
    """Validate one plane's operands and parameters and compute the reference output.

    Raises
    ------
    ShapeError, ParameterError, ParameterTypeError, OutputSizeError
        For ranks other than 1 or 2, mismatched ranks, invalid parameters or an empty output.

    Examples
    --------
    >>> p = make_problem([0.0, 1.0], [1.0, 10.0], stride=2)
    >>> p.output_shape, p.reference.tolist()
    ((4,), [0.0, 0.0, 1.0, 10.0])
    """
    x, k, spec, bias_value = validate_operands(
        input, kernel, bias, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
        padding_mode=padding_mode,
    )
    return problem_from_validated(x, k, spec, bias_value, channels)


def problem_from_validated(
    x: np.ndarray,
    k: np.ndarray,
    spec: ConvTransposeSpec,
    bias: Optional[float] = None,
    channels: Optional[ChannelSummary] = None,
) -> Problem:
    """The :class:`Problem` of operands and a spec already checked by :func:`validate_operands`.

    The spec is used as it is (not rebuilt): this is the step after validation.
    """
    reference = conv_transpose(
        x[np.newaxis, np.newaxis],
        k[np.newaxis, np.newaxis],
        None if bias is None else np.array([bias]),
        stride=spec.stride,
        padding=spec.padding,
        output_padding=spec.output_padding,
        dilation=spec.dilation,
        padding_mode=spec.padding_mode,
    )[0, 0]
    return Problem(
        input=x,
        kernel=k,
        bias=bias,
        spec=spec,
        geometry=geometries(x.shape, k.shape, spec),
        dilated_kernel=dilate(k, spec.dilation),
        reference=reference,
        channels=channels,
    )


def dilate(kernel: np.ndarray, dilation: Sequence[int]) -> np.ndarray:
    """The kernel with ``dilation - 1`` zeros inserted between neighbouring taps on each axis.

    Examples
    --------
    >>> dilate(np.array([1.0, 2.0, 3.0]), (2,)).tolist()
    [1.0, 0.0, 2.0, 0.0, 3.0]
    """
    shape = tuple(d * (k - 1) + 1 for k, d in zip(kernel.shape, dilation))
    dilated = np.zeros(shape, dtype=kernel.dtype)
    dilated[tuple(slice(None, None, d) for d in dilation)] = kernel
    return dilated


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DilateKernelStep:
    """Step (a): the kernel as the scatter uses it.

    Attributes
    ----------
    index : int
        Position of the step in ``Trace.steps`` (0-based).
    kernel : ndarray
        The kernel as given.
    dilated : ndarray
        The kernel with ``dilation - 1`` zeros between taps (equal to ``kernel`` for dilation 1).
    dilation : tuple of int
        Per-axis dilation.
    tap_positions : tuple of tuple of int
        For every kernel tap in C order, its position inside ``dilated`` (``tap * dilation``);
        every other position of ``dilated`` is a hole (a zero that contributes nothing).
    """

    kind: ClassVar[StepKind] = StepKind.DILATE_KERNEL
    index: int
    kernel: np.ndarray
    dilated: np.ndarray
    dilation: tuple[int, ...]
    tap_positions: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, eq=False)
class ScatterStep:
    """Step (b): one input element times the (dilated) kernel, stamped on the full canvas.

    Attributes
    ----------
    index : int
        Position of the step in ``Trace.steps``.
    number : int
        1-based count among scatter steps (input elements in C order).
    input_index : tuple of int
        ``(i,)`` or ``(i, j)``: which input element.
    input_value : float
        ``x[input_index]``.
    offset : tuple of int
        Canvas position of the dilated kernel copy's first cell: ``input_index * stride``.
    region : tuple of slice
        Canvas slices covered by the dilated kernel copy (holes included):
        ``offset .. offset + dilation * (k - 1)`` on each axis.
    cells : tuple of tuple of int
        Canvas positions that actually receive a kernel tap (holes excluded), in tap C order;
        ``cells[t]`` receives ``input_value * kernel[taps[t]]``.
    contribution : ndarray, full-canvas shape
        ``input_value * dilated kernel`` placed at ``region``, zero elsewhere.
    running_sum : ndarray, full-canvas shape
        Sum of the contributions of this and every earlier scatter step.
    """

    kind: ClassVar[StepKind] = StepKind.SCATTER
    index: int
    number: int
    input_index: tuple[int, ...]
    input_value: float
    offset: tuple[int, ...]
    region: tuple[slice, ...]
    cells: tuple[tuple[int, ...], ...]
    contribution: np.ndarray
    running_sum: np.ndarray


@dataclass(frozen=True, eq=False)
class FullCanvasStep:
    """Step (c): the uncropped canvas after every input element has been stamped.

    Attributes
    ----------
    index : int
    canvas : ndarray, full-canvas shape
        ``(in - 1) * stride + dilation * (k - 1) + 1`` per axis.
    """

    kind: ClassVar[StepKind] = StepKind.FULL_CANVAS
    index: int
    canvas: np.ndarray


@dataclass(frozen=True, eq=False)
class CropStep:
    """Step (d): padding removes ``padding`` cells from both ends of every axis.

    Attributes
    ----------
    index : int
    padding : tuple of int
    kept : tuple of tuple of int
        Per axis, the half-open canvas range ``(padding, full - padding)`` that survives the crop
        (empty when ``full - padding <= padding``; output_padding may then still add cells).
    removed : ndarray of bool, full-canvas shape
        True on the ring of cells that padding removes.
    cropped : ndarray
        ``canvas[kept]``: what is left before output_padding (may have a zero-length axis).
    """

    kind: ClassVar[StepKind] = StepKind.CROP
    index: int
    padding: Union[tuple, str]
    kept: tuple[tuple[int, int], ...]
    removed: np.ndarray
    cropped: np.ndarray


@dataclass(frozen=True)
class OutputPaddingCell:
    """One output cell added by output_padding.

    Attributes
    ----------
    output_index : tuple of int
        Its position in the output.
    canvas_index : tuple of int
        The canvas position it corresponds to (``output_index + padding``); may lie past the canvas.
    origin : CellOrigin
        ``RECOVERED`` (the canvas value there, which padding would otherwise have cropped) or
        ``BIAS_ONLY`` (past the full canvas: zero before the bias).
    value : float
        The cell's value before the bias.
    """

    output_index: tuple[int, ...]
    canvas_index: tuple[int, ...]
    origin: CellOrigin
    value: float


@dataclass(frozen=True, eq=False)
class OutputPaddingStep:
    """Step (e): output_padding adds cells at the END side of each axis only.

    Attributes
    ----------
    index : int
    output_padding : tuple of int
    added : tuple of range
        Per axis, the output indices added (``range(out - output_padding, out)``, clipped at 0).
    cells : tuple of OutputPaddingCell
        Every added cell (a cell in an added row *and* an added column appears once), C order.
    origins : ndarray of CellOrigin (dtype object), output shape
        ``CellOrigin`` of every output cell (``KEPT`` outside the added rows/columns).
    result : ndarray, output shape
        The output before the bias.
    """

    kind: ClassVar[StepKind] = StepKind.OUTPUT_PADDING
    index: int
    output_padding: tuple[int, ...]
    added: tuple[range, ...]
    cells: tuple[OutputPaddingCell, ...]
    origins: np.ndarray
    result: np.ndarray


@dataclass(frozen=True)
class FoldMove:
    """One border cell of the canvas and the output cell the fold adds it onto.

    Attributes
    ----------
    canvas_index : tuple of int
        Its position on the full canvas (outside the output window).
    output_index : tuple of int
        The output cell the paired convolution's padding copied into it (reflect: mirrored about
        the edge cell, replicate: the edge cell, circular: wrapped around).
    value : float
    """

    canvas_index: tuple[int, ...]
    output_index: tuple[int, ...]
    value: float


@dataclass(frozen=True, eq=False)
class FoldStep:
    """Step (f): with ``padding_mode`` other than zeros, the border is folded back, not dropped.

    The paired ordinary convolution pads its input by copying input cells into its border; its
    adjoint (this operation) adds every border cell of the canvas onto the cell it was copied from.

    Attributes
    ----------
    index : int
    padding_mode : str
    pads : tuple of (int, int)
        Per axis, the border cells before and after the output window.
    moves : tuple of FoldMove
        Every border cell that holds a canvas value (C order).
    border : ndarray of bool, full-canvas shape
        The border cells.
    added : ndarray
        Per output cell, the sum of the border values folded onto it.
    before, after : ndarray
        The output before and after the fold.
    """

    kind: ClassVar[StepKind] = StepKind.FOLD
    index: int
    padding_mode: str
    pads: tuple[tuple[int, int], ...]
    moves: tuple[FoldMove, ...]
    border: np.ndarray
    added: np.ndarray
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True, eq=False)
class BiasStep:
    """Step (g): the bias is added to every output cell.

    Attributes
    ----------
    index : int
    bias : float
    before, after : ndarray, output shape
    """

    kind: ClassVar[StepKind] = StepKind.BIAS
    index: int
    bias: float
    before: np.ndarray
    after: np.ndarray


Step = Union[DilateKernelStep, ScatterStep, FullCanvasStep, CropStep, OutputPaddingStep, FoldStep, BiasStep]


@dataclass(frozen=True, eq=False)
class Trace(NotebookDisplay):
    """Every step of one plane's transposed convolution, and the result.

    Attributes
    ----------
    problem : Problem
        Operands, parameters, geometry and the ``conv_transpose`` reference.
    steps : tuple of Step
        In order; ``steps[n].index == n``. See the module docstring for which steps appear.
    output : ndarray
        The final array the steps produce (equals ``problem.reference`` up to float rounding).
    """

    problem: Problem
    steps: tuple[Step, ...]
    output: np.ndarray

    @property
    def scatter_steps(self) -> tuple[ScatterStep, ...]:
        """The per-input-element steps, in order."""
        return tuple(step for step in self.steps if isinstance(step, ScatterStep))

    def step(self, kind: StepKind) -> Optional[Step]:
        """The first step of ``kind`` (None if the trace has none)."""
        return next((step for step in self.steps if step.kind is kind), None)

    @property
    def max_abs_difference(self) -> float:
        """Largest ``|output - reference|``."""
        return float(np.max(np.abs(self.output - self.problem.reference)))

    @property
    def matches_reference(self) -> bool:
        """Whether the traced output equals ``conv_transpose`` (to float64 rounding)."""
        return bool(
            np.allclose(self.output, self.problem.reference, rtol=REFERENCE_RTOL, atol=REFERENCE_ATOL)
        )


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------


def _scatter_steps(problem: Problem, first_index: int) -> list[ScatterStep]:
    steps: list[ScatterStep] = []
    running = np.zeros(problem.full_shape)
    tap_positions = [problem.tap_position(tap) for tap in problem.taps]
    for number, element in enumerate(np.ndindex(*problem.input.shape), start=1):
        value = float(problem.input[element])
        offset = tuple(i * s for i, s in zip(element, problem.stride))
        region = tuple(slice(o, o + size) for o, size in zip(offset, problem.dilated_kernel.shape))
        contribution = np.zeros(problem.full_shape)
        contribution[region] = value * problem.dilated_kernel
        running = running + contribution
        steps.append(
            ScatterStep(
                index=first_index + number - 1,
                number=number,
                input_index=tuple(int(i) for i in element),
                input_value=value,
                offset=offset,
                region=region,
                cells=tuple(tuple(o + t for o, t in zip(offset, pos)) for pos in tap_positions),
                contribution=contribution,
                running_sum=running,
            )
        )
    return steps


def _crop_step(problem: Problem, canvas: np.ndarray, index: int) -> CropStep:
    kept = tuple((g.pad_before, g.full - max(g.pad_after, 0)) for g in problem.geometry)
    removed = np.ones(problem.full_shape, dtype=bool)
    keep_slices = tuple(slice(start, max(start, stop)) for start, stop in kept)
    removed[keep_slices] = False
    return CropStep(index=index, padding=problem.padding, kept=kept, removed=removed, cropped=canvas[keep_slices].copy())


def _window(problem: Problem, canvas: np.ndarray) -> np.ndarray:
    """The output window of the canvas; positions past the canvas (output_padding) are zero."""
    result = np.zeros(problem.output_shape)
    source = tuple(slice(g.padding, min(g.full, g.padding + g.output)) for g in problem.geometry)
    target = tuple(slice(0, max(0, s.stop - s.start)) for s in source)
    result[target] = canvas[source]
    return result


def _output_padding_step(problem: Problem, result: np.ndarray, index: int) -> OutputPaddingStep:
    added = tuple(range(max(0, g.output - extra), g.output) for g, extra in zip(problem.geometry, problem.added))
    origins = np.empty(problem.output_shape, dtype=object)
    origins.fill(CellOrigin.KEPT)  # np.full would turn the str-enum into a truncated string
    cells = []
    for out_index in np.ndindex(*problem.output_shape):
        if not any(o in rng for o, rng in zip(out_index, added)):
            continue
        canvas_index = tuple(int(o) + g.padding for o, g in zip(out_index, problem.geometry))
        inside = all(c < g.full for c, g in zip(canvas_index, problem.geometry))
        origin = CellOrigin.RECOVERED if inside else CellOrigin.BIAS_ONLY
        origins[out_index] = origin
        cells.append(
            OutputPaddingCell(
                output_index=tuple(int(o) for o in out_index),
                canvas_index=canvas_index,
                origin=origin,
                value=float(result[out_index]),
            )
        )
    return OutputPaddingStep(
        index=index,
        output_padding=problem.added,
        added=added,
        cells=tuple(cells),
        origins=origins,
        result=result,
    )


def _fold_step(problem: Problem, canvas: np.ndarray, result: np.ndarray, index: int) -> FoldStep:
    pads = tuple((before, max(after, 0)) for before, after in problem.pads)
    border = np.zeros(problem.full_shape, dtype=bool)
    added = np.zeros(problem.output_shape)
    moves = []
    for canvas_index, output_index in fold_sources(pads, problem.output_shape, problem.padding_mode):
        if all(c < n for c, n in zip(canvas_index, problem.full_shape)):  # past the canvas: zeros
            border[canvas_index] = True
            added[output_index] += canvas[canvas_index]
            moves.append(FoldMove(canvas_index, output_index, float(canvas[canvas_index])))
    return FoldStep(
        index=index, padding_mode=problem.padding_mode, pads=pads, moves=tuple(moves), border=border,
        added=added, before=result, after=result + added,
    )


def trace_problem(problem: Problem) -> Trace:
    """Build the :class:`Trace` of a validated :class:`Problem` (see :func:`build_trace`)."""
    steps: list[Step] = [
        DilateKernelStep(
            index=0,
            kernel=problem.kernel,
            dilated=problem.dilated_kernel,
            dilation=problem.dilation,
            tap_positions=tuple(problem.tap_position(tap) for tap in problem.taps),
        )
    ]
    scatter = _scatter_steps(problem, first_index=1)
    steps.extend(scatter)
    canvas = scatter[-1].running_sum
    steps.append(FullCanvasStep(index=len(steps), canvas=canvas))
    has_border = any(before > 0 or after > 0 for before, after in problem.pads)
    if has_border:
        steps.append(_crop_step(problem, canvas, len(steps)))
    result = _window(problem, canvas)
    if any(problem.added):
        steps.append(_output_padding_step(problem, result, len(steps)))
    if problem.padding_mode != "zeros" and has_border:  # with no border there is nothing to fold
        fold_step = _fold_step(problem, canvas, result, len(steps))
        steps.append(fold_step)
        result = fold_step.after
    if problem.bias is not None:
        with_bias = result + problem.bias
        steps.append(BiasStep(index=len(steps), bias=problem.bias, before=result, after=with_bias))
        result = with_bias
    return Trace(problem=problem, steps=tuple(steps), output=result)


def build_trace(
    input: object,
    kernel: object,
    bias: Optional[float] = None,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    channels: Optional[ChannelSummary] = None,
    padding_mode: str = "zeros",
) -> Trace:
    """Trace a 1-d or 2-d single-plane transposed convolution step by step.

    No size caps are applied here (the CLI's :func:`convtranspose.explain.explain` applies them);
    every scatter step stores two full-canvas arrays, so keep inputs small.

    Parameters
    ----------
    input, kernel : array_like, 1-d or 2-d, same rank
        One input plane and one kernel plane.
    bias : float, optional
    stride, padding, output_padding, dilation : int or tuple of int
        As in ``conv_transpose`` (one value, or one per dimension).
    channels : ChannelSummary, optional
        Carried into ``trace.problem.channels`` for renderers.

    Returns
    -------
    Trace

    Examples
    --------
    >>> t = build_trace([1.0, 2.0], [1.0, 1.0, 1.0], stride=2, padding=1, output_padding=1)
    >>> t.output.tolist()
    [1.0, 3.0, 2.0, 2.0]
    >>> [c.origin.value for c in t.step(StepKind.OUTPUT_PADDING).cells]
    ['recovered']
    >>> t = build_trace([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], padding=1, padding_mode="reflect")
    >>> [(m.canvas_index, m.output_index, m.value) for m in t.step(StepKind.FOLD).moves]
    [((0,), (1,), 1.0), ((4,), (1,), 3.0)]
    >>> t.output.tolist(), t.matches_reference
    ([3.0, 10.0, 5.0], True)
    """
    problem = make_problem(
        input,
        kernel,
        bias,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        channels=channels,
        padding_mode=padding_mode,
    )
    return trace_problem(problem)


def as_grid(array: np.ndarray) -> np.ndarray:
    """View a 1-d array as one row (shape ``(1, n)``); 2-d arrays are returned unchanged."""
    return array[np.newaxis] if array.ndim == 1 else array
