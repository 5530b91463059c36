"""Build a synthetic benchmark dataset: varied copies of real photos, in label folders.

The result is ``OUT/train/<label>/*.jpg`` and ``OUT/test/<label>/*.jpg`` with ``n_images`` files
in all, about 20% in ``test``. Labels are the subfolders of the source, imbalanced about 7:1
between the largest and the smallest. Each label's source photos are split first, so test
images are copies of photos that no training image was made from.

Each copy is a random crop (70-100% of each side), maybe mirrored, with a small brightness and
colour change, resized so its long side is 300-1200 px and saved as JPEG at quality 80-95. The
output depends only on the source and the seed, and no two files have the same bytes. A folder
that already holds the dataset for these parameters is reused as it is.

    python benchmarks/make_dataset.py .bench/data --n 3000 --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "clothing-extra" / "images"
FORMAT_VERSION = 1  # bump when the generated images change, so old folders are rebuilt
MARKER = "dataset.json"
IMBALANCE = 7.0  # largest label / smallest label
TEST_FRACTION = 0.2
SPLITS = ("train", "test")
SOURCE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass(frozen=True)
class Job:
    source: Path
    out: Path
    seed: tuple[int, ...]


def make_dataset(
    out_dir: Path,
    n_images: int = 3000,
    seed: int = 0,
    source: Path = DEFAULT_SOURCE,
) -> Path:
    """Write (or reuse) the dataset under ``out_dir``; returns ``out_dir``."""
    photos = _source_photos(source)
    counts = _label_counts({label: len(files) for label, files in photos.items()}, n_images)
    params = {
        "format_version": FORMAT_VERSION,
        "n_images": n_images,
        "seed": seed,
        "source": str(source.resolve()),
    }
    if _is_built(out_dir, params, n_images):
        return out_dir
    for split in SPLITS:
        shutil.rmtree(out_dir / split, ignore_errors=True)
    (out_dir / MARKER).unlink(missing_ok=True)

    jobs = _plan(out_dir, photos, counts, seed)
    for job in jobs:
        job.out.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for job, data in zip(jobs, pool.map(_render, jobs, chunksize=16), strict=True):
            salt = 0
            while (digest := hashlib.sha256(data).hexdigest()) in seen:
                salt += 1  # practically never: redraw this copy with another seed
                data = _render(Job(job.source, job.out, (*job.seed, salt)))
            seen.add(digest)
            job.out.write_bytes(data)

    split_counts = {
        split: {label: len(list((out_dir / split / label).glob("*.jpg"))) for label in photos}
        for split in SPLITS
    }
    (out_dir / MARKER).write_text(json.dumps({**params, "counts": split_counts}, indent=2) + "\n")
    return out_dir


def _source_photos(source: Path) -> dict[str, list[Path]]:
    if not source.is_dir():
        raise SystemExit(
            f"benchmark source images not found: {source}\n"
            "expected a folder with one subfolder of photos per label "
            "(shared/datasets/clothing-extra/images next to the repository); "
            "pass --source to use another one"
        )
    photos = {
        folder.name: sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES
        )
        for folder in sorted(source.iterdir())
        if folder.is_dir()
    }
    photos = {label: files for label, files in photos.items() if len(files) >= 2}
    if len(photos) < 2:
        raise SystemExit(f"{source} needs at least 2 label folders with 2 or more photos each")
    return photos


def _label_counts(n_sources: dict[str, int], n_images: int) -> dict[str, int]:
    """Image counts per label, geometric from largest to smallest (IMBALANCE:1), summing to n.

    Labels with more source photos get more images, so copies per photo stay even.
    """
    order = sorted(n_sources, key=lambda label: (-n_sources[label], label))
    k = len(order)
    weights = [IMBALANCE ** (-i / max(k - 1, 1)) for i in range(k)]
    counts = [max(2, round(n_images * w / sum(weights))) for w in weights]
    counts[0] += n_images - sum(counts)
    if counts[0] < counts[1]:
        raise SystemExit(f"--n {n_images} is too small for {k} labels")
    return dict(zip(order, counts, strict=True))


def _plan(
    out_dir: Path, photos: dict[str, list[Path]], counts: dict[str, int], seed: int
) -> list[Job]:
    jobs = []
    for label_index, label in enumerate(sorted(photos)):
        order = np.random.default_rng([seed, label_index]).permutation(len(photos[label]))
        files = [photos[label][j] for j in order]
        n_test_sources = min(len(files) - 1, max(1, round(TEST_FRACTION * len(files))))
        n_test = max(1, round(TEST_FRACTION * counts[label]))
        parts = {
            "test": (files[:n_test_sources], n_test),
            "train": (files[n_test_sources:], counts[label] - n_test),
        }
        for split_index, split in enumerate(SPLITS):
            sources, n = parts[split]
            for i in range(n):
                out = out_dir / split / label / f"{label}-{i:05d}.jpg"
                jobs.append(
                    Job(sources[i % len(sources)], out, (seed, label_index, split_index, i))
                )
    return jobs


def _render(job: Job) -> bytes:
    """One varied JPEG copy of ``job.source``, fully determined by ``job.seed``."""
    rng = np.random.default_rng(list(job.seed))
    with Image.open(job.source) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = img.size
    crop_w = max(1, round(width * rng.uniform(0.7, 1.0)))
    crop_h = max(1, round(height * rng.uniform(0.7, 1.0)))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    img = img.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    gain = rng.uniform(0.9, 1.1) * rng.uniform(0.95, 1.05, size=3)
    pixels = np.asarray(img, dtype=np.float32) * gain.astype(np.float32)
    img = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
    long_side = math.exp(rng.uniform(math.log(300), math.log(1200)))
    scale = long_side / max(crop_w, crop_h)
    size = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
    img = img.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=int(rng.integers(80, 96)))
    return buffer.getvalue()


def _is_built(out_dir: Path, params: dict[str, object], n_images: int) -> bool:
    try:
        marker = json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if any(marker.get(key) != value for key, value in params.items()):
        return False
    return sum(1 for split in SPLITS for _ in (out_dir / split).glob("*/*.jpg")) == n_images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="output folder (train/ and test/ inside)")
    parser.add_argument("--n", type=int, default=3000, help="number of images in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="folder of label subfolders with photos"
    )
    args = parser.parse_args(argv)
    out = make_dataset(args.out_dir, n_images=args.n, seed=args.seed, source=args.source)
    marker = json.loads((out / MARKER).read_text())
    for split in SPLITS:
        counts = marker["counts"][split]
        listed = ", ".join(f"{label} {n}" for label, n in counts.items())
        print(f"{out / split}: {sum(counts.values())} images ({listed})")


if __name__ == "__main__":
    main()
