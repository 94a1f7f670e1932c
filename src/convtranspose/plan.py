"""One plan per call: everything a call needs that depends only on shapes, dtypes and hyper-parameters.

:func:`build_plan` validates a call from its operands' shapes and dtypes and the public arguments
(or an already normalized :class:`~convtranspose.spec.ConvTransposeSpec`), and freezes the result
in a :class:`Plan`: the spec (with ``output_size`` resolved into ``output_padding``), the per-axis
geometry (crops resolved into ``(before, after)`` pairs), the batched input, weight and output
shapes, and the dtype policy. The engine fills in the paths it chose (``engine.route``) and
everything below the public functions reads the plan; nothing re-validates.

The functional API caches plans per call signature, so a repeated call pays for none of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Optional, Sequence, Union

import numpy as np

from .dtypes import SUPPORTED_DTYPES, as_operand, compute_dtype
from .errors import DTypeError, OutputSizeError, ParameterError, ShapeError
from .padding import check_padding_mode
from .shape import AxisGeometry, geometries, resolve_output_padding, spatial_output_shape
from .spec import ConvTransposeSpec, IntOrTuple, make_spec

__all__ = [
    "Plan",
    "Hyper",
    "build_plan",
    "is_dense",
    "is_pointwise",
    "SUPPORTED_DTYPES",
    "compute_dtype",
    "as_operand",
    "MAX_ARRAY_BYTES",
]

#: NumPy's limit on an array's size in bytes.
MAX_ARRAY_BYTES = int(np.iinfo(np.intp).max)

#: The public hyper-parameters as given:
#: ``(stride, padding, output_padding, groups, dilation, padding_mode)`` (the mode may be left out).
Hyper = tuple


@dataclass(frozen=True, eq=False)
class Plan:
    """A validated call: shapes, spec, geometry, dtype policy and the engine paths chosen.

    Attributes
    ----------
    spec : ConvTransposeSpec
        Normalized hyper-parameters, ``output_size`` already resolved into ``output_padding``.
    geometry : tuple of AxisGeometry
        Per spatial axis: sizes, the resolved crop ``(pad_before, pad_after)``, output length.
    input_shape, output_shape : tuple of int
        Batched ``(N, C_in, *S_in)`` and ``(N, C_out, *S_out)`` (an unbatched call has ``N = 1``).
    weight_shape : tuple of int
        ``(C_in, C_out / groups, *K)``.
    unbatched : bool
        The caller's input had no batch axis (it is added for the engine and removed after).
    has_bias : bool
        The forward has a bias.
    result_dtype, compute_dtype : numpy.dtype
        The caller's dtype and the one the engine computes in (float16 -> float32).
    forward_path, backward_path : str
        Engine paths for the forward and the gradients (empty until ``engine.route``).
    blas_threads : int
        Threads the BLAS may use in the forward: 0 for its pool's setting, 1 for a call too small
        to gain from more, or one with no GEMM (set by ``engine.route``).
    """

    spec: ConvTransposeSpec
    geometry: tuple[AxisGeometry, ...]
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    unbatched: bool
    has_bias: bool
    result_dtype: np.dtype
    compute_dtype: np.dtype
    forward_path: str = ""
    backward_path: str = ""
    blas_threads: int = 0

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.geometry)

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    @property
    def groups(self) -> int:
        return self.spec.groups

    @property
    def in_channels(self) -> int:
        return self.input_shape[1]

    @property
    def out_channels(self) -> int:
        return self.output_shape[1]

    @cached_property
    def per_group_in(self) -> int:
        """Input channels per group, ``C_in / groups``."""
        return self.input_shape[1] // self.spec.groups

    @property
    def per_group_out(self) -> int:
        """Output channels per group, ``C_out / groups`` (``weight.shape[1]``)."""
        return self.weight_shape[1]

    @cached_property
    def kernel(self) -> tuple[int, ...]:
        return self.weight_shape[2:]

    @cached_property
    def input_spatial(self) -> tuple[int, ...]:
        return self.input_shape[2:]

    @cached_property
    def output_spatial(self) -> tuple[int, ...]:
        return self.output_shape[2:]

    @cached_property
    def result_shape(self) -> tuple[int, ...]:
        """The output's shape as the caller sees it (no batch axis for an unbatched call)."""
        return self.output_shape[1:] if self.unbatched else self.output_shape

    @property
    def itemsize(self) -> int:
        return self.compute_dtype.itemsize

    @cached_property
    def depthwise(self) -> bool:
        """One input channel per group (``in_channels == groups``): no channel sums."""
        return self.input_shape[1] == self.spec.groups

    @cached_property
    def dense(self) -> bool:
        """One input position whose taps tile the output exactly (DCGAN's 1x1 -> 4x4 layer).

        Then tap ``t`` of the single input position *is* output position ``t``, and the layer is
        a dense map from ``C_in`` to ``C_out · prod(K)``.
        """
        return is_dense(self.geometry)

    @cached_property
    def pointwise(self) -> bool:
        """Kernel 1, stride 1, nothing cropped (a 1x1 layer): output position ``p`` is input
        position ``p`` mapped from ``C_in`` to ``C_out`` channels, with no scatter at all."""
        return is_pointwise(self.geometry)

    @cached_property
    def fold_mode(self) -> str:
        """The padding mode the engine folds the border with, ``'zeros'`` when it only crops.

        ``spec.padding_mode`` when the call has one and a border to fold (some ``pad_before`` or
        positive ``pad_after``), else ``'zeros'``: with no border a mode changes nothing. Every
        engine kernel sends each border cell to the output cell
        :func:`convtranspose.padding.fold_positions` names instead of dropping it.
        """
        if self.spec.padding_mode == "zeros":
            return "zeros"
        border = any(g.pad_before > 0 or g.pad_after > 0 for g in self.geometry)
        return self.spec.padding_mode if border else "zeros"

    @cached_property
    def fold_pads(self) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
        """The border ``(before, after)`` and output padding of each axis as the fold sees them.

        A negative ``pad_after`` (``'same'`` with a kernel shorter than the stride) adds cells at
        the end: for the fold that is no border and more output padding. The canvas the fold
        starts from has ``before + out + after`` cells per axis, which is the full canvas plus that
        output padding (:func:`convtranspose.shape.uncropped`).
        """
        pads = tuple((g.pad_before, max(g.pad_after, 0)) for g in self.geometry)
        ops = tuple(g.output_padding + max(-g.pad_after, 0) for g in self.geometry)
        return pads, ops

    @cached_property
    def tiles_exactly(self) -> bool:
        """The kernel copies tile the output without overlap, gaps or crop (kernel == stride).

        Then every output value comes from exactly one tap, so a scatter can *assign* instead of
        zero-filling the output and adding into it.
        """
        return all(g.dilation == 1 and g.stride == g.kernel_size and g.covers_canvas for g in self.geometry)

    @property
    def empty(self) -> bool:
        """The output has no elements (an empty batch)."""
        return self.output_shape[0] == 0 or self.output_shape[1] == 0

    @cached_property
    def reduction(self) -> int:
        """Most products summed into one output value: ``C_in / groups · prod(K)``."""
        return self.per_group_in * prod(self.kernel)


