"""Copy the browser test's screenshots into the page tour (docs/ui.md), resized.

    make test   # or: .venv/bin/python -m pytest tests/browser/test_ui_flow.py
    .venv/bin/python docs/tour/refresh.py

The tour shows exactly what the flow test saw on its last run; run this after a UI change.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots" / "test_ui_flow"
OUT = Path(__file__).resolve().parent
WIDTH = 960
# tour name: (test, screenshot name without its number)
TOUR = {
    "projects": ("test_phone_width_and_keyboard", "phone-projects"),
    "upload-summary": ("test_the_improvement_loop", "upload-summary"),
    "training-images": ("test_the_improvement_loop", "training-images"),
    "train-before": ("test_the_improvement_loop", "train-before"),
    "train-advanced": ("test_advanced_training_choice_and_a_refused_training", "train-advanced-choice"),  # noqa: E501
    "training": ("test_the_improvement_loop", "first-training"),
    "trained": ("test_the_improvement_loop", "first-trained"),
    "performance": ("test_the_improvement_loop", "performance-threshold"),
    "performance-cell": ("test_the_improvement_loop", "performance-cell"),
    "quick-test": ("test_the_improvement_loop", "quick-test"),
    "quick-test-heatmap": ("test_the_improvement_loop", "quick-test-heatmap"),
    "quick-test-unknown": ("test_the_improvement_loop", "quick-test-unknown"),
    "performance-heatmaps": ("test_the_improvement_loop", "performance-heatmaps"),
    "published": ("test_the_improvement_loop", "published"),
    "predictions": ("test_the_improvement_loop", "predictions"),
    "compare": ("test_the_improvement_loop", "compare"),
    "shortcut-finding": ("test_the_data_check_shows_a_shortcut", "shortcut-finding"),
}
MAX_HEIGHT = 1800  # long pages are cut (the grid goes on below)


def main() -> int:
    for name, (test, shot) in TOUR.items():
        found = sorted((SHOTS / test).glob(f"[0-9][0-9]-{shot}.png"))
        if not found:
            print(f"missing: {SHOTS / test}/NN-{shot}.png; run the browser tests first")  # noqa: T201
            return 1
        with Image.open(found[-1]) as img:
            rgb = img.convert("RGB")
        scale = min(1.0, WIDTH / rgb.width)
        resized = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.LANCZOS)
        resized = resized.crop((0, 0, resized.width, min(resized.height, MAX_HEIGHT)))
        target = OUT / f"{name}.png"
        resized.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KiB")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
