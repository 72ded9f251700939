"""Small ONNX graphs built in tests: a third-party-style colour model, and a relabelled copy.

``colour_model`` maps an NHWC RGB image to logits with a known formula, so a test can compute
the expected probabilities in numpy: ``logits = ((mean over pixels of x / scale) - mean) / std
@ WEIGHTS + BIAS`` per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

# Four emotions, each scored from the mean colour: red -> angry, green -> happy, blue -> sad,
# grey (all channels) -> neutral.
LABELS = ["angry", "happy", "sad", "neutral"]
WEIGHTS = np.array(
    [[4.0, -2.0, -2.0, 0.5], [-2.0, 4.0, -2.0, 0.5], [-2.0, -2.0, 4.0, 0.5]], dtype=np.float32
)
BIAS = np.array([0.0, 0.0, 0.0, 0.3], dtype=np.float32)
MEAN = [0.5, 0.4, 0.3]
STD = [0.25, 0.2, 0.3]
SIZE = 64


def colour_model(
    folder: Path,
    *,
    size: int = SIZE,
    card: dict | None = None,
    batch: int | str = "n",
    normalised: bool = True,
    output: str = "logits",
) -> Path:
    """``folder``/colour.onnx (NHWC float input) and its model.yaml. ``normalised`` False leaves
    ``(x - MEAN) / STD`` to the card; ``output`` "probabilities" ends the graph with a softmax;
    ``batch``: the input's batch dimension (a name: dynamic)."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0)]  # N x 3
    if normalised:
        nodes += [helper.make_node("Sub", ["m", "mean"], ["c"])]
        nodes += [helper.make_node("Div", ["c", "std"], ["z"])]
    nodes += [
        helper.make_node("MatMul", ["z" if normalised else "m", "w"], ["s"]),
        helper.make_node("Add", ["s", "b"], ["logits"]),
    ]
    if output == "probabilities":
        nodes.append(helper.make_node("Softmax", ["logits"], ["proba"], axis=1))
    initializers = [
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array(MEAN, np.float32), "mean"),
        numpy_helper.from_array(np.array(STD, np.float32), "std"),
        numpy_helper.from_array(WEIGHTS, "w"),
        numpy_helper.from_array(BIAS, "b"),
    ]
    if not normalised:
        initializers = [i for i in initializers if i.name not in ("mean", "std")]
    name = "proba" if output == "probabilities" else "logits"
    graph = helper.make_graph(
        nodes,
        "colour",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, size, size, 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, len(LABELS)])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = folder / "colour.onnx"
    onnx.save_model(model, str(path))
    default = {
        "name": "colour-toy",
        "input": {"size": SIZE, "layout": "NHWC", "color": "rgb", "scale": 255.0},
        "face_crop": {"enabled": False},
        "output": output,
        "labels": LABELS,
        "training_data": ["affectnet"],
    }
    (folder / "model.yaml").write_text(yaml.safe_dump(card or default), encoding="utf-8")
    return path


def expected_proba(rgb: np.ndarray) -> np.ndarray:
    """The colour model's probabilities for uint8 N x H x W x 3 RGB crops (numpy reference)."""
    z = rgb.reshape(len(rgb), -1, 3).astype(np.float64).mean(axis=1) / 255.0
    logits = (z - MEAN) / STD @ WEIGHTS + BIAS
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def permuted_copy(source: Path, folder: Path, order: list[int], card: dict) -> Path:
    """``source`` with its outputs reordered (output j = old output ``order[j]``), saved as
    ``folder``/permuted.onnx with ``card`` as the model.yaml beside it."""
    model = onnx.load(str(source))
    graph = model.graph
    old = graph.output[0].name
    graph.initializer.append(numpy_helper.from_array(np.array(order, np.int64), "order"))
    graph.node.append(helper.make_node("Gather", [old, "order"], ["permuted"], axis=1))
    value = helper.make_tensor_value_info("permuted", TensorProto.FLOAT, None)
    graph.output.remove(graph.output[0])
    graph.output.append(value)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "permuted.onnx"
    onnx.save_model(model, str(path))
    (folder / "model.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return path
