"""What the CLI prints: progress bars on stderr, and the text forms of its results (the
``--json`` forms are the results' own dictionaries)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from tagloop.insights.findings import CheckReport, sort_findings
from tagloop.types import EvalReport

_STAGE_NAMES = {
    "read": "reading",
    "embed": "embedding",
    "train": "training",
    "predict": "predicting",
    "shortcuts": "testing for shortcuts",
}
_STAGE_UNITS = {
    "read": "img",
    "embed": "img",
    "train": "fit",
    "predict": "img",
    "shortcuts": "tag",
}


class TqdmHandler(logging.Handler):
    """Log lines that do not tear progress bars apart."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


class Bars:
    """A progress callback drawing one bar per stage on stderr (rate and ETA included)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        if not self.enabled or total == 0:
            return
        bar = self.bars.get(stage)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = self.bars[stage] = tqdm(
                total=total,
                desc=_STAGE_NAMES.get(stage, stage),
                unit=_STAGE_UNITS.get(stage, "it"),
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )
        bar.update(done - bar.n)
        if detail:
            bar.set_postfix_str(detail, refresh=False)
        if done >= total:
            bar.close()
            del self.bars[stage]


def advanced_summary(training_type: str, details: Mapping[str, Any]) -> str:
    if training_type != "advanced":
        return f"advanced training fell back to quick: {details.get('fallback', 'no reason')}"
    plan, cache = details.get("plan", {}), details.get("view_cache", {})
    trials = sum(len(m["trials"]) for m in details.get("models", []))
    return (
        f"advanced: {plan.get('n_folds')} outer folds + final model, {trials} trials, "
        f"{plan.get('n_views')} views per image ({cache.get('bytes', 0) / 1e6:.0f} MB cache), "
        f"up to {plan.get('epochs')} epochs, on {details.get('rates', {}).get('device')}"
    )


_SHOWN_DETAILS = 5  # paths or groups printed per finding; --json has them all


def format_check(report: CheckReport) -> str:
    labels = ", ".join(f"{label} {n}" for label, n in report.labels.items())
    test = f", {report.n_test_images} test images" if report.n_test_images is not None else ""
    lines = [f"{report.n_images} images{test}; labels: {labels}"]
    findings = sort_findings(report.findings)
    if not findings:
        lines.append("no findings: the data looks ready to train on")
    for f in findings:
        lines.append(f"\n{f.severity.upper()} {f.code}: {f.message}")
        lines.append(f"  what to do: {f.advice}")
        shown = f.items if not f.groups else ()  # groups say it more compactly
        for item in shown[:_SHOWN_DETAILS]:
            if isinstance(item, Mapping):
                rest = "; ".join(
                    f"{k} {_plain(v)}" for k, v in item.items() if k not in ("path", "matches")
                )
                lines.append(f"  - {item.get('path')}" + (f" ({rest})" if rest else ""))
            else:
                lines.append(f"  - {item}")
        for group in f.groups[:_SHOWN_DETAILS]:
            lines.append("  - " + " = ".join(group))
        hidden = max(0, len(shown) - _SHOWN_DETAILS) + max(0, len(f.groups) - _SHOWN_DETAILS)
        if hidden:
            lines.append(f"  ... and {hidden} more (--json lists them all)")
    return "\n".join(lines)


def _plain(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_report(report: EvalReport, title: str) -> str:
    at = "" if report.threshold is None else f" at threshold {report.threshold:g}"
    lines = [
        f"{title}: {report.n_images} images{at}, accuracy {report.accuracy:.3f}, "
        f"macro F1 {report.macro_f1:.3f}"
        + (f", coverage {report.coverage:.3f}" if report.coverage < 1 else "")
        + (f" ({report.method})" if report.method else "")
    ]
    width = max([len(label) for label in report.labels] + [5])
    lines.append(f"  {'label':<{width}}  precision  recall     f1  avg-prec  images")
    for label, m in report.per_label.items():
        ap = f"{m.average_precision:.3f}" if m.average_precision is not None else "  -  "
        lines.append(
            f"  {label:<{width}}  {m.precision:9.3f}  {m.recall:6.3f}  {m.f1:5.3f}"
            f"  {ap:>8}  {m.support:6d}"
        )
    return "\n".join(lines)
