"""Padding forms and padding modes of a transposed convolution: pure rules, plus the fold.

A transposed convolution scatters every input element's (dilated) kernel copy onto the *full
canvas*, ``full = (in - 1)·s + d·(k - 1) + 1`` cells per axis, extended by ``output_padding`` zero
cells at the end. ``padding`` says which cells of that canvas are *border*: ``before`` cells at the
start and ``after`` cells at the end. The output is the rest::

    out = full + output_padding - before - after

**Forms** (:func:`normalize_padding`, :func:`axis_padding`), per spatial axis:

* an int ``p``: ``(p, p)``, PyTorch's meaning (so is a flat tuple of ints, one per axis);
* a ``(before, after)`` pair, nested per axis: ``padding=((1, 2), (0, 1))``;
* ``'valid'``: ``(0, 0)``, nothing cropped;
* ``'same'``: ``out = in · s`` exactly. The border is ``total = d·(k - 1) + 1 - s + output_padding``
  cells, split ``(total // 2, total - total // 2)``: the odd cell at the end (ONNX ``SAME_UPPER``);
* ``'same_lower'``: the odd cell at the start (ONNX ``SAME_LOWER``).
  When ``total < 0`` (kernel shorter than the stride) nothing is cropped and the ``-total`` missing
  cells are added at the end, exactly as ``output_padding`` adds them (the effective output padding
  becomes ``s - d·(k - 1) - 1``, always below the stride).

**Modes** (:data:`PADDING_MODES`): with ``'zeros'`` the border is dropped (PyTorch's crop). With
``'circular'``, ``'reflect'`` and ``'replicate'`` the transposed convolution is the exact adjoint of
PyTorch's ordinary convolution with ``padding_mode`` set: that convolution's padding *copies* input
cells into its border, so its adjoint *adds* each border cell back onto the cell it was copied from
(:func:`fold`): circular wraps around, reflect mirrors about the edge cell without repeating it,
replicate adds the whole border onto the edge cell. The adjoint of the fold is :func:`pad`, the
mode's ordinary padding, which the gradients use. The validity rules are those of PyTorch's padded
convolution for an input of the output's length (:func:`check_padding_mode`).
"""

from __future__ import annotations

from itertools import product
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from ._checks import is_int as _is_int
from .errors import ParameterError, ParameterTypeError

__all__ = [
    "PADDING_MODES",
    "NUMPY_PAD_MODES",
    "PADDING_STRINGS",
    "PaddingForm",
    "PaddingArg",
    "Pads",
    "normalize_padding",
    "fold_positions",
    "FoldPiece",
    "fold_pieces",
    "normalize_padding_mode",
    "axis_padding",
    "resolve_padding",
    "check_padding_mode",
    "fold",
    "pad",
    "describe_padding",
    "source_index",
    "fold_sources",
]

#: Padding modes, PyTorch's names (``padding_mode`` of ``nn.ConvNd``).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
#: String padding forms.
PADDING_STRINGS = ("valid", "same", "same_lower")

#: What ``padding`` accepts: an int, per-dimension ints or (before, after) pairs, or a form's name.
PaddingArg = Union[int, str, Sequence[Union[int, Sequence[int]]]]
#: Per-axis ``(before, after)`` border widths.
Pads = tuple[tuple[int, int], ...]
#: A normalized padding form: one of :data:`PADDING_STRINGS`, or explicit per-axis pairs.
PaddingForm = Union[str, Pads]

#: Largest padding value (positions are computed in 64-bit integers).
_MAX_INDEX = 2**62


