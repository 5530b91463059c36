"""Append a trained linear head to the backbone's ONNX graph, and check the result.

The exported model takes ``image``: uint8 RGB (N, S, S, 3) and returns ``probabilities``
(N, K), the backbone's ``features`` (N, D), ``heatmaps`` (N, K, H, W: where each label's score
comes from) and, when the package has novelty, ``novelty`` (N,).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from tagloop.errors import ExportMismatch

PARITY_ATOL = 1e-4


def build_classifier_graph(
    backbone_path: Path,
    *,
    weight: np.ndarray,
    bias: np.ndarray,
    multilabel: bool,
    labels: Sequence[str],
    gem_p: float,
) -> bytes:
    """One ONNX model: backbone → MatMul/Add → Softmax (multiclass) or Sigmoid (multilabel),
    and ``heatmaps`` (N, K, H, W): each label's logit spread over the last feature map's
    positions (exact, see :mod:`tagloop.embed.cam`; ``gem_p`` is the backbone's pooling)."""
    model = onnx.load(str(backbone_path))
    graph = model.graph
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.ascontiguousarray(weight.T, np.float32), "head_weight"),
            numpy_helper.from_array(np.ascontiguousarray(bias, np.float32), "head_bias"),
        ]
    )
    activation = "Sigmoid" if multilabel else "Softmax"
    extra: dict[str, Any] = {} if multilabel else {"axis": -1}
    graph.node.extend(
        [
            helper.make_node("MatMul", ["features", "head_weight"], ["head_matmul"]),
            helper.make_node("Add", ["head_matmul", "head_bias"], ["logits"]),
            helper.make_node(activation, ["logits"], ["probabilities"], **extra),
        ]
    )
    _add_heatmaps(graph, gem_p)
    probabilities = helper.make_tensor_value_info(
        "probabilities", TensorProto.FLOAT, ["batch", len(labels)]
    )
    features = next(o for o in graph.output if o.name == "features")
    heatmaps = helper.make_tensor_value_info(
        "heatmaps", TensorProto.FLOAT, ["batch", len(labels), "height", "width"]
    )
    del graph.output[:]
    graph.output.extend([probabilities, features, heatmaps])
    model.metadata_props.extend(
        [
            onnx.StringStringEntryProto(key="labels", value="\n".join(labels)),
            onnx.StringStringEntryProto(
                key="classification_type", value="multilabel" if multilabel else "multiclass"
            ),
        ]
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _add_heatmaps(graph: onnx.GraphProto, gem_p: float) -> None:
    """``feature_map`` (N, C, H, W) and ``features`` (N, C) → ``heatmaps`` (N, K, H, W):
    ``x^p / sum(x^p) * features`` (average pooling: ``x / (H W)``), then the head weight over
    channels."""
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1e-6, np.float32), "cam_floor"),
            numpy_helper.from_array(np.array(gem_p, np.float32), "cam_p"),
            numpy_helper.from_array(np.array([2, 3], np.int64), "cam_axes"),
        ]
    )
    if gem_p == 1:
        graph.node.extend(
            [
                helper.make_node("Shape", ["feature_map"], ["cam_shape"], start=2),
                helper.make_node("ReduceProd", ["cam_shape"], ["cam_positions"], keepdims=0),
                helper.make_node("Cast", ["cam_positions"], ["cam_n"], to=TensorProto.FLOAT),
                helper.make_node("Div", ["feature_map", "cam_n"], ["cam_parts"]),
            ]
        )
    else:
        graph.node.extend(
            [
                helper.make_node("Clip", ["feature_map", "cam_floor"], ["cam_clipped"]),
                helper.make_node("Pow", ["cam_clipped", "cam_p"], ["cam_power"]),
                helper.make_node("ReduceSum", ["cam_power", "cam_axes"], ["cam_total"], keepdims=1),
                helper.make_node("Div", ["cam_power", "cam_total"], ["cam_share"]),
                helper.make_node("Unsqueeze", ["features", "cam_axes"], ["cam_pooled"]),
                helper.make_node("Mul", ["cam_share", "cam_pooled"], ["cam_parts"]),
            ]
        )
    graph.node.extend(
        [
            helper.make_node("Transpose", ["cam_parts"], ["cam_nhwc"], perm=[0, 2, 3, 1]),
            helper.make_node("MatMul", ["cam_nhwc", "head_weight"], ["cam_nhwk"]),
            helper.make_node("Transpose", ["cam_nhwk"], ["heatmaps"], perm=[0, 3, 1, 2]),
        ]
    )


def add_novelty_output(model_bytes: bytes, reference: np.ndarray, k: int) -> bytes:
    """Append a ``novelty`` output (N,) to a graph with a ``features`` output: one minus the
    mean cosine similarity of the features to their ``k`` nearest ``reference`` rows (unit
    rows, kept as float16). See :mod:`tagloop.train.novelty`."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    graph.initializer.extend(
        [
            numpy_helper.from_array(
                np.ascontiguousarray(reference.T, np.float16), "novelty_reference"
            ),
            numpy_helper.from_array(np.array([k], np.int64), "novelty_k"),
            numpy_helper.from_array(np.array(1e-12, np.float32), "novelty_eps"),
            numpy_helper.from_array(np.array(1.0, np.float32), "novelty_one"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("ReduceL2", ["features"], ["novelty_norm"], axes=[1], keepdims=1),
            helper.make_node("Max", ["novelty_norm", "novelty_eps"], ["novelty_norm_safe"]),
            helper.make_node("Div", ["features", "novelty_norm_safe"], ["novelty_unit"]),
            helper.make_node(
                "Cast", ["novelty_reference"], ["novelty_reference_f32"], to=TensorProto.FLOAT
            ),
            helper.make_node("MatMul", ["novelty_unit", "novelty_reference_f32"], ["novelty_sim"]),
            helper.make_node(
                "TopK", ["novelty_sim", "novelty_k"], ["novelty_top", "novelty_top_index"], axis=1
            ),
            helper.make_node("ReduceMean", ["novelty_top"], ["novelty_mean"], axes=[1], keepdims=0),
            helper.make_node("Sub", ["novelty_one", "novelty_mean"], ["novelty"]),
        ]
    )
    graph.output.append(helper.make_tensor_value_info("novelty", TensorProto.FLOAT, ["batch"]))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def check_parity(
    model_bytes: bytes, pixels: np.ndarray, expected: dict[str, np.ndarray]
) -> dict[str, float]:
    """Run the exported graph on ``pixels`` and compare each named output with ``expected``.

    Returns the largest absolute difference per output; raises :class:`ExportMismatch` when
    one is above 1e-4.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    names = list(expected)
    got = dict(zip(names, session.run(names, {"image": pixels}), strict=True))
    diffs = {
        name: float(np.abs(got[name] - want).max()) if len(pixels) else 0.0
        for name, want in expected.items()
    }
    for name, diff in diffs.items():
        if not diff <= PARITY_ATOL:
            raise ExportMismatch(
                f"the exported model's {name} differ from the trained model's by {diff:.2e} "
                f"(allowed {PARITY_ATOL:.0e}); the package was not written"
            )
    return diffs
