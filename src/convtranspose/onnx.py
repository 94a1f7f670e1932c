"""ONNX adapter: run ``ConvTranspose`` nodes with convtranspose.

ONNX's ``ConvTranspose`` (opsets 1-22) describes the same operator as PyTorch with different
attribute conventions. Per spatial axis ``i``, with input length ``in``, kernel ``k``, stride ``s``,
dilation ``d`` and ``output_padding`` ``op``::

    full  = s * (in - 1) + d * (k - 1) + 1              # every input element's kernel copy
    out   = full + op - pads[i] - pads[i + n]            # pads in begin..., end... order

``pads[i]`` cells are cropped at the start of the axis and ``pads[i + n]`` at its end, so ONNX can
crop asymmetrically where PyTorch crops ``padding`` cells from both ends. ``auto_pad`` and
``output_shape`` compute the pads instead of giving them::

    total = full + op - out                              # out = output_shape[i], or in * s for SAME_*
    SAME_UPPER:              begin = total // 2,          end = total - total // 2   (odd cell at the end)
    NOTSET/VALID/SAME_LOWER: begin = total - total // 2,  end = total // 2           (odd cell at the start)

This module maps those attributes to one call of :func:`convtranspose.conv_transpose`
(:func:`conv_transpose_attributes`): ``pads`` become per-axis ``(begin, end)`` padding pairs, SAME_UPPER
and SAME_LOWER the library's ``'same'`` and ``'same_lower'`` (the same split, odd cell at the end
resp. the start), VALID ``'valid'``, and ``output_shape`` pairs whose total is the canvas minus the
requested size (cells missing at the end become ``output_padding``). It runs one node given its
inputs (:func:`run_conv_transpose`,
:func:`run_node`), and runs a loaded ``onnx.ModelProto`` with every ``ConvTranspose`` node computed
by convtranspose and the other operators by ONNX's reference evaluator (:func:`run_model`). The
``onnx`` package is needed only by :func:`run_node` and :func:`run_model` (``pip install
convtranspose[onnx]``); onnxruntime is never needed.

Where the specification leaves a choice open, this module does what onnxruntime's CPU kernel does
(checked by the tests against onnxruntime 1.32):

* ``output_shape`` overrides ``pads`` (the spec says so; onnxruntime agrees), and with ``auto_pad``
  NOTSET or VALID it splits the total crop like SAME_LOWER (odd cell at the start), as the spec's
  formula and onnxruntime do. ONNX's reference implementation (``onnx.reference``) instead ignores
  ``output_shape`` for the crop under NOTSET and keeps the start of the canvas; see
  ``tests/test_onnx.py::test_reference_implementation_disagrees_with_onnxruntime``.
* ``output_padding`` must be smaller than ``stride`` (onnxruntime's rule: the paired convolution
  must map the output back to the input length; PyTorch also allows ``stride <= output_padding <
  dilation``). An ``output_shape`` longer than ``full`` adds the missing cells at the end (zeros
  plus bias, as output_padding does), at most ``stride - 1`` of them, onnxruntime's limit; the
  conformance case ``test_convtranspose_output_shape`` is one.
* ``auto_pad`` SAME_UPPER/SAME_LOWER with a kernel shorter than the stride (``total < 0``): the spec
  requires ``out = in * s``, which onnxruntime does not honour (it returns ``full + op`` cells, its
  crop clamped at zero). We follow the spec and add the ``-total`` missing cells at the end (zeros
  plus bias, like output_padding cells); the first ``full + op`` cells are onnxruntime's output.
* ``auto_pad`` together with ``pads`` is an error (the spec forbids it; onnxruntime refuses it).

Bad attributes raise :class:`convtranspose.ParameterError` (and the other convtranspose errors) with
the attribute, rule and value, e.g. ``group`` not dividing the input channels (onnx#7802, which
neither the spec's shape inference nor the reference implementation checks).

Examples
--------
>>> import numpy as np
>>> from convtranspose.onnx import run_conv_transpose
>>> x = np.arange(3, dtype=np.float32).reshape(1, 1, 3) + 1
>>> w = np.ones((1, 1, 3), np.float32)
>>> run_conv_transpose(x, w, strides=[2], auto_pad="SAME_UPPER")[0, 0].tolist()
[1.0, 1.0, 3.0, 2.0, 5.0, 3.0]
>>> run_conv_transpose(x, w, strides=[2], pads=[1, 2])[0, 0].tolist()
[1.0, 3.0, 2.0, 5.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .errors import OutputSizeError, ParameterError, ParameterTypeError, ShapeError
from .functional import conv_transpose
from .padding import PaddingForm
from .shape import full_size
from .spec import normalize_tuple

__all__ = [
    "OnnxConvTranspose",
    "conv_transpose_attributes",
    "run_conv_transpose",
    "run_node",
    "run_model",
]

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


@dataclass(frozen=True)
class OnnxConvTranspose:
    """One ONNX ConvTranspose node as the arguments of one :func:`convtranspose.conv_transpose` call.

    Attributes
    ----------
    stride, dilation : tuple of int
    group : int
        ``groups``.
    padding : str or tuple of (int, int)
        ``'same'`` (SAME_UPPER), ``'same_lower'`` (SAME_LOWER), ``'valid'`` (VALID), or the cells
        cropped at the (begin, end) of each spatial axis (``pads``, or the crop ``output_shape`` asks for).
    output_padding : tuple of int
        The node's ``output_padding``, plus the cells an ``output_shape`` longer than the canvas adds
        at the end.
    output_spatial : tuple of int
        The output's spatial shape.
    """

    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    group: int
    padding: PaddingForm
    output_padding: tuple[int, ...]
    output_spatial: tuple[int, ...]

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`convtranspose.conv_transpose` for this node."""
        return dict(stride=self.stride, dilation=self.dilation, groups=self.group, padding=self.padding,
                    output_padding=self.output_padding)