def is_dense(geometry: Sequence[AxisGeometry]) -> bool:
    """True when a layer is a dense map: one input position whose taps fill the output exactly."""
    return all(g.input_size == 1 and g.covers_canvas and g.full == g.kernel_size for g in geometry)


def is_pointwise(geometry: Sequence[AxisGeometry]) -> bool:
    """True when every input position is one output position: kernel 1, stride 1, nothing cropped
    or added. The layer is then a dense map from ``C_in`` to ``C_out`` at every position."""
    return all(g.kernel_size == 1 and g.stride == 1 and g.covers_canvas for g in geometry)


def build_plan(
    op: str,
    ndim: Optional[int],
    x_shape: tuple[int, ...],
    x_dtype: np.dtype,
    w_shape: tuple[int, ...],
    w_dtype: np.dtype,
    b_shape: Optional[tuple[int, ...]],
    b_dtype: Optional[np.dtype],
    hyper: Union[ConvTransposeSpec, Hyper],
    output_size: Optional[Sequence[int]] = None,
) -> Plan:
    """Validate a call from its shapes, dtypes and hyper-parameters (no array is touched).

    ``hyper`` is either the public ``(stride, padding, output_padding, groups, dilation)`` as
    given, or a spec normalized before (a layer's); ``ndim`` is None for the N-d functions (the
    weight decides). Errors name ``op``. The returned plan has no engine paths yet.
    """
    if isinstance(hyper, ConvTransposeSpec):
        ndim = hyper.ndim
    ndim = _check_weight(op, w_shape, ndim)
    unbatched = _check_input(op, x_shape, ndim)
    dtype = _check_same_dtype({"input": x_dtype, "weight": w_dtype, "bias": b_dtype})
    x_spatial, kernel = x_shape[-ndim:], w_shape[2:]
    if isinstance(hyper, ConvTransposeSpec):
        spec = hyper
    else:
        stride, padding, output_padding, groups, dilation, *mode = hyper
        padding_mode = mode[0] if mode else "zeros"
        spec = make_spec(
            ndim, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups,
            padding_mode=padding_mode,
        )
    if output_size is not None:
        if any(spec.output_padding):
            raise ParameterError(
                f"{op}: pass either output_size or output_padding, not both "
                f"(got output_size={output_size!r}, output_padding={spec.output_padding})"
            )
        # Like PyTorch, a full-shape output_size is (N, C, *S) batched but (C, *S) unbatched.
        non_spatial = 1 if unbatched else 2
        spec = spec.with_output_padding(resolve_output_padding(x_spatial, kernel, spec, output_size, non_spatial))
    _check_channels(op, x_shape[-ndim - 1], w_shape, spec)
    if b_shape is not None:
        _check_bias(op, b_shape, w_shape[1] * spec.groups)
    output_spatial = spatial_output_shape(x_spatial, kernel, spec)
    if spec.padding_mode != "zeros":
        geometry = geometries(x_spatial, kernel, spec)
        check_padding_mode(
            spec.padding_mode, tuple((g.pad_before, max(g.pad_after, 0)) for g in geometry), output_spatial,
            spec.padding,
        )
    out_shape = x_shape[:-ndim - 1] + (w_shape[1] * spec.groups,) + output_spatial
    if prod(out_shape) * dtype.itemsize > MAX_ARRAY_BYTES:
        raise OutputSizeError(
            f"{op}: the output would have shape {out_shape}, {prod(out_shape) * dtype.itemsize} bytes: more than "
            f"any array can hold (at most {MAX_ARRAY_BYTES} bytes)"
        )
    batched_x = (1,) + x_shape if unbatched else x_shape
    return Plan(
        spec=spec,
        geometry=geometries(x_spatial, kernel, spec),
        input_shape=tuple(batched_x),
        weight_shape=tuple(w_shape),
        output_shape=(batched_x[0], w_shape[1] * spec.groups) + tuple(output_spatial),
        unbatched=unbatched,
        has_bias=b_shape is not None,
        result_dtype=dtype,
        compute_dtype=compute_dtype(dtype),
    )


