"""Shape arithmetic of transposed convolution: pure functions on integers, no arrays.

Per spatial dimension, with input length ``in``, kernel size ``k``, stride ``s``, padding ``p``,
output padding ``op`` and dilation ``d``::

    full = (in - 1) * s + d * (k - 1) + 1        # every input element's kernel copy, uncropped
    out  = full - 2 * p + op                     # PyTorch's output size
         = (in - 1) * s - 2 * p + d * (k - 1) + op + 1

``full`` is the length of the "full canvas" onto which each input element scatters its (dilated)
kernel copy at offset ``i * s``. ``padding`` then crops ``p`` cells from *both* ends, and
``output_padding`` adds ``op`` cells at the *end* only: it is how a caller picks one of the ``s``
input lengths of an ordinary strided convolution that all map to the same size.

The same functions serve validation, the engine, the CLI and the explainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence, Union

from ._checks import is_int
from .errors import OutputSizeError, ParameterError, ParameterTypeError, ShapeError
from .padding import PaddingArg, axis_padding, normalize_padding
from .spec import MAX_INDEX, ConvTransposeSpec, IntOrTuple, make_spec, normalize_tuple

__all__ = [
    "output_size",
    "output_size_range",
    "output_padding_for",
    "full_size",
    "conv_output_size",
    "AxisGeometry",
    "axis_geometry",
    "uncropped",
    "geometries",
    "resolve_pads",
    "spatial_output_shape",
    "resolve_output_padding",
    "conv_geometry",
]


# --------------------------------------------------------------------------------------------
# Spec-level helpers (used by the functional API, the engine and the explainer)
# --------------------------------------------------------------------------------------------


def full_size(input_size: int, kernel_size: int, stride: int, dilation: int) -> int:
    """Length of the uncropped canvas: ``(in - 1) * s + d * (k - 1) + 1``."""
    return (input_size - 1) * stride + dilation * (kernel_size - 1) + 1


def conv_output_size(input_size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of the *ordinary* convolution with the same parameters (floor division).

    ``floor((in + 2p - d(k-1) - 1) / s) + 1``: the forward convolution whose adjoint a transposed
    convolution is maps its output-sized input back to this length.
    """
    return (input_size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


@dataclass(frozen=True)
class AxisGeometry:
    """Where everything lies along one spatial axis.

    The engine reads only the sizes, ``crop_start`` and ``output``: how the crop was specified
    (PyTorch's symmetric padding, a ``(before, after)`` pair, a form resolved from the kernel)
    does not concern it.

    Attributes
    ----------
    input_size, kernel_size, stride, dilation, output_padding : int
        The axis' parameters.
    pad_before, pad_after : int
        Cells cropped from the start and the end of the full canvas. ``pad_after`` may be
        negative: cells added at the end (as ``output_padding`` adds them).
    full : int
        Uncropped canvas length, ``(in - 1) * s + d * (k - 1) + 1``.
    output : int
        Output length, ``full - pad_before - pad_after + output_padding``.
    canvas : int
        Length of a canvas that holds the full scatter *and* the output window:
        ``max(full, pad_before + output)`` (the end may reach past ``full``).
    """

    input_size: int
    kernel_size: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    output_padding: int
    full: int
    output: int
    canvas: int

    @property
    def crop_start(self) -> int:
        """First canvas index kept in the output (``== pad_before``)."""
        return self.pad_before

    @property
    def padding(self) -> int:
        """PyTorch's (symmetric) padding of this axis, i.e. the crop at the start."""
        return self.pad_before

    @property
    def covers_canvas(self) -> bool:
        """True when the output is exactly the full canvas (nothing cropped, nothing added)."""
        return self.pad_before == 0 and self.output == self.full

    def tap_slice(self, tap: int) -> slice:
        """Canvas positions written by kernel tap ``tap`` for input positions ``0..in-1``."""
        start = tap * self.dilation
        return slice(start, start + (self.input_size - 1) * self.stride + 1, self.stride)

    @property
    def output_slice(self) -> slice:
        """Canvas positions that form the output."""
        return slice(self.crop_start, self.crop_start + self.output)


def axis_geometry(
    input_size: int,
    kernel_size: int,
    stride: int,
    padding: Union[int, tuple[int, int]],
    output_padding: int,
    dilation: int,
) -> AxisGeometry:
    """Compute the :class:`AxisGeometry` of one axis (no validation; may give ``output <= 0``).

    ``padding`` is PyTorch's symmetric int or a ``(before, after)`` pair.
    """
    before, after = (padding, padding) if isinstance(padding, int) else padding
    full = full_size(input_size, kernel_size, stride, dilation)
    out = full - before - after + output_padding
    return AxisGeometry(
        input_size=input_size,
        kernel_size=kernel_size,
        stride=stride,
        dilation=dilation,
        pad_before=before,
        pad_after=after,
        output_padding=output_padding,
        full=full,
        output=out,
        canvas=max(full, before + out),
    )


def uncropped(g: AxisGeometry) -> AxisGeometry:
    """``g`` with nothing cropped: the canvas a padding mode folds, ``pad_before + output +
    max(pad_after, 0)`` cells (cells ``'same'`` adds at the end count as output padding).

    Its position ``c`` is ``g``'s output position ``c - g.pad_before``.

    Examples
    --------
    >>> g = axis_geometry(4, 3, 2, (1, 2), 1, 1)
    >>> g.output, uncropped(g).output
    (7, 10)
    """
    return axis_geometry(g.input_size, g.kernel_size, g.stride, 0, g.output_padding + max(-g.pad_after, 0), g.dilation)


def resolve_pads(spec: ConvTransposeSpec, kernel_spatial: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Per-axis ``(before, after)`` crops of a call (a form that depends on the kernel is resolved here).

    ``'same'`` crops ``total = d·(k - 1) + 1 - s + output_padding`` cells, the odd one at the end
    (``'same_lower'``: at the start); when ``total < 0`` the ``after`` crop is negative: ``-total``
    cells are added at the end, as output_padding adds them. See :mod:`convtranspose.padding`.

    Examples
    --------
    >>> resolve_pads(make_spec(2, padding=(1, 0)), (3, 3))
    ((1, 1), (0, 0))
    >>> resolve_pads(make_spec(2, stride=2, padding="same"), (3, 1))
    ((0, 1), (0, -1))
    """
    if spec.padding_form == "explicit":
        return spec.pads
    pairs = []
    for k, s, d, op in zip(kernel_spatial, spec.stride, spec.dilation, spec.output_padding):
        before, after, op_eff = axis_padding(spec.padding_form, 0, k, s, d, op)
        pairs.append((before, after - (op_eff - op)))
    return tuple(pairs)


def geometries(
    input_spatial: Sequence[int], kernel_spatial: Sequence[int], spec: ConvTransposeSpec
) -> tuple[AxisGeometry, ...]:
    """One :class:`AxisGeometry` per spatial axis."""
    return _geometries(tuple(int(n) for n in input_spatial), tuple(int(k) for k in kernel_spatial), spec)


@lru_cache(maxsize=1024)
def _geometries(
    input_spatial: tuple[int, ...], kernel_spatial: tuple[int, ...], spec: ConvTransposeSpec
) -> tuple[AxisGeometry, ...]:
    return tuple(
        axis_geometry(n, k, s, pads, op, d)
        for n, k, s, pads, op, d in zip(
            input_spatial, kernel_spatial, spec.stride, resolve_pads(spec, kernel_spatial), spec.output_padding,
            spec.dilation,
        )
    )


def _fmt(values: Sequence[int]) -> str:
    return str(tuple(int(v) for v in values))


def spatial_output_shape(
    input_spatial: Sequence[int], kernel_spatial: Sequence[int], spec: ConvTransposeSpec
) -> tuple[int, ...]:
    """Spatial output shape, raising :class:`OutputSizeError` if any length is not positive."""
    geo = geometries(input_spatial, kernel_spatial, spec)
    out = tuple(g.output for g in geo)
    too_long = [(axis, g.canvas) for axis, g in enumerate(geo) if g.canvas > MAX_INDEX]
    if too_long:
        axis, length = too_long[0]
        raise OutputSizeError(
            f"the canvas of dimension {axis} would be {length} long (output size {_fmt(out)}) for an input of "
            f"{_fmt(input_spatial)} with kernel_size={_fmt(kernel_spatial)}, stride={spec.stride}, "
            f"padding={spec.padding}, output_padding={spec.output_padding}, dilation={spec.dilation}; "
            f"at most 2**62 = {MAX_INDEX} positions per dimension are supported"
        )
    if any(o <= 0 for o in out):
        if all(before == after for before, after in spec.pads):
            limit = f"padding may be at most {_fmt(tuple((g.full + g.output_padding - 1) // 2 for g in geo))}"
        else:
            limit = f"before + after may be at most {_fmt(tuple(g.full + g.output_padding - 1 for g in geo))}"
        raise OutputSizeError(
            f"computed output size {_fmt(out)} is too small (must be >= 1 in every dimension) "
            f"for an input of {_fmt(input_spatial)} with kernel_size={_fmt(kernel_spatial)}, "
            f"stride={spec.stride}, padding={spec.padding!r}, output_padding={spec.output_padding}, "
            f"dilation={spec.dilation}; {limit} here"
        )
    return out


def _output_range(
    input_spatial: Sequence[int], kernel_spatial: Sequence[int], spec: ConvTransposeSpec
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PyTorch's valid ``output_size`` range: ``[min, min + stride - 1]`` with ``min`` at op = 0."""
    pads = resolve_pads(spec, kernel_spatial)
    mins = tuple(
        full_size(n, k, s, d) - before - after
        for n, k, s, (before, after), d in zip(input_spatial, kernel_spatial, spec.stride, pads, spec.dilation)
    )
    if spec.padding_form in ("same", "same_lower"):  # output_padding moves the crop, not the size
        return mins, mins
    maxs = tuple(m + s - 1 for m, s in zip(mins, spec.stride))
    return mins, maxs


def resolve_output_padding(
    input_spatial: Sequence[int],
    kernel_spatial: Sequence[int],
    spec: ConvTransposeSpec,
    requested: Sequence[int],
    non_spatial: int = 2,
) -> tuple[int, ...]:
    """The ``output_padding`` that makes the output exactly ``requested`` (PyTorch's rule).

    ``requested`` may hold the spatial sizes only, or also the ``non_spatial`` leading sizes
    (batch and channel, ``2``, for a batched input; channel only, ``1``, for an unbatched one),
    which are then ignored, as in PyTorch. ``spec.output_padding`` is ignored.

    Raises
    ------
    OutputSizeError
        "requested an output size of ..., but valid sizes range from ... to ... (for an input of ...)".
    """
    ndim = spec.ndim
    if isinstance(requested, (str, bytes)) or not isinstance(requested, Sequence):
        raise ParameterTypeError(
            f"output_size must be a sequence of {ndim} (or {ndim + non_spatial}) ints, got {requested!r}"
        )
    sizes = list(requested)
    if not all(is_int(v) for v in sizes):
        raise ParameterTypeError(f"output_size must contain only ints, got output_size={tuple(sizes)!r}")
    if len(sizes) == ndim + non_spatial:
        sizes = sizes[non_spatial:]
    if len(sizes) != ndim:
        raise ParameterError(
            f"for {ndim}-d transposed convolution, output_size must have {ndim} or {ndim + non_spatial} "
            f"elements (got {len(sizes)}: output_size={tuple(requested)!r})"
        )
    sizes_t = tuple(int(v) for v in sizes)
    mins, maxs = _output_range(input_spatial, kernel_spatial, spec)
    if spec.padding_form in ("same", "same_lower") and sizes_t != mins:
        raise OutputSizeError(
            f"padding={spec.padding_form!r} gives exactly input · stride = {_fmt(mins)} cells, but "
            f"output_size={_fmt(sizes_t)} was requested (for an input of {_fmt(input_spatial)})"
        )
    if any(not (lo <= v <= hi) for v, lo, hi in zip(sizes_t, mins, maxs)) or any(v <= 0 for v in sizes_t):
        raise OutputSizeError(
            f"requested an output size of {_fmt(sizes_t)}, but valid sizes range from {_fmt(mins)} "
            f"to {_fmt(maxs)} (for an input of {_fmt(input_spatial)})"
        )
    return tuple(v - lo for v, lo in zip(sizes_t, mins))


# --------------------------------------------------------------------------------------------
# Public int-or-tuple functions
# --------------------------------------------------------------------------------------------

SizeResult = Union[int, tuple[int, ...]]


def _broadcast_ndim(*values: object) -> tuple[int, bool]:
    """Number of dimensions implied by the tuple arguments (1 if all are ints)."""
    lengths = {len(v) for v in values if not is_int(v) and isinstance(v, Sequence) and not isinstance(v, str)}
    if len(lengths) > 1:
        raise ParameterError(f"per-dimension arguments disagree on the number of dimensions: {sorted(lengths)}")
    if lengths:
        return lengths.pop(), True
    return 1, False


def _sizes(value: IntOrTuple, ndim: int, name: str) -> tuple[int, ...]:
    sizes = normalize_tuple(value, ndim, name)
    if any(v < 1 for v in sizes):
        raise ParameterError(f"{name} must be positive (>= 1), got {name}={value!r}")
    return sizes


def output_size(
    input_size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> SizeResult:
    """Output size of a transposed convolution, per dimension.

    ``out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``

    Parameters
    ----------
    input_size, kernel_size, stride, padding, output_padding, dilation : int or tuple of int
        Ints apply to every dimension; tuples give one value per dimension.

    Returns
    -------
    int or tuple of int
        An int when every argument is an int, else a tuple.

    Raises
    ------
    ParameterError, OutputSizeError
        On values PyTorch rejects, or a non-positive result.

    Examples
    --------
    >>> output_size(16, kernel_size=4, stride=2, padding=1)
    32
    >>> output_size((2, 2), kernel_size=2, stride=(1, 2))
    (3, 4)
    """
    ndim, as_tuple = _broadcast_ndim(input_size, kernel_size, stride, padding, output_padding, dilation)
    spec = make_spec(ndim, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    result = spatial_output_shape(
        _sizes(input_size, ndim, "input_size"), _sizes(kernel_size, ndim, "kernel_size"), spec
    )
    return result if as_tuple else result[0]


def output_size_range(
    input_size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    dilation: IntOrTuple = 1,
) -> tuple[SizeResult, SizeResult]:
    """Smallest and largest output size reachable through ``output_padding`` (PyTorch's range).

    The smallest is the formula with ``output_padding = 0``; the largest adds ``stride - 1``. As in
    PyTorch's own range, sizes below 1 are not removed: ``output_size`` rejects them.

    Examples
    --------
    >>> output_size_range(16, kernel_size=3, stride=2, padding=1)
    (31, 32)
    """
    ndim, as_tuple = _broadcast_ndim(input_size, kernel_size, stride, padding, dilation)
    spec = make_spec(ndim, stride=stride, padding=padding, dilation=dilation)
    mins, maxs = _output_range(
        _sizes(input_size, ndim, "input_size"), _sizes(kernel_size, ndim, "kernel_size"), spec
    )
    return (mins, maxs) if as_tuple else (mins[0], maxs[0])


def output_padding_for(
    input_size: IntOrTuple,
    output_size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    dilation: IntOrTuple = 1,
) -> SizeResult:
    """The ``output_padding`` that gives the requested ``output_size`` (PyTorch's resolution).

    Raises
    ------
    OutputSizeError
        If ``output_size`` lies outside ``output_size_range(...)``, with PyTorch's message.

    Examples
    --------
    >>> output_padding_for(16, 32, kernel_size=3, stride=2, padding=1)
    1
    """
    ndim, as_tuple = _broadcast_ndim(input_size, output_size, kernel_size, stride, padding, dilation)
    spec = make_spec(ndim, stride=stride, padding=padding, dilation=dilation)
    result = resolve_output_padding(
        _sizes(input_size, ndim, "input_size"),
        _sizes(kernel_size, ndim, "kernel_size"),
        spec,
        normalize_tuple(output_size, ndim, "output_size"),
    )
    return result if as_tuple else result[0]


# --------------------------------------------------------------------------------------------
# The paired ordinary convolution's sizes (for ``functional.conv``)
# --------------------------------------------------------------------------------------------


def conv_geometry(
    spatial: tuple[int, ...], kernel: tuple[int, ...], stride: IntOrTuple, padding: PaddingArg, dilation: IntOrTuple,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Output size of the ordinary convolution of ``spatial``, and the ``output_padding`` that maps it back.

    Per axis, with ``(b, a)`` the pads::

        out = floor((in + b + a - d * (k - 1) - 1) / s) + 1
        output_padding = in - ((out - 1) * s - b - a + d * (k - 1) + 1)

    With ``'same'``/``'same_lower'``, ``out = in / s`` (``in`` must be a multiple of ``s``) and
    ``output_padding`` is 0, since :func:`conv_transpose` with ``'same'`` maps ``out`` to ``out * s``.

    Examples
    --------
    >>> conv_geometry((8,), (3,), 2, 1, 1)
    ((4,), (1,))
    >>> conv_geometry((8, 9), (3, 3), (2, 3), "same", 1)
    ((4, 3), (0, 0))
    """
    ndim = len(kernel)
    stride_t, dilation_t = normalize_tuple(stride, ndim, "stride"), normalize_tuple(dilation, ndim, "dilation")
    form = normalize_padding(padding, ndim)
    if form in ("same", "same_lower"):
        bad = [axis for axis, (n, s) in enumerate(zip(spatial, stride_t)) if n % s]
        if bad:
            raise ShapeError(
                f"conv with padding={form!r} needs every spatial size to be a multiple of its stride (the transposed "
                f"convolution maps n to n * stride), got sizes {spatial} for stride {stride_t}"
            )
        return tuple(n // s for n, s in zip(spatial, stride_t)), (0,) * ndim
    pads = ((0, 0),) * ndim if isinstance(form, str) else form  # 'valid' crops nothing
    out, output_padding = [], []
    for axis, (n, k, s, d, (b, a)) in enumerate(zip(spatial, kernel, stride_t, dilation_t, pads)):
        span = n + b + a - d * (k - 1) - 1
        if span < 0:
            raise ShapeError(
                f"conv: the padded input along spatial dimension {axis} ({n} + {b} + {a}) is shorter than the dilated "
                f"kernel ({d * (k - 1) + 1})"
            )
        length = span // s + 1
        out.append(length)
        output_padding.append(n - ((length - 1) * s - b - a + d * (k - 1) + 1))
    return tuple(out), tuple(output_padding)