def _ints(value: object, length: int, name: str, default: int) -> tuple[int, ...]:
    """An ONNX ints attribute of ``length`` entries (``default`` everywhere when absent)."""
    if value is None:
        return (default,) * length
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ParameterTypeError(f"ConvTranspose: attribute {name} must be a list of {length} ints, got {value!r}")
    if len(value) != length:
        raise ParameterError(
            f"ConvTranspose: attribute {name} must have {length} entries "
            f"({'the begin values, then the end values of every spatial axis' if name == 'pads' else 'one per spatial axis'}), "
            f"got {name}={list(value)}"
        )
    return normalize_tuple(tuple(value), length, f"ConvTranspose attribute {name}")


def conv_transpose_attributes(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    *,
    auto_pad: object = "NOTSET",
    dilations: Optional[Sequence[int]] = None,
    group: int = 1,
    kernel_shape: Optional[Sequence[int]] = None,
    output_padding: Optional[Sequence[int]] = None,
    output_shape: Optional[Sequence[int]] = None,
    pads: Optional[Sequence[int]] = None,
    strides: Optional[Sequence[int]] = None,
) -> OnnxConvTranspose:
    """Validate a ConvTranspose node's attributes for the given shapes and resolve its padding.

    Parameters
    ----------
    x_shape : sequence of int
        ``(N, C, D1, ..., Dn)``.
    w_shape : sequence of int
        ``(C, M / group, k1, ..., kn)``.
    auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
        The node's attributes, with ONNX's defaults (see the module docstring for the rules).

    Returns
    -------
    OnnxConvTranspose

    Raises
    ------
    ParameterError, ParameterTypeError, ShapeError, OutputSizeError
        An attribute is invalid for these shapes; the message names it.

    Examples
    --------
    >>> call = conv_transpose_attributes((1, 1, 3, 3), (1, 2, 3, 3), strides=[3, 2], output_shape=[10, 8])
    >>> call.padding, call.output_padding, call.output_spatial     # one cell added at each end
    (((0, 0), (0, 0)), (1, 1), (10, 8))
    >>> call = conv_transpose_attributes((1, 1, 5), (1, 1, 4), strides=[2], output_shape=[9])
    >>> call.padding, call.output_padding                          # canvas 12: crop 3, odd cell first
    (((2, 1),), (0,))
    >>> conv_transpose_attributes((1, 1, 3), (1, 1, 2), strides=[2], auto_pad="SAME_LOWER").padding
    'same_lower'
    """
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad not in _AUTO_PAD:
        raise ParameterError(f"ConvTranspose: auto_pad must be one of {', '.join(_AUTO_PAD)}, got auto_pad={auto_pad!r}")
    x_shape, w_shape = tuple(int(v) for v in x_shape), tuple(int(v) for v in w_shape)
    if len(x_shape) < 3:
        raise ShapeError(f"ConvTranspose: X must have shape (N, C, D1, ..., Dn) with n >= 1, got X of shape {x_shape}")
    n = len(x_shape) - 2
    if len(w_shape) != n + 2:
        raise ShapeError(
            f"ConvTranspose: W must have shape (C, M / group, k1, ..., k{n}) for a {n}-d input, got W of shape {w_shape}"
        )
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)):
        raise ParameterTypeError(f"ConvTranspose: attribute group must be an int, got {group!r}")
    if group < 1:
        raise ParameterError(f"ConvTranspose: attribute group must be at least 1, got group={group}")
    channels = x_shape[1]
    if channels % group:
        # onnx#7802: the spec's shape inference and the reference implementation accept this.
        raise ParameterError(
            f"ConvTranspose: group must divide the input channels C, got group={group} for C={channels} (X of shape {x_shape})"
        )
    if w_shape[0] != channels:
        raise ShapeError(
            f"ConvTranspose: W.shape[0] must equal the input channels C={channels}, got W of shape {w_shape}"
        )
    kernel = w_shape[2:]
    if kernel_shape is not None and _ints(kernel_shape, n, "kernel_shape", 1) != kernel:
        raise ParameterError(
            f"ConvTranspose: attribute kernel_shape must equal W's spatial shape {list(kernel)}, "
            f"got kernel_shape={list(kernel_shape)}"
        )
    stride = _ints(strides, n, "strides", 1)
    dilation = _ints(dilations, n, "dilations", 1)
    op = _ints(output_padding, n, "output_padding", 0)
    for name, values in (("strides", stride), ("dilations", dilation)):
        if min(values) < 1:
            raise ParameterError(f"ConvTranspose: attribute {name} must be positive, got {name}={list(values)}")
    for axis, (o, s) in enumerate(zip(op, stride)):
        if not 0 <= o < s:
            raise ParameterError(
                f"ConvTranspose: output_padding[{axis}] must be non-negative and smaller than strides[{axis}] = {s}, "
                f"got output_padding={list(op)} (onnxruntime's rule: the paired convolution must map the output "
                f"back to the input length)"
            )
    if pads is not None and auto_pad != "NOTSET":
        raise ParameterError(
            f"ConvTranspose: attributes auto_pad={auto_pad!r} and pads={list(pads)} cannot be used together"
        )
    padding = _ints(pads, 2 * n, "pads", 0)
    if min(padding, default=0) < 0:
        raise ParameterError(f"ConvTranspose: attribute pads must be non-negative, got pads={list(padding)}")
    x_spatial = x_shape[2:]
    canvas = tuple(full_size(i, k, s, d) + o for i, k, s, d, o in zip(x_spatial, kernel, stride, dilation, op))
    form: PaddingForm
    if output_shape is not None:
        shape = list(output_shape.tolist() if isinstance(output_shape, np.ndarray) else output_shape)
        if len(shape) == n + 2:  # onnxruntime also accepts the full (N, M, D1, ..., Dn) shape
            shape = shape[2:]
        out = _ints(shape, n, "output_shape", 1)
        for axis, (t, c, s, o) in enumerate(zip(out, canvas, stride, op)):
            # Longer than the canvas adds cells at the end, at most stride - 1 as output_padding
            # (onnxruntime's limit: the paired convolution must map output_shape back to the input).
            longest = c - o + s - 1
            if not 1 <= t <= longest:
                raise OutputSizeError(
                    f"ConvTranspose: output_shape[{axis}] must be between 1 and {longest} for an input of "
                    f"{x_spatial[axis]} (stride * (in - 1) + dilation * (kernel - 1) + 1 = {c - o}, plus at most "
                    f"stride - 1 = {s - 1} cells), got output_shape={list(out)}"
                )
        # output_shape overrides pads: the total crop is the canvas minus the requested size, split
        # like SAME_UPPER or (NOTSET, VALID, SAME_LOWER) like SAME_LOWER; missing cells are output_padding.
        upper = auto_pad == "SAME_UPPER"
        form = tuple(_split(max(c - t, 0), upper) for c, t in zip(canvas, out))
        op = tuple(o + max(t - c, 0) for o, c, t in zip(op, canvas, out))
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        form = "same" if auto_pad == "SAME_UPPER" else "same_lower"
        out = tuple(i * s for i, s in zip(x_spatial, stride))
    elif auto_pad == "VALID":
        form, out = "valid", canvas
    else:
        form = tuple((padding[a], padding[a + n]) for a in range(n))
        out = tuple(c - b - e for c, (b, e) in zip(canvas, form))
        if min(out) < 1:
            raise OutputSizeError(
                f"ConvTranspose: the output would have spatial shape {list(out)} (pads={list(padding)} crop more "
                f"than the canvas {list(canvas)} holds); every output size must be positive"
            )
    return OnnxConvTranspose(stride, dilation, int(group), form, op, out)


