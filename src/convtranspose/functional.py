"""Functional API: ``conv_transpose`` (N-d), ``conv_transpose1d/2d/3d`` and their gradients.

Semantics are PyTorch's (``torch.nn.functional.conv_transpose*d``). Shapes::

    input   (N, C_in, *S_in)  or unbatched (C_in, *S_in)
    weight  (C_in, C_out / groups, *kernel)
    bias    (C_out,)
    output  (N, C_out, *S_out), per dimension
            S_out = (S_in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1

Beyond PyTorch, every function also takes ``output_size`` (PyTorch has it only on the module).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import NamedTuple, Optional, Sequence

import numpy as np

from . import engine
from .errors import DTypeError, OutOfMemoryError, OutputSizeError, ParameterError, ParameterTypeError, ShapeError
from .shape import resolve_output_padding, spatial_output_shape
from .spec import ConvTransposeSpec, IntOrTuple, _freeze, _is_int, _types, make_spec

__all__ = [
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_backward",
    "conv_transpose_input_grad",
    "conv_transpose_weight_grad",
    "conv_transpose_bias_grad",
    "check_call",
]

_SUPPORTED = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------------------------
# Operand checking
# --------------------------------------------------------------------------------------------


def _as_array(name: str, value: object) -> np.ndarray:
    """``value`` as a plain ndarray (a view of an ndarray subclass; masked arrays are refused)."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, np.ma.MaskedArray):
        raise ParameterTypeError(
            f"{name} is a masked array; masked entries have no value to convolve, so pass "
            f"{name}.filled(v) with the value v they should take"
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{name} cannot be made into a rectangular array of numbers ({exc})") from exc


def _as_float_array(name: str, value: object) -> np.ndarray:
    """``value`` as an ndarray of a supported float dtype (no copy when it already is one)."""
    array = _as_array(name, value)
    _check_float_dtype(name, array.dtype)
    return array


def _check_float_dtype(name: str, dtype: np.dtype) -> None:
    if dtype not in _SUPPORTED:
        raise DTypeError(
            f"{name} must be a floating-point array of dtype float16, float32 or float64, got dtype {dtype}"
        )


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """float16 is computed in float32 (NumPy has no fast half-precision GEMM)."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _check_same_dtype(dtypes: dict[str, Optional[np.dtype]]) -> np.dtype:
    present = {name: dtype for name, dtype in dtypes.items() if dtype is not None}
    distinct = set(present.values())
    if len(distinct) > 1:
        listed = ", ".join(f"{name} is {dtype}" for name, dtype in present.items())
        raise DTypeError(f"all operands must have the same dtype, but {listed}")
    return distinct.pop()


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


def _make_spec(
    op, ndim, x_spatial, kernel, stride, padding, output_padding, groups, dilation, output_size, unbatched=False
):
    spec = make_spec(
        ndim, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups
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
    return spec


@dataclass(frozen=True)
class _CallPlan:
    """Everything a call needs that depends only on shapes, dtypes and hyper-parameters."""

    spec: ConvTransposeSpec
    unbatched: bool
    result_dtype: np.dtype
    compute_dtype: np.dtype
    output_spatial: tuple[int, ...]


def _plan(
    op, x_shape, x_dtype, w_shape, w_dtype, b_shape, b_dtype,
    stride, padding, output_padding, groups, dilation, output_size, ndim,
) -> _CallPlan:
    """Validate a call from its shapes, dtypes and hyper-parameters (no array is touched)."""
    ndim = _check_weight(op, w_shape, ndim)
    unbatched = _check_input(op, x_shape, ndim)
    dtype = _check_same_dtype({"input": x_dtype, "weight": w_dtype, "bias": b_dtype})
    x_spatial, kernel = x_shape[-ndim:], w_shape[2:]
    spec = _make_spec(
        op, ndim, x_spatial, kernel, stride, padding, output_padding, groups, dilation, output_size, unbatched
    )
    _check_channels(op, x_shape[-ndim - 1], w_shape, spec)
    if b_shape is not None:
        _check_bias(op, b_shape, w_shape[1] * spec.groups)
    output_spatial = spatial_output_shape(x_spatial, kernel, spec)
    out_shape = x_shape[:-ndim - 1] + (w_shape[1] * spec.groups,) + output_spatial
    if prod(out_shape) * dtype.itemsize > _MAX_ARRAY_BYTES:
        raise OutputSizeError(
            f"{op}: the output would have shape {out_shape}, {prod(out_shape) * dtype.itemsize} bytes: more than "
            f"any array can hold (at most {_MAX_ARRAY_BYTES} bytes)"
        )
    return _CallPlan(spec, unbatched, dtype, _compute_dtype(dtype), output_spatial)


#: NumPy's limit on an array's size in bytes.
_MAX_ARRAY_BYTES = np.iinfo(np.intp).max


@lru_cache(maxsize=1024)
def _cached_plan(*key) -> _CallPlan:
    return _plan(*key[:-1])  # the last entry only keeps bools apart from ints in the key


def _call_plan(*args) -> _CallPlan:
    """:func:`_plan`, cached when the arguments are hashable (errors are re-raised, never cached)."""
    params = tuple(_freeze(a) for a in args[7:])  # shapes and dtypes are hashable already
    frozen = args[:7] + params
    key = frozen + (_types(*params),)
    try:
        hash(key)
    except TypeError:
        return _plan(*frozen)
    return _cached_plan(*key)


def check_call(
    op: str,
    input_shape: tuple[int, ...],
    input_dtype: np.dtype,
    weight: object,
    bias: object = None,
    *,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    ndim: Optional[int] = None,
) -> tuple[_CallPlan, np.ndarray, Optional[np.ndarray]]:
    """Validate a forward call whose input is known only by its shape and dtype.

    For adapters whose input is not in memory (``convtranspose.dask``): the same checks, in the
    same order and with the same errors, as ``conv_transpose(input, weight, bias, ...)`` makes
    before it computes anything. Returns the call's plan (resolved spec, batching, dtypes, output
    spatial shape) and the weight and bias as ndarrays.

    Examples
    --------
    >>> import numpy as np
    >>> plan, w, b = check_call("conv_transpose", (1, 1, 4, 4), np.dtype("float64"), np.ones((1, 2, 3, 3)),
    ...                         stride=2, padding=1)
    >>> plan.output_spatial, plan.unbatched
    ((7, 7), False)
    """
    _check_float_dtype("input", np.dtype(input_dtype))
    w = _as_float_array("weight", weight)
    b = None if bias is None else _as_float_array("bias", bias)
    plan = _call_plan(
        op, tuple(input_shape), np.dtype(input_dtype), w.shape, w.dtype,
        None if b is None else b.shape, None if b is None else b.dtype,
        stride, padding, output_padding, groups, dilation, output_size, ndim,
    )
    return plan, w, b


class _Operands(NamedTuple):
    """Validated, batched operands in the compute dtype, plus what is needed to undo batching."""

    x: np.ndarray
    weight: np.ndarray
    bias: Optional[np.ndarray]
    spec: ConvTransposeSpec
    unbatched: bool
    result_dtype: np.dtype
    output_spatial: tuple[int, ...]


def _prepare(
    op: str,
    input: object,
    weight: object,
    bias: object,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
    output_size: Optional[Sequence[int]],
    ndim: Optional[int] = None,
) -> _Operands:
    x = _as_float_array("input", input)
    w = _as_float_array("weight", weight)
    b = None if bias is None else _as_float_array("bias", bias)
    plan = _call_plan(
        op, x.shape, x.dtype, w.shape, w.dtype,
        None if b is None else b.shape, None if b is None else b.dtype,
        stride, padding, output_padding, groups, dilation, output_size, ndim,
    )
    compute = plan.compute_dtype
    if plan.unbatched:
        x = x[np.newaxis]
    return _Operands(
        x=x.astype(compute, copy=False),
        weight=w.astype(compute, copy=False),
        bias=None if b is None else b.astype(compute, copy=False),
        spec=plan.spec,
        unbatched=plan.unbatched,
        result_dtype=plan.result_dtype,
        output_spatial=plan.output_spatial,
    )


def _finish(array: np.ndarray, ops: _Operands) -> np.ndarray:
    """Undo batching and the float16 promotion; always a fresh C-contiguous array."""
    if ops.unbatched:
        array = array[0]
    return np.ascontiguousarray(array.astype(ops.result_dtype, copy=False))


# --------------------------------------------------------------------------------------------
# Forward call cache
#
# A forward call's validation, output shape and engine path depend only on the operands' shapes
# and dtypes, the hyper-parameters and the engine's dispatch state (forced path, thread count).
# The first call with a given signature validates through the general path above and builds a
# *runner*: a closure specialised to that signature (see ``engine.forward_runner``). Later calls
# with the same signature look the runner up in a dict and call it, which keeps the per-call
# Python overhead of small problems to a dict lookup. Only plain ndarrays and hyper-parameters
# that are ints or tuples of ints take this route (``True`` hashes like ``1``, so bools must not
# reach the key); everything else goes through the general path. Errors are never cached.
# --------------------------------------------------------------------------------------------

_RUNNERS: dict = {}
_MAX_RUNNERS = 4096


def _plain(value: object) -> bool:
    """True for an int or a tuple of ints (never a bool): values that can key the runner cache."""
    kind = type(value)
    return kind is int or (kind is tuple and all(type(v) is int for v in value))


def _make_runner(op, ndim, x, w, b, stride, padding, output_padding, groups, dilation):
    plan, _, _ = check_call(
        op, x.shape, x.dtype, w, b, stride=stride, padding=padding, output_padding=output_padding, groups=groups,
        dilation=dilation, ndim=ndim,
    )
    batched_shape = (1,) + x.shape if plan.unbatched else x.shape
    kernel = engine.forward_runner(batched_shape, w.shape, plan.spec, plan.compute_dtype)
    if not plan.unbatched and plan.compute_dtype == plan.result_dtype:
        return kernel
    compute, result, unbatched = plan.compute_dtype, plan.result_dtype, plan.unbatched

    def run(x, w, b):
        if unbatched:
            x = x[np.newaxis]
        out = kernel(
            x.astype(compute, copy=False), w.astype(compute, copy=False),
            None if b is None else b.astype(compute, copy=False),
        )
        if unbatched:
            out = out[0]
        return np.ascontiguousarray(out.astype(result, copy=False))

    return run


def _forward(op, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size):
    """One forward call: through the runner cache when possible, else the general path."""
    if (
        type(input) is np.ndarray
        and type(weight) is np.ndarray
        and (bias is None or type(bias) is np.ndarray)
        and output_size is None
        and type(groups) is int
        and _plain(stride)
        and _plain(padding)
        and _plain(output_padding)
        and _plain(dilation)
    ):
        key = (
            op, input.shape, input.dtype, weight.shape, weight.dtype,
            None if bias is None else (bias.shape, bias.dtype),
            stride, padding, output_padding, groups, dilation, engine.dispatch_state(),
        )
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _make_runner(op, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation)
            if len(_RUNNERS) >= _MAX_RUNNERS:
                _RUNNERS.clear()
            _RUNNERS[key] = runner
        try:
            return runner(input, weight, bias)
        except MemoryError as exc:
            raise _out_of_memory(op, exc) from exc
    ops = _prepare(op, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, ndim)
    try:
        return _finish(engine.forward(ops.x, ops.weight, ops.bias, ops.spec), ops)
    except MemoryError as exc:
        raise _out_of_memory(op, exc) from exc


def _out_of_memory(op: str, exc: MemoryError) -> MemoryError:
    """Our :class:`OutOfMemoryError` for NumPy's MemoryError (a valid call too big for this machine)."""
    if isinstance(exc, OutOfMemoryError):
        return exc
    return OutOfMemoryError(f"{op}: not enough memory for this call ({exc})")


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------


