"""``conv``: the ordinary convolution whose adjoint :func:`conv_transpose` is.

(A separate module until the functional layer's refactor lands; it then moves into
``functional.py``.)
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from .errors import ParameterError, ParameterTypeError, ShapeError
from ._checks import as_array
from .functional import conv_transpose_input_grad
from .spec import IntOrTuple, normalize_tuple

__all__ = ["conv", "conv_geometry"]

PaddingArg = Union[int, str, tuple]


def _axis_pads(padding: object, ndim: int) -> Union[str, tuple[tuple[int, int], ...]]:
    """Per-axis (before, after) pads from every padding form, or the string 'same'/'same_lower'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding in ("same", "same_lower"):
            return padding
        raise ParameterError(
            f"padding must be an int, per-dimension ints, (before, after) pairs, 'valid', 'same' or "
            f"'same_lower', got padding={padding!r}"
        )
    if isinstance(padding, (tuple, list)) and padding and all(isinstance(p, (tuple, list)) for p in padding):
        if len(padding) != ndim or any(len(p) != 2 for p in padding):
            raise ParameterError(
                f"padding pairs must be one (before, after) pair per spatial dimension ({ndim}), got padding={padding!r}"
            )
        pairs = tuple((int(b), int(a)) for b, a in padding)
    else:
        pairs = tuple((p, p) for p in normalize_tuple(padding, ndim, "padding"))  # type: ignore[arg-type]
    if min(min(pair) for pair in pairs) < 0:
        raise ParameterError(f"padding must be non-negative, got padding={padding!r}")
    return pairs


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
    pads = _axis_pads(padding, ndim)
    if isinstance(pads, str):
        bad = [axis for axis, (n, s) in enumerate(zip(spatial, stride_t)) if n % s]
        if bad:
            raise ShapeError(
                f"conv with padding={pads!r} needs every spatial size to be a multiple of its stride (the transposed "
                f"convolution maps n to n * stride), got sizes {spatial} for stride {stride_t}"
            )
        return tuple(n // s for n, s in zip(spatial, stride_t)), (0,) * ndim
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


def conv(
    input: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Ordinary (cross-correlation) convolution: the operator :func:`conv_transpose` is the adjoint of.

    With the same ``weight`` and parameters, ``conv(y, w)`` is ``torch.nn.functional.conv{n}d(y, w)``
    applied after padding ``y`` by ``padding`` with ``padding_mode`` (``F.pad``), and for every ``x``
    and ``y`` of matching shapes::

        <conv_transpose(x, w), y> = <x, conv(y, conj(w))>       (conj only matters for complex)

    i.e. it is the input gradient of :func:`conv_transpose`, exposed, plus an optional bias. Per
    spatial axis, with pads ``(b, a)``: ``out = floor((in + b + a - d * (k - 1) - 1) / s) + 1``.

    Parameters
    ----------
    input : array_like, shape (N, C_out, *S) or (C_out, *S)
        ``C_out = weight.shape[1] * groups``: the transposed convolution's output channels.
    weight : array_like, shape (C_in, C_out / groups, *kernel)
        PyTorch's ``ConvTranspose`` layout, which is also ``Conv``'s ``(out, in / groups, *kernel)``.
    bias : array_like, shape (C_in,), optional
    stride, padding, groups, dilation, padding_mode
        As in :func:`conv_transpose` (every padding form and mode it accepts).

    Returns
    -------
    ndarray, shape (N, C_in, *S_conv) or (C_in, *S_conv)

    Examples
    --------
    >>> import numpy as np
    >>> conv(np.arange(6.0).reshape(1, 1, 6), np.array([[[1.0, 10.0]]]), stride=2).tolist()
    [[[10.0, 32.0, 54.0]]]
    """
    y, w = as_array("input", input), as_array("weight", weight)
    if w.ndim < 3:
        raise ShapeError(f"conv: weight must have shape (C_in, C_out / groups, *kernel), got weight of shape {w.shape}")
    ndim = w.ndim - 2
    if y.ndim not in (ndim + 1, ndim + 2):
        raise ShapeError(
            f"conv: expected a {ndim + 1}-d (unbatched) or {ndim + 2}-d (batched) input for a {ndim + 2}-d weight, "
            f"got input of shape {y.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise ParameterTypeError(f"conv: groups must be an int, got {groups!r}")
    channels = y.shape[-ndim - 1]
    if groups < 1 or channels != w.shape[1] * groups:
        raise ShapeError(
            f"conv: the input must have weight.shape[1] * groups = {w.shape[1]} * {groups} channels, got input of "
            f"shape {y.shape}"
        )
    spatial, op = conv_geometry(y.shape[-ndim:], w.shape[2:], stride, padding, dilation)
    input_shape = y.shape[: y.ndim - ndim - 1] + (w.shape[0],) + spatial
    hyper: dict[str, Any] = dict(stride=stride, padding=padding, output_padding=op, groups=groups, dilation=dilation)
    if padding_mode != "zeros":
        hyper["padding_mode"] = padding_mode
    # The input gradient is the adjoint: for complex weights it conjugates them, which conv must not.
    w_plain = np.conj(w) if np.iscomplexobj(w) else w
    out = conv_transpose_input_grad(y, input_shape, w_plain, **hyper)
    if bias is not None:
        b = as_array("bias", bias)
        if b.shape != (w.shape[0],):
            raise ShapeError(f"conv: bias must have shape ({w.shape[0]},) (C_in = weight.shape[0]), got bias of shape {b.shape}")
        out += b.astype(out.dtype, copy=False).reshape((-1,) + (1,) * ndim)
    return out
