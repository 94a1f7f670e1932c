"""The test toolkit: every oracle, every comparison and the per-dimension tables, in one place.

Oracles
    * :func:`conv_transpose_naive` -- transposed convolution by its *scatter* definition, with plain
      Python loops, always available. It builds the full canvas (every input element stamps a scaled
      kernel copy at ``i * stride + t * dilation``), then finishes each axis with its padding: the
      ``(before, after)`` border cells are cropped (``'zeros'``) -- or, for the other padding modes,
      folded back onto the cells a padded convolution would have copied them from (:data:`BORDERS`).
    * :func:`conv_naive` -- the ordinary convolution by its *gather* definition (``np.pad`` with the
      matching mode, then windows), written independently, so that the adjoint identity
      ``<conv_transpose(x), y> == <x, conv(y)>`` (:func:`adjoint_sides`) is a real cross-check.
    * torch, when installed: :data:`TORCH_FN` (``F.conv_transpose{n}d``), :data:`TORCH_CONV_FN`,
      :data:`TORCH_MODULE`, :func:`torch_conv_transpose` and :func:`torch_autograd`. Without torch,
      using any of them skips the test with :data:`TORCH_MISSING` as the reason (visible with
      ``-ra``); mark whole tests with :data:`requires_torch`.

Nothing in the loop references imports ``convtranspose``: they share no code (and no bugs) with the
library's engine. Sizes must stay small: they cost one Python iteration per (input channel, input
position, kernel tap).

Comparisons
    :func:`assert_close` -- the one closeness rule of the suite, tolerances by dtype (:data:`RTOL`);
    :func:`assert_adjoint` -- both sides of the adjoint identity.

Extending (padding forms, padding modes, dtypes)
    Padding is normalised per axis to ``(before, after)`` pairs by :func:`pad_pairs` (an int, per-axis
    ints, or per-axis pairs), so asymmetric padding already works in both references. A padding mode
    is one entry of :data:`NP_PAD_MODE` (``conv_naive``'s padding) and the transposed reference folds
    by the adjoint of that same ``np.pad``, so both stay each other's exact adjoint. Accumulation is
    exact-kind-preserving (:func:`accumulator`): complex in complex128, integers in int64, everything
    else (float16, bfloat16, float32, float64) in float64. A new dtype needs at most a line in
    :data:`RTOL`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from itertools import product
from typing import Any, Callable, Iterator, Optional

import numpy as np
import pytest

try:
    import torch
except ImportError:  # the suite runs without torch: the comparisons with it skip
    torch = None  # type: ignore[assignment]

__all__ = [
    "ENGINE_PATHS",
    "HAVE_TORCH",
    "NP_PAD_MODE",
    "OURS_FN",
    "OURS_MODULE",
    "RTOL",
    "TORCH_CONV_FN",
    "TORCH_FN",
    "TORCH_MISSING",
    "TORCH_MODULE",
    "UNAVAILABLE_PATHS",
    "accumulator",
    "adjoint_sides",
    "assert_adjoint",
    "assert_close",
    "assert_matches_autograd",
    "conv_naive",
    "conv_output_length",
    "conv_transpose_naive",
    "engine_path_params",
    "full_canvas",
    "naive_gradients",
    "pad_pairs",
    "per_axis",
    "require_torch",
    "requires_torch",
    "rtol_for",
    "torch",
    "torch_autograd",
    "torch_conv_transpose",
    "transposed_output_length",
]

# ----------------------------------------------------------------------------------------------
# torch, when installed
# ----------------------------------------------------------------------------------------------

HAVE_TORCH = torch is not None

#: The skip reason of every torch comparison when torch cannot be imported.
TORCH_MISSING = (
    "torch is not installed (the 'test' extra): the comparison with torch is skipped; "
    "the NumPy loop reference, adjoint and finite-difference checks still run"
)

#: Marks a test that compares with torch (skipped with :data:`TORCH_MISSING` without it).
requires_torch = pytest.mark.skipif(not HAVE_TORCH, reason=TORCH_MISSING)


def require_torch() -> Any:
    """The ``torch`` module, or skip the calling test with :data:`TORCH_MISSING`."""
    if torch is None:
        pytest.skip(TORCH_MISSING)
    return torch


class _PerDimension(Mapping):
    """``{1: f1, 2: f2, 3: f3}`` built on first use from a name template (torch loaded lazily)."""

    def __init__(self, lookup: Callable[[int], Any]):
        self._lookup = lookup

    def __getitem__(self, ndim: int) -> Any:
        if ndim not in (1, 2, 3):
            raise KeyError(ndim)
        return self._lookup(ndim)

    def __iter__(self) -> Iterator[int]:
        return iter((1, 2, 3))

    def __len__(self) -> int:
        return 3


#: ``F.conv_transpose{n}d`` / ``F.conv{n}d`` / ``nn.ConvTranspose{n}d`` per spatial rank; a lookup
#: without torch skips the test.
TORCH_FN = _PerDimension(lambda n: getattr(require_torch().nn.functional, f"conv_transpose{n}d"))
TORCH_CONV_FN = _PerDimension(lambda n: getattr(require_torch().nn.functional, f"conv{n}d"))
TORCH_MODULE = _PerDimension(lambda n: getattr(require_torch().nn, f"ConvTranspose{n}d"))


def _ours(name: str) -> Callable[[int], Any]:
    def lookup(n: int) -> Any:
        import convtranspose

        return getattr(convtranspose, name.format(n=n))

    return lookup


#: Our fixed-rank functions and modules per spatial rank.
OURS_FN = _PerDimension(_ours("conv_transpose{n}d"))
OURS_MODULE = _PerDimension(_ours("ConvTranspose{n}d"))


def _tensor(array: Optional[np.ndarray], dtype: Any = None, requires_grad: bool = False) -> Any:
    if array is None:
        return None
    array = np.asarray(array) if dtype is None else np.asarray(array, dtype=dtype)
    return require_torch().tensor(array, requires_grad=requires_grad)


def torch_conv_transpose(x: Any, weight: Any, bias: Any = None, *, dtype: Any = np.float64, **kwargs: Any) -> np.ndarray:
    """torch's transposed convolution of NumPy operands, computed in ``dtype`` (float64 unless
    told), as a NumPy array. The rank comes from ``weight``; ``kwargs`` are torch's."""
    fn = TORCH_FN[np.ndim(weight) - 2]
    with require_torch().no_grad():
        out = fn(_tensor(x, dtype), _tensor(weight, dtype), _tensor(bias, dtype), **kwargs)
    return out.numpy()


