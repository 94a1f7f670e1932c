"""Torch-free, deliberately naive references for the test suite.

Nothing here imports ``convtranspose`` or ``torch``: both functions are written straight from the
textbook definitions with plain Python loops over every index, so that they are easy to check by
eye and share no code (and no bugs) with the library's GEMM + scatter engine.

``conv_transpose_naive``
    Transposed convolution by its *scatter* definition: every input element ``x[n, c, i]``
    stamps ``x[n, c, i] * weight[c, o]`` onto the output at positions
    ``i * stride + t * dilation - padding`` (per axis, for every kernel tap ``t``); positions that
    fall outside ``[0, out)`` are dropped (that is the ``padding`` crop), and ``output_padding``
    only lengthens the output at the end.

``conv_naive``
    The ordinary (cross-correlation) convolution by its *gather* definition:
    ``out[n, o, j] = sum_{c, t} y[n, c, j * stride + t * dilation - padding] * weight[o, c, t]``
    with zero padding. It is written independently of the above so that the adjoint identity
    ``<conv_transpose(x), y> == <x, conv(y)>`` is a real cross-check.

Sizes used with these functions must stay small: they cost one Python-level multiply-add per
(batch, input channel, input position, output channel, kernel tap).
"""

from __future__ import annotations

from itertools import product
from typing import Optional, Sequence

import numpy as np

__all__ = ["conv_transpose_naive", "conv_naive", "transposed_output_length", "conv_output_length"]


def transposed_output_length(
    size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> int:
    """``(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_output_length(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of an ordinary convolution: ``floor((in + 2p - d(k-1) - 1) / s) + 1``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _per_axis(value, ndim: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * ndim
    return tuple(value)


def conv_transpose_naive(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    groups: int = 1,
) -> np.ndarray:
    """Batched transposed convolution ``(N, C_in, *S) -> (N, C_out, *S_out)`` in float64.

    ``weight`` has PyTorch's layout ``(C_in, C_out // groups, *kernel)``. The caller is expected
    to pass a valid configuration (this is a reference, not a validator).
    """
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    ndim = weight.ndim - 2
    stride, padding = _per_axis(stride, ndim), _per_axis(padding, ndim)
    output_padding, dilation = _per_axis(output_padding, ndim), _per_axis(dilation, ndim)

    batch, in_channels = x.shape[:2]
    in_spatial, kernel = x.shape[2:], weight.shape[2:]
    out_per_group = weight.shape[1]
    in_per_group = in_channels // groups
    out_spatial = tuple(
        transposed_output_length(in_spatial[a], kernel[a], stride[a], padding[a], output_padding[a], dilation[a])
        for a in range(ndim)
    )
    out = np.zeros((batch, out_per_group * groups) + out_spatial, dtype=np.float64)

    for n, c in product(range(batch), range(in_channels)):
        group = c // in_per_group
        for i in product(*(range(s) for s in in_spatial)):
            value = float(x[(n, c) + i])
            for t in product(*(range(k) for k in kernel)):
                position = tuple(i[a] * stride[a] + t[a] * dilation[a] - padding[a] for a in range(ndim))
                if not all(0 <= position[a] < out_spatial[a] for a in range(ndim)):
                    continue  # cropped away by padding
                for o in range(out_per_group):
                    out[(n, group * out_per_group + o) + position] += value * float(weight[(c, o) + t])

    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        for n, o in product(range(batch), range(out.shape[1])):
            out[n, o] += float(bias[o])
    return out


def conv_naive(
    y: np.ndarray,
    weight: np.ndarray,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> np.ndarray:
    """Batched ordinary convolution (cross-correlation, zero padding) in float64.

    ``y`` is ``(N, C_in, *L)``; ``weight`` is ``(C_out, C_in // groups, *kernel)`` -- the usual
    ``torch.nn.functional.conv*d`` layout. Returns ``(N, C_out, *L_out)`` with
    ``L_out = floor((L + 2p - d(k-1) - 1) / s) + 1`` per axis.
    """
    y = np.asarray(y, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    ndim = weight.ndim - 2
    stride, padding, dilation = _per_axis(stride, ndim), _per_axis(padding, ndim), _per_axis(dilation, ndim)

    batch = y.shape[0]
    in_spatial, kernel = y.shape[2:], weight.shape[2:]
    out_channels, in_per_group = weight.shape[:2]
    out_per_group = out_channels // groups
    out_spatial = tuple(
        conv_output_length(in_spatial[a], kernel[a], stride[a], padding[a], dilation[a]) for a in range(ndim)
    )
    out = np.zeros((batch, out_channels) + out_spatial, dtype=np.float64)

    for n, o in product(range(batch), range(out_channels)):
        group = o // out_per_group
        for j in product(*(range(s) for s in out_spatial)):
            total = 0.0
            for c_local, t in product(range(in_per_group), product(*(range(k) for k in kernel))):
                source = tuple(j[a] * stride[a] + t[a] * dilation[a] - padding[a] for a in range(ndim))
                if all(0 <= source[a] < in_spatial[a] for a in range(ndim)):
                    total += float(y[(n, group * in_per_group + c_local) + source]) * float(
                        weight[(o, c_local) + t]
                    )
            out[(n, o) + j] = total
    return out


def adjoint_sides(
    x: np.ndarray,
    transposed: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> tuple[float, float, float]:
    """Both sides of ``<T x, y> = <x, C y>`` and a magnitude scale for the comparison.

    ``transposed`` is ``T x`` (the transposed convolution of batched ``x``, no bias) computed by the
    code under test; ``C`` is :func:`conv_naive` with the same weight array, stride, padding,
    dilation and groups (``T``'s weight ``(C_in, C_out/g, *k)`` *is* a valid conv weight mapping
    ``C_out`` channels to ``C_in`` channels).

    When ``output_padding >= stride`` (allowed when ``dilation > stride``), the ordinary
    convolution of ``y`` is longer than ``x`` along that axis; the extra trailing entries read
    only output positions that ``T`` never wrote from an existing input element, so ``C y`` is
    restricted to ``x``'s extent -- that restriction *is* the adjoint of ``T``.

    Returns ``(lhs, rhs, scale)`` where ``scale = sum |T x| |y| + sum |x| |C y|`` bounds the size
    of the rounding errors in either inner product.
    """
    conv = conv_naive(y, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    restrict = (slice(None), slice(None)) + tuple(slice(0, s) for s in x.shape[2:])
    conv = conv[restrict]
    assert conv.shape == x.shape, (conv.shape, x.shape)
    x64 = np.asarray(x, dtype=np.float64)
    t64 = np.asarray(transposed, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64)
    lhs = float(np.sum(t64 * y64))
    rhs = float(np.sum(x64 * conv))
    scale = float(np.sum(np.abs(t64) * np.abs(y64)) + np.sum(np.abs(x64) * np.abs(conv)))
    return lhs, rhs, scale
