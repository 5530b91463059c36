"""What stops training, and what training leaves out, from the tag counts alone (cheap enough
for every page view). The data check (``insights``: too few images, imbalance, copies, label
issues...) says what would make a better model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagloop.store.records import TagRecord
from tagloop.types import TagType

MIN_IMAGES = 5  # training refuses a tag with fewer


@dataclass(frozen=True)
class Notice:
    severity: str  # error | warning
    message: str


def tag_count_warnings(tags: Sequence[TagRecord], *, n_untagged: int = 0) -> list[Notice]:
    """Errors that stop training, and a warning for images training leaves out."""
    regular = [t for t in tags if t.type != TagType.NEGATIVE]
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
    if n_untagged:
        out.append(
            Notice(
                "warning",
                f"{n_untagged} images have no tag and are left out of training; tag them "
                "or delete them.",
            )
        )
    return out
