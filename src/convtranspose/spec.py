"""Normalized, validated hyper-parameters of a transposed convolution.

User-facing functions accept ``stride=2`` or ``stride=(1, 2)``; this module turns every such
int-or-tuple argument into a per-dimension tuple exactly once, checks PyTorch's rules on it, and
freezes the result in a :class:`ConvTransposeSpec`. Kernels and shape arithmetic only ever see a
spec, never raw user input.

The rules (all PyTorch's):

* ``stride``, ``dilation`` and the kernel size are positive;
* ``padding`` and ``output_padding`` are non-negative;
* ``output_padding`` is smaller than either ``stride`` or ``dilation`` in each dimension;
* ``groups`` is a positive integer.

Padding is stored per axis as a ``(before, after)`` pair (:attr:`ConvTransposeSpec.pads`): the
cells cropped from the start and from the end of the full canvas. PyTorch's ``padding=p`` is the
pair ``(p, p)``. Forms that depend on the kernel (such as ``'same'``) are not resolved here but when
a call's plan is built (:func:`convtranspose.shape.resolve_pads`); the engine only ever sees the
resolved geometry (crop start and output length per axis).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence, Union

from ._checks import is_int
from .errors import ParameterError, ParameterTypeError
from .padding import PADDING_MODES as _PADDING_MODES
from .padding import PaddingArg, normalize_padding, normalize_padding_mode

__all__ = ["IntOrTuple", "ConvTransposeSpec", "make_spec", "normalize_tuple", "PADDING_MODES", "MAX_INDEX"]

#: Largest number of spatial dimensions: NumPy arrays have at most 64 axes, and an input has two
#: more (batch and channels) than it has spatial dimensions.
MAX_SPATIAL_DIMS = 62
#: Largest hyper-parameter value and canvas length: the engine computes positions in int64.
MAX_INDEX = 2**62

IntOrTuple = Union[int, Sequence[int]]

#: Padding modes: ``'zeros'`` (PyTorch's crop) and the adjoints of PyTorch's padded convolution
#: (see :mod:`convtranspose.padding`).
PADDING_MODES = _PADDING_MODES


def normalize_tuple(value: IntOrTuple, ndim: int, name: str) -> tuple[int, ...]:
    """Turn an int or a length-``ndim`` sequence of ints into a tuple of ``ndim`` Python ints.

    Parameters
    ----------
    value : int or sequence of int
        The user's argument.
    ndim : int
        Number of spatial dimensions.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    tuple of int

    Raises
    ------
    ParameterTypeError
        If ``value`` is neither an integer nor a sequence of integers.
    ParameterError
        If the sequence does not have ``ndim`` entries.

    Examples
    --------
    >>> normalize_tuple(2, 3, "stride")
    (2, 2, 2)
    >>> normalize_tuple((1, 2), 2, "stride")
    (1, 2)
    """
    if is_int(value):
        return (int(value),) * ndim
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ParameterTypeError(
            f"{name} must be an int or a sequence of {ndim} ints, got {value!r} "
            f"of type {type(value).__name__}"
        )
    items = list(value)
    bad = [item for item in items if not is_int(item)]
    if bad:
        raise ParameterTypeError(
            f"{name} must contain only ints, got {name}={tuple(items)!r} "
            f"(offending entry {bad[0]!r} of type {type(bad[0]).__name__})"
        )
    if len(items) != ndim:
        raise ParameterError(
            f"expected {name} to be a single integer value or a sequence of {ndim} values to "
            f"match the convolution dimensions, but got {name}={tuple(items)!r}"
        )
    return tuple(int(item) for item in items)


def _require_all(values: tuple[int, ...], name: str, rule: str, ok: Callable[[int], bool]) -> None:
    if not all(ok(v) for v in values):
        raise ParameterError(f"{name} must be {rule}, got {name}={values}")


@dataclass(frozen=True)
class ConvTransposeSpec:
    """Hyper-parameters of one transposed convolution, one entry per spatial dimension.

    Build it with :func:`make_spec`, which validates; the constructor does not.

    Attributes
    ----------
    stride, output_padding, dilation : tuple of int
        Per-dimension values.
    pads : tuple of (int, int)
        Per-dimension ``(before, after)`` crop of the full canvas; PyTorch's ``padding=p`` is
        ``(p, p)``. Zeros when ``padding_form`` is a string (resolved per call, from the kernel).
    groups : int
        Number of channel groups.
    padding_mode : str
        How the border is treated: ``'zeros'`` (dropped, PyTorch's only mode), or ``'reflect'``,
        ``'replicate'``, ``'circular'`` (folded back: :mod:`convtranspose.padding`).
    padding_form : str
        ``'explicit'`` (``pads`` holds the crops), or ``'valid'``, ``'same'``, ``'same_lower'``
        (resolved by :func:`convtranspose.shape.resolve_pads` once the kernel is known).
    """

    stride: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    padding_mode: str = "zeros"
    padding_form: str = "explicit"

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.stride)

    @property
    def padding(self) -> Union[tuple, str]:
        """The padding as a user writes it: the form's name (``'same'``...), PyTorch's per-dimension
        ints when every pair is symmetric, else the ``(before, after)`` pairs."""
        if self.padding_form != "explicit":
            return self.padding_form
        if all(before == after for before, after in self.pads):
            return tuple(before for before, _ in self.pads)
        return self.pads

    def __hash__(self) -> int:
        # Specs key the engine's caches on every call: hash the fields once.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(
                (self.stride, self.pads, self.output_padding, self.dilation, self.groups, self.padding_mode,
                 self.padding_form)
            )
            object.__setattr__(self, "_hash", cached)
        return cached

    def with_output_padding(self, output_padding: tuple[int, ...]) -> "ConvTransposeSpec":
        """A copy with ``output_padding`` replaced and re-validated."""
        values = normalize_tuple(output_padding, self.ndim, "output_padding")
        _require_all(values, "output_padding", "non-negative (>= 0)", lambda v: v >= 0)
        _check_output_padding(values, self.stride, self.dilation)
        return replace(self, output_padding=values)


def make_spec(
    ndim: int,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> "ConvTransposeSpec":
    """Normalize and validate hyper-parameters into a :class:`ConvTransposeSpec`.

    Parameters
    ----------
    ndim : int
        Number of spatial dimensions (1, 2, 3, ...).
    stride, output_padding, dilation : int or sequence of int
        As in :func:`torch.nn.functional.conv_transpose2d`.
    padding : int, sequence of int or of (before, after) pairs, or str
        Any form of :func:`convtranspose.padding.normalize_padding`: ``1``, ``(1, 2)``,
        ``((1, 2), (0, 1))``, ``'valid'``, ``'same'``, ``'same_lower'``.
    groups : int
        Number of blocked connections from input to output channels.
    padding_mode : str
        ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Returns
    -------
    ConvTransposeSpec

    Raises
    ------
    ParameterTypeError, ParameterError
        With the parameter's name, the rule and the offending value.

    Examples
    --------
    >>> spec = make_spec(2, stride=(1, 2), padding=1)
    >>> spec.stride, spec.pads, spec.padding
    ((1, 2), ((1, 1), (1, 1)), (1, 1))
    >>> make_spec(2, padding=((1, 2), 0), padding_mode="reflect").padding
    ((1, 2), (0, 0))
    """
    return _build_spec(ndim, stride, padding, output_padding, dilation, groups, padding_mode)


def _build_spec(
    ndim: int,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> ConvTransposeSpec:
    if not is_int(ndim):
        raise ParameterTypeError(
            f"ndim (the number of spatial dimensions) must be an int, got {ndim!r} of type {type(ndim).__name__}"
        )
    if ndim < 1:
        raise ParameterError(f"ndim (the number of spatial dimensions) must be positive (>= 1), got ndim={ndim}")
    if ndim > MAX_SPATIAL_DIMS:
        raise ParameterError(
            f"ndim (the number of spatial dimensions) must be at most {MAX_SPATIAL_DIMS} (NumPy arrays have at "
            f"most 64 axes, two of them batch and channels), got ndim={ndim}"
        )
    stride_t = normalize_tuple(stride, ndim, "stride")
    form = normalize_padding(padding, ndim)
    output_padding_t = normalize_tuple(output_padding, ndim, "output_padding")
    dilation_t = normalize_tuple(dilation, ndim, "dilation")
    if not is_int(groups):
        raise ParameterTypeError(f"groups must be an int, got {groups!r} of type {type(groups).__name__}")

    _require_all(stride_t, "stride", "positive (>= 1)", lambda v: v >= 1)
    _require_all(dilation_t, "dilation", "positive (>= 1)", lambda v: v >= 1)
    _require_all(output_padding_t, "output_padding", "non-negative (>= 0)", lambda v: v >= 0)
    if groups < 1:
        raise ParameterError(f"groups must be a positive integer, got groups={groups}")
    sizes = {"stride": stride_t, "output_padding": output_padding_t, "dilation": dilation_t}
    for name, value in (*sizes.items(), ("groups", groups)):
        if max(value if isinstance(value, tuple) else (value,)) > MAX_INDEX:
            raise ParameterError(
                f"{name} must be at most 2**62 = {MAX_INDEX} (positions are computed in 64-bit integers), "
                f"got {name}={value}"
            )
    _check_output_padding(output_padding_t, stride_t, dilation_t)
    mode = normalize_padding_mode(padding_mode)
    explicit = not isinstance(form, str)
    return ConvTransposeSpec(
        stride=stride_t,
        pads=form if not isinstance(form, str) else ((0, 0),) * ndim,
        output_padding=output_padding_t,
        dilation=dilation_t,
        groups=int(groups),
        padding_mode=mode,
        padding_form="explicit" if explicit else form,  # type: ignore[arg-type]
    )


def _check_output_padding(output_padding: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    """PyTorch's rule: ``output_padding`` is smaller than either stride or dilation, per dimension."""
    for axis, (op, s, d) in enumerate(zip(output_padding, stride, dilation)):
        if op >= max(s, d):
            raise ParameterError(
                "output_padding must be smaller than either stride or dilation, but got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation} "
                f"(in dimension {axis}: {op} is not < max({s}, {d}); valid range 0..{max(s, d) - 1})"
            )
