"""Run a small ONNX decoder's ConvTranspose nodes with convtranspose and compare with onnxruntime.

The model is built with ``onnx.helper``: three ConvTranspose nodes — grouped with several output
channels per group and ``auto_pad=SAME_UPPER``, then explicit asymmetric ``pads``, then
``output_shape`` — with ReLUs between them and a bias on each. ``convtranspose.onnx.run_model`` runs
the ConvTranspose nodes with convtranspose (the ReLUs with ONNX's reference evaluator); onnxruntime
runs the whole model. The script prints each output's shape and the largest difference.

    pip install -e ".[examples]" && python examples/onnx_decoder.py      # --save decoder.onnx
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from convtranspose.onnx import run_model


def build_decoder(seed: int = 0) -> onnx.ModelProto:
    """An (N, 8, 4, 4) latent map -> an (N, 3, 32, 32) picture, through three ConvTranspose nodes."""
    rng = np.random.default_rng(seed)

    def tensor(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    initializers = [
        tensor("W1", 8, 6, 4, 4), tensor("B1", 12),          # group 2: 4 in -> 6 out channels per group
        tensor("W2", 12, 8, 3, 3), tensor("B2", 8),
        tensor("W3", 8, 3, 3, 3), tensor("B3", 3),
    ]
    nodes = [
        helper.make_node("ConvTranspose", ["Z", "W1", "B1"], ["H1"], group=2, strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["H1"], ["R1"]),
        helper.make_node("ConvTranspose", ["R1", "W2", "B2"], ["H2"], strides=[2, 2], pads=[0, 1, 1, 0]),
        helper.make_node("Relu", ["H2"], ["R2"]),
        helper.make_node("ConvTranspose", ["R2", "W3", "B3"], ["Y"], strides=[2, 2], output_shape=[32, 32]),
    ]
    graph = helper.make_graph(
        nodes, "decoder",
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["N", 8, 4, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3, 32, 32])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="also write the model to this .onnx file")
    args = parser.parse_args(argv)

    model = build_decoder(args.seed)
    if args.save:
        onnx.save(model, args.save)
    z = np.random.default_rng(args.seed + 1).standard_normal((args.batch, 8, 4, 4)).astype(np.float32)

    ours = run_model(model, {"Z": z})["Y"]
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"Z": z})

    for node in model.graph.node:
        if node.op_type == "ConvTranspose":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
            print(f"{node.output[0]:>3} = ConvTranspose({', '.join(node.input)}) {attrs}")
    print(f"output shape: convtranspose {ours.shape}, onnxruntime {theirs.shape}")
    difference = float(np.max(np.abs(ours - theirs)))
    print(f"max |convtranspose - onnxruntime| = {difference:.3g} (float32; output magnitude {np.max(np.abs(theirs)):.3g})")
    return difference


if __name__ == "__main__":
    main()