# --------------------------------------------------------------------------------------------
# Operand checks (shapes and dtypes only)
# --------------------------------------------------------------------------------------------


def _check_same_dtype(dtypes: dict[str, Optional[np.dtype]]) -> np.dtype:
    present = {name: dtype for name, dtype in dtypes.items() if dtype is not None}
    distinct = set(present.values())
    if len(distinct) > 1:
        listed = ", ".join(f"{name} is {dtype}" for name, dtype in present.items())
        kinds = {np.dtype(d).kind for d in distinct}
        why = " (as in PyTorch, real and complex operands are not mixed)" if "c" in kinds and len(kinds) > 1 else ""
        raise DTypeError(f"all operands must have the same dtype{why}, but {listed}")
    return np.dtype(distinct.pop())


def _check_weight(op: str, weight_shape: tuple[int, ...], ndim: Optional[int]) -> int:
    """Validate the weight's rank and sizes; return the number of spatial dimensions."""
    if ndim is None:
        if len(weight_shape) < 3:
            raise ShapeError(
                f"{op}: weight must have shape (in_channels, out_channels / groups, *kernel) with at "
                f"least one kernel dimension, got weight of shape {weight_shape}"
            )
        ndim = len(weight_shape) - 2
    elif len(weight_shape) != ndim + 2:
        raise ShapeError(
            f"{op}: expected a {ndim + 2}-d weight of shape (in_channels, out_channels / groups, "
            f"{', '.join(['k'] * ndim)}), got weight of shape {weight_shape}"
        )
    if any(size < 1 for size in weight_shape):
        raise ShapeError(f"{op}: every weight dimension must be positive, got weight of shape {weight_shape}")
    return ndim


def _check_input(op: str, x_shape: tuple[int, ...], ndim: int) -> bool:
    """Validate the input's rank; return True if it is unbatched."""
    if len(x_shape) not in (ndim + 1, ndim + 2):
        raise ShapeError(
            f"{op}: expected a {ndim + 1}-d (unbatched) or {ndim + 2}-d (batched) input, "
            f"got input of shape {x_shape}"
        )
    unbatched = len(x_shape) == ndim + 1
    non_batch = x_shape if unbatched else x_shape[1:]
    if any(size < 1 for size in non_batch):
        raise ShapeError(
            f"{op}: input channels and spatial sizes must be positive (only the batch may be empty), "
            f"got input of shape {x_shape}"
        )
    return unbatched


def _check_channels(op: str, x_channels: int, weight_shape: tuple[int, ...], spec: ConvTransposeSpec) -> None:
    if weight_shape[0] != x_channels:
        raise ShapeError(
            f"{op}: weight.shape[0] (in_channels) must equal the input's channel count, got weight of "
            f"shape {weight_shape} for an input with {x_channels} channels"
        )
    if x_channels % spec.groups != 0:
        raise ParameterError(
            f"{op}: groups must divide in_channels, got groups={spec.groups} for in_channels={x_channels}"
        )


def _check_bias(op: str, bias_shape: tuple[int, ...], out_channels: int) -> None:
    if bias_shape != (out_channels,):
        raise ShapeError(
            f"{op}: bias must have shape ({out_channels},) (out_channels = weight.shape[1] * groups), "
            f"got bias of shape {bias_shape}"
        )
