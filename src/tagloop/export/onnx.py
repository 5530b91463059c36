"""Append a trained linear head to the backbone's ONNX graph, and check the result.

The exported model takes ``image``: uint8 RGB (N, S, S, 3) and returns ``probabilities``
(N, K) and the backbone's ``features`` (N, D).
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
) -> bytes:
    """One ONNX model: backbone → MatMul/Add → Softmax (multiclass) or Sigmoid (multilabel)."""
    model = onnx.load(str(backbone_path))
    graph = model.graph
    features = graph.output[0].name
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
            helper.make_node("MatMul", [features, "head_weight"], ["head_matmul"]),
            helper.make_node("Add", ["head_matmul", "head_bias"], ["logits"]),
            helper.make_node(activation, ["logits"], ["probabilities"], **extra),
        ]
    )
    probabilities = helper.make_tensor_value_info(
        "probabilities", TensorProto.FLOAT, ["batch", len(labels)]
    )
    kept = list(graph.output)
    del graph.output[:]
    graph.output.extend([probabilities, *kept])
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


def check_parity(model_bytes: bytes, pixels: np.ndarray, expected: np.ndarray) -> float:
    """Run the exported graph on ``pixels`` and compare with ``expected`` probabilities.

    Returns the largest absolute difference; raises :class:`ExportMismatch` above 1e-4.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    got = session.run(["probabilities"], {"image": pixels})[0]
    diff = float(np.abs(got - expected).max()) if len(pixels) else 0.0
    if not diff <= PARITY_ATOL:
        raise ExportMismatch(
            f"the exported model differs from the trained one by {diff:.2e} "
            f"(allowed {PARITY_ATOL:.0e}); the package was not written"
        )
    return diff
