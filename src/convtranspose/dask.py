"""Transposed convolution of dask arrays: lazy, chunk by chunk, any chunking.

``conv_transpose(x, weight, bias, ...)`` with ``x`` a ``dask.array.Array`` (batched
``(N, C_in, *S)`` or unbatched ``(C_in, *S)``) and ``weight``/``bias`` in-memory arrays returns a
lazy ``dask.array.Array`` with the shape, dtype and values of the in-memory call
:func:`convtranspose.conv_transpose`. The call is validated when the graph is built, by the same
checks as the in-memory call (the same error classes and messages); nothing is computed until the
result is.

How each output chunk is computed
    Along one spatial axis, output position ``o`` is canvas position ``c = o + crop_start`` (the
    "full canvas" of :mod:`convtranspose.shape`, cropped by ``crop_start`` cells at the start), and
    input element ``i`` writes canvas positions ``i * s + t * d`` for the taps ``t = 0 .. k - 1``. So
    the output chunk ``[o0, o1)`` -- canvas ``[c0, c1)`` -- is reached by exactly the inputs

        lo = max(0, ceil((c0 - d * (k - 1)) / s)),   hi = min(n, floor((c1 - 1) / s) + 1)

    (a halo of ``ceil((d * (k - 1) - crop_start) / s)``-ish cells on one side and
    ``crop_start / s``-ish on the other, computed exactly per chunk). The window ``x[lo:hi]`` is
    cut out of however many input chunks it overlaps (each one sliced first, in its own small task,
    so that only the needed strip travels between workers), transformed by an in-memory call with
    no crop, which gives canvas ``[lo * s, lo * s + (hi - lo - 1) * s + d * (k - 1) + 1)``, and sliced
    to ``[c0, c1)``. Output cells that no input reaches (gaps when the stride exceeds the dilated
    kernel, ``output_padding`` cells) hold the bias, as in the in-memory call. Because only
    ``crop_start`` and the output length enter, every padding form is just other numbers. Input
    chunks of any size work, including chunks smaller than the halo (``map_overlap`` is not used).

Chunks
    Batch chunks map one to one. Spatial output chunks follow the input's (each input chunk
    boundary ``b`` becomes ``b * stride``, so regular chunks stay regular) unless ``chunks=``
    gives them explicitly.
    Channels: a group's output needs all of that group's input channels, so the channel axis is
    rechunked to whole groups (each input channel chunk boundary is rounded down to a group
    boundary): with ``groups=1`` one channel chunk, depthwise layers keep their channel chunks.
    Output channel chunks are the same groups' output channels. (A reduction across channel chunks
    would instead keep the input's channel chunks but hold one partial output per chunk; for the
    channel counts of upsampling layers the rechunk is cheaper.)

Several layers in a row
    Applying layers one after the other stores each intermediate activation in chunks, and each
    of its chunks stays alive until the next layer's chunks around it have cut their halo strips
    from it: a band of intermediate chunks across the image's whole width (and a band of bands for
    volumes). :func:`chain` fuses the layers instead: each final output chunk is one task that runs
    every layer on that chunk's receptive field in the first input, recomputing the thin halos, so
    memory stays bounded by the chunk size (see its docstring).

Padding modes
    ``'reflect'``, ``'replicate'`` and ``'circular'`` follow the definition
    (:func:`convtranspose.padding.fold`): the uncropped canvas, computed like any output with the border
    cells in chunks of their own, then each axis' border folded onto the cells the paired
    convolution's padding copied it from (circular wraps to the opposite edge), then the bias. The
    fold touches only the output chunks that receive border cells. :func:`conv` pads its input
    lazily with the mode (``dask.array.pad``). :func:`chain` takes only ``'zeros'`` layers: a fold
    at the global border is not local to a tile.

Needs the ``dask`` extra (``pip install "convtranspose[dask]"``). Nothing else in the library
imports dask; :class:`convtranspose.ConvTranspose2d` and friends call this module when they are
given a dask array.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, replace
from itertools import accumulate, product
from typing import Any, Optional, Sequence, Union, cast

import numpy as np

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .errors import ConvTransposeError, DTypeError, ParameterError, ParameterTypeError, ShapeError
from ._checks import as_array
from .functional import conv as in_memory_conv
from .functional import conv_shapes
from .functional import conv_transpose as _in_memory
from .plan import Hyper, Plan, as_operand, build_plan
from .padding import NUMPY_PAD_MODES, PADDING_MODES, PaddingArg, normalize_padding_mode
from .shape import AxisGeometry
from .spec import ConvTransposeSpec, IntOrTuple

__all__ = ["conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv", "chain", "PADDING_MODES"]



# --------------------------------------------------------------------------------------------
# Index arithmetic along one axis (pure; no dask)
# --------------------------------------------------------------------------------------------


def _bounds(chunks: Sequence[int]) -> list[int]:
    """Chunk boundaries ``[0, c0, c0 + c1, ..., total]``."""
    return [0, *accumulate(chunks)]


def _reach(geo: AxisGeometry, o0: int, o1: int) -> tuple[int, int]:
    """Input range ``[lo, hi)`` whose kernel copies reach output cells ``[o0, o1)`` (may be empty)."""
    c0, c1 = o0 + geo.crop_start, o1 + geo.crop_start
    span = geo.dilation * (geo.kernel_size - 1)
    lo = max(0, -((span - c0) // geo.stride))  # ceil((c0 - span) / s)
    hi = min(geo.input_size, (c1 - 1) // geo.stride + 1)
    return lo, max(lo, hi)


def _placement(geo: AxisGeometry, o0: int, o1: int, lo: int, hi: int) -> tuple[slice, slice]:
    """Where the uncropped transform of ``x[lo:hi]`` lands in output chunk ``[o0, o1)``.

    Returns ``(source, destination)``: ``local[source]`` goes to ``block[destination]``.
    """
    local_start = lo * geo.stride  # canvas position of the local transform's first cell
    local_len = (hi - lo - 1) * geo.stride + geo.dilation * (geo.kernel_size - 1) + 1
    c0, c1 = o0 + geo.crop_start, o1 + geo.crop_start
    first, last = max(c0, local_start), min(c1, local_start + local_len)
    return slice(first - local_start, last - local_start), slice(first - c0, last - c0)


def _default_chunks(geo: AxisGeometry, in_chunks: Sequence[int]) -> tuple[int, ...]:
    """Output chunks that follow the input's: boundary ``b`` becomes ``b * stride`` (clipped).

    Regular input chunks give regular output chunks (as Zarr wants), ``stride`` times as long.
    """
    inner = [min(b * geo.stride, geo.output) for b in _bounds(in_chunks)[1:-1]]
    edges = sorted({0, geo.output, *inner})
    return tuple(b - a for a, b in zip(edges, edges[1:]))


def _group_chunks(chunks: Sequence[int], per_group: int) -> tuple[int, ...]:
    """Channel chunks rounded down to whole groups of ``per_group`` channels."""
    bounds = _bounds(chunks)
    edges = sorted({(b // per_group) * per_group for b in bounds} | {bounds[-1]})
    return tuple(b - a for a, b in zip(edges, edges[1:]))


# --------------------------------------------------------------------------------------------
# Tasks (module-level functions: they are pickled to distributed workers)
# --------------------------------------------------------------------------------------------


def _take(block: np.ndarray, index: tuple[slice, ...]) -> np.ndarray:
    """The part of an input chunk that a window needs (a copy, so the chunk can be freed)."""
    return block[index].copy()


def _concatenate(parts: Any, axis: int) -> np.ndarray:
    """Join a nested list of arrays, the outer list along ``axis``, the next along ``axis + 1``, ..."""
    if isinstance(parts, np.ndarray):
        return parts
    if len(parts) == 1:
        return _concatenate(parts[0], axis + 1)
    return np.concatenate([_concatenate(p, axis + 1) for p in parts], axis=axis)


def _block(
    parts: Any,
    weight: np.ndarray,
    bias: Optional[np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype,
    placements: tuple[tuple[slice, slice], ...],
    groups: int,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """One output chunk: the in-memory transform of its input window, placed in the chunk."""
    if parts is None:  # no input reaches this chunk: bias (or zeros) only
        return _filled(shape, dtype, bias)
    window = _concatenate(parts, 2)
    local = _in_memory(window, weight, bias, stride=stride, groups=groups, dilation=dilation)
    source, destination = tuple(p[0] for p in placements), tuple(p[1] for p in placements)
    head = (slice(None), slice(None))
    if all(d.start == 0 and d.stop == n for d, n in zip(destination, shape[2:])):
        return np.ascontiguousarray(local[head + source])
    out = _filled(shape, dtype, bias)
    out[head + destination] = local[head + source]
    return out


def _filled(shape: tuple[int, ...], dtype: np.dtype, bias: Optional[np.ndarray]) -> np.ndarray:
    out = np.zeros(shape, dtype)
    if bias is not None:
        out += bias.reshape((-1,) + (1,) * (len(shape) - 2))
    return out


# --------------------------------------------------------------------------------------------
# Graph construction
# --------------------------------------------------------------------------------------------


def _dask_input(op: str, input: object, otherwise: str) -> Any:
    """``input`` if it is a dask array of known shape, else the error that says so."""
    if not isinstance(input, da.Array):
        raise ParameterTypeError(f"{op}: input must be a dask.array.Array ({otherwise}), got {type(input).__name__}")
    if any(math.isnan(n) for n in input.shape):
        raise ShapeError(
            f"{op}: the input's shape {input.shape} has unknown sizes; call input.compute_chunk_sizes() first"
        )
    return input


def _check_padding_mode(op: str, padding_mode: object) -> None:
    """Only 'zeros' in :func:`chain`; an unknown mode gets the in-memory error."""
    if normalize_padding_mode(padding_mode) != "zeros":
        raise ParameterError(
            f"{op}: padding_mode={padding_mode!r} is not supported in a chain (only 'zeros'): its fold at the "
            f"global border is not local to a tile; apply this layer on its own (convtranspose.dask.conv_transpose "
            f"computes every mode)"
        )


def _output_chunks(
    op: str, chunks: object, geos: Sequence[Any], in_chunks: tuple[tuple[int, ...], ...], dtype: np.dtype
) -> tuple[tuple[int, ...], ...]:
    """The spatial output chunks: the input's, mapped, or the caller's ``chunks``."""
    if chunks is None:
        return tuple(_default_chunks(g, c) for g, c in zip(geos, in_chunks))
    shape = tuple(g.output for g in geos)
    if isinstance(chunks, (str, int)) or not isinstance(chunks, Sequence) or len(chunks) != len(geos):
        raise ParameterError(
            f"{op}: chunks must give the output chunks of each of the {len(geos)} spatial dimensions "
            f"(an int, -1 or a tuple of sizes per dimension), got chunks={chunks!r} for an output of {shape}"
        )
    try:
        return da.core.normalize_chunks(tuple(chunks), shape=shape, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{op}: invalid chunks={chunks!r} for a spatial output of {shape} ({exc})") from exc


def _plan(
    op: str, ndim: Optional[int], x: Any, weight: object, bias: object,
    hyper: Union[ConvTransposeSpec, Hyper], output_size: Optional[Sequence[int]],
) -> tuple[Plan, np.ndarray, Optional[np.ndarray]]:
    """The in-memory call's validation, in its order, from the dask input's shape and dtype."""
    as_operand("input", np.empty(0, x.dtype))  # the dtype rule (an empty array of x's dtype)
    w = as_operand("weight", weight)
    b = None if bias is None else as_operand("bias", bias)
    plan = build_plan(
        op, ndim, tuple(x.shape), x.dtype, w.shape, w.dtype,
        None if b is None else b.shape, None if b is None else b.dtype, hyper, output_size,
    )
    return plan, w, b


def _lazy(
    op: str,
    ndim: Optional[int],
    input: object,
    weight: object,
    bias: object,
    hyper: Union[ConvTransposeSpec, Hyper],
    output_size: Optional[Sequence[int]],
    padding_mode: object,
    chunks: object,
) -> da.Array:
    x = _dask_input(op, input, f"use convtranspose.{op} for in-memory arrays")
    if not isinstance(hyper, ConvTransposeSpec):
        hyper = (*hyper, padding_mode)  # the mode is validated with the rest, by the in-memory rules
    plan, w, b = _plan(op, ndim, x, weight, bias, hyper, output_size)
    if plan.unbatched:
        x = x[np.newaxis]
    spatial_out = _output_chunks(op, chunks, plan.geometry, x.chunks[2:], plan.result_dtype)
    if plan.fold_mode != "zeros":
        result = _folded(op, plan, x, w, b, spatial_out)
    else:
        result = _zeros_mode(op, plan, x, w, b, spatial_out)
    return result[0] if plan.unbatched else result


def _zeros_mode(
    op: str, plan: Plan, x: Any, w: np.ndarray, b: Optional[np.ndarray], spatial_out: tuple[tuple[int, ...], ...],
) -> da.Array:
    """The cropped transposed convolution of the batched ``x``: one task per output chunk."""
    spec, geos = plan.spec, plan.geometry
    # Channels: whole groups per chunk.
    in_per_group, out_per_group = x.shape[1] // spec.groups, w.shape[1]
    channel_chunks = _group_chunks(x.chunks[1], in_per_group)
    if channel_chunks != x.chunks[1]:
        x = x.rechunk({1: channel_chunks})
    windows = [
        [_reach(geo, o0, o1) + (_placement(geo, o0, o1, *_reach(geo, o0, o1)),) for o0, o1 in _pairs(o_chunks)]
        for geo, o_chunks in zip(geos, spatial_out)
    ]
    return _graph(
        op, x, _channel_params(w, b, channel_chunks, in_per_group, out_per_group),
        tuple(c // in_per_group * out_per_group for c in channel_chunks), spatial_out, windows, plan.result_dtype,
        _block, (spec.stride, spec.dilation),
    )


def _folded(
    op: str, plan: Plan, x: Any, w: np.ndarray, b: Optional[np.ndarray], spatial_out: tuple[tuple[int, ...], ...],
) -> da.Array:
    """A padding mode: the uncropped canvas, its border folded at the global border, then the bias.

    The fold's definition (:func:`convtranspose.padding.fold`), lazily: the canvas is the zeros-mode
    call with no crop (and the fold's output padding), chunked as ``(before, *output chunks,
    after)`` along each axis so that its interior has exactly the output's chunks; then each
    axis' border slabs (thin) are added onto the cells the paired convolution's padding copied them
    from (:func:`_fold_axis`), axis after axis like :func:`convtranspose.padding.fold`. Only the
    output chunks that receive border cells get extra tasks.
    """
    pads, ops = plan.fold_pads
    canvas_spec = replace(
        plan.spec, pads=((0, 0),) * plan.ndim, output_padding=ops, padding_mode="zeros", padding_form="explicit"
    )
    canvas_plan, _, _ = _plan(op, None, x, w, None, canvas_spec, None)
    canvas_chunks = tuple(
        tuple(c for c in (before, *chunks, after) if c) for (before, after), chunks in zip(pads, spatial_out)
    )
    result = _zeros_mode(op, canvas_plan, x, w, None, canvas_chunks)
    for axis, (before, after) in enumerate(pads, start=2):
        result = _fold_axis(result, axis, before, after, plan.spec.padding_mode)
    if b is not None:
        result = result + b.reshape((-1,) + (1,) * plan.ndim)
    return result


def _fold_axis(canvas: da.Array, axis: int, before: int, after: int, mode: str) -> da.Array:
    """One axis of :func:`convtranspose.padding.fold` on a dask array (the interior, a new array).

    circular: ``x[out-b:] += B``, ``x[:a] += A``; reflect: ``x[1:b+1] += B[::-1]``,
    ``x[out-1-a:out-1] += A[::-1]``; replicate: ``x[0] += sum(B)``, ``x[out-1] += sum(A)``.
    """
    length = canvas.shape[axis]
    out = length - before - after

    def cut(start: int, stop: int) -> tuple[slice, ...]:
        index = [slice(None)] * canvas.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    inner = canvas[cut(before, before + out)]
    chunks = inner.chunks[axis]
    for width, border, first in ((before, cut(0, before), True), (after, cut(before + out, length), False)):
        if not width:
            continue
        value = canvas[border]
        if mode == "circular":
            start = out - width if first else 0
        elif mode == "reflect":
            start, value = (1 if first else out - 1 - width), da.flip(value, axis)
        else:  # replicate
            start, value = (0 if first else out - 1), value.sum(axis=axis, keepdims=True)
        stop = start + value.shape[axis]
        # inner[start:stop] += value, as a concatenation (dask's __setitem__ declares wrong layer
        # dependencies for some of these slices); only the chunks around [start, stop) change.
        pieces = [inner[cut(0, start)], inner[cut(start, stop)] + value, inner[cut(stop, out)]]
        inner = da.concatenate([piece for piece in pieces if piece.shape[axis]], axis=axis)
    return inner.rechunk({axis: chunks})


def _pairs(chunks: Sequence[int]) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of each chunk."""
    bounds = _bounds(chunks)
    return list(zip(bounds, bounds[1:]))


