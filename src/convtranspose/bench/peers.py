"""The implementations being compared: ours, torch (two CPU backends) and onnxruntime.

Each runner is built for one :class:`~convtranspose.bench.suite.Layer` and its fixed operands, and
exposes, per direction (``"forward"``/``"backward"``):

* ``loop(direction)`` -- a callable ``loop(k)`` that performs ``k`` calls (so that per-loop setup,
  such as torch's backend-flag context, is paid once per timed loop, not once per call);
* ``result(direction)`` -- one call's result as NumPy arrays, for the correctness guard;
* ``supports(direction)``.

torch, onnx and onnxruntime are optional (the ``bench`` extra) and imported lazily through
:func:`require`, which raises :class:`BenchDependencyError` with the install command.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Optional

import numpy as np

from .suite import Layer

__all__ = [
    "BenchDependencyError",
    "Operands",
    "PEER_NAMES",
    "IMPLEMENTATIONS",
    "LABELS",
    "require",
    "make_operands",
    "make_runner",
    "onnx_padding",
]

#: Every implementation, ours first; the peers follow in table order.
IMPLEMENTATIONS = ("ours", "torch", "torch-nomkldnn", "ort")
PEER_NAMES = IMPLEMENTATIONS[1:]
LABELS = {
    "ours": "ours",
    "torch": "torch",
    "torch-nomkldnn": "torch (no mkldnn)",
    "ort": "ORT",
}
DIRECTIONS = ("forward", "backward")

_INSTALL_HINT = "pip install 'convtranspose[bench]'"
_ONNX_OPSET = 17


class BenchDependencyError(ImportError):
    """An optional benchmark dependency (torch, onnx, onnxruntime, ...) is missing."""


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`BenchDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise BenchDependencyError(
            f"`convtranspose bench` needs the optional module {module!r} ({error}); "
            f"install the benchmark extra: {_INSTALL_HINT}"
        ) from error


@dataclass(frozen=True)
class Operands:
    """Fixed fp32 operands of one layer: input, weight, bias and the upstream gradient."""

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    grad_output: np.ndarray


def make_operands(layer: Layer, seed: int = 0) -> Operands:
    """Standard-normal input and upstream gradient; weight scaled by ``1/sqrt(fan_in)``."""
    rng = np.random.default_rng(seed)
    fan_in = layer.weight_shape[1] * int(np.prod(layer.kernel))
    weight = rng.standard_normal(layer.weight_shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
    return Operands(
        x=rng.standard_normal(layer.input_shape, dtype=np.float32),
        weight=weight,
        bias=rng.standard_normal(layer.out_channels, dtype=np.float32),
        grad_output=rng.standard_normal(layer.output_shape, dtype=np.float32),
    )


Loop = Callable[[int], None]


# --------------------------------------------------------------------------------------------
# ours
# --------------------------------------------------------------------------------------------


class OursRunner:
    """:func:`convtranspose.conv_transpose` and :func:`convtranspose.conv_transpose_backward`."""

    name = "ours"

    def __init__(self, layer: Layer, ops: Operands) -> None:
        from .. import conv_transpose, conv_transpose_backward

        # The public call with keyword arguments, as users make it (its per-call cost is measured too).
        s, p, op, g, d = layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation
        self._forward = lambda: conv_transpose(
            ops.x, ops.weight, ops.bias, stride=s, padding=p, output_padding=op, groups=g, dilation=d
        )
        self._backward = lambda: conv_transpose_backward(
            ops.grad_output, ops.x, ops.weight, bias=True, stride=s, padding=p, output_padding=op, groups=g, dilation=d
        )

    def supports(self, direction: str) -> bool:
        return True

    def call(self, direction: str) -> Callable[[], object]:
        """One un-looped call (used by the memory measurement)."""
        return self._forward if direction == "forward" else self._backward

    def loop(self, direction: str) -> Loop:
        call = self.call(direction)

        def run(k: int) -> None:
            for _ in range(k):
                call()

        return run

    def result(self, direction: str) -> Any:
        return self.call(direction)()


# --------------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------------


def _torch_backend_context(torch: ModuleType, mkldnn: bool) -> contextlib.AbstractContextManager[Any]:
    """``torch.backends.mkldnn.flags(enabled=False)`` when mkldnn is off, else a no-op context."""
    if mkldnn:
        return contextlib.nullcontext()
    return torch.backends.mkldnn.flags(enabled=False)


class TorchRunner:
    """``F.conv_transpose{1,2,3}d`` (inference, no grad) and autograd for all three gradients.

    The backward is timed as ``torch.autograd.grad(y, (x, w, b), grad_output, retain_graph=True)``
    on a graph built once outside the timing, so only the backward kernels are measured.
    """

    def __init__(self, layer: Layer, ops: Operands, *, mkldnn: bool) -> None:
        self.name = "torch" if mkldnn else "torch-nomkldnn"
        self._torch = torch = require("torch")
        # Toggling the mkldnn flags prints a notice about TF32 on Intel GPUs, irrelevant on CPU.
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        self._mkldnn = mkldnn
        self._function = getattr(torch.nn.functional, f"conv_transpose{layer.ndim}d")
        self._kwargs = layer.conv_kwargs()
        self._x, self._weight, self._bias, self._grad_output = (
            torch.from_numpy(a) for a in (ops.x, ops.weight, ops.bias, ops.grad_output)
        )
        self._graph: Optional[tuple[tuple[Any, ...], Any]] = None

    def supports(self, direction: str) -> bool:
        return True

    def _context(self) -> contextlib.AbstractContextManager[Any]:
        return _torch_backend_context(self._torch, self._mkldnn)

    def _forward_once(self) -> Any:
        return self._function(self._x, self._weight, self._bias, **self._kwargs)

    def _build_graph(self) -> tuple[tuple[Any, ...], Any]:
        """Leaf tensors requiring grad and the forward output, built once per runner."""
        if self._graph is None:
            leaves = tuple(t.detach().clone().requires_grad_(True) for t in (self._x, self._weight, self._bias))
            with self._context():
                output = self._function(*leaves, **self._kwargs)
            self._graph = (leaves, output)
        return self._graph

    def _backward_once(self) -> Any:
        leaves, output = self._build_graph()
        return self._torch.autograd.grad(output, leaves, self._grad_output, retain_graph=True)

    def loop(self, direction: str) -> Loop:
        torch = self._torch
        if direction == "forward":

            def run(k: int) -> None:
                with torch.no_grad(), self._context():
                    for _ in range(k):
                        self._forward_once()

        else:
            self._build_graph()

            def run(k: int) -> None:
                with self._context():
                    for _ in range(k):
                        self._backward_once()

        return run

    def result(self, direction: str) -> Any:
        with self._context():
            if direction == "forward":
                with self._torch.no_grad():
                    return self._forward_once().numpy()
            return tuple(g.numpy() for g in self._backward_once())


# --------------------------------------------------------------------------------------------
# onnxruntime
# --------------------------------------------------------------------------------------------


def onnx_padding(layer: Layer) -> Optional[tuple[list[int], list[int]]]:
    """ONNX ``pads`` and ``output_padding`` equal to the layer's padding and output_padding, or
    None when onnxruntime cannot express the layer.

    PyTorch allows ``output_padding < max(stride, dilation)``; onnxruntime refuses
    ``output_padding >= stride``. Such a layer is rewritten as the same computation with an
    asymmetric crop: ``output_padding`` cells at the end are cells the padding would have cropped,
    so the end crop shrinks by as much (``pads = [p, p - op]``); past the canvas (``op > p``) the
    rest stays output padding, which works while it is below the stride.

    Examples
    --------
    >>> from convtranspose.bench.suite import Layer
    >>> onnx_padding(Layer("a", "", 1, 8, 8, 3, (5,), stride=2, padding=1, output_padding=1))
    ([1, 1], [1])
    >>> onnx_padding(Layer("b", "", 1, 8, 8, 3, (5,), padding=2, output_padding=1, dilation=2))
    ([2, 1], [0])
    >>> onnx_padding(Layer("c", "", 1, 8, 8, 3, (5,), output_padding=2, dilation=3)) is None
    True
    """
    p, op, n = layer.padding, layer.output_padding, layer.ndim
    if op < layer.stride:
        return [p] * (2 * n), [op] * n
    crop_end, extra = max(p - op, 0), max(op - p, 0)
    if extra >= layer.stride:
        return None
    return [p] * n + [crop_end] * n, [extra] * n


def _onnx_model(layer: Layer, ops: Operands) -> bytes:
    """A single-node ``ConvTranspose`` model; weight and bias are initializers, as in a real model."""
    onnx = require("onnx")
    helper, numpy_helper, TensorProto = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    ndim = layer.ndim
    padding = onnx_padding(layer)
    if padding is None:
        raise ValueError(f"onnxruntime cannot run layer {layer.name}: output_padding >= stride + padding")
    pads, output_padding = padding
    node = helper.make_node(
        "ConvTranspose",
        ["X", "W", "B"],
        ["Y"],
        kernel_shape=list(layer.kernel),
        strides=[layer.stride] * ndim,
        pads=pads,
        output_padding=output_padding,
        dilations=[layer.dilation] * ndim,
        group=layer.groups,
    )
    graph = helper.make_graph(
        [node],
        f"conv_transpose_{layer.name}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(layer.input_shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(layer.output_shape))],
        initializer=[numpy_helper.from_array(ops.weight, "W"), numpy_helper.from_array(ops.bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _ONNX_OPSET)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OrtRunner:
    """onnxruntime CPU execution provider on a single-node model; forward only.

    ``intra_op_num_threads`` is the benchmark's thread count, ``inter_op_num_threads`` is 1,
    execution is sequential; every other session option is onnxruntime's default. Layers
    onnxruntime cannot express (:func:`onnx_padding`) are not supported in either direction.
    """

    name = "ort"

    def __init__(self, layer: Layer, ops: Operands, *, threads: int) -> None:
        ort = require("onnxruntime")
        self._expressible = onnx_padding(layer) is not None
        if not self._expressible:
            return
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            _onnx_model(layer, ops), options, providers=["CPUExecutionProvider"]
        )
        self._feed = {"X": ops.x}

    def supports(self, direction: str) -> bool:
        return direction == "forward" and self._expressible

    def loop(self, direction: str) -> Loop:
        session, feed = self._session, self._feed

        def run(k: int) -> None:
            for _ in range(k):
                session.run(["Y"], feed)

        return run

    def result(self, direction: str) -> Any:
        return self._session.run(["Y"], self._feed)[0]


def make_runner(name: str, layer: Layer, ops: Operands, *, threads: int) -> Any:
    """The runner of implementation ``name`` (one of :data:`IMPLEMENTATIONS`)."""
    if name == "ours":
        return OursRunner(layer, ops)
    if name == "torch":
        return TorchRunner(layer, ops, mkldnn=True)
    if name == "torch-nomkldnn":
        return TorchRunner(layer, ops, mkldnn=False)
    if name == "ort":
        return OrtRunner(layer, ops, threads=threads)
    raise ValueError(f"unknown implementation {name!r}; choose from {', '.join(IMPLEMENTATIONS)}")


def output_reference(runners: dict, direction: str) -> Optional[object]:
    """torch's result (the oracle), or None when torch is not among the runners."""
    oracle = runners.get("torch") or runners.get("torch-nomkldnn")
    return None if oracle is None else oracle.result(direction)