def _split(total: int, upper: bool) -> tuple[int, int]:
    """Split a total crop into (begin, end): the odd cell at the end if ``upper``, else at the begin."""
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def run_conv_transpose(
    X: np.ndarray, W: np.ndarray, B: Optional[np.ndarray] = None, **attributes: Any
) -> np.ndarray:
    """Run one ONNX ConvTranspose with convtranspose.

    Parameters
    ----------
    X : ndarray, shape (N, C, D1, ..., Dn)
    W : ndarray, shape (C, M / group, k1, ..., kn)
    B : ndarray, shape (M,), optional
    **attributes
        The node's attributes (``auto_pad``, ``dilations``, ``group``, ``kernel_shape``,
        ``output_padding``, ``output_shape``, ``pads``, ``strides``); see
        :func:`conv_transpose_attributes`.

    Returns
    -------
    ndarray, shape (N, M, *output_spatial), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 4, 2, 2), np.float32)
    >>> w = np.ones((4, 3, 2, 2), np.float32)          # group 2: 6 output channels, 3 per group
    >>> run_conv_transpose(x, w, np.arange(6, dtype=np.float32), group=2, strides=[2, 2]).shape
    (1, 6, 4, 4)
    """
    unknown = set(attributes) - {
        "auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides",
    }
    if unknown:
        raise ParameterError(f"ConvTranspose: unknown attribute(s) {sorted(unknown)}")
    X, W = np.asarray(X), np.asarray(W)
    call = conv_transpose_attributes(X.shape, W.shape, **attributes)
    if B is not None:
        B = np.asarray(B)
        channels = W.shape[1] * call.group
        if B.shape != (channels,):
            raise ShapeError(
                f"ConvTranspose: B must have shape ({channels},) (M, one bias per output channel), got B of shape {B.shape}"
            )
    return conv_transpose(X, W, B, **call.arguments())


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def run_node(node: Any, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Run an ``onnx.NodeProto`` of type ConvTranspose on its inputs ``[X, W]`` or ``[X, W, B]``.

    Examples
    --------
    >>> import numpy as np, onnx
    >>> node = onnx.helper.make_node("ConvTranspose", ["X", "W"], ["Y"], strides=[2])
    >>> run_node(node, [np.ones((1, 1, 2), np.float32), np.ones((1, 1, 2), np.float32)]).tolist()
    [[[1.0, 1.0, 1.0, 1.0]]]
    """
    if node.op_type != "ConvTranspose":
        raise ParameterError(f"run_node: expected a ConvTranspose node, got op_type={node.op_type!r}")
    if not 2 <= len(inputs) <= 3:
        raise ParameterError(f"run_node: ConvTranspose takes 2 or 3 inputs (X, W, B), got {len(inputs)}")
    return run_conv_transpose(*inputs, **_attributes(node))


def _evaluator_op() -> type:
    """An ``onnx.reference`` operator class that computes ConvTranspose with convtranspose."""
    from onnx.reference.op_run import OpRun

    class ConvTranspose(OpRun):
        op_domain = ""

        def _run(
            self, X, W, B=None, auto_pad=None, dilations=None, group=None, kernel_shape=None,
            output_padding=None, output_shape=None, pads=None, strides=None,
        ):
            attributes = dict(
                auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                output_padding=output_padding, output_shape=output_shape, pads=pads, strides=strides,
            )
            given = {name: value for name, value in attributes.items() if value is not None}
            if given.get("auto_pad") == "NOTSET":
                given.pop("auto_pad")
            return (run_conv_transpose(X, W, B, **given),)

    return ConvTranspose


def run_model(model: Any, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a loaded ``onnx.ModelProto``: ConvTranspose nodes by convtranspose, the rest by ``onnx.reference``.

    Initializers (weights, biases) are taken from the model; ``feeds`` gives the graph inputs.

    Returns
    -------
    dict
        Each graph output's name and value.

    Examples
    --------
    >>> import numpy as np, onnx
    >>> from onnx import helper, numpy_helper, TensorProto
    >>> w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "W")
    >>> node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], strides=[2, 2])
    >>> graph = helper.make_graph([node], "up", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
    ...                           [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [w])
    >>> run_model(helper.make_model(graph), {"X": np.ones((1, 1, 2, 2), np.float32)})["Y"].shape
    (1, 1, 4, 4)
    """
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model, new_ops=[_evaluator_op()])
    names = [output.name for output in model.graph.output]
    return dict(zip(names, evaluator.run(None, dict(feeds))))
