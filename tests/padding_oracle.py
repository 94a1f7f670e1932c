"""Independent references for padding forms and padding modes (issue "Beyond PyTorch").

Nothing here imports ``convtranspose``: every expected value is built from its definition.

* :func:`expected_pads` -- the per-axis ``(before, after)`` border and effective output padding of a
  padding form, derived from the docs' formulas (``'same'``: ``total = d(k-1) + 1 - s + op``).
* :func:`torch_vjp` -- the definition of a mode-``m`` transposed convolution: the vector-Jacobian
  product of PyTorch's padded ordinary convolution ``conv(F.pad(x, pads, m), w)`` with respect to
  ``x`` at cotangent ``y`` (plus bias), built with ``create_graph=True`` so that its own gradients
  w.r.t. ``y``, ``w`` and ``b`` are torch's double-backward.
* :func:`numpy_padded_conv` -- the paired ordinary convolution in NumPy (``np.pad`` + the naive loop
  reference), for the adjoint identity without torch.
* :func:`onnxruntime_conv_transpose` -- onnxruntime's ConvTranspose with ``pads``/``auto_pad``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from oracle import conv_naive

NUMPY_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def expected_pads(form, kernel, stride, dilation, output_padding):
    """``(((before, after), ...), (op, ...))`` of a padding form, straight from the definitions."""
    ndim = len(kernel)
    pads, ops = [], []
    for axis in range(ndim):
        k, s, d, op = kernel[axis], stride[axis], dilation[axis], output_padding[axis]
        if form == "valid":
            pair = (0, 0)
        elif form in ("same", "same_lower"):
            total = d * (k - 1) + 1 - s + op
            if total < 0:  # the missing cells come as output padding, at the end
                pair, op = (0, 0), op - total
            else:
                half = total // 2
                pair = (half, total - half) if form == "same" else (total - half, half)
        elif isinstance(form, int):
            pair = (form, form)
        else:
            entry = form[axis]
            pair = (entry, entry) if isinstance(entry, int) else tuple(entry)
        pads.append(tuple(pair))
        ops.append(op)
    return tuple(pads), tuple(ops)


def output_spatial(input_spatial, kernel, stride, dilation, pads, ops):
    return tuple(
        (n - 1) * s + d * (k - 1) + 1 + op - b - a
        for n, k, s, d, (b, a), op in zip(input_spatial, kernel, stride, dilation, pads, ops)
    )


def _torch_pad_list(pads):
    return [w for pair in reversed(pads) for w in pair]


def torch_vjp(y, w, b, *, pads, ops, mode, stride, dilation, groups, requires_grad=False):
    """Forward by definition (batched ``y``); returns torch tensors ``(out, (ty, tw, tb))``."""
    import torch
    import torch.nn.functional as F

    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[w.ndim - 2]
    ty = torch.tensor(y, requires_grad=requires_grad)
    tw = torch.tensor(w, requires_grad=requires_grad)
    tb = None if b is None else torch.tensor(b, requires_grad=requires_grad)
    out_sp = output_spatial(y.shape[2:], w.shape[2:], stride, dilation, pads, ops)
    x = torch.zeros((y.shape[0], w.shape[1] * groups) + out_sp, dtype=ty.dtype, requires_grad=True)
    padded = F.pad(x, _torch_pad_list(pads), mode=TORCH_MODE[mode])
    conv_out = conv(padded, tw, stride=tuple(stride), dilation=tuple(dilation), groups=groups)
    # output_padding >= stride (allowed when dilation > stride) makes the conv longer than y
    conv_out = conv_out[(slice(None), slice(None)) + tuple(slice(0, n) for n in y.shape[2:])]
    (out,) = torch.autograd.grad(conv_out, x, ty, create_graph=requires_grad)
    if tb is not None:
        out = out + tb.reshape((1, -1) + (1,) * (w.ndim - 2))
    return out, (ty, tw, tb)


def torch_double_backward(y, w, b, grad_out, **kwargs):
    """Gradients of :func:`torch_vjp` w.r.t. ``y``, ``w``, ``b`` at ``grad_out`` (all batched)."""
    import torch

    out, (ty, tw, tb) = torch_vjp(y, w, b, requires_grad=True, **kwargs)
    out.backward(torch.tensor(grad_out))
    return out.detach().numpy(), ty.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy()


def numpy_padded_conv(x, w, *, pads, mode, stride, dilation, groups, input_spatial):
    """The paired ordinary convolution: ``np.pad`` by ``mode``, then the naive loop conv."""
    widths = [(0, 0), (0, 0)] + [tuple(p) for p in pads]
    padded = np.pad(np.asarray(x, np.float64), widths, mode=NUMPY_MODE[mode])
    out = conv_naive(padded, w, stride=tuple(stride), padding=0, dilation=tuple(dilation), groups=groups)
    return out[(slice(None), slice(None)) + tuple(slice(0, n) for n in input_spatial)]


def onnxruntime_conv_transpose(
    x: np.ndarray,
    w: np.ndarray,
    b: Optional[np.ndarray] = None,
    *,
    strides: Sequence[int],
    dilations: Sequence[int],
    group: int,
    output_padding: Sequence[int],
    pads: Optional[Sequence[int]] = None,
    auto_pad: Optional[str] = None,
) -> np.ndarray:
    """onnxruntime's ConvTranspose on float32 operands (ONNX ``pads``: all begins, then all ends)."""
    import onnxruntime
    from onnx import TensorProto, helper

    attrs = dict(strides=list(strides), dilations=list(dilations), group=group, output_padding=list(output_padding),
                 kernel_shape=list(w.shape[2:]))
    if pads is not None:
        attrs["pads"] = list(pads)
    if auto_pad is not None:
        attrs["auto_pad"] = auto_pad
    names = ["x", "w"] + ([] if b is None else ["b"])
    node = helper.make_node("ConvTranspose", names, ["y"], **attrs)
    arrays = [x, w] + ([] if b is None else [b])
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in zip(names, arrays)]
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {n: np.asarray(a, np.float32) for n, a in zip(names, arrays)})[0]
