"""Layer objects ``ConvTranspose1d/2d/3d`` with PyTorch's constructor, parameters and state dict.

A layer owns ``weight`` (``(in_channels, out_channels // groups, *kernel_size)``) and ``bias``
(``(out_channels,)`` or None) as NumPy arrays, runs :func:`convtranspose.conv_transpose` in
``forward``, and backpropagates through itself in ``backward`` (layer-level backprop, no autograd
graph): the parameter gradients accumulate in ``weight_grad`` / ``bias_grad`` until ``zero_grad()``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence, Union, cast

import numpy as np

from .errors import DTypeError, OutOfMemoryError, ParameterError, ParameterTypeError, ShapeError
from ._checks import as_array, is_int
from .functional import conv_transpose_backward_with_spec, conv_transpose_with_spec
from .spec import ConvTransposeSpec, IntOrTuple, make_spec, normalize_tuple

__all__ = ["ConvTransposeNd", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PARAM_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

RandomSource = Union[None, int, np.random.Generator]


def _positive_int(value: object, name: str) -> int:
    if not is_int(value):
        raise ParameterTypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ParameterError(f"{name} must be positive (>= 1), got {name}={value}")
    return int(value)


def _param_dtype(dtype: object) -> np.dtype:
    if dtype is None:
        return np.dtype(np.float32)  # PyTorch's default dtype
    try:
        resolved = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as exc:
        raise DTypeError(f"dtype must be float16, float32 or float64, got {dtype!r}") from exc
    if resolved not in _PARAM_DTYPES:
        raise DTypeError(f"dtype must be float16, float32 or float64, got {resolved}")
    return resolved


def _to_numpy(name: str, value: Any) -> np.ndarray:
    """An ndarray from a NumPy array, array-like or a torch tensor (without importing torch)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return as_array(name, value)