def torch_autograd(x, weight, bias, grad_output, **kwargs):
    """torch's forward and its three gradients at ``grad_output`` (an array, or an int seed for a
    standard-normal one), in the operands' dtype.

    Returns ``(out, grad_output, (grad_x, grad_weight, grad_bias))``, NumPy arrays (``grad_bias`` is
    None without a bias).
    """
    tx, tw, tb = (_tensor(a, requires_grad=True) for a in (x, weight, bias))
    out = TORCH_FN[np.ndim(weight) - 2](tx, tw, tb, **kwargs)
    if not isinstance(grad_output, np.ndarray):
        grad_output = np.random.default_rng(grad_output).standard_normal(tuple(out.shape)).astype(x.dtype)
    out.backward(_tensor(grad_output))
    grads = (tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy())
    return out.detach().numpy(), grad_output, grads


# ----------------------------------------------------------------------------------------------
# Per-axis arguments
# ----------------------------------------------------------------------------------------------


def per_axis(value: Any, ndim: int) -> tuple:
    """An int-or-sequence hyper-parameter as a per-axis tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(f"expected {ndim} per-axis values, got {value!r}")
        return tuple(value)
    return (value,) * ndim


def pad_pairs(padding: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """Padding as per-axis ``(before, after)`` pairs: an int (both ends of every axis), per-axis
    ints (both ends of that axis), or per-axis pairs (nested, so a flat tuple keeps PyTorch's
    meaning)."""
    return tuple(
        (int(p[0]), int(p[1])) if isinstance(p, (tuple, list)) else (int(p), int(p)) for p in per_axis(padding, ndim)
    )


def transposed_output_length(size: int, kernel: int, stride: int, padding: Any, output_padding: int, dilation: int) -> int:
    """``(in - 1) * stride - before - after + dilation * (kernel - 1) + output_padding + 1``
    (``padding`` an int -- cropped at both ends -- or a ``(before, after)`` pair)."""
    before, after = pad_pairs(padding, 1)[0]
    return (size - 1) * stride - before - after + dilation * (kernel - 1) + output_padding + 1


def conv_output_length(size: int, kernel: int, stride: int, padding: Any, dilation: int) -> int:
    """Output length of an ordinary convolution: ``floor((in + before + after - d(k-1) - 1) / s) + 1``."""
    before, after = pad_pairs(padding, 1)[0]
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def accumulator(*arrays: Any) -> np.dtype:
    """The dtype the references compute in: complex128 if any operand is complex, int64 if all are
    integers (exact, wrapping like torch's CPU kernel), else float64 (float16/bfloat16/float32 too)."""
    kinds = {np.asarray(a).dtype.kind for a in arrays if a is not None}
    if "c" in kinds:
        return np.dtype(np.complex128)
    if kinds and kinds <= {"i", "u", "b"}:
        return np.dtype(np.int64)
    return np.dtype(np.float64)


# ----------------------------------------------------------------------------------------------
# The NumPy loop references
# ----------------------------------------------------------------------------------------------

#: Our padding-mode names and the ``np.pad`` mode that pads the same way (PyTorch's ``F.pad``
#: semantics: reflect mirrors without repeating the edge, replicate repeats the edge cell).
NP_PAD_MODE: dict[str, Any] = {"zeros": "constant", "circular": "wrap", "reflect": "reflect", "replicate": "edge"}


def full_canvas(x: np.ndarray, weight: np.ndarray, *, stride: Any = 1, dilation: Any = 1, groups: int = 1) -> np.ndarray:
    """The uncropped scatter: ``canvas[n, g*C_out/g + o, i*s + t*d] += x[n, c, i] * weight[c, o, t]``.

    ``x`` is batched ``(N, C_in, *S)``, ``weight`` ``(C_in, C_out // groups, *kernel)``; the canvas has
    ``(S - 1) * s + d * (k - 1) + 1`` cells per axis and the dtype of :func:`accumulator`.
    """
    dtype = accumulator(x, weight)
    x, weight = np.asarray(x, dtype=dtype), np.asarray(weight, dtype=dtype)
    ndim = weight.ndim - 2
    stride, dilation = per_axis(stride, ndim), per_axis(dilation, ndim)
    batch, in_channels = x.shape[:2]
    in_spatial, kernel = x.shape[2:], weight.shape[2:]
    out_per_group, in_per_group = weight.shape[1], in_channels // groups
    spatial = tuple((n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(in_spatial, kernel, stride, dilation))
    canvas = np.zeros((batch, out_per_group * groups) + spatial, dtype=dtype)
    for c in range(in_channels):
        channels = slice((c // in_per_group) * out_per_group, (c // in_per_group + 1) * out_per_group)
        for i in product(*(range(s) for s in in_spatial)):
            value = x[(slice(None), c) + i]  # (N,)
            for t in product(*(range(k) for k in kernel)):
                position = tuple(i[a] * stride[a] + t[a] * dilation[a] for a in range(ndim))
                canvas[(slice(None), channels) + position] += value[:, None] * weight[(c, slice(None)) + t]
    return canvas


def _finish_axis(canvas: np.ndarray, axis: int, before: int, after: int, mode: str) -> np.ndarray:
    """Remove the ``before``/``after`` border cells of ``axis``: cropped for ``'zeros'``, else each one
    added onto the cell that ``np.pad(..., NP_PAD_MODE[mode])`` copied into it (the adjoint of the
    padding, so that the result is the adjoint of :func:`conv_naive` with that mode)."""
    length = canvas.shape[axis] - before - after
    if length < 1:
        raise ValueError(f"padding ({before}, {after}) leaves no cell of a canvas of {canvas.shape[axis]}")
    if mode == "zeros":
        return np.take(canvas, range(before, before + length), axis=axis)
    source = np.pad(np.arange(length), (before, after), mode=NP_PAD_MODE[mode])  # padded cell -> source
    moved = np.moveaxis(canvas, axis, 0)
    out = np.zeros((length,) + moved.shape[1:], dtype=canvas.dtype)
    np.add.at(out, source, moved)
    return np.moveaxis(out, 0, axis)


def conv_transpose_naive(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Batched transposed convolution ``(N, C_in, *S) -> (N, C_out, *S_out)``.

    The full canvas (:func:`full_canvas`), ``output_padding`` zero cells appended at the end of each
    axis, then per axis the ``(before, after)`` border (:func:`pad_pairs`) cropped -- or folded back for
    a ``padding_mode`` other than ``'zeros'`` -- and the bias added. With PyTorch's arguments this is
    ``F.conv_transpose{n}d``. The caller passes a valid configuration (a reference, not a validator).
    """
    ndim = np.ndim(weight) - 2
    out = full_canvas(x, weight, stride=stride, dilation=dilation, groups=groups)
    extra = per_axis(output_padding, ndim)
    out = np.pad(out, [(0, 0), (0, 0)] + [(0, e) for e in extra])
    for axis, (before, after) in enumerate(pad_pairs(padding, ndim)):
        out = _finish_axis(out, axis + 2, before, after, padding_mode)
    if bias is not None:
        bias = np.asarray(bias)
        out = out.astype(accumulator(out, bias), copy=False) + bias.reshape((-1,) + (1,) * ndim)
    return out


def conv_naive(
    y: np.ndarray, weight: np.ndarray, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Batched ordinary convolution (cross-correlation): ``y`` ``(N, C_in, *L)`` padded per axis by
    ``(before, after)`` with ``padding_mode`` (PyTorch's ``F.pad`` modes), then
    ``out[n, o, j] = sum_{c, t} y_padded[n, g*C_in/g + c, j*s + t*d] * weight[o, c, t]``.

    ``weight`` is ``(C_out, C_in // groups, *kernel)``, the ``F.conv{n}d`` layout -- which is also what a
    transposed convolution's ``(C_in, C_out // groups, *kernel)`` weight is for its adjoint.
    """
    dtype = accumulator(y, weight)
    weight = np.asarray(weight, dtype=dtype)
    ndim = weight.ndim - 2
    stride, dilation = per_axis(stride, ndim), per_axis(dilation, ndim)
    pairs = pad_pairs(padding, ndim)
    y = np.pad(np.asarray(y, dtype=dtype), [(0, 0), (0, 0)] + list(pairs), mode=NP_PAD_MODE[padding_mode])
    kernel = weight.shape[2:]
    out_channels, in_per_group = weight.shape[:2]
    out_per_group = out_channels // groups
    out_spatial = tuple(
        conv_output_length(n, k, s, 0, d) for n, k, s, d in zip(y.shape[2:], kernel, stride, dilation)
    )
    out = np.zeros((y.shape[0], out_channels) + out_spatial, dtype=dtype)
    for o in range(out_channels):
        first = (o // out_per_group) * in_per_group
        for j in product(*(range(s) for s in out_spatial)):
            for c, t in product(range(in_per_group), product(*(range(k) for k in kernel))):
                source = tuple(j[a] * stride[a] + t[a] * dilation[a] for a in range(ndim))
                out[(slice(None), o) + j] += y[(slice(None), first + c) + source] * weight[(o, c) + t]
    return out


def naive_gradients(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, *, stride: Any = 1, padding: Any = 0,
    output_padding: Any = 0, dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three gradients of :func:`conv_transpose_naive` at ``grad_output`` (batched), by loops.

    ``grad_output`` padded back to canvas coordinates (``np.pad`` with the mode: the adjoint of the
    crop/fold) is ``G``; then ``grad_x`` is :func:`conv_naive` of ``grad_output`` restricted to ``x``'s
    extent, ``grad_weight[c, o, t] = sum_{n, i} x[n, c, i] * G[n, g*C_out/g + o, i*s + t*d]`` and
    ``grad_bias[o] = sum_{n, j} grad_output[n, o, j]``. (``output_padding`` is implied by the shapes.)
    """
    del output_padding
    dtype = accumulator(x, weight, grad_output)
    x, weight, grad_output = (np.asarray(a, dtype=dtype) for a in (x, weight, grad_output))
    ndim = weight.ndim - 2
    stride, dilation = per_axis(stride, ndim), per_axis(dilation, ndim)
    pairs = list(pad_pairs(padding, ndim))
    grad_x = conv_naive(grad_output, np.conj(weight), stride=stride, padding=pairs, dilation=dilation,
                        groups=groups, padding_mode=padding_mode)
    grad_x = grad_x[(slice(None), slice(None)) + tuple(slice(0, n) for n in x.shape[2:])]
    canvas = np.pad(grad_output, [(0, 0), (0, 0)] + pairs, mode=NP_PAD_MODE[padding_mode])
    grad_weight = np.zeros_like(weight)
    out_per_group, in_per_group = weight.shape[1], x.shape[1] // groups
    for c in range(x.shape[1]):
        channels = slice((c // in_per_group) * out_per_group, (c // in_per_group + 1) * out_per_group)
        for i in product(*(range(n) for n in x.shape[2:])):
            for t in product(*(range(k) for k in weight.shape[2:])):
                position = tuple(i[a] * stride[a] + t[a] * dilation[a] for a in range(ndim))
                cells = canvas[(slice(None), channels) + position]  # (N, C_out / g)
                grad_weight[(c, slice(None)) + t] += np.conj(x[(slice(None), c) + i]) @ cells
    grad_bias = grad_output.sum(axis=(0,) + tuple(range(2, grad_output.ndim)))
    return grad_x, grad_weight, grad_bias


def adjoint_sides(
    x: np.ndarray,
    transposed: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    padding_mode: str = "zeros",
) -> tuple[Any, Any, float]:
    """Both sides of ``<T x, y> = <x, C y>`` and a magnitude scale for the comparison.

    ``transposed`` is ``T x`` (the transposed convolution of batched ``x``, no bias) computed by the
    code under test; ``C`` is :func:`conv_naive` with the same weight array (conjugated, if complex)
    and hyper-parameters.

    When ``output_padding >= stride`` (allowed when ``dilation > stride``), ``C y`` is longer than
    ``x`` along that axis; the extra trailing entries read only output cells that ``T`` never wrote
    from an input element, so ``C y`` is restricted to ``x``'s extent -- that restriction *is* the
    adjoint of ``T``. Complex operands use the Hermitian inner product ``<a, b> = sum a * conj(b)``.

    Returns ``(lhs, rhs, scale)`` where ``scale = sum |T x| |y| + sum |x| |C y|`` bounds the size of the
    rounding errors in either inner product.
    """
    conv = conv_naive(y, np.conj(weight), stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=padding_mode)
    conv = conv[(slice(None), slice(None)) + tuple(slice(0, s) for s in np.shape(x)[2:])]
    if conv.shape != np.shape(x):
        raise ValueError(f"C y has shape {conv.shape}, x has {np.shape(x)}: the configurations differ")
    wide = accumulator(x, transposed, y)
    if wide.kind != "c":
        wide = np.dtype(np.float64)
    x, t, y = (np.asarray(a).astype(wide) for a in (x, transposed, y))
    lhs = complex(np.sum(t * np.conj(y)))
    rhs = complex(np.sum(x * np.conj(conv)))
    scale = float(np.sum(np.abs(t) * np.abs(y)) + np.sum(np.abs(x) * np.abs(conv)))
    if wide.kind != "c":
        return lhs.real, rhs.real, scale
    return lhs, rhs, scale


# ----------------------------------------------------------------------------------------------
# Comparisons
# ----------------------------------------------------------------------------------------------

#: Relative tolerance per result dtype name, against the reference's largest magnitude (see
#: :func:`assert_close`). Integer and bool results must be exact.
RTOL = {
    "float64": 1e-10,
    "complex128": 1e-10,
    "float32": 1e-4,
    "complex64": 1e-4,
    "float16": 2e-3,  # computed in float32, one float16 rounding (2**-11 relative) of each element
    "bfloat16": 1e-2,  # computed in float32, one bfloat16 rounding (2**-8 relative) of each element
}


def rtol_for(dtype: Any) -> float:
    """:data:`RTOL` for ``dtype`` (0 -- exact -- for integers and bools)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        return 0.0
    return RTOL[dtype.name]


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(actual: Any, expected: Any, dtype: Any = None, context: str = "", *, rtol: Optional[float] = None) -> None:
    """Assert ``actual`` (the code under test) matches ``expected`` (a reference: array, torch tensor).

    * ``actual`` is an ndarray of ``expected``'s shape and, if ``dtype`` is given, of that dtype;
    * non-finite reference cells (NaN, +inf, -inf) must be matched exactly, cell by cell;
    * the finite cells: ``max |actual - expected| <= rtol * max |expected|`` (over the finite cells;
      the smallest normal float64 stands in for an all-zero reference, which then demands zeros).
      ``rtol`` defaults to :func:`rtol_for` of ``dtype`` (or ``actual``'s dtype); integer results are
      compared exactly.

    The error is measured against the reference's largest magnitude, not element by element: each
    output element is a sum of products that may cancel, so a correct float32 result can be "100%
    off" an exact 0.0, while the rounding error of every element is bounded by the size of the
    terms, which ``max |expected|`` tracks.
    """
    where = f"{context}: " if context else ""
    assert isinstance(actual, np.ndarray), f"{where}expected an ndarray, got {type(actual).__name__}"
    expected = _as_array(expected)
    if dtype is not None:
        assert actual.dtype == np.dtype(dtype), f"{where}dtype {actual.dtype} != {np.dtype(dtype)}"
    assert actual.shape == expected.shape, f"{where}shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return
    tolerance = rtol_for(actual.dtype if dtype is None else dtype) if rtol is None else rtol
    if actual.dtype.kind in "iub" and expected.dtype.kind in "iub":
        np.testing.assert_array_equal(actual, expected, err_msg=f"{where}integer results must be exact")
        return
    wide = np.complex128 if "c" in (actual.dtype.kind, expected.dtype.kind) else np.float64
    got, want = actual.astype(wide), expected.astype(wide)
    finite = np.isfinite(want)
    if not finite.all():
        same = (got[~finite] == want[~finite]) | (np.isnan(got[~finite]) & np.isnan(want[~finite]))
        assert same.all(), (
            f"{where}non-finite reference cells not matched: got {got[~finite][~same][:5]}, "
            f"expected {want[~finite][~same][:5]}"
        )
    if not finite.any():
        return
    error = float(np.max(np.abs(got[finite] - want[finite])))  # NaN (fails below) if ours is not finite there
    magnitude = max(float(np.max(np.abs(want[finite]))), np.finfo(np.float64).tiny)
    assert error <= tolerance * magnitude, (  # False for a NaN error
        f"{where}max abs error {error:.3g} exceeds {tolerance:g} * max|reference| = {tolerance * magnitude:.3g}"
    )


def assert_adjoint(lhs: complex, rhs: complex, scale: float, dtype: Any, context: str = "") -> None:
    """``<T x, y> == <x, C y>`` up to :func:`rtol_for` ``dtype`` times the sum of the absolute products."""
    tolerance = rtol_for(dtype)
    assert abs(lhs - rhs) <= tolerance * max(scale, np.finfo(np.float64).tiny), (
        f"{context}: adjoint identity violated: <T x, y> = {lhs!r}, <x, C y> = {rhs!r} (scale {scale:.3g})"
    )



def assert_matches_autograd(x, w, b, engine_path, grad_seed=0, context=contextlib.nullcontext, **kwargs):
    """Our forward, ``conv_transpose_backward`` and the single-gradient helpers on ``engine_path``
    (inside ``context()``), against torch autograd at the same operands.

    Without torch the same checks run against the NumPy loop references (:func:`conv_transpose_naive`,
    :func:`naive_gradients`), then the test is reported SKIPPED with :data:`TORCH_MISSING` -- so the
    missing torch comparison stays visible while the NumPy checks still catch errors.
    """
    import convtranspose as ct
    from convtranspose import engine

    if HAVE_TORCH:
        expected, grad_y, (tgx, tgw, tgb) = torch_autograd(x, w, b, grad_seed, **kwargs)
    else:
        expected = conv_transpose_naive(x, w, b, **kwargs)
        grad_y = np.random.default_rng(grad_seed).standard_normal(expected.shape).astype(x.dtype)
        tgx, tgw, tgb = naive_gradients(x, w, grad_y, **kwargs)
    with engine.use_path(engine_path), context():
        out = ct.conv_transpose(x, w, b, **kwargs)
        gx, gw, gb = ct.conv_transpose_backward(grad_y, x, w, **kwargs)
        only_x = ct.conv_transpose_input_grad(grad_y, x.shape, w, **kwargs)
        only_w = ct.conv_transpose_weight_grad(grad_y, x, w.shape, **kwargs)
        only_b = ct.conv_transpose_bias_grad(grad_y)
    assert out.flags.c_contiguous
    assert_close(out, expected, x.dtype, "forward")
    for name, ours, theirs in (("grad_input", gx, tgx), ("grad_weight", gw, tgw), ("grad_bias", gb, tgb),
                               ("input_grad", only_x, tgx), ("weight_grad", only_w, tgw), ("bias_grad", only_b, tgb)):
        assert_close(ours, theirs, x.dtype, name)
    require_torch()


# ----------------------------------------------------------------------------------------------
# Engine paths: every one a test parameter, the ones that cannot run here visibly skipped
# ----------------------------------------------------------------------------------------------


def _engine_paths() -> tuple[str, ...]:
    from convtranspose import engine

    return engine.available_paths()


ENGINE_PATHS = _engine_paths()


def unavailable_paths() -> dict[str, str]:
    """Registered engine paths that cannot run here, with the engine's reason (e.g. numba missing).
    (That every registered path is available or says why is tested in test_engine_registry.py.)"""
    from convtranspose import engine

    return {name: f"engine path {name!r} cannot run here: {why}" for name, why in engine.unavailable_paths().items()}


UNAVAILABLE_PATHS = unavailable_paths()


def engine_path_params() -> list[Any]:
    """Every registered engine path as a pytest parameter; the ones that cannot run here marked
    skip with the reason, so they show as SKIPPED instead of vanishing from the run."""
    skipped = [pytest.param(name, marks=pytest.mark.skip(reason=why)) for name, why in UNAVAILABLE_PATHS.items()]
    return list(ENGINE_PATHS) + skipped