def normalize_padding(padding: object, ndim: int) -> PaddingForm:
    """Turn a user's ``padding`` into a string form or per-axis ``(before, after)`` pairs.

    Parameters
    ----------
    padding : int, sequence of int or of (int, int) pairs, or str
        ``p``, ``(p0, p1, ...)``, ``((b0, a0), (b1, a1), ...)`` (entries may mix ints and
        pairs), or one of ``'valid'``, ``'same'``, ``'same_lower'``.
    ndim : int
        Number of spatial dimensions.

    Returns
    -------
    str or tuple of (int, int)

    Raises
    ------
    ParameterTypeError
        A value of the wrong type (a float, a bool, an unknown string type...).
    ParameterError
        A wrong number of entries, a pair that is not a pair, an unknown string, a negative or
        too large width.

    Examples
    --------
    >>> normalize_padding(1, 2)
    ((1, 1), (1, 1))
    >>> normalize_padding((1, (0, 2)), 2)
    ((1, 1), (0, 2))
    >>> normalize_padding("same", 3)
    'same'
    """
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ParameterError(
                f"padding string must be one of {', '.join(repr(s) for s in PADDING_STRINGS)}, got padding={padding!r}"
            )
        return padding
    if _is_int(padding):
        entries: list[object] = [padding] * ndim
    elif isinstance(padding, bytes) or not isinstance(padding, Sequence):
        raise ParameterTypeError(
            f"padding must be an int, a sequence of {ndim} ints or (before, after) pairs, or one of "
            f"{', '.join(repr(s) for s in PADDING_STRINGS)}; got {padding!r} of type {type(padding).__name__}"
        )
    else:
        entries = list(padding)
        if len(entries) != ndim:
            raise ParameterError(
                f"expected padding to be a single integer value, a string, or a sequence of {ndim} values "
                f"(ints or (before, after) pairs) to match the convolution dimensions, but got "
                f"padding={_show(padding)}"
            )
    pairs = tuple(_pair(entry, axis, padding) for axis, entry in enumerate(entries))
    # messages show the normalized value: per-dimension ints when symmetric, else the pairs
    shown = tuple(b for b, _ in pairs) if all(b == a for b, a in pairs) else pairs
    for axis, pair in enumerate(pairs):
        if min(pair) < 0:
            where = "" if pair[0] == pair[1] else f" (dimension {axis}: (before, after) = {pair})"
            raise ParameterError(f"padding must be non-negative (>= 0), got padding={shown}{where}")
        if max(pair) > _MAX_INDEX:
            raise ParameterError(
                f"padding must be at most 2**62 = {_MAX_INDEX} (positions are computed in 64-bit integers), "
                f"got padding={shown}"
            )
    return pairs


def _show(padding: object) -> str:
    if isinstance(padding, (list, tuple)):
        return repr(tuple(tuple(e) if isinstance(e, list) else e for e in padding))
    return repr(padding)


def _pair(entry: object, axis: int, padding: object) -> tuple[int, int]:
    if _is_int(entry):
        return (int(entry), int(entry))
    if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence):
        raise ParameterTypeError(
            f"padding must contain only ints or (before, after) pairs of ints, got padding={_show(padding)} "
            f"(offending entry {entry!r} of type {type(entry).__name__} in dimension {axis})"
        )
    items = list(entry)
    if len(items) != 2:
        raise ParameterError(
            f"each per-dimension padding must be an int or a (before, after) pair, got padding={_show(padding)} "
            f"(dimension {axis} has {len(items)} entries: {tuple(items)!r})"
        )
    bad = [item for item in items if not _is_int(item)]
    if bad:
        raise ParameterTypeError(
            f"padding pairs must hold ints, got padding={_show(padding)} (offending entry {bad[0]!r} of type "
            f"{type(bad[0]).__name__} in dimension {axis})"
        )
    return (int(items[0]), int(items[1]))


def normalize_padding_mode(padding_mode: object) -> str:
    """Check a ``padding_mode`` name.

    Examples
    --------
    >>> normalize_padding_mode("reflect")
    'reflect'
    """
    if not isinstance(padding_mode, str):
        raise ParameterTypeError(
            f"padding_mode must be a str, one of {', '.join(repr(m) for m in PADDING_MODES)}; got {padding_mode!r} "
            f"of type {type(padding_mode).__name__}"
        )
    if padding_mode not in PADDING_MODES:
        raise ParameterError(
            f"padding_mode must be one of {', '.join(repr(m) for m in PADDING_MODES)}, got padding_mode={padding_mode!r}"
        )
    return padding_mode


def same_total(kernel_size: int, stride: int, dilation: int, output_padding: int = 0) -> int:
    """Border width of ``'same'`` on one axis: ``d·(k - 1) + 1 - s + output_padding`` (may be < 0)."""
    return dilation * (kernel_size - 1) + 1 - stride + output_padding


def axis_padding(
    form: PaddingForm, axis: int, kernel_size: int, stride: int, dilation: int, output_padding: int = 0
) -> tuple[int, int, int]:
    """``(before, after, output_padding)`` of one axis for a normalized padding form.

    The output padding is returned because ``'same'`` with a kernel shorter than the stride adds
    its missing cells as output padding.

    Examples
    --------
    >>> axis_padding("same", 0, kernel_size=4, stride=2, dilation=1)   # total 4 - 1 + 1 - 2 = 2
    (1, 1, 0)
    >>> axis_padding("same", 0, kernel_size=3, stride=2, dilation=1)   # total 1: odd cell at the end
    (0, 1, 0)
    >>> axis_padding("same_lower", 0, kernel_size=3, stride=2, dilation=1)
    (1, 0, 0)
    >>> axis_padding("same", 0, kernel_size=1, stride=3, dilation=1)   # total -2: two cells added
    (0, 0, 2)
    """
    if form == "valid":
        return (0, 0, output_padding)
    if form in ("same", "same_lower"):
        total = same_total(kernel_size, stride, dilation, output_padding)
        if total < 0:
            return (0, 0, output_padding - total)
        small, large = total // 2, total - total // 2
        return (small, large, output_padding) if form == "same" else (large, small, output_padding)
    if isinstance(form, str):
        raise ParameterError(f"padding string must be one of {', '.join(repr(p) for p in PADDING_STRINGS)}, got {form!r}")
    before, after = form[axis]
    return (before, after, output_padding)