def _channel_params(
    w: np.ndarray, b: Optional[np.ndarray], channel_chunks: tuple[int, ...], in_per_group: int, out_per_group: int,
) -> list[tuple[np.ndarray, Optional[np.ndarray], int]]:
    """Per channel chunk (whole groups): its slice of the weight and bias, and its number of groups.

    The weight's first axis is grouped in blocks of ``w.shape[0] // groups`` rows: the input
    channels of a transposed convolution, the output channels of a convolution.
    """
    rows = w.shape[0] // (sum(channel_chunks) // in_per_group)
    params = []
    for c0, c1 in _pairs(channel_chunks):
        g0, g1 = c0 // in_per_group, c1 // in_per_group
        params.append((
            np.ascontiguousarray(w[g0 * rows:g1 * rows]),
            None if b is None else np.ascontiguousarray(b[g0 * out_per_group:g1 * out_per_group]),
            g1 - g0,
        ))
    return params


def _graph(
    op: str,
    x: Any,
    params: Sequence[tuple[Any, Any, int]],
    out_channel_chunks: tuple[int, ...],
    spatial_out: tuple[tuple[int, ...], ...],
    windows: list[list[tuple[int, int, Any]]],
    dtype: np.dtype,
    block: Any,
    extra: tuple,
) -> da.Array:
    """The lazy result: one ``block`` task per output chunk, fed by its input window.

    ``windows[axis][j]`` is ``(lo, hi, info)``: output chunk ``j`` along ``axis`` reads input cells
    ``[lo, hi)`` (none when ``lo == hi``), and ``info`` tells ``block`` where they go. ``params[ci]``
    is ``(weight, bias, groups)`` of the input's channel chunk ``ci`` (whose output channels are
    ``out_channel_chunks[ci]``). ``block(parts, weight, bias, shape, dtype, infos, groups, *extra)``
    computes one chunk, with ``parts`` None when no input reaches it.
    """
    nd = len(spatial_out)
    out_chunks = (x.chunks[0], out_channel_chunks) + spatial_out
    token = tokenize(x.name, params, spatial_out, windows, op, extra)
    name, part_name, param_name = f"{op}-{token}", f"{op}-window-{token}", f"{op}-weight-{token}"
    graph: dict[Any, Any] = {}
    for ci, (weight, bias, _) in enumerate(params):
        graph[(param_name, "w", ci)] = weight
        graph[(param_name, "b", ci)] = bias

    # Per spatial axis and output chunk: the input chunks the window overlaps, and the part of each.
    pieces: list[list[Any]] = []
    for in_chunks, entries in zip(x.chunks[2:], windows):
        in_bounds = _bounds(in_chunks)
        axis_pieces: list[Any] = []
        for lo, hi, _ in entries:
            if lo >= hi:
                axis_pieces.append(None)
                continue
            first, last = bisect_right(in_bounds, lo) - 1, bisect_right(in_bounds, hi - 1) - 1
            axis_pieces.append([
                (j, slice(max(lo, in_bounds[j]) - in_bounds[j], min(hi, in_bounds[j + 1]) - in_bounds[j]))
                for j in range(first, last + 1)
            ])
        pieces.append(axis_pieces)

    reached = False
    for bi, ci in product(range(len(x.chunks[0])), range(len(params))):
        for index in product(*(range(len(c)) for c in spatial_out)):
            shape = (x.chunks[0][bi], out_chunks[1][ci]) + tuple(spatial_out[a][index[a]] for a in range(nd))
            window = [pieces[a][index[a]] for a in range(nd)]
            parts = None
            if all(p is not None for p in window):
                reached = True
                parts = _part_keys(graph, x, part_name, bi, ci, window)
            infos = tuple(windows[a][index[a]][2] for a in range(nd))
            graph[(name, bi, ci) + index] = (
                block, parts, (param_name, "w", ci), (param_name, "b", ci), shape, dtype, infos, params[ci][2], *extra,
            )
    # When no output chunk is reached by any input (all bias), the graph does not depend on x.
    hlg = HighLevelGraph.from_collections(name, graph, dependencies=[x] if reached else [])
    meta = np.empty((0,) * (nd + 2), dtype=dtype)
    return da.Array(hlg, name, chunks=out_chunks, dtype=dtype, meta=meta)