def _generator(rng: object) -> np.random.Generator:
    """``rng`` as a NumPy Generator: a Generator, a non-negative int seed, a SeedSequence/BitGenerator, or None."""
    if rng is None or isinstance(rng, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if not is_int(rng):
        raise ParameterTypeError(
            f"rng must be None, an int seed or a numpy.random.Generator, got {rng!r} of type {type(rng).__name__}"
        )
    if rng < 0:
        raise ParameterError(f"rng, an int seed, must be non-negative (>= 0), got rng={rng}")
    return np.random.default_rng(int(rng))


def _is_dask_array(value: object) -> bool:
    """True for a ``dask.array.Array``, recognised by its type's module so that dask is not imported."""
    kind = type(value)
    return kind.__name__ == "Array" and kind.__module__.split(".")[0] == "dask"


#: What ``_saved`` holds after a forward on a dask array (there is no input to backpropagate through).
_LAZY_FORWARD: Any = ("lazy forward",)


class ConvTransposeNd:
    """N-d transposed convolution layer; ``ConvTranspose1d/2d/3d`` fix the number of dimensions.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts; both must be divisible by ``groups``.
    kernel_size : int or tuple of int
    stride, padding, output_padding, dilation : int or tuple of int
        As in :func:`convtranspose.conv_transpose`.
    groups : int
    bias : bool
        Whether the layer has a learnable bias.
    padding_mode : {'zeros'}
        Only 'zeros' is supported (as in PyTorch's ConvTranspose).
    device : None or 'cpu'
        Accepted for signature compatibility; arrays always live in host memory.
    dtype : float16, float32 (default) or float64
    rng : numpy.random.Generator or int, optional
        Source of the initial weights (keyword only; not in PyTorch). Same distributions as
        PyTorch: ``U(-b, b)`` with ``b = 1 / sqrt(fan_in)``, ``fan_in = weight.shape[1] * prod(kernel)``
        (kaiming-uniform with ``a = sqrt(5)``) for both weight and bias.

    Notes
    -----
    Output size per dimension::

        out = (in - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    """

    _ndim: Optional[int] = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        device: Optional[str] = None,
        dtype: Any = None,
        *,
        rng: RandomSource = None,
        ndim: Optional[int] = None,
    ) -> None:
        ndim = self._resolve_ndim(ndim, kernel_size)
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.kernel_size = normalize_tuple(kernel_size, ndim, "kernel_size")
        if any(k < 1 for k in self.kernel_size):
            raise ParameterError(f"kernel_size must be positive (>= 1), got kernel_size={self.kernel_size}")
        self.spec = make_spec(
            ndim, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups
        )
        # PyTorch ignores the layer's output_padding when a forward is given output_size.
        self._spec_for_output_size = self.spec.with_output_padding((0,) * ndim)
        for name, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels % self.spec.groups != 0:
                raise ParameterError(
                    f"{name} must be divisible by groups, got {name}={channels}, groups={self.spec.groups}"
                )
        if padding_mode != "zeros":
            raise ParameterError(
                f"padding_mode must be 'zeros' for transposed convolution (as in PyTorch), got {padding_mode!r}"
            )
        if device is not None and str(device) != "cpu":
            raise ParameterError(f"device must be None or 'cpu' (arrays live in host memory), got {device!r}")
        self.padding_mode = padding_mode
        self.dtype = _param_dtype(dtype)
        generator = _generator(rng)
        weight_bytes = math.prod(self.weight_shape) * self.dtype.itemsize
        if weight_bytes > np.iinfo(np.intp).max:
            raise ParameterError(
                f"in_channels={self.in_channels}, out_channels={self.out_channels} and kernel_size={self.kernel_size} "
                f"give a weight of shape {self.weight_shape}, {weight_bytes} bytes: more than any array can hold"
            )
        try:
            self._weight, self._bias = self._initial_parameters(bool(bias), generator)
        except MemoryError as exc:
            raise OutOfMemoryError(
                f"{type(self).__name__}: not enough memory for a weight of shape {self.weight_shape} ({exc})"
            ) from exc
        self.weight_grad: Optional[np.ndarray] = None
        self.bias_grad: Optional[np.ndarray] = None
        self._saved: Optional[tuple[Any, ...]] = None

    # -- construction helpers ---------------------------------------------------------------

    def _resolve_ndim(self, ndim: Optional[int], kernel_size: IntOrTuple) -> int:
        if self._ndim is not None:
            if ndim is not None and _positive_int(ndim, "ndim") != self._ndim:
                raise ParameterError(f"{type(self).__name__} is {self._ndim}-d, got ndim={ndim!r}")
            return self._ndim
        if ndim is not None:
            return _positive_int(ndim, "ndim")
        if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, (str, bytes)):
            return len(kernel_size)
        raise ParameterError(
            "ConvTransposeNd needs ndim=... or a per-dimension kernel_size tuple to know its number of "
            f"spatial dimensions, got kernel_size={kernel_size!r} and no ndim"
        )

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels // self.groups) + self.kernel_size

    def _initial_parameters(self, has_bias: bool, rng: np.random.Generator) -> tuple[np.ndarray, Optional[np.ndarray]]:
        fan_in = self.weight_shape[1] * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=self.weight_shape).astype(self.dtype)
        bias = rng.uniform(-bound, bound, size=(self.out_channels,)).astype(self.dtype) if has_bias else None
        return weight, bias

    # -- hyper-parameters, PyTorch-style ----------------------------------------------------

    stride = property(lambda self: self.spec.stride, doc="Per-dimension stride.")
    padding = property(lambda self: self.spec.padding, doc="Per-dimension padding.")
    output_padding = property(lambda self: self.spec.output_padding, doc="Per-dimension output padding.")
    dilation = property(lambda self: self.spec.dilation, doc="Per-dimension dilation.")
    groups = property(lambda self: self.spec.groups, doc="Number of channel groups.")

    # -- parameters -------------------------------------------------------------------------

    @property
    def weight(self) -> np.ndarray:
        """Learnable weight, shape ``(in_channels, out_channels // groups, *kernel_size)``."""
        return self._weight

    @weight.setter
    def weight(self, value: Any) -> None:
        self._weight = self._checked_parameter("weight", value, self.weight_shape)

    @property
    def bias(self) -> Optional[np.ndarray]:
        """Learnable bias, shape ``(out_channels,)``, or None."""
        return self._bias

    @bias.setter
    def bias(self, value: Any) -> None:
        self._bias = None if value is None else self._checked_parameter("bias", value, (self.out_channels,))

    def _checked_parameter(self, name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        if value is getattr(self, f"_{name}", None):
            return cast(np.ndarray, value)  # in-place update such as ``layer.weight -= lr * grad``
        if not isinstance(value, np.ndarray) or isinstance(value, np.ma.MaskedArray):
            raise ParameterTypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
        if value.shape != shape:
            raise ShapeError(f"{name} must have shape {shape}, got {value.shape}")
        if value.dtype != self.dtype:
            raise DTypeError(
                f"{name} must have the layer's dtype {self.dtype}, got {value.dtype} "
                f"(convert with .astype(np.{self.dtype}))"
            )
        return np.array(value, order="C", copy=True)

    def parameters(self) -> dict[str, np.ndarray]:
        """The live parameter arrays by name (update them in place to train)."""
        params = {"weight": self._weight}
        if self._bias is not None:
            params["bias"] = self._bias
        return params

    def gradients(self) -> dict[str, Optional[np.ndarray]]:
        """The accumulated parameter gradients by name (None before any ``backward``)."""
        grads = {"weight": self.weight_grad}
        if self._bias is not None:
            grads["bias"] = self.bias_grad
        return grads

    # -- state dict (PyTorch keys) ------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's keys ``weight`` and ``bias``."""
        return {name: array.copy() for name, array in self.parameters().items()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Load parameters from NumPy arrays or PyTorch tensors under the keys ``weight``/``bias``.

        Values are converted to the layer's dtype (as PyTorch's ``copy_`` does); shapes must match.
        With ``strict``, missing and unexpected keys raise :class:`ParameterError`.
        """
        if not isinstance(state_dict, Mapping):
            raise ParameterTypeError(
                "state_dict must be a mapping of parameter names to arrays (like the one state_dict() returns), "
                f"got {type(state_dict).__name__}"
            )
        expected = set(self.parameters())
        given = set(state_dict)
        if strict and given != expected:
            raise ParameterError(
                f"state_dict keys do not match: missing {sorted(expected - given)}, "
                f"unexpected {sorted(given - expected, key=repr)}"
            )
        shapes = {"weight": self.weight_shape, "bias": (self.out_channels,)}
        loaded: dict[str, np.ndarray] = {}
        for name in sorted(expected & given):
            array = _to_numpy(f"state_dict[{name!r}]", state_dict[name])
            if array.dtype.kind != "f":
                raise DTypeError(f"state_dict[{name!r}] must be floating point, got dtype {array.dtype}")
            if array.shape != shapes[name]:
                raise ShapeError(f"state_dict[{name!r}] must have shape {shapes[name]}, got {array.shape}")
            loaded[name] = np.array(array, dtype=self.dtype, order="C", copy=True)
        for name, array in loaded.items():
            setattr(self, f"_{name}", array)

    # -- computation --------------------------------------------------------------------------

    def _call_spec(self, output_size: Optional[Sequence[int]]) -> ConvTransposeSpec:
        return self.spec if output_size is None else self._spec_for_output_size

    def forward(self, input: np.ndarray, output_size: Optional[Sequence[int]] = None) -> np.ndarray:
        """Apply the layer; ``output_size`` picks ``output_padding`` as in PyTorch.

        The input is remembered (by reference) for :meth:`backward`. A ``dask.array.Array`` input
        gives a lazy ``dask.array.Array`` (:mod:`convtranspose.dask`; needs the ``dask`` extra), and
        then there is no :meth:`backward`.
        """
        if _is_dask_array(input):  # lazy: the dask adapter builds the graph (dask is imported there only)
            from .dask import conv_transpose_with_spec as lazy_conv_transpose

            lazy: Any = lazy_conv_transpose(
                cast(Any, input), self._weight, self._bias, self._call_spec(output_size), output_size
            )
            self._saved = _LAZY_FORWARD
            return lazy
        output = conv_transpose_with_spec(input, self._weight, self._bias, self._call_spec(output_size), output_size)
        self._saved = (np.asarray(input), output_size)
        return output

    __call__ = forward

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Backpropagate through the last :meth:`forward`.

        Returns the gradient w.r.t. that forward's input and *adds* the parameter gradients to
        ``weight_grad`` and ``bias_grad`` (PyTorch's accumulate semantics; see :meth:`zero_grad`).
        """
        if self._saved is None:
            raise ParameterError("backward() called before forward(): there is no saved input")
        if self._saved is _LAZY_FORWARD:
            raise ParameterTypeError(
                "backward() after a forward on a dask array is not supported: the layer keeps no lazy input; "
                "run forward on an in-memory array to train"
            )
        saved_input, output_size = self._saved
        grad_x, grad_w, grad_b = conv_transpose_backward_with_spec(
            grad_output, saved_input, self._weight, self._call_spec(output_size), output_size,
            bias=self._bias is not None,
        )
        self.weight_grad = grad_w if self.weight_grad is None else self.weight_grad + grad_w
        if grad_b is not None:
            self.bias_grad = grad_b if self.bias_grad is None else self.bias_grad + grad_b
        return cast(np.ndarray, grad_x)  # always requested

    def zero_grad(self) -> None:
        """Forget the accumulated parameter gradients (set them to None, like PyTorch's default)."""
        self.weight_grad = None
        self.bias_grad = None

    # -- repr ---------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        ndim = len(self.kernel_size)
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * ndim:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * ndim:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * ndim:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self._bias is None:
            text += ", bias=False"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class ConvTranspose1d(ConvTransposeNd):
    """1-d transposed convolution layer (``torch.nn.ConvTranspose1d``).

    Examples
    --------
    >>> layer = ConvTranspose1d(512, 256, kernel_size=16, stride=8, padding=4, rng=0)
    >>> import numpy as np
    >>> layer(np.zeros((1, 512, 32), dtype=np.float32)).shape
    (1, 256, 256)
    """

    _ndim = 1


class ConvTranspose2d(ConvTransposeNd):
    """2-d transposed convolution layer (``torch.nn.ConvTranspose2d``).

    Examples
    --------
    >>> layer = ConvTranspose2d(32, 64, kernel_size=4, stride=2, padding=1, rng=0)
    >>> layer
    ConvTranspose2d(32, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))
    >>> import numpy as np
    >>> layer(np.zeros((1, 32, 16, 16), dtype=np.float32)).shape
    (1, 64, 32, 32)
    """

    _ndim = 2


class ConvTranspose3d(ConvTransposeNd):
    """3-d transposed convolution layer (``torch.nn.ConvTranspose3d``).

    Examples
    --------
    >>> layer = ConvTranspose3d(4, 2, kernel_size=2, stride=2, rng=0)
    >>> import numpy as np
    >>> layer(np.zeros((1, 4, 3, 3, 3), dtype=np.float32)).shape
    (1, 2, 6, 6, 6)
    """

    _ndim = 3