def resolve_padding(
    form: PaddingForm,
    kernel_spatial: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
) -> tuple[Pads, tuple[int, ...]]:
    """Per-axis ``(before, after)`` pairs and effective output padding for a padding form.

    Examples
    --------
    >>> resolve_padding("same", (3, 4), (2, 2), (1, 1), (0, 0))
    (((0, 1), (1, 1)), (0, 0))
    """
    axes = [
        axis_padding(form, axis, k, s, d, op)
        for axis, (k, s, d, op) in enumerate(zip(kernel_spatial, stride, dilation, output_padding))
    ]
    return tuple((b, a) for b, a, _ in axes), tuple(op for _, _, op in axes)


def check_padding_mode(
    padding_mode: str, pads: Pads, output_spatial: Sequence[int], padding: object = None
) -> None:
    """PyTorch's rules for a padded convolution whose input has the output's size.

    The paired ordinary convolution pads an input of length ``out`` by ``(before, after)`` cells
    with ``padding_mode``: reflect needs both below ``out`` (the mirror does not repeat the edge
    cell), circular needs both at most ``out`` (it wraps around once); replicate and zeros accept
    any width.

    Raises
    ------
    ParameterError
        Naming the mode, the padding, the output size and the valid range.

    Examples
    --------
    >>> check_padding_mode("reflect", ((2, 2),), (2,))
    Traceback (most recent call last):
    ...
    convtranspose.errors.ParameterError: padding_mode='reflect' needs padding smaller than the output size in every dimension (the mirror does not repeat the edge cell), but dimension 0 has padding (before, after) = (2, 2) for an output of size 2 (valid range 0..1)
    """
    if padding_mode in ("zeros", "replicate"):
        return
    reflect = padding_mode == "reflect"
    for axis, ((before, after), out) in enumerate(zip(pads, output_spatial)):
        limit = out - 1 if reflect else out
        if before > limit or after > limit:
            shown = "" if padding is None else f" (padding={_show(padding)})"
            why = (
                "smaller than the output size in every dimension (the mirror does not repeat the edge cell)"
                if reflect
                else "at most the output size in every dimension (it wraps around once)"
            )
            raise ParameterError(
                f"padding_mode={padding_mode!r} needs padding {why}, but dimension {axis} has padding "
                f"(before, after) = {(before, after)} for an output of size {out}{shown} "
                f"(valid range 0..{limit})"
            )


# --------------------------------------------------------------------------------------------
# The fold and its adjoint
# --------------------------------------------------------------------------------------------

#: NumPy's (and dask's) ``pad`` mode of each padding mode.
NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(array: np.ndarray, pads: Pads, padding_mode: str) -> np.ndarray:
    """The paired convolution's padding: the last ``len(pads)`` axes padded by ``(before, after)``.

    ``zeros`` adds zeros, ``reflect`` mirrors without repeating the edge, ``replicate`` repeats the
    edge cell, ``circular`` wraps around (NumPy's ``constant``, ``reflect``, ``edge``, ``wrap``).
    It is the adjoint of :func:`fold`.

    Examples
    --------
    >>> pad(np.array([1, 2, 3]), ((2, 1),), "reflect").tolist()
    [3, 2, 1, 2, 3, 2]
    """
    widths = [(0, 0)] * (array.ndim - len(pads)) + [tuple(p) for p in pads]
    return np.pad(array, widths, mode=NUMPY_PAD_MODES[padding_mode])  # type: ignore[call-overload]


