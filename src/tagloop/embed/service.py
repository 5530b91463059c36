"""Batched, cached embedding of image items.

Files are read and hashed first; images whose (sha256, backbone) embedding is cached are not
decoded again. The rest are decoded by a thread pool while ONNX Runtime runs the previous batch.
A file that cannot be used becomes a :class:`SkippedImage` and the run goes on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagloop.embed.backbones import OnnxBackbone
from tagloop.embed.preprocess import decode_for_model
from tagloop.errors import ImageUnreadable
from tagloop.ingest.decode import read_image_bytes, sha256_bytes
from tagloop.store.cache import EmbeddingCache
from tagloop.types import ImageInfo, ImageItem, ProgressCallback, SkippedImage, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedSet:
    """The usable images of a source, in source order, with their features."""

    items: list[ImageItem]
    shas: list[str]
    infos: list[ImageInfo]
    features: np.ndarray
    skipped: list[SkippedImage]
    n_computed: int  # embeddings computed in this run (the rest came from the cache)


@dataclass(frozen=True)
class _Decoded:
    sha: str
    pixels: np.ndarray | None
    info: ImageInfo | None
    error: str | None


def embed_items(
    items: Sequence[ImageItem],
    *,
    backbone: OnnxBackbone,
    cache: EmbeddingCache,
    max_pixels: int,
    batch_size: int = 32,
    n_threads: int = 2,
    progress: ProgressCallback = no_progress,
) -> EmbeddedSet:
    backbone_id = backbone.spec.backbone_id
    with ThreadPoolExecutor(max_workers=max(2, n_threads)) as pool:
        hashed = _hash_files(items, pool, progress)
        shas = [sha for sha, _ in hashed if sha is not None]
        infos = cache.get_infos(shas)
        vectors = cache.get_embeddings(shas, backbone_id=backbone_id)
        todo = list(dict.fromkeys(s for s in shas if s not in vectors or s not in infos))
        first_path: dict[str, Path] = {}
        for item, (sha, _) in zip(items, hashed, strict=True):
            if sha is not None:
                first_path.setdefault(sha, item.path)
        logger.info(
            "embedding %d images with %s (%d cached)",
            len(todo),
            backbone.spec.name,
            len(set(shas)) - len(todo),
        )
        decode_errors: dict[str, str] = {}
        done = 0
        progress("embed", 0, len(todo))
        stream = _decode_stream(todo, first_path, pool, backbone, max_pixels)
        for batch in _batched(stream, batch_size):
            ok = [d for d in batch if d.pixels is not None and d.info is not None]
            decode_errors.update({d.sha: d.error or "unreadable" for d in batch if d not in ok})
            if ok:
                feats = backbone.embed(np.stack([d.pixels for d in ok if d.pixels is not None]))
                entries = [(d.sha, d.info, f) for d, f in zip(ok, feats, strict=True) if d.info]
                cache.put(entries, backbone_id=backbone_id)
                for sha, info, vec in entries:
                    vectors[sha], infos[sha] = vec, info
            done += len(batch)
            progress("embed", done, len(todo))

    kept: list[tuple[ImageItem, str]] = []
    skipped: list[SkippedImage] = []
    for item, (sha, read_error) in zip(items, hashed, strict=True):
        reason = read_error if sha is None else decode_errors.get(sha)
        if sha is not None and reason is None:
            kept.append((item, sha))
        else:
            logger.warning("skipped %s: %s", item.display_path, reason)
            skipped.append(SkippedImage(path=item.display_path, reason=reason or "unreadable"))
    dim = backbone.spec.feature_dim
    features = (
        np.stack([vectors[sha] for _, sha in kept]) if kept else np.empty((0, dim), np.float32)
    )
    return EmbeddedSet(
        items=[item for item, _ in kept],
        shas=[sha for _, sha in kept],
        infos=[infos[sha] for _, sha in kept],
        features=features,
        skipped=skipped,
        n_computed=len(todo) - len(decode_errors),
    )


def _hash_files(
    items: Sequence[ImageItem], pool: ThreadPoolExecutor, progress: ProgressCallback
) -> list[tuple[str | None, str | None]]:
    """``(sha256, None)`` for each file, or ``(None, reason)`` when it cannot be read."""
    out: list[tuple[str | None, str | None]] = []
    progress("read", 0, len(items))
    for i, result in enumerate(pool.map(_hash_one, items), start=1):
        out.append(result)
        if i % 64 == 0 or i == len(items):
            progress("read", i, len(items))
    return out


def _hash_one(item: ImageItem) -> tuple[str | None, str | None]:
    try:
        return sha256_bytes(read_image_bytes(item.path)), None
    except ImageUnreadable as exc:
        return None, exc.message


def _decode_stream(
    todo: list[str],
    paths: dict[str, Path],
    pool: ThreadPoolExecutor,
    backbone: OnnxBackbone,
    max_pixels: int,
) -> Iterator[_Decoded]:
    """Decode in the pool, yielding in order, with a bounded number of images in flight."""
    window: deque[Future[_Decoded]] = deque()
    cfg = backbone.spec.preprocess

    def decode(sha: str) -> _Decoded:
        try:
            data = read_image_bytes(paths[sha])
            pixels, decoded = decode_for_model(data, cfg, max_pixels=max_pixels)
            return _Decoded(sha=sha, pixels=pixels, info=decoded.info(), error=None)
        except ImageUnreadable as exc:
            return _Decoded(sha=sha, pixels=None, info=None, error=exc.message)

    for sha in todo:
        window.append(pool.submit(decode, sha))
        if len(window) >= 128:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


def _batched(stream: Iterator[_Decoded], size: int) -> Iterator[list[_Decoded]]:
    batch: list[_Decoded] = []
    for entry in stream:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