def _part_keys(graph: dict, x: da.Array, part_name: str, bi: int, ci: int, pieces: list) -> Any:
    """Nested list of keys of the window's pieces: the input chunks, sliced in their own tasks."""

    def nest(axis: int, prefix: tuple[int, ...], slices: tuple[slice, ...]) -> Any:
        if axis == len(pieces):
            source = (x.name, bi, ci) + prefix
            chunk_shape = tuple(x.chunks[2 + a][j] for a, j in enumerate(prefix))
            whole = all(s.start == 0 and s.stop == n for s, n in zip(slices, chunk_shape))
            if whole:
                return source
            key = (part_name, bi, ci) + prefix + tuple((s.start, s.stop) for s in slices)
            graph[key] = (_take, source, (slice(None), slice(None)) + slices)
            return key
        return [nest(axis + 1, prefix + (j,), slices + (s,)) for j, s in pieces[axis]]

    return nest(0, (), ())


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def conv_transpose(
    input: da.Array,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    padding_mode: str = "zeros",
    chunks: Optional[Sequence[Any]] = None,
) -> da.Array:
    """N-d transposed convolution of a dask array; lazy, same result as the in-memory call.

    ``out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1`` per
    spatial dimension, as in :func:`convtranspose.conv_transpose`.

    Parameters
    ----------
    input : dask.array.Array, shape (N, C_in, *S_in) or (C_in, *S_in)
        Any chunking (see the module docstring for what happens to channel chunks).
    weight, bias, stride, padding, output_padding, groups, dilation, output_size
        As in :func:`convtranspose.conv_transpose`; weight and bias are in-memory arrays.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        As in :func:`convtranspose.conv_transpose` (the fold at the global border; see the module docstring).
    chunks : sequence, optional
        Output chunks of each spatial dimension (an int, -1 or a tuple of sizes per dimension);
        by default they follow the input's chunks.

    Returns
    -------
    dask.array.Array, shape (N, C_out, *S_out) or (C_out, *S_out)
        Lazy; batch chunks are the input's.

    Raises
    ------
    DTypeError, ShapeError, ParameterError, ParameterTypeError, OutputSizeError
        When the graph is built, as the in-memory call would.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.arange(8.0).reshape(1, 1, 8), chunks=(1, 1, 3))
    >>> y = conv_transpose(x, np.ones((1, 1, 4)), stride=2, padding=1)
    >>> y.shape, y.chunks[2]
    ((1, 1, 16), (6, 6, 4))
    >>> np.array_equal(y.compute(), __import__("convtranspose").conv_transpose(x.compute(), np.ones((1, 1, 4)),
    ...                stride=2, padding=1))
    True
    """
    return _lazy(
        "conv_transpose", None, input, weight, bias, (stride, padding, output_padding, groups, dilation),
        output_size, padding_mode, chunks,
    )


