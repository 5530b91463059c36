"""Export a fine-tuned model: one ONNX graph from torch, checked against torch.

The graph runs the frozen trunk once, then two tails on its activations: the frozen one gives
``features`` (the backbone's embedding, unchanged, so duplicates, similarity and review see
the same vectors as with quick training) and the fine-tuned one gives ``probabilities`` and
``heatmaps`` (its own last feature map and linear layer, decomposed exactly as for a quick
model: :mod:`tagloop.embed.cam`). Inputs and outputs are those of a quick model's graph.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from tagloop.embed.backbones import BackboneSpec, map_contributions, pool_features
from tagloop.embed.trunk import tail_module, trunk_module

if TYPE_CHECKING:
    import torch


def packaged_module(
    spec: BackboneSpec, net: torch.nn.Module, cut: int, tuned: torch.nn.Module, multilabel: bool
) -> torch.nn.Module:
    """uint8 NHWC pixels → (probabilities, features, heatmaps), in torch: what the graph
    computes. ``tuned`` is a :class:`tagloop.train.finetune.TunedModel`."""
    import torch

    gem_p = spec.gem_p

    class Packaged(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = trunk_module(net, spec.preprocess, cut)
            self.frozen = tail_module(net, cut, gem_p=spec.gem_p)
            self.tuned = tuned.cpu().eval()

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            x = self.trunk(image)
            tuned: Any = self.tuned  # a TunedModel: tail (with maps), mean, scale, fc
            maps = tuned.tail.maps(x)
            pooled = pool_features(maps, gem_p)
            scale = tuned.get_buffer("scale")
            logits = tuned.fc((pooled - tuned.get_buffer("mean")) / scale)
            proba = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
            # logits = W (f - mean) / scale + b: the positions share W / scale times f.
            weight = tuned.fc.weight / scale[None, :]
            parts = map_contributions(maps, pooled, gem_p)
            heatmaps = torch.einsum("nchw,kc->nkhw", parts, weight)
            return proba, self.frozen(x), heatmaps

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
                output_names=["probabilities", "features", "heatmaps"],
                dynamic_axes={
                    "image": {0: "batch"},
                    "probabilities": {0: "batch"},
                    "features": {0: "batch"},
                    "heatmaps": {0: "batch"},
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


def torch_outputs(module: torch.nn.Module, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """What ``module`` gives for ``pixels``: the reference the exported graph must match."""
    import torch

    with torch.no_grad():
        proba, _, heatmaps = module(torch.from_numpy(np.ascontiguousarray(pixels, np.uint8)))
    return {"probabilities": np.asarray(proba.numpy()), "heatmaps": np.asarray(heatmaps.numpy())}
