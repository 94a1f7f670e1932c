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
from typing import Any, Optional, Sequence

import numpy as np

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .errors import ParameterError, ParameterTypeError, ShapeError
from .functional import check_call
from .functional import conv_transpose as _in_memory
from .shape import AxisGeometry, geometries
from .spec import IntOrTuple

__all__ = ["conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "PADDING_MODES"]

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
    placement: Optional[tuple[tuple[slice, ...], tuple[slice, ...]]],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
) -> np.ndarray:
    """One output chunk: the in-memory transform of its input window, placed in the chunk."""
    if placement is None:  # no input reaches this chunk: bias (or zeros) only
        return _filled(shape, dtype, bias)
    window = _concatenate(parts, 2)
    local = _in_memory(window, weight, bias, stride=stride, groups=groups, dilation=dilation)
    source, destination = placement
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
    op: str, chunks: object, geos: tuple[AxisGeometry, ...], in_chunks: tuple[tuple[int, ...], ...], dtype: np.dtype
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


def _lazy(
    op: str,
    ndim: Optional[int],
    input: object,
    weight: object,
    bias: object,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
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
    plan, w, b = check_call(
        op, x.shape, x.dtype, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
        groups=groups, dilation=dilation, output_size=output_size, ndim=ndim,
    )
    _check_padding_mode(op, padding_mode)
    spec = plan.spec
    if plan.unbatched:
        x = x[np.newaxis]
    nd = spec.ndim
    geos = geometries(x.shape[2:], w.shape[2:], spec)

    # Channels: whole groups per chunk.
    in_per_group, out_per_group = x.shape[1] // spec.groups, w.shape[1]
    channel_chunks = _group_chunks(x.chunks[1], in_per_group)
    if channel_chunks != x.chunks[1]:
        x = x.rechunk({1: channel_chunks})
    spatial_out = _output_chunks(op, chunks, geos, x.chunks[2:], plan.result_dtype)
    out_chunks = (x.chunks[0], tuple(c // in_per_group * out_per_group for c in channel_chunks)) + spatial_out

    token = tokenize(x.name, w, b, spec, spatial_out, op)
    name, part_name, param_name = f"{op}-{token}", f"{op}-window-{token}", f"{op}-weight-{token}"
    graph: dict[Any, Any] = {}

    # Weight and bias slices, one pair per channel chunk.
    for ci, (c0, c1) in enumerate(zip(_bounds(channel_chunks), _bounds(channel_chunks)[1:])):
        g0, g1 = c0 // in_per_group, c1 // in_per_group
        graph[(param_name, "w", ci)] = np.ascontiguousarray(w[c0:c1])
        graph[(param_name, "b", ci)] = None if b is None else np.ascontiguousarray(b[g0 * out_per_group:g1 * out_per_group])

    # Per spatial axis and output chunk: the input range, the input chunks it overlaps, placement.
    axes = []
    for geo, in_chunks, o_chunks in zip(geos, x.chunks[2:], spatial_out):
        in_bounds = _bounds(in_chunks)
        entries: list[Any] = []
        for o0, o1 in zip(_bounds(o_chunks), _bounds(o_chunks)[1:]):
            lo, hi = _reach(geo, o0, o1)
            if lo == hi:
                entries.append(None)
                continue
            first, last = bisect_right(in_bounds, lo) - 1, bisect_right(in_bounds, hi - 1) - 1
            pieces = [
                (j, slice(max(lo, in_bounds[j]) - in_bounds[j], min(hi, in_bounds[j + 1]) - in_bounds[j]))
                for j in range(first, last + 1)
            ]
            entries.append((pieces, _placement(geo, o0, o1, lo, hi)))
        axes.append(entries)

    for bi, ci in product(range(len(x.chunks[0])), range(len(channel_chunks))):
        for index in product(*(range(len(c)) for c in spatial_out)):
            key = (name, bi, ci) + index
            shape = (x.chunks[0][bi], out_chunks[1][ci]) + tuple(spatial_out[a][index[a]] for a in range(nd))
            entries = [axes[a][index[a]] for a in range(nd)]
            if any(e is None for e in entries):
                parts, placement = None, None
            else:
                parts = _part_keys(graph, x, part_name, bi, ci, [e[0] for e in entries])
                placement = (tuple(e[1][0] for e in entries), tuple(e[1][1] for e in entries))
            graph[key] = (
                _block, parts, (param_name, "w", ci), (param_name, "b", ci), shape, plan.result_dtype,
                placement, spec.stride, spec.dilation, channel_chunks[ci] // in_per_group,
            )
    # When no output chunk is reached by any input (all bias), the graph does not depend on x.
    reached = all(any(entry is not None for entry in entries) for entries in axes)
    hlg = HighLevelGraph.from_collections(name, graph, dependencies=[x] if reached else [])
    meta = np.empty((0,) * (nd + 2), dtype=plan.result_dtype)
    result = da.Array(hlg, name, chunks=out_chunks, dtype=plan.result_dtype, meta=meta)
    return result[0] if plan.unbatched else result


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
        "conv_transpose", None, input, weight, bias, stride, padding, output_padding, groups, dilation,
        output_size, padding_mode, chunks,
    )


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
            name, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation,
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
