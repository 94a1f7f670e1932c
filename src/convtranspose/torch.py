"""PyTorch adapter: convtranspose inside torch models, with autograd.

``ConvTranspose1d/2d/3d`` here are ``torch.nn.ConvTranspose1d/2d/3d`` subclasses — same constructor,
same ``weight``/``bias`` ``nn.Parameter``\\ s with PyTorch's layout ``(C_in, C_out / groups, *kernel)``
and PyTorch's initialisation, same ``state_dict`` — whose forward runs convtranspose's NumPy forward
and whose backward runs convtranspose's gradients, through a :class:`torch.autograd.Function`. A model
can therefore swap ``nn.ConvTranspose2d`` for ours and keep training, and gain what PyTorch's layer
lacks: every padding form and ``padding_mode`` convtranspose accepts (``padding='same'``, per-axis
``(before, after)`` pairs, ``padding_mode='reflect'``, ... — see :func:`convtranspose.conv_transpose`),
and ``output_size`` in the functional form too.

Tensors must live on the CPU (a CUDA or meta tensor is refused with
:class:`convtranspose.ParameterTypeError`); CPU tensors are shared with NumPy without a copy where
their memory layout allows (``Tensor.numpy()`` / ``torch.from_numpy``). The backward is first-order
only (``torch.autograd.function.once_differentiable``): a second derivative through it raises
PyTorch's error.

torch is an optional extra (``pip install convtranspose[torch]``); ``import convtranspose`` never
imports it.

Examples
--------
>>> import torch
>>> from convtranspose.torch import ConvTranspose2d
>>> _ = torch.manual_seed(0)
>>> layer = ConvTranspose2d(4, 2, kernel_size=3, stride=2, padding=1, output_padding=1)
>>> theirs = torch.nn.ConvTranspose2d(4, 2, kernel_size=3, stride=2, padding=1, output_padding=1)
>>> _ = theirs.load_state_dict(layer.state_dict())
>>> x = torch.randn(1, 4, 5, 5, dtype=torch.float32)
>>> bool(torch.allclose(layer(x), theirs(x), atol=1e-6))
True
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import functional
from .errors import ParameterTypeError
from .padding import normalize_padding_mode

__all__ = [
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "as_numpy",
    "as_tensor",
]

# --------------------------------------------------------------------------------------------
# Tensors <-> arrays
# --------------------------------------------------------------------------------------------


def _bfloat16() -> Any:
    """NumPy's bfloat16 (``ml_dtypes``), or None when it is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def as_numpy(name: str, tensor: object) -> np.ndarray:
    """A CPU tensor's data as an ndarray, without a copy where the layout allows.

    A conjugate or negative view (``x.conj()``) is materialised first; a bfloat16 tensor becomes an
    ``ml_dtypes.bfloat16`` array sharing its memory (when ml_dtypes is installed).

    Raises
    ------
    ParameterTypeError
        Not a tensor, not on the CPU, or not a dense (strided) tensor.

    Examples
    --------
    >>> t = torch.arange(6.0).reshape(2, 3)
    >>> a = as_numpy("input", t)
    >>> a[0, 1] = 10.0; float(t[0, 1])                  # the same memory
    10.0
    """
    if not isinstance(tensor, torch.Tensor):
        raise ParameterTypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ParameterTypeError(
            f"{name} is on device '{tensor.device}', but convtranspose computes with NumPy on the CPU: "
            f"move it with {name}.cpu() (or use torch's own layer on that device)"
        )
    if tensor.layout != torch.strided:
        raise ParameterTypeError(f"{name} must be a dense (strided) tensor, got layout {tensor.layout}; use .to_dense()")
    data = tensor.detach().resolve_conj().resolve_neg()
    if data.dtype == torch.bfloat16:
        bfloat16 = _bfloat16()
        if bfloat16 is not None:
            return data.view(torch.int16).numpy().view(bfloat16)
    return data.numpy()


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """An ndarray as a CPU tensor sharing its memory (bfloat16 arrays become bfloat16 tensors).

    Examples
    --------
    >>> a = np.zeros(3, np.float32)
    >>> t = as_tensor(a); t[0] = 1.0; a.tolist()
    [1.0, 0.0, 0.0]
    """
    bfloat16 = _bfloat16()
    if bfloat16 is not None and array.dtype == bfloat16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


# --------------------------------------------------------------------------------------------
# The autograd function: our forward, our backward
# --------------------------------------------------------------------------------------------


class _ConvTransposeFunction(torch.autograd.Function):
    """``y = conv_transpose(x, w, b)``; backward: ``conv_transpose_backward`` (the rules are the engine's)."""

    @staticmethod
    def forward(
        ctx: Any, input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
        forward: Callable[..., np.ndarray], hyper: dict[str, Any],
    ) -> torch.Tensor:
        x, w = as_numpy("input", input), as_numpy("weight", weight)
        b = None if bias is None else as_numpy("bias", bias)
        out = forward(x, w, b, **hyper)
        ctx.save_for_backward(input, weight)
        ctx.hyper, ctx.has_bias = hyper, bias is not None
        return as_tensor(out)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        input, weight = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_x, grad_w, grad_b = functional.conv_transpose_backward(
            as_numpy("grad_output", grad_output), as_numpy("input", input), as_numpy("weight", weight),
            bias=bool(ctx.has_bias and need_bias), need_input_grad=bool(need_input),
            need_weight_grad=bool(need_weight), **ctx.hyper,
        )
        return tuple(None if g is None else as_tensor(g) for g in (grad_x, grad_w, grad_b)) + (None, None)