def conv_transpose(
    input: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """N-d transposed convolution ("deconvolution"), PyTorch semantics.

    The number of spatial dimensions is ``weight.ndim - 2``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, *S_in) or (C_in, *S_in)
        float16, float32 or float64.
    weight : array_like, shape (C_in, C_out / groups, *kernel)
        Same dtype as ``input``.
    bias : array_like, shape (C_out,), optional
        Same dtype as ``input``.
    stride, padding, output_padding, dilation : int or tuple of int
        One value for every dimension, or one per dimension.
    groups : int
        ``C_in`` and ``C_out`` are split into ``groups`` independent blocks.
    output_size : sequence of int, optional
        Requested spatial output size (optionally with leading batch and channel sizes); picks
        ``output_padding`` within PyTorch's valid range. Mutually exclusive with ``output_padding``.

    Returns
    -------
    ndarray, shape (N, C_out, *S_out) or (C_out, *S_out)
        ``S_out = (S_in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``,
        a fresh C-contiguous array of the input's dtype.

    Raises
    ------
    DTypeError
        Non-float operands or mismatched dtypes.
    ShapeError, ParameterError, ParameterTypeError, OutputSizeError
        Invalid shapes or hyper-parameters; the message names the parameter, rule and value.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> k = np.array([[[[1.1, 2.2], [3.3, 4.4]]]])
    >>> conv_transpose(x, k).round(6)
    array([[[[ 0. ,  1.1,  2.2],
             [ 2.2, 11. , 11. ],
             [ 6.6, 18.7, 13.2]]]])
    """
    return _forward(
        "conv_transpose", None, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size
    )


def _fixed_rank(ndim: int):
    name = f"conv_transpose{ndim}d"

    def conv_transpose_nd(
        input: np.ndarray,
        weight: np.ndarray,
        bias: Optional[np.ndarray] = None,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        dilation: IntOrTuple = 1,
        *,
        output_size: Optional[Sequence[int]] = None,
    ) -> np.ndarray:
        return _forward(name, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)

    conv_transpose_nd.__name__ = conv_transpose_nd.__qualname__ = name
    conv_transpose_nd.__doc__ = f"""{ndim}-d transposed convolution, same signature as ``torch.nn.functional.{name}``.

    ``input`` is ``(N, C_in, {_dims(ndim)})`` or unbatched ``(C_in, {_dims(ndim)})``; ``weight`` is
    ``(C_in, C_out / groups, {_dims(ndim, 'k')})``. See :func:`conv_transpose` for every parameter,
    the output-size formula and the errors raised.

    Examples
    --------
    >>> import numpy as np
    >>> from convtranspose import {name}
    >>> {name}(np.ones((1, 1{', 2' * ndim})), np.ones((1, 1{', 2' * ndim}))).shape
    (1, 1{', 3' * ndim})
    """
    return conv_transpose_nd


def _dims(ndim: int, prefix: str = "S") -> str:
    return ", ".join(f"{prefix}{i}" for i in range(1, ndim + 1))


conv_transpose1d = _fixed_rank(1)
conv_transpose2d = _fixed_rank(2)
conv_transpose3d = _fixed_rank(3)


# --------------------------------------------------------------------------------------------
# Gradients (the engine explains the rules next to the forward)
# --------------------------------------------------------------------------------------------


def _check_grad_output(op: str, grad_output: np.ndarray, ops: _Operands, out_channels: int) -> np.ndarray:
    expected = (ops.x.shape[0], out_channels) + ops.output_spatial
    if ops.unbatched:
        expected = expected[1:]
    if grad_output.shape != expected:
        raise ShapeError(
            f"{op}: grad_output must have the forward output's shape {expected}, "
            f"got grad_output of shape {grad_output.shape}"
        )
    if grad_output.dtype != ops.result_dtype:
        raise DTypeError(
            f"{op}: grad_output dtype {grad_output.dtype} must match the input dtype {ops.result_dtype}"
        )
    batched = grad_output[np.newaxis] if ops.unbatched else grad_output
    return batched.astype(ops.x.dtype, copy=False)


def _flag(op: str, name: str, value: object) -> bool:
    """A yes/no argument: a bool (NumPy's included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    what = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else f"{value!r} of type {type(value).__name__}"
    hint = " (whether the forward had a bias, not the bias itself)" if name == "bias" else ""
    raise ParameterTypeError(f"{op}: {name} must be True or False{hint}, got {what}")


def _shape_argument(name: str, value: object) -> tuple[int, ...]:
    """A shape given as a sequence of non-negative ints."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ParameterTypeError(f"{name} must be a sequence of ints, got {value!r}")
    if not all(_is_int(v) and v >= 0 for v in value):
        raise ParameterError(f"{name} must contain only non-negative ints, got {name}={tuple(value)!r}")
    return tuple(int(v) for v in value)


def _stand_in(name: str, shape: object, dtype: np.dtype) -> np.ndarray:
    """A zero-stride array of the given shape: an operand whose values the gradient never reads."""
    return np.broadcast_to(np.zeros((), dtype=dtype), _shape_argument(name, shape))


def conv_transpose_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    *,
    bias: bool = True,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    need_input_grad: bool = True,
    need_weight_grad: bool = True,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """Gradients of :func:`conv_transpose` w.r.t. input, weight and bias.

    Parameters
    ----------
    grad_output : array_like, shape of the forward output
        Gradient of the loss w.r.t. the forward's output.
    input, weight : array_like
        The forward's operands.
    bias : bool
        Whether the forward had a bias (``grad_bias`` is None otherwise).
    stride, padding, output_padding, groups, dilation, output_size
        As in the forward.
    need_input_grad, need_weight_grad : bool
        Skip a gradient that is not needed (it is returned as None).

    Returns
    -------
    grad_input : ndarray, shape of ``input``, or None
    grad_weight : ndarray, shape of ``weight``, or None
    grad_bias : ndarray, shape (C_out,), or None

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2))
    >>> gx, gw, gb = conv_transpose_backward(np.ones((1, 1, 3, 3)), x, w)
    >>> gx[0, 0].tolist(), gw[0, 0].tolist(), gb.tolist()
    ([[4.0, 4.0], [4.0, 4.0]], [[4.0, 4.0], [4.0, 4.0]], [9.0])
    """
    op = "conv_transpose_backward"
    flags = {name: _flag(op, name, value) for name, value in
             (("bias", bias), ("need_input_grad", need_input_grad), ("need_weight_grad", need_weight_grad))}
    ops = _prepare(op, input, weight, None, stride, padding, output_padding, groups, dilation, output_size)
    out_channels = ops.weight.shape[1] * ops.spec.groups
    gy = _check_grad_output(op, _as_float_array("grad_output", grad_output), ops, out_channels)
    try:
        grad_x, grad_w, grad_b = engine.backward(
            gy,
            ops.x,
            ops.weight,
            ops.spec,
            need_input=flags["need_input_grad"],
            need_weight=flags["need_weight_grad"],
            need_bias=flags["bias"],
        )
        return (
            None if grad_x is None else _finish(grad_x, ops),
            None if grad_w is None else np.ascontiguousarray(grad_w.astype(ops.result_dtype, copy=False)),
            None if grad_b is None else np.ascontiguousarray(grad_b.astype(ops.result_dtype, copy=False)),
        )
    except MemoryError as exc:
        raise _out_of_memory(op, exc) from exc


def conv_transpose_input_grad(
    grad_output: np.ndarray,
    input_shape: Sequence[int],
    weight: np.ndarray,
    *,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Gradient w.r.t. the input only: an ordinary strided convolution of ``grad_output``.

    ``input_shape`` is the forward input's shape (batched or unbatched). No weight gradient is
    computed.

    Examples
    --------
    >>> import numpy as np
    >>> conv_transpose_input_grad(np.ones((1, 1, 3, 3)), (1, 1, 2, 2), np.ones((1, 1, 2, 2)))[0, 0].tolist()
    [[4.0, 4.0], [4.0, 4.0]]
    """
    weight_array = _as_float_array("weight", weight)
    stand_in = _stand_in("input_shape", input_shape, weight_array.dtype)
    hyper = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    grad_x, _, _ = conv_transpose_backward(
        grad_output, stand_in, weight_array, bias=False, output_size=output_size, need_weight_grad=False, **hyper
    )
    return grad_x


def conv_transpose_weight_grad(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight_shape: Sequence[int],
    *,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Gradient w.r.t. the weight only (``input`` correlated with ``grad_output``).

    ``weight_shape`` is ``(C_in, C_out / groups, *kernel)``. No input gradient is computed.

    Examples
    --------
    >>> import numpy as np
    >>> conv_transpose_weight_grad(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), (1, 1, 2, 2))[0, 0].tolist()
    [[4.0, 4.0], [4.0, 4.0]]
    """
    input_array = _as_float_array("input", input)
    stand_in = _stand_in("weight_shape", weight_shape, input_array.dtype)
    hyper = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    _, grad_w, _ = conv_transpose_backward(
        grad_output, input_array, stand_in, bias=False, output_size=output_size, need_input_grad=False, **hyper
    )
    return grad_w


def conv_transpose_bias_grad(grad_output: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the bias: ``grad_output`` summed over every axis but the channel axis.

    ``grad_output`` is batched ``(N, C_out, *S)``; for an unbatched ``(C_out, *S)`` use
    ``grad_output[None]``.
    """
    gy = _as_float_array("grad_output", grad_output)
    if gy.ndim < 3:
        raise ShapeError(f"conv_transpose_bias_grad: expected a batched (N, C_out, *S) grad_output, got shape {gy.shape}")
    return np.ascontiguousarray(engine.bias_grad(gy.astype(_compute_dtype(gy.dtype), copy=False)).astype(gy.dtype))

