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

Padding modes
    Only ``padding_mode='zeros'``; other modes raise :class:`ParameterError` (their fold at the
    global border is not implemented for chunked arrays).

Needs the ``dask`` extra (``pip install "convtranspose[dask]"``). Nothing else in the library
imports dask; :class:`convtranspose.ConvTranspose2d` and friends call this module when they are
given a dask array.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate, product
from typing import Any, Optional, Sequence, Union

import numpy as np

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .errors import ParameterError, ParameterTypeError, ShapeError
from .functional import conv as in_memory_conv
from .functional import conv_transpose as _in_memory
from .plan import Hyper, Plan, as_float_array, build_plan
from .shape import AxisGeometry, conv_geometry
from .spec import ConvTransposeSpec, IntOrTuple, make_spec, normalize_tuple

__all__ = ["conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv", "PADDING_MODES"]

#: Padding modes the library knows; only 'zeros' is computed on dask arrays.
PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


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
    placements: Optional[tuple[tuple[slice, slice], ...]],
    groups: int,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """One output chunk: the in-memory transform of its input window, placed in the chunk."""
    if placements is None:  # no input reaches this chunk: bias (or zeros) only
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


def _check_padding_mode(op: str, padding_mode: object) -> None:
    if not isinstance(padding_mode, str):
        raise ParameterTypeError(
            f"{op}: padding_mode must be a str, one of {PADDING_MODES}, got {padding_mode!r} "
            f"of type {type(padding_mode).__name__}"
        )
    if padding_mode not in PADDING_MODES:
        raise ParameterError(f"{op}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if padding_mode != "zeros":
        raise ParameterError(
            f"{op}: padding_mode={padding_mode!r} is not supported on dask arrays (only 'zeros'): its fold "
            f"at the global border is not implemented for chunked arrays; compute in memory with "
            f"convtranspose.{op} instead"
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
    as_float_array("input", np.empty(0, x.dtype))  # the dtype rule (an empty array of x's dtype)
    w = as_float_array("weight", weight)
    b = None if bias is None else as_float_array("bias", bias)
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
    if not isinstance(input, da.Array):
        raise ParameterTypeError(
            f"{op}: input must be a dask.array.Array (use convtranspose.{op} for in-memory arrays), "
            f"got {type(input).__name__}"
        )
    x: Any = input
    if any(math.isnan(n) for n in x.shape):
        raise ShapeError(
            f"{op}: the input's shape {x.shape} has unknown sizes; call input.compute_chunk_sizes() first"
        )
    plan, w, b = _plan(op, ndim, x, weight, bias, hyper, output_size)
    _check_padding_mode(op, padding_mode)
    spec = plan.spec
    if plan.unbatched:
        x = x[np.newaxis]
    geos = plan.geometry

    # Channels: whole groups per chunk.
    in_per_group, out_per_group = x.shape[1] // spec.groups, w.shape[1]
    channel_chunks = _group_chunks(x.chunks[1], in_per_group)
    if channel_chunks != x.chunks[1]:
        x = x.rechunk({1: channel_chunks})
    spatial_out = _output_chunks(op, chunks, geos, x.chunks[2:], plan.result_dtype)
    windows = [
        [_reach(geo, o0, o1) + (_placement(geo, o0, o1, *_reach(geo, o0, o1)),) for o0, o1 in _pairs(o_chunks)]
        for geo, o_chunks in zip(geos, spatial_out)
    ]
    result = _graph(
        op, x, w, b, channel_chunks, in_per_group, out_per_group, spatial_out, windows, plan.result_dtype,
        _block, (spec.stride, spec.dilation),
    )
    return result[0] if plan.unbatched else result


def _pairs(chunks: Sequence[int]) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of each chunk."""
    bounds = _bounds(chunks)
    return list(zip(bounds, bounds[1:]))


def _graph(
    op: str,
    x: Any,
    w: np.ndarray,
    b: Optional[np.ndarray],
    channel_chunks: tuple[int, ...],
    in_per_group: int,
    out_per_group: int,
    spatial_out: tuple[tuple[int, ...], ...],
    windows: list[list[tuple[int, int, Any]]],
    dtype: np.dtype,
    block: Any,
    extra: tuple,
) -> da.Array:
    """The lazy result: one ``block`` task per output chunk, fed by its input window.

    ``windows[axis][j]`` is ``(lo, hi, info)``: output chunk ``j`` along ``axis`` reads input cells
    ``[lo, hi)`` (none when ``lo == hi``), and ``info`` tells ``block`` where they go. The channel
    axis of ``x`` is chunked in whole groups (``channel_chunks``); each channel chunk gets its slice
    of the weight and bias. ``block(parts, weight, bias, shape, dtype, infos, groups, *extra)``
    computes one chunk, with ``parts``/``infos`` None when no input reaches it.
    """
    nd = len(spatial_out)
    out_chunks = (x.chunks[0], tuple(c // in_per_group * out_per_group for c in channel_chunks)) + spatial_out
    token = tokenize(x.name, w, b, spatial_out, windows, op, extra)
    name, part_name, param_name = f"{op}-{token}", f"{op}-window-{token}", f"{op}-weight-{token}"
    graph: dict[Any, Any] = {}

    # Weight and bias slices, one pair per channel chunk (the weight's first axis is grouped in
    # blocks of w.shape[0] // groups rows: the input channels of a transposed convolution, the
    # output channels of a convolution).
    rows = w.shape[0] // (x.shape[1] // in_per_group)
    for ci, (c0, c1) in enumerate(_pairs(channel_chunks)):
        g0, g1 = c0 // in_per_group, c1 // in_per_group
        graph[(param_name, "w", ci)] = np.ascontiguousarray(w[g0 * rows:g1 * rows])
        graph[(param_name, "b", ci)] = None if b is None else np.ascontiguousarray(b[g0 * out_per_group:g1 * out_per_group])

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
    for bi, ci in product(range(len(x.chunks[0])), range(len(channel_chunks))):
        for index in product(*(range(len(c)) for c in spatial_out)):
            shape = (x.chunks[0][bi], out_chunks[1][ci]) + tuple(spatial_out[a][index[a]] for a in range(nd))
            window = [pieces[a][index[a]] for a in range(nd)]
            if any(p is None for p in window):
                parts, infos = None, None
            else:
                reached = True
                parts = _part_keys(graph, x, part_name, bi, ci, window)
                infos = tuple(windows[a][index[a]][2] for a in range(nd))
            graph[(name, bi, ci) + index] = (
                block, parts, (param_name, "w", ci), (param_name, "b", ci), shape, dtype, infos,
                channel_chunks[ci] // in_per_group, *extra,
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
    padding_mode : {'zeros'}
        Other modes raise :class:`ParameterError`.
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
    return _lazy("conv_transpose", None, input, weight, bias, spec, output_size, "zeros", None)


def conv(
    input: da.Array,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: IntOrTuple = 1,
    padding: Union[IntOrTuple, str] = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
    chunks: Optional[Sequence[Any]] = None,
) -> da.Array:
    """The ordinary convolution :func:`convtranspose.conv` (the adjoint of ``conv_transpose``) on a dask array.

    Per spatial axis, with padding ``p``: ``out = floor((in + 2p - d * (k - 1) - 1) / s) + 1``; output
    chunk ``[q0, q1)`` reads input cells ``[q0 * s - p, (q1 - 1) * s - p + d * (k - 1) + 1)``, clipped
    to the input, the clipped part being the zero padding. ``padding`` takes ints (one, or one per
    dimension) and ``'valid'``; ``padding_mode`` only ``'zeros'``. Output chunks follow the input's
    (boundary ``b`` becomes ``b // stride``) unless ``chunks=`` gives them.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from convtranspose import conv as in_memory_conv
    >>> y = np.arange(12.0).reshape(1, 1, 12)
    >>> lazy = conv(da.from_array(y, chunks=(1, 1, 5)), np.ones((1, 1, 3)), stride=2, padding=1)
    >>> lazy.chunks[2], np.allclose(lazy.compute(), in_memory_conv(y, np.ones((1, 1, 3)), stride=2, padding=1))
    ((2, 3, 1), True)
    """
    op = "conv"
    if not isinstance(input, da.Array):
        raise ParameterTypeError(
            f"{op}: input must be a dask.array.Array (use convtranspose.conv for in-memory arrays), "
            f"got {type(input).__name__}"
        )
    x: Any = input
    w = np.asarray(weight)

    def in_memory_error() -> ShapeError:
        """The in-memory call's error for a shape it refuses before computing (a zero-stride stand-in)."""
        in_memory_conv(np.broadcast_to(np.zeros((), x.dtype), x.shape), w, groups=groups)
        return ShapeError(f"conv: input of shape {x.shape} does not fit weight of shape {w.shape}")

    if w.ndim < 3 or x.ndim not in (w.ndim - 1, w.ndim):
        raise in_memory_error()
    nd = w.ndim - 2
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 \
            or x.shape[-nd - 1] != w.shape[1] * groups:
        raise in_memory_error()
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[np.newaxis]
    pad = normalize_tuple(0 if padding == "valid" else padding, nd, "padding")  # type: ignore[arg-type]
    make_spec(nd, stride=stride, padding=pad, dilation=dilation, groups=groups)  # the rules, before the sizes
    spatial, output_padding = conv_geometry(x.shape[2:], w.shape[2:], stride, pad, dilation)
    # Validate as the transposed call it is the adjoint of (an output of ``spatial`` back to x's size).
    x_conv = np.broadcast_to(np.zeros((), x.dtype), (x.shape[0], w.shape[0]) + spatial)  # shape and dtype only
    plan, w, b = _plan(op, nd, x_conv, w, None, (stride, pad, output_padding, groups, dilation), None)
    spec = plan.spec
    if bias is not None:
        b = np.asarray(bias)
        if b.shape != (w.shape[0],):
            raise ShapeError(f"conv: bias must have shape ({w.shape[0]},) (C_in = weight.shape[0]), got bias of shape {b.shape}")
        b = b.astype(plan.result_dtype)
    _check_padding_mode(op, padding_mode)

    in_per_group, out_per_group = w.shape[1], w.shape[0] // spec.groups
    channel_chunks = _group_chunks(x.chunks[1], in_per_group)
    if channel_chunks != x.chunks[1]:
        x = x.rechunk({1: channel_chunks})
    if chunks is None:
        spatial_out = tuple(
            _split_at(n, [bound // s for bound in _bounds(c)[1:-1]])
            for n, c, s in zip(spatial, x.chunks[2:], spec.stride)
        )
    else:
        spatial_out = _output_chunks(op, chunks, [_Length(n) for n in spatial], x.chunks[2:], plan.result_dtype)
    windows = []
    for n, k, s, d, p, o_chunks in zip(x.shape[2:], w.shape[2:], spec.stride, spec.dilation, pad, spatial_out):
        entries = []
        for q0, q1 in _pairs(o_chunks):
            start, stop = q0 * s - p, (q1 - 1) * s - p + d * (k - 1) + 1
            lo, hi = max(start, 0), min(stop, n)
            entries.append((lo, max(lo, hi), (lo - start, stop - max(lo, hi))))
        windows.append(entries)
    result = _graph(
        op, x, w, b, channel_chunks, in_per_group, out_per_group, spatial_out, windows, plan.result_dtype,
        _conv_block, (spec.stride, spec.dilation),
    )
    return result[0] if unbatched else result


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
    pads: Optional[tuple[tuple[int, int], ...]],
    groups: int,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """One output chunk of ``conv``: its input window, zero-padded where it passes the border, convolved."""
    if pads is None:  # the chunk reads only padding
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
