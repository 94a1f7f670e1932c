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

from typing import Any, Callable, NamedTuple, Optional, Sequence, Union, cast

import numpy as np

from . import engine
from ._checks import as_array, is_int
from .errors import DTypeError, OutOfMemoryError, ParameterError, ParameterTypeError, ShapeError
from .padding import PaddingArg
from .plan import Hyper, Plan, as_operand, build_plan, compute_dtype
from .shape import conv_geometry
from .spec import ConvTransposeSpec, IntOrTuple, make_spec

__all__ = [
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_backward",
    "conv_transpose_input_grad",
    "conv_transpose_weight_grad",
    "conv_transpose_bias_grad",
    "conv_transpose_with_spec",
    "conv_transpose_backward_with_spec",
    "conv",
]

Runner = Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]


# --------------------------------------------------------------------------------------------
# The call cache: one routed plan (and forward runner) per call signature
#
# A call's validation, output shape and engine paths depend only on the operands' shapes and
# dtypes, the hyper-parameters and the engine's dispatch state (forced path, thread count). The
# first call with a given signature builds its plan (``plan.build_plan``), has the engine route
# it (``engine.route``) and, for a forward, prepares a *runner*: a closure specialised to that
# plan (``engine.forward_runner``). Later calls with the same signature look the pair up in a
# dict, which keeps the per-call Python overhead of small problems to a dict lookup. Only plain
# ndarrays, hyper-parameters that are ints or tuples of ints (``True`` hashes like ``1``, so bools
# must not reach the key) or a spec, and no ``output_size`` take this route; everything else
# builds its plan afresh. Errors are never cached.
# --------------------------------------------------------------------------------------------


class _Call(NamedTuple):
    plan: Plan
    run: Optional[Runner]  # the forward runner (None for a gradient's plan)


_RUNNERS: dict[tuple, _Call] = {}
_MAX_RUNNERS = 4096


def _plain(value: object) -> bool:
    """True for an int or a tuple of ints (never a bool): values that can key the cache."""
    kind = type(value)
    return kind is int or (kind is tuple and all(type(v) is int for v in value))  # type: ignore[attr-defined]


def _plain_padding(value: object) -> bool:
    """A padding that can key the cache: plain ints, a form's name, or a tuple of ints and int pairs."""
    kind = type(value)
    return kind is int or kind is str or (
        kind is tuple and all(type(v) is int or (type(v) is tuple and _plain(v)) for v in value)  # type: ignore[attr-defined]
    )


def _cache_key(
    op: str, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], hyper: Union[ConvTransposeSpec, Hyper],
    output_size: object,
) -> Optional[tuple]:
    """The call signature, or None when the arguments cannot key the cache."""
    if type(hyper) is not ConvTransposeSpec:
        stride, padding, output_padding, groups, dilation, padding_mode = hyper  # type: ignore[misc]
        if not (
            type(groups) is int and _plain(stride) and _plain_padding(padding) and _plain(output_padding)
            and _plain(dilation) and type(padding_mode) is str
        ):
            return None
    if output_size is not None:
        return None
    return (op, x.shape, x.dtype, w.shape, w.dtype, None if b is None else (b.shape, b.dtype), hyper, engine.dispatch_state())


def _new_call(
    op: str, ndim: Optional[int], x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray],
    hyper: Union[ConvTransposeSpec, Hyper], output_size: Optional[Sequence[int]], forward: bool,
) -> _Call:
    """Validate, plan and route a call (and prepare its forward runner)."""
    plan = engine.route(
        build_plan(
            op, ndim, x.shape, x.dtype, w.shape, w.dtype,
            None if b is None else b.shape, None if b is None else b.dtype, hyper, output_size,
        )
    )
    return _Call(plan, _runner(plan) if forward else None)


def _call(
    op: str, ndim: Optional[int], x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray],
    hyper: Union[ConvTransposeSpec, Hyper], output_size: Optional[Sequence[int]], forward: bool,
) -> _Call:
    """The cached :func:`_new_call` for this signature (built afresh when it cannot be cached)."""
    key = _cache_key(op, x, w, b, hyper, output_size)
    if key is None:
        return _new_call(op, ndim, x, w, b, hyper, output_size, forward)
    call = _RUNNERS.get(key)
    if call is None:
        call = _new_call(op, ndim, x, w, b, hyper, output_size, forward)
        if len(_RUNNERS) >= _MAX_RUNNERS:
            _RUNNERS.clear()
        _RUNNERS[key] = call
    return call