def fold(canvas: np.ndarray, pads: Pads, padding_mode: str) -> np.ndarray:
    """Add every border cell of ``canvas`` onto the cell that :func:`pad` copied it from.

    ``canvas``'s last ``len(pads)`` axes have length ``before + out + after``; the result is the
    inner ``out`` cells of each, a view of ``canvas``, which is modified in place (its border
    cells are added into its interior). Axes are folded one after the other (the modes are
    separable, corners fold twice). Each axis costs one pass over its border slabs.

    The rule per axis, ``x`` the interior and ``B``/``A`` the before/after border:

    * circular: ``x[out-b:] += B``, ``x[:a] += A``;
    * reflect: ``x[1:b+1] += B[::-1]``, ``x[out-1-a:out-1] += A[::-1]``;
    * replicate: ``x[0] += B.sum()``, ``x[out-1] += A.sum()``;
    * zeros: nothing is added (the crop).

    The widths must satisfy :func:`check_padding_mode`.

    Examples
    --------
    >>> fold(np.array([10., 20., 1., 2., 3., 30.]), ((2, 1),), "reflect").tolist()
    [1.0, 52.0, 13.0]
    >>> fold(np.array([10., 20., 1., 2., 3., 30.]), ((2, 1),), "circular").tolist()
    [31.0, 12.0, 23.0]
    >>> fold(np.array([10., 20., 1., 2., 3., 30.]), ((2, 1),), "replicate").tolist()
    [31.0, 2.0, 33.0]
    """
    lead = canvas.ndim - len(pads)
    interior = canvas
    for offset, (before, after) in enumerate(pads):
        axis = lead + offset
        length = interior.shape[axis]
        out = length - before - after

        def take(start: int, stop: int, step: int = 1, view: np.ndarray = interior, axis: int = axis) -> np.ndarray:
            index = [slice(None)] * view.ndim
            index[axis] = slice(start, stop, step)
            return view[tuple(index)]

        inner = take(before, before + out)
        if padding_mode != "zeros" and out > 0:
            head, tail = take(0, before), take(before + out, length)
            if padding_mode == "circular":
                if before:
                    take(out - before, out, view=inner)[...] += head
                if after:
                    take(0, after, view=inner)[...] += tail
            elif padding_mode == "reflect":
                if before:
                    take(1, before + 1, view=inner)[...] += np.flip(head, axis)
                if after:
                    take(out - 1 - after, out - 1, view=inner)[...] += np.flip(tail, axis)
            else:  # replicate
                if before:
                    take(0, 1, view=inner)[...] += head.sum(axis=axis, keepdims=True)
                if after:
                    take(out - 1, out, view=inner)[...] += tail.sum(axis=axis, keepdims=True)
        interior = inner
    return interior


def source_index(position: int, before: int, out: int, padding_mode: str) -> Optional[int]:
    """The input cell the paired convolution's padding copies into padded position ``position``.

    ``position`` counts from the start of the padded signal (``before`` border cells, then the
    ``out`` cells of the input ``x[0..out-1]``, then the after border). Returns None for a zeros
    border cell (nothing is copied there). The scalar form of :func:`fold_positions`.

    Examples
    --------
    >>> [source_index(p, 2, 3, "reflect") for p in range(6)]
    [2, 1, 0, 1, 2, 1]
    >>> [source_index(p, 2, 3, "circular") for p in range(6)]
    [1, 2, 0, 1, 2, 0]
    >>> [source_index(p, 2, 3, "replicate") for p in range(6)]
    [0, 0, 0, 1, 2, 2]
    """
    index = int(fold_positions(np.array([position - before]), out, padding_mode)[0])
    return None if index < 0 else index


def fold_positions(positions: np.ndarray, out: int, padding_mode: str) -> np.ndarray:
    """Where each canvas position lands in the output of length ``out``: the fold as an index map.

    ``positions`` count from the output window's first cell (a border cell before the window is
    negative, one after it is ``>= out``); the result is the output cell each one is added onto,
    ``-1`` where nothing is (a ``'zeros'`` border cell, dropped by the crop). Cells inside the
    window map to themselves. Positions must lie within the border widths
    :func:`check_padding_mode` allows (one wrap or mirror reaches them). The engine's scatter
    kernels fold with this map instead of cropping (every border cell goes straight to its cell),
    and their gathers read the gradient through it (that is :func:`pad`).

    Examples
    --------
    >>> fold_positions(np.arange(-2, 5), 3, "reflect").tolist()
    [2, 1, 0, 1, 2, 1, 0]
    >>> fold_positions(np.arange(-2, 5), 3, "zeros").tolist()
    [-1, -1, 0, 1, 2, -1, -1]
    """
    positions = np.asarray(positions, dtype=np.int64)
    inside = (positions >= 0) & (positions < out)
    if padding_mode == "zeros" or out <= 0:
        return np.where(inside, positions, -1)
    if padding_mode == "circular":
        return np.mod(positions, out)
    if padding_mode == "replicate":
        return np.clip(positions, 0, out - 1)
    return np.where(positions < 0, -positions, np.where(positions >= out, 2 * (out - 1) - positions, positions))