def conv_transpose_with_spec(
    input: da.Array,
    weight: np.ndarray,
    bias: Optional[np.ndarray],
    spec: ConvTransposeSpec,
    output_size: Optional[Sequence[int]] = None,
) -> da.Array:
    """:func:`conv_transpose` with hyper-parameters normalized before (a layer's spec; what the layers call)."""
    return _lazy("conv_transpose", None, input, weight, bias, spec, output_size, spec.padding_mode, None)


# --------------------------------------------------------------------------------------------
# Several layers in a row, fused: each output chunk from its receptive field of the first input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ConvStep:
    """A transposed-convolution layer of a chain, as its tiles compute it (a plain, picklable record)."""

    weight: np.ndarray
    bias: Optional[np.ndarray]
    groups: int
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    dtype: np.dtype

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1] * self.groups


@dataclass(frozen=True)
class _Elementwise:
    """An element-wise step of a chain and the dtype it returns (found by a probe when the graph is built)."""

    function: Any
    dtype: np.dtype


@dataclass(frozen=True)
class _Chain:
    """The steps of a chain, in order: :class:`_ConvStep` and :class:`_Elementwise` records."""

    steps: tuple[Any, ...]


class _Meta:
    """Shape and dtype of an intermediate result (all that validation reads of an array)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype


def _is_layer(layer: object) -> bool:
    """A transposed-convolution layer (``convtranspose.ConvTranspose{1,2,3}d``), recognised by its spec."""
    return isinstance(getattr(layer, "spec", None), ConvTransposeSpec) and hasattr(layer, "weight")


def _elementwise(op: str, index: int, function: Any, channels: int, ndim: int, dtype: np.dtype) -> _Elementwise:
    """An element-wise step, with the dtype it returns from a one-cell probe; refuses what is not element-wise."""
    probe = np.zeros((1, channels) + (1,) * ndim, dtype)
    result = function(probe)
    if not isinstance(result, np.ndarray) or result.shape != probe.shape:
        raise ParameterError(
            f"{op}: layers[{index}] must be a transposed-convolution layer or an element-wise function (an array "
            f"in, an array of the same shape out), got {function!r}, which returned "
            f"{type(result).__name__} of shape {getattr(result, 'shape', None)} for an input of shape {probe.shape}"
        )
    return _Elementwise(function, result.dtype)


def _chain_windows(
    geos: Sequence[AxisGeometry], out_chunks: Sequence[int]
) -> list[tuple[int, int, tuple[tuple[int, Optional[tuple[slice, slice]]], ...]]]:
    """Along one axis, for each output chunk of the last layer: its receptive field through every layer.

    Returns ``(lo, hi, info)`` per output chunk: the first input's cells ``[lo, hi)``, and per layer
    (in order) ``(length, placement)``: the length of the range of that layer's output the chunk needs
    and where the layer's uncropped transform of its input range lands in it (:func:`_placement`),
    or None when no input reaches that range (it holds the bias; the layers before it do not matter,
    their ranges are empty).
    """
    entries = []
    for o0, o1 in _pairs(out_chunks):
        info: list[tuple[int, Optional[tuple[slice, slice]]]] = []
        a, b = o0, o1
        for geo in reversed(geos):
            if a == b:  # a later layer's range was not reached: nothing before it is needed
                info.append((0, None))
                continue
            lo, hi = _reach(geo, a, b)
            info.append((b - a, _placement(geo, a, b, lo, hi) if lo < hi else None))
            a, b = lo, hi
        entries.append((a, b, tuple(reversed(info))))
    return entries


def _chain_block(
    parts: Any,
    chain: _Chain,
    _bias: None,
    shape: tuple[int, ...],
    dtype: np.dtype,
    infos: tuple[tuple[tuple[int, Optional[tuple[slice, slice]]], ...], ...],
    _groups: int,
) -> np.ndarray:
    """One output chunk of a chain: every step on the chunk's receptive field, in memory.

    Layer ``l`` computes exactly the range of its output that layer ``l + 1`` reads (thin halos of
    the neighbouring chunks are recomputed, never fetched), so no intermediate result outlives the
    task. A layer whose range no input reaches starts the computation with its bias.
    """
    unreached = [l for axis in infos for l, (_, placement) in enumerate(axis) if placement is None]
    start = max(unreached, default=-1)
    array = None if start >= 0 else _concatenate(parts, 2)
    layer = -1
    for step in chain.steps:
        if isinstance(step, _ConvStep):
            layer += 1
            if layer < start:
                continue
            step_shape = (shape[0], step.out_channels) + tuple(axis[layer][0] for axis in infos)
            if layer == start:
                array = _filled(step_shape, step.dtype, step.bias)
            else:
                placements = tuple(cast(tuple[slice, slice], axis[layer][1]) for axis in infos)
                array = _block(array, step.weight, step.bias, step_shape, step.dtype, placements, step.groups,
                               step.stride, step.dilation)
        elif layer >= start:
            result = step.function(array)
            before = cast(np.ndarray, array)
            if not isinstance(result, np.ndarray) or result.shape != before.shape or result.dtype != step.dtype:
                error = ShapeError if getattr(result, "shape", None) != before.shape else DTypeError
                raise error(
                    f"chain: the element-wise function {step.function!r} returned {type(result).__name__} of shape "
                    f"{getattr(result, 'shape', None)} and dtype {getattr(result, 'dtype', None)} for a chunk of shape "
                    f"{before.shape} and dtype {before.dtype}; when the graph was built it returned its input's shape "
                    f"and dtype {step.dtype} (it must work cell by cell)"
                )
            array = result
    return cast(np.ndarray, array)


def chain(input: da.Array, layers: Sequence[Any], *, chunks: Optional[Sequence[Any]] = None) -> da.Array:
    """Several layers in a row on a dask array, fused: each output chunk computed from its receptive field.

    ``chain(x, [up, relu, mix])`` equals ``mix(relu(up(x)))`` -- each layer applied to the dask
    array in turn -- in shape, dtype and values (up to rounding), but no intermediate activation is
    ever stored: every output chunk of the last layer is one task that cuts the first input's cells
    that reach it (the receptive field through every layer, from the same index arithmetic as
    :func:`conv_transpose`) and runs all the steps on them in memory, each layer computing exactly
    the part of its output the next one reads. The thin halos between neighbouring chunks are
    recomputed instead of fetched. So a task holds one chunk's worth of each intermediate, and
    memory stays bounded by the chunk size whatever the image size. Applying the layers one by one
    instead stores each intermediate in chunks, and every chunk must stay alive until the next
    layer's chunks around it have read their halo strips from it: a band of intermediate chunks
    across the whole width of the image.

    Parameters
    ----------
    input : dask.array.Array, shape (N, C, *S) or (C, *S)
        Any spatial and batch chunking; the channel axis is rechunked to one chunk.
    layers : sequence
        ``convtranspose.ConvTranspose1d/2d/3d`` layers (applied with their own weight, bias and
        hyper-parameters, ``padding_mode='zeros'``), and element-wise functions of an array (e.g.
        ``lambda h: np.maximum(h, 0)``): each gets a chunk-sized array and must return an array of
        the same shape, computed cell by cell (a function that mixes cells would see the tiles'
        borders). At least one layer.
    chunks : sequence, optional
        Output chunks of each spatial dimension (an int, -1 or a tuple of sizes per dimension);
        by default they follow the input's, mapped through every layer (boundary ``b`` becomes
        ``b * s1 * s2 * ...``).

    Returns
    -------
    dask.array.Array, shape (N, C_out, *S_out) or (C_out, *S_out)
        Lazy; batch chunks are the input's, one channel chunk.

    Raises
    ------
    DTypeError, ShapeError, ParameterError, ParameterTypeError, OutputSizeError
        When the graph is built: each layer's in-memory errors, prefixed by its position in ``layers``.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from convtranspose import ConvTranspose2d
    >>> up = ConvTranspose2d(1, 4, kernel_size=4, stride=2, padding=1, rng=0, dtype=np.float64)
    >>> mix = ConvTranspose2d(4, 1, kernel_size=3, padding=1, rng=1, dtype=np.float64)
    >>> relu = lambda h: np.maximum(h, 0)
    >>> image = np.random.default_rng(0).random((1, 1, 12, 12))
    >>> lazy = chain(da.from_array(image, chunks=(1, 1, 5, 5)), [up, relu, mix])
    >>> lazy.shape, lazy.chunks[2]
    ((1, 1, 24, 24), (10, 10, 4))
    >>> np.allclose(lazy.compute(), mix(relu(up(image))))
    True
    """
    op = "chain"
    x = _dask_input(op, input, "apply the layers in turn to in-memory arrays")
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not any(_is_layer(l) for l in layers):
        raise ParameterError(
            f"{op}: layers must be a sequence of transposed-convolution layers and element-wise functions with at "
            f"least one layer, got {layers!r}"
        )
    steps: list[Any] = []
    geos: list[tuple[AxisGeometry, ...]] = []
    nd = next(l for l in layers if _is_layer(l)).spec.ndim
    shape, dtype, unbatched = tuple(x.shape), x.dtype, x.ndim == nd + 1
    for index, layer in enumerate(layers):
        if not _is_layer(layer):
            if not callable(layer):
                raise ParameterTypeError(
                    f"{op}: layers[{index}] must be a transposed-convolution layer or an element-wise function, "
                    f"got {type(layer).__name__}"
                )
            steps.append(_elementwise(op, index, layer, shape[-nd - 1] if len(shape) > nd else 1, nd, dtype))
            dtype = steps[-1].dtype
            continue
        try:
            plan, w, b = _plan(
                "conv_transpose", None, _Meta(shape, dtype), layer.weight, layer.bias, layer.spec, None
            )
            _check_padding_mode("conv_transpose", plan.spec.padding_mode)
        except ConvTransposeError as exc:
            raise type(exc)(f"{op}: layers[{index}] ({layer!r}): {exc}") from exc
        shape = plan.output_shape[1:] if plan.unbatched else plan.output_shape
        dtype = plan.result_dtype
        geos.append(plan.geometry)
        steps.append(_ConvStep(w, b, plan.spec.groups, plan.spec.stride, plan.spec.dilation, dtype))
    if unbatched:
        x = x[np.newaxis]
    if len(x.chunks[1]) > 1:
        x = x.rechunk({1: -1})
    per_axis = list(zip(*geos))  # per spatial axis, the geometry of every layer
    if chunks is None:
        spatial_out = []
        for axis_geos, in_chunks in zip(per_axis, x.chunks[2:]):
            for geo in axis_geos:
                in_chunks = _default_chunks(geo, in_chunks)
            spatial_out.append(in_chunks)
    else:
        spatial_out = list(_output_chunks(op, chunks, geos[-1], x.chunks[2:], dtype))
    windows = [_chain_windows(axis_geos, c) for axis_geos, c in zip(per_axis, spatial_out)]
    out_channels = ([s for s in steps if isinstance(s, _ConvStep)][-1].out_channels,)
    result = _graph(op, x, [(_Chain(tuple(steps)), None, 0)], out_channels, tuple(spatial_out), windows, dtype,
                    _chain_block, ())
    return result[0] if unbatched else result


def conv(
    input: da.Array,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
    chunks: Optional[Sequence[Any]] = None,
) -> da.Array:
    """The ordinary convolution :func:`convtranspose.conv` (the adjoint of ``conv_transpose``) on a dask array.

    ``padding`` takes every form the in-memory call takes (an int, per-dimension ints, per-dimension
    ``(before, after)`` pairs, ``'valid'``, ``'same'``, ``'same_lower'``), resolved by the same shape
    functions into pads ``(b, a)`` per spatial axis; then ``out = floor((in + b + a - d * (k - 1) - 1) / s) + 1``
    and output chunk ``[q0, q1)`` reads input cells ``[q0 * s - b, (q1 - 1) * s - b + d * (k - 1) + 1)``,
    clipped to the input, the clipped part being the zero padding. With another ``padding_mode`` the
    input is first padded lazily by that mode (``dask.array.pad``) and the windows read the padded array.
    Output chunks follow the input's (boundary ``b`` becomes ``b // stride``) unless ``chunks=`` gives them.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from convtranspose import conv as in_memory_conv
    >>> y = np.arange(12.0).reshape(1, 1, 12)
    >>> lazy = conv(da.from_array(y, chunks=(1, 1, 5)), np.ones((1, 1, 3)), stride=2, padding=1)
    >>> lazy.chunks[2], np.allclose(lazy.compute(), in_memory_conv(y, np.ones((1, 1, 3)), stride=2, padding=1))
    ((2, 3, 1), True)
    >>> same = conv(da.from_array(y, chunks=(1, 1, 5)), np.ones((1, 1, 4)), stride=2, padding="same")
    >>> same.shape, np.allclose(same.compute(), in_memory_conv(y, np.ones((1, 1, 4)), stride=2, padding="same"))
    ((1, 1, 6), True)
    """
    op = "conv"
    x = _dask_input(op, input, "use convtranspose.conv for in-memory arrays")
    w = as_array("weight", weight)
    # The in-memory conv's checks; then the transposed call it is the adjoint of (conv's output back
    # to x's size, with the output_padding that gives exactly x's size) validates the rest and
    # resolves every padding form into the crop at each axis' start.
    conv_shape, output_padding = conv_shapes(tuple(x.shape), w.shape, stride, padding, groups, dilation)
    nd = w.ndim - 2
    plan, w, b = _plan(op, nd, _Meta(conv_shape, x.dtype), w, None,
                       (stride, padding, output_padding, groups, dilation, padding_mode), None)
    spec = plan.spec
    if bias is not None:
        b = as_array("bias", bias)
        if b.shape != (w.shape[0],):
            raise ShapeError(f"conv: bias must have shape ({w.shape[0]},) (C_in = weight.shape[0]), got bias of shape {b.shape}")
        b = b.astype(plan.result_dtype)
    if plan.unbatched:
        x = x[np.newaxis]
    crops = [g.crop_start for g in plan.geometry]
    if plan.fold_mode != "zeros":
        # A padding mode: its padding of x (lazy, the border copied from the cells it mirrors, repeats or
        # wraps), then the convolution of the padded array with no further padding.
        pads, _ = plan.fold_pads
        x = da.pad(x, ((0, 0), (0, 0)) + pads, mode=NUMPY_PAD_MODES[spec.padding_mode])
        crops = [0] * nd

    in_per_group, out_per_group = w.shape[1], w.shape[0] // spec.groups
    channel_chunks = _group_chunks(x.chunks[1], in_per_group)
    if channel_chunks != x.chunks[1]:
        x = x.rechunk({1: channel_chunks})
    geos = plan.geometry
    if chunks is None:
        spatial_out = tuple(
            _split_at(g.input_size, [bound // g.stride for bound in _bounds(c)[1:-1]]) for g, c in zip(geos, x.chunks[2:])
        )
    else:
        spatial_out = _output_chunks(op, chunks, [_Length(g.input_size) for g in geos], x.chunks[2:], plan.result_dtype)
    windows = []
    for n, geo, crop, o_chunks in zip(x.shape[2:], geos, crops, spatial_out):
        # conv's output q reads canvas [q * s, q * s + d * (k - 1)] of the paired transposed call, i.e.
        # x cells from q * s - crop_start; cells outside x are the zero padding.
        span = geo.dilation * (geo.kernel_size - 1)
        entries = []
        for q0, q1 in _pairs(o_chunks):
            start, stop = q0 * geo.stride - crop, (q1 - 1) * geo.stride - crop + span + 1
            lo, hi = max(start, 0), min(stop, n)
            entries.append((lo, max(lo, hi), (lo - start, stop - max(lo, hi))))
        windows.append(entries)
    result = _graph(
        op, x, _channel_params(w, b, channel_chunks, in_per_group, out_per_group),
        tuple(c // in_per_group * out_per_group for c in channel_chunks), spatial_out, windows, plan.result_dtype,
        _conv_block, (spec.stride, spec.dilation),
    )
    return result[0] if plan.unbatched else result


class _Length:
    """Stands in for an AxisGeometry where only the output length is read."""

    def __init__(self, output: int) -> None:
        self.output = output


def _split_at(length: int, cuts: Sequence[int]) -> tuple[int, ...]:
    edges = sorted({0, length, *(min(max(c, 0), length) for c in cuts)})
    return tuple(b - a for a, b in zip(edges, edges[1:]))


def _conv_block(
    parts: Any,
    weight: np.ndarray,
    bias: Optional[np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype,
    pads: tuple[tuple[int, int], ...],
    groups: int,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """One output chunk of ``conv``: its input window, zero-padded where it passes the border, convolved."""
    if parts is None:  # the chunk reads only padding
        return _filled(shape, dtype, bias)
    window = np.pad(_concatenate(parts, 2), ((0, 0), (0, 0)) + tuple(pads))
    return in_memory_conv(window, weight, bias, stride=stride, groups=groups, dilation=dilation).astype(dtype, copy=False)


def _fixed_rank(ndim: int) -> Any:
    name = f"conv_transpose{ndim}d"

    def conv_transpose_nd(
        input: da.Array,
        weight: np.ndarray,
        bias: Optional[np.ndarray] = None,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        dilation: IntOrTuple = 1,
        *,
        output_size: Optional[Sequence[int]] = None,
        padding_mode: str = "zeros",
        chunks: Optional[Sequence[Any]] = None,
    ) -> da.Array:
        return _lazy(
            name, ndim, input, weight, bias, (stride, padding, output_padding, groups, dilation),
            output_size, padding_mode, chunks,
        )

    conv_transpose_nd.__name__ = conv_transpose_nd.__qualname__ = name
    conv_transpose_nd.__doc__ = (
        f"{ndim}-d transposed convolution of a dask array (``torch.nn.functional.{name}``'s signature); "
        f"see :func:`conv_transpose`."
    )
    return conv_transpose_nd


conv_transpose1d = _fixed_rank(1)
conv_transpose2d = _fixed_rank(2)
conv_transpose3d = _fixed_rank(3)
