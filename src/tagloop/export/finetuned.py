"""Export a fine-tuned model: one ONNX graph from torch, checked against torch.

The graph runs the frozen trunk once, then two tails on its activations: the frozen one gives
``features`` (the backbone's embedding, unchanged, so duplicates, similarity and review see
the same vectors as with quick training) and the fine-tuned one gives ``probabilities``.
Inputs and outputs are those of a quick model's graph.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnx

from tagloop.embed.backbones import BackboneSpec
from tagloop.embed.trunk import tail_module, trunk_module

if TYPE_CHECKING:
    import torch


def packaged_module(
    spec: BackboneSpec, net: torch.nn.Module, cut: int, tuned: torch.nn.Module, multilabel: bool
) -> torch.nn.Module:
    """uint8 NHWC pixels → (probabilities, features), in torch: what the graph computes."""
    import torch

    class Packaged(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = trunk_module(net, spec.preprocess, cut)
            self.frozen = tail_module(net, cut, gem_p=spec.gem_p)
            self.tuned = tuned.cpu().eval()

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.trunk(image)
            logits = self.tuned(x)
            proba = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
            return proba, self.frozen(x)

    return Packaged().eval()


def build_finetuned_graph(
    module: torch.nn.Module, *, image_size: int, multilabel: bool, labels: Sequence[str]
) -> bytes:
    """The ONNX bytes of ``module`` (see :func:`packaged_module`), with the labels as metadata."""
    import torch

    sample = torch.randint(
        0,
        256,
        (2, image_size, image_size, 3),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0),
    )
    fd, tmp = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (sample,),
                tmp,
                input_names=["image"],
                output_names=["probabilities", "features"],
                dynamic_axes={
                    "image": {0: "batch"},
                    "probabilities": {0: "batch"},
                    "features": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        model = onnx.load(tmp)
    finally:
        os.unlink(tmp)
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


def torch_probabilities(module: torch.nn.Module, pixels: np.ndarray) -> np.ndarray:
    """What ``module`` gives for ``pixels``: the reference the exported graph must match."""
    import torch

    with torch.no_grad():
        proba, _ = module(torch.from_numpy(np.ascontiguousarray(pixels, np.uint8)))
    return np.asarray(proba.numpy())