class FoldPiece(NamedTuple):
    """Part of an arithmetic progression of canvas positions and the output cells it lands on.

    ``source`` selects the progression's members (a slice of their indices); ``target`` the output
    cells they are added onto, one per member and in the same order (a negative step when the
    fold mirrors them), or, with ``reduce``, the single cell all of them are added onto
    (``'replicate'``'s edge cell). ``inside``: the members inside the output window.
    """

    source: slice
    target: slice
    reduce: bool
    inside: bool


def fold_pieces(first: int, step: int, count: int, out: int, padding_mode: str) -> tuple[FoldPiece, ...]:
    """Split the positions ``first + step·j`` (``j < count``) by where the fold sends them.

    Positions count from the output window's first cell, as in :func:`fold_positions`, and
    ``step > 0``. The pieces are the members inside the window (their own cells), those before it
    and those after it (folded by ``padding_mode``; dropped with ``'zeros'``); each piece maps its
    members onto distinct cells, or onto one cell with ``reduce``. The engine's NumPy kernels add
    a tap's or a phase's values piece by piece (and gather the gradient the same way), so a
    padding mode costs them the border's share and no canvas.

    Examples
    --------
    Positions -2, -1, 0, 1, 2, 3, 4 on an output of 4 cells: -2 and -1 mirror onto cells 2 and 1,
    4 onto cell 2 (or, with ``'replicate'``, all of -2 and -1 onto cell 0 and 4 onto cell 3):

    >>> [(p.source, p.target) for p in fold_pieces(-2, 1, 7, 4, "reflect")]
    [(slice(2, 6, None), slice(0, 4, 1)), (slice(0, 2, None), slice(2, 0, -1)), (slice(6, 7, None), slice(2, 3, 1))]
    >>> [(p.source, p.target, p.reduce) for p in fold_pieces(-2, 1, 7, 4, "replicate")][1:]
    [(slice(0, 2, None), slice(0, 1, None), True), (slice(6, 7, None), slice(3, 4, None), True)]
    """
    pieces = []
    lo = min(count, max(0, -(first // step)))  # first j with first + step*j >= 0
    hi = min(count, max(lo, -((first - out) // step)))  # first j with first + step*j >= out

    def position(j: int) -> int:
        return first + step * j

    if hi > lo:
        pieces.append(FoldPiece(slice(lo, hi), slice(position(lo), position(hi - 1) + 1, step), False, True))
    if padding_mode == "zeros" or out <= 0:
        return tuple(pieces)
    for start, stop in ((0, lo), (hi, count)):
        if stop <= start:
            continue
        a, b = (int(v) for v in fold_positions(np.array([position(start), position(stop - 1)]), out, padding_mode))
        if padding_mode == "replicate":
            target, reduce = slice(a, a + 1), True
        elif b >= a:
            target, reduce = slice(a, b + 1, step), False
        else:
            target, reduce = slice(a, b - 1 if b > 0 else None, -step), False
        pieces.append(FoldPiece(slice(start, stop), target, reduce, False))
    return tuple(pieces)


def fold_sources(
    pads: Pads, output_spatial: Sequence[int], padding_mode: str
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every border cell of the padded canvas and the output cell it folds onto.

    Returns ``[(canvas_index, output_index), ...]`` in C order of the canvas, for the cells outside
    the output window (none for ``'zeros'``). The canvas has ``before + out + after`` cells per axis.
    The explainer's fold step lists these; :func:`fold` adds them all at once.

    Examples
    --------
    >>> fold_sources(((1, 1),), (3,), "reflect")
    [((0,), (1,)), ((4,), (1,))]
    """
    if padding_mode == "zeros":
        return []
    axes = [range(b + o + a) for (b, a), o in zip(pads, output_spatial)]
    moves = []
    for index in product(*axes):
        if all(b <= c < b + o for c, (b, _), o in zip(index, pads, output_spatial)):
            continue
        target = tuple(
            source_index(c, b, o, padding_mode) for c, (b, _), o in zip(index, pads, output_spatial)
        )
        moves.append((tuple(index), tuple(int(t) for t in target if t is not None)))
    return moves


def describe_padding(form: PaddingForm) -> str:
    """A short text of a normalized form, for messages.

    Examples
    --------
    >>> describe_padding(((1, 2), (0, 0)))
    '((1, 2), (0, 0))'
    >>> describe_padding('same')
    "'same'"
    """
    return repr(form)
