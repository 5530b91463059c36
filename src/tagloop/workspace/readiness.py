"""What a person should know before training, from the tag counts alone (cheap enough for
every page view). The full data check (duplicates, leakage, label issues) is its own module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagloop.store.records import TagRecord

MIN_IMAGES = 5  # training refuses a tag with fewer
RECOMMENDED_IMAGES = 50  # Custom Vision's advice per tag
MAX_IMBALANCE = 2.0  # largest tag / smallest tag


@dataclass(frozen=True)
class Notice:
    severity: str  # error | warning
    message: str


def tag_count_warnings(tags: Sequence[TagRecord], *, n_untagged: int = 0) -> list[Notice]:
    """Errors that stop training and warnings that make a weaker model, in plain words."""
    regular = [t for t in tags if t.type != "Negative"]
    out: list[Notice] = []
    used = [t for t in regular if t.image_count]
    if len(used) < 2:
        out.append(Notice("error", "Training needs at least 2 tags with images."))
    few = sorted(t.name for t in used if t.image_count < MIN_IMAGES)
    if few:
        out.append(
            Notice(
                "error",
                f"Tags with fewer than {MIN_IMAGES} images: {', '.join(few)}. "
                "Add images or remove the tag.",
            )
        )
    some = sorted(t.name for t in used if MIN_IMAGES <= t.image_count < RECOMMENDED_IMAGES)
    if some:
        out.append(
            Notice(
                "warning",
                f"Tags with fewer than {RECOMMENDED_IMAGES} images: {', '.join(some)}. "
                "The model gets better with more varied examples of each.",
            )
        )
    if len(used) >= 2:
        smallest = min(used, key=lambda t: t.image_count)
        largest = max(used, key=lambda t: t.image_count)
        if largest.image_count > MAX_IMBALANCE * smallest.image_count:
            need = -(-largest.image_count // int(MAX_IMBALANCE)) - smallest.image_count
            out.append(
                Notice(
                    "warning",
                    f"Unbalanced tags: '{largest.name}' has {largest.image_count} images, "
                    f"'{smallest.name}' {smallest.image_count}. Add about {need} images to "
                    f"'{smallest.name}' (keep the smallest tag at least half the largest).",
                )
            )
    if n_untagged:
        out.append(
            Notice(
                "warning",
                f"{n_untagged} images have no tag and are left out of training; tag them "
                "or delete them.",
            )
        )
    return out