def _apply(
    forward: Callable[..., np.ndarray], input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
    stride: Any, padding: Any, output_padding: Any, groups: int, dilation: Any,
    output_size: Optional[Sequence[int]], padding_mode: str,
) -> torch.Tensor:
    hyper: dict[str, Any] = dict(
        stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation,
        output_size=None if output_size is None else tuple(int(s) for s in output_size),
        padding_mode=padding_mode,
    )
    return _ConvTransposeFunction.apply(input, weight, bias, forward, hyper)


def _tensor_function(numpy_fn: Callable[..., np.ndarray], name: str, doc: str) -> Callable[..., torch.Tensor]:
    """``numpy_fn`` (one of convtranspose's forwards) on tensors, with autograd."""

    def function(
        input: torch.Tensor,
        weight: torch.Tensor,
        bias: Optional[torch.Tensor] = None,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        dilation: Any = 1,
        *,
        output_size: Optional[Sequence[int]] = None,
        padding_mode: str = "zeros",
    ) -> torch.Tensor:
        return _apply(
            numpy_fn, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, padding_mode
        )

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


conv_transpose = _tensor_function(
    functional.conv_transpose,
    "conv_transpose",
    """N-d transposed convolution of tensors with autograd (rank from ``weight.dim() - 2``).

    The parameters are those of :func:`convtranspose.conv_transpose` (every padding form,
    ``padding_mode``, ``output_size``), positional in ``torch.nn.functional``'s order; the result
    is a CPU tensor of the input's dtype.

    Examples
    --------
    >>> x = torch.ones(1, 1, 3, dtype=torch.float64, requires_grad=True)
    >>> y = conv_transpose(x, torch.ones(1, 1, 2, dtype=torch.float64), stride=2)
    >>> y.tolist(), y.sum().backward(), x.grad.tolist()
    ([[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]], None, [[[2.0, 2.0, 2.0]]])
    """,
)


def _fixed_rank(ndim: int) -> Callable[..., torch.Tensor]:
    return _tensor_function(
        getattr(functional, f"conv_transpose{ndim}d"),
        f"conv_transpose{ndim}d",
        f"``torch.nn.functional.conv_transpose{ndim}d``'s signature, computed by convtranspose with autograd, "
        f"plus keywords ``output_size`` and ``padding_mode``; see :func:`conv_transpose`.",
    )


conv_transpose1d = _fixed_rank(1)
conv_transpose2d = _fixed_rank(2)
conv_transpose3d = _fixed_rank(3)


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


class _ConvTransposeMixin:
    """Constructor and forward shared by the three modules (PyTorch's class supplies the rest)."""

    _numpy_forward: Callable[..., np.ndarray]
    _torch_base: type

    def __init__(
        self: Any,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        # PyTorch's constructor builds the parameters and initialises them (its own RNG stream);
        # it accepts neither padding strings/pairs nor other padding modes, so those are set after.
        self._torch_base.__init__(
            self, in_channels, out_channels, kernel_size, stride, 0, output_padding, groups, bias, dilation,
            "zeros", device, dtype,
        )
        self.padding = _module_padding(padding, len(self.weight.shape) - 2)
        setattr(self, "padding_mode", normalize_padding_mode(padding_mode))  # PyTorch's annotation allows only "zeros"

    def forward(self: Any, input: torch.Tensor, output_size: Optional[Sequence[int]] = None) -> torch.Tensor:
        """PyTorch's forward (``output_size`` picks ``output_padding``), computed by convtranspose."""
        return _apply(
            type(self)._numpy_forward, input, self.weight, self.bias, self.stride, self.padding,
            0 if output_size is not None else self.output_padding, self.groups, self.dilation,
            output_size, self.padding_mode,
        )


def _module_padding(padding: Any, ndim: int) -> Any:
    """PyTorch stores an int padding as a per-axis tuple; strings and nested pairs are kept as given."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * ndim
    if isinstance(padding, list):
        return tuple(tuple(p) if isinstance(p, list) else p for p in padding)
    return padding


class ConvTranspose1d(_ConvTransposeMixin, nn.ConvTranspose1d):
    """``torch.nn.ConvTranspose1d`` computed by convtranspose (every padding form and mode)."""

    _numpy_forward = staticmethod(functional.conv_transpose1d)
    _torch_base = nn.ConvTranspose1d


class ConvTranspose2d(_ConvTransposeMixin, nn.ConvTranspose2d):
    """``torch.nn.ConvTranspose2d`` computed by convtranspose (every padding form and mode)."""

    _numpy_forward = staticmethod(functional.conv_transpose2d)
    _torch_base = nn.ConvTranspose2d


class ConvTranspose3d(_ConvTransposeMixin, nn.ConvTranspose3d):
    """``torch.nn.ConvTranspose3d`` computed by convtranspose (every padding form and mode)."""

    _numpy_forward = staticmethod(functional.conv_transpose3d)
    _torch_base = nn.ConvTranspose3d