def _runner(plan: Plan) -> Runner:
    """The engine's runner for ``plan``, wrapped to add and remove the batch axis and the float16
    promotion when the call needs it."""
    kernel = engine.forward_runner(plan)
    if not plan.unbatched and plan.compute_dtype == plan.result_dtype:
        return kernel
    compute, result, unbatched = plan.compute_dtype, plan.result_dtype, plan.unbatched

    def run(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
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


def _forward(
    op: str, ndim: Optional[int], input: object, weight: object, bias: object,
    hyper: Union[ConvTransposeSpec, Hyper], output_size: Optional[Sequence[int]],
) -> np.ndarray:
    """One forward call: through its signature's cached runner when it has one, else planned afresh."""
    if type(input) is np.ndarray and type(weight) is np.ndarray and (bias is None or type(bias) is np.ndarray):
        key = _cache_key(op, input, weight, bias, hyper, output_size)
        call = None if key is None else _RUNNERS.get(key)
        if call is not None:
            try:
                return call.run(input, weight, bias)  # type: ignore[misc]  # a forward call has a runner
            except MemoryError as exc:
                raise _out_of_memory(op, exc) from exc
    x, w = as_operand("input", input), as_operand("weight", weight)
    b = None if bias is None else as_operand("bias", bias)
    try:
        if _cache_key(op, x, w, b, hyper, output_size) is not None:
            return _call(op, ndim, x, w, b, hyper, output_size, forward=True).run(x, w, b)  # type: ignore[misc]
        plan = _new_call(op, ndim, x, w, b, hyper, output_size, forward=False).plan
        return _finish(
            engine.forward(plan, _batched(x, plan), w.astype(plan.compute_dtype, copy=False),
                None if b is None else b.astype(plan.compute_dtype, copy=False)),
            plan,
        )
    except MemoryError as exc:
        raise _out_of_memory(op, exc) from exc


def _out_of_memory(op: str, exc: MemoryError) -> MemoryError:
    """Our :class:`OutOfMemoryError` for NumPy's MemoryError (a valid call too big for this machine)."""
    if isinstance(exc, OutOfMemoryError):
        return exc
    return OutOfMemoryError(f"{op}: not enough memory for this call ({exc})")


def _finish(array: np.ndarray, plan: Plan) -> np.ndarray:
    """Undo batching and the float16 promotion; always a fresh C-contiguous array."""
    if plan.unbatched:
        array = array[0]
    return np.ascontiguousarray(array.astype(plan.result_dtype, copy=False))


def _batched(array: np.ndarray, plan: Plan) -> np.ndarray:
    """An operand in the engine's form: batch axis added, in the compute dtype."""
    if plan.unbatched:
        array = array[np.newaxis]
    return array.astype(plan.compute_dtype, copy=False)


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------


def conv_transpose(
    input: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    padding_mode: str = "zeros",
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
        "conv_transpose", None, input, weight, bias,
        (stride, padding, output_padding, groups, dilation, padding_mode), output_size,
    )


def _fixed_rank(ndim: int) -> Callable[..., np.ndarray]:
    name = f"conv_transpose{ndim}d"

    def conv_transpose_nd(
        input: np.ndarray,
        weight: np.ndarray,
        bias: Optional[np.ndarray] = None,
        stride: IntOrTuple = 1,
        padding: PaddingArg = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        dilation: IntOrTuple = 1,
        *,
        output_size: Optional[Sequence[int]] = None,
        padding_mode: str = "zeros",
    ) -> np.ndarray:
        hyper = (stride, padding, output_padding, groups, dilation, padding_mode)
        return _forward(name, ndim, input, weight, bias, hyper, output_size)

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


def _check_grad_output(op: str, grad_output: np.ndarray, plan: Plan) -> np.ndarray:
    expected = plan.result_shape
    if grad_output.shape != expected:
        raise ShapeError(
            f"{op}: grad_output must have the forward output's shape {expected}, "
            f"got grad_output of shape {grad_output.shape}"
        )
    if grad_output.dtype != plan.result_dtype:
        raise DTypeError(
            f"{op}: grad_output dtype {grad_output.dtype} must match the input dtype {plan.result_dtype}"
        )
    return _batched(grad_output, plan)


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
    if not all(is_int(v) and v >= 0 for v in value):
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
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    need_input_grad: bool = True,
    need_weight_grad: bool = True,
    padding_mode: str = "zeros",
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
    hyper = (stride, padding, output_padding, groups, dilation, padding_mode)
    return _backward(
        "conv_transpose_backward", grad_output, input, weight, hyper, output_size,
        bias=bias, need_input_grad=need_input_grad, need_weight_grad=need_weight_grad,
    )


def _backward(
    op: str,
    grad_output: object,
    input: object,
    weight: object,
    hyper: Union[ConvTransposeSpec, Hyper],
    output_size: Optional[Sequence[int]],
    *,
    bias: object,
    need_input_grad: object,
    need_weight_grad: object,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """The gradients of one call through its (cached) plan."""
    flags = {name: _flag(op, name, value) for name, value in
             (("bias", bias), ("need_input_grad", need_input_grad), ("need_weight_grad", need_weight_grad))}
    x, w = as_operand("input", input), as_operand("weight", weight)
    plan = _call(op, None, x, w, None, hyper, output_size, forward=False).plan
    gy = _check_grad_output(op, as_operand("grad_output", grad_output), plan)
    xb, wc = _batched(x, plan), w.astype(plan.compute_dtype, copy=False)
    if plan.compute_dtype.kind == "c":
        # PyTorch's complex gradients are A^H g: the real rule with conjugated operands
        xb, wc = np.conj(xb), np.conj(wc)
    try:
        grad_x, grad_w, grad_b = engine.backward(
            plan,
            gy,
            xb,
            wc,
            need_input=flags["need_input_grad"],
            need_weight=flags["need_weight_grad"],
            need_bias=flags["bias"],
        )
        return (
            None if grad_x is None else _finish(grad_x, plan),
            None if grad_w is None else np.ascontiguousarray(grad_w.astype(plan.result_dtype, copy=False)),
            None if grad_b is None else np.ascontiguousarray(grad_b.astype(plan.result_dtype, copy=False)),
        )
    except MemoryError as exc:
        raise _out_of_memory(op, exc) from exc


def conv_transpose_with_spec(
    input: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray],
    spec: ConvTransposeSpec,
    output_size: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """:func:`conv_transpose` with hyper-parameters normalized before (a layer's spec).

    Examples
    --------
    >>> import numpy as np
    >>> from convtranspose import make_spec
    >>> conv_transpose_with_spec(np.ones((1, 1, 2)), np.ones((1, 1, 2)), None, make_spec(1, stride=2)).tolist()
    [[[1.0, 1.0, 1.0, 1.0]]]
    """
    return _forward("conv_transpose", None, input, weight, bias, spec, output_size)


def conv_transpose_backward_with_spec(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    spec: ConvTransposeSpec,
    output_size: Optional[Sequence[int]] = None,
    *,
    bias: bool = True,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """:func:`conv_transpose_backward` with hyper-parameters normalized before (a layer's spec)."""
    return _backward(
        "conv_transpose_backward", grad_output, input, weight, spec, output_size,
        bias=bias, need_input_grad=True, need_weight_grad=True,
    )


def conv_transpose_input_grad(
    grad_output: np.ndarray,
    input_shape: Sequence[int],
    weight: np.ndarray,
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    padding_mode: str = "zeros",
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
    weight_array = as_operand("weight", weight)
    stand_in = _stand_in("input_shape", input_shape, weight_array.dtype)
    grad_x, _, _ = _backward(
        "conv_transpose_backward", grad_output, stand_in, weight_array,
        (stride, padding, output_padding, groups, dilation, padding_mode),
        output_size, bias=False, need_input_grad=True, need_weight_grad=False,
    )
    return cast(np.ndarray, grad_x)  # requested, so computed


def conv_transpose_weight_grad(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight_shape: Sequence[int],
    *,
    stride: IntOrTuple = 1,
    padding: PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Optional[Sequence[int]] = None,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Gradient w.r.t. the weight only (``input`` correlated with ``grad_output``).

    ``weight_shape`` is ``(C_in, C_out / groups, *kernel)``. No input gradient is computed.

    Examples
    --------
    >>> import numpy as np
    >>> conv_transpose_weight_grad(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), (1, 1, 2, 2))[0, 0].tolist()
    [[4.0, 4.0], [4.0, 4.0]]
    """
    input_array = as_operand("input", input)
    stand_in = _stand_in("weight_shape", weight_shape, input_array.dtype)
    _, grad_w, _ = _backward(
        "conv_transpose_backward", grad_output, input_array, stand_in,
        (stride, padding, output_padding, groups, dilation, padding_mode),
        output_size, bias=False, need_input_grad=False, need_weight_grad=True,
    )
    return cast(np.ndarray, grad_w)  # requested, so computed


def conv_transpose_bias_grad(grad_output: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the bias: ``grad_output`` summed over every axis but the channel axis.

    ``grad_output`` is batched ``(N, C_out, *S)``; for an unbatched ``(C_out, *S)`` use
    ``grad_output[None]``.
    """
    gy = as_operand("grad_output", grad_output)
    if gy.ndim < 3:
        raise ShapeError(f"conv_transpose_bias_grad: expected a batched (N, C_out, *S) grad_output, got shape {gy.shape}")
    return np.ascontiguousarray(engine.bias_grad(gy.astype(compute_dtype(gy.dtype), copy=False)).astype(gy.dtype))


# --------------------------------------------------------------------------------------------
# The adjoint: the ordinary convolution whose adjoint conv_transpose is (its input gradient)
# --------------------------------------------------------------------------------------------


def conv_shapes(
    y_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: IntOrTuple, padding: PaddingArg, groups: int,
    dilation: IntOrTuple,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validate :func:`conv`'s shapes and parameters; return its output shape and the paired ``output_padding``.

    ``conv(y)`` has the shape of the input of the transposed convolution with the same parameters
    and ``output_padding`` that maps it back to ``y``'s spatial size (:func:`conv_geometry`).
    Shared by the in-memory and the dask ``conv`` (the same rules and messages).
    """
    if len(w_shape) < 3:
        raise ShapeError(f"conv: weight must have shape (C_in, C_out / groups, *kernel), got weight of shape {w_shape}")
    ndim = len(w_shape) - 2
    if len(y_shape) not in (ndim + 1, ndim + 2):
        raise ShapeError(
            f"conv: expected a {ndim + 1}-d (unbatched) or {ndim + 2}-d (batched) input for a {ndim + 2}-d weight, "
            f"got input of shape {y_shape}"
        )
    # stride, dilation and groups follow conv_transpose's rules (and messages); padding is checked
    # by conv_geometry, which also accepts the forms conv_transpose takes.
    make_spec(ndim, stride=stride, dilation=dilation, groups=groups)
    channels = y_shape[-ndim - 1]
    if channels != w_shape[1] * groups:
        raise ShapeError(
            f"conv: the input must have weight.shape[1] * groups = {w_shape[1]} * {groups} channels, got input of "
            f"shape {y_shape}"
        )
    spatial, output_padding = conv_geometry(y_shape[-ndim:], w_shape[2:], stride, padding, dilation)
    return y_shape[: len(y_shape) - ndim - 1] + (w_shape[0],) + spatial, output_padding


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
    input_shape, op = conv_shapes(y.shape, w.shape, stride, padding, groups, dilation)
    ndim = w.ndim - 2
    hyper: dict[str, Any] = dict(
        stride=stride, padding=padding, output_padding=op, groups=groups, dilation=dilation, padding_mode=padding_mode
    )
    # The input gradient is the adjoint: for complex weights it conjugates them, which conv must not.
    w_plain = np.conj(w) if np.iscomplexobj(w) else w
    out = conv_transpose_input_grad(y, input_shape, w_plain, **hyper)
    if bias is not None:
        b = as_array("bias", bias)
        if b.shape != (w.shape[0],):
            raise ShapeError(f"conv: bias must have shape ({w.shape[0]},) (C_in = weight.shape[0]), got bias of shape {b.shape}")
        out += b.astype(out.dtype, copy=False).reshape((-1,) + (1,) * ndim)
    return out
