"""The shape of a data check: findings with a code, a severity, plain advice and details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")  # most to least severe


@dataclass(frozen=True)
class Finding:
    """One thing to know about the data.

    ``items`` lists paths, or objects with a ``path`` (and detail fields); ``groups`` lists
    lists of paths that belong together (copies of one image). ``extra`` carries any other
    details (e.g. the learning curve's points); its keys sit beside the others in JSON.
    """

    code: str
    severity: str  # error | warning | info
    message: str  # what was found
    advice: str  # what to do about it, for a newcomer
    items: tuple[Any, ...] = ()  # str paths or dicts with a "path"
    groups: tuple[tuple[str, ...], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "advice": self.advice,
        }
        if self.items:
            out["items"] = [dict(i) if isinstance(i, Mapping) else i for i in self.items]
        if self.groups:
            out["groups"] = [list(g) for g in self.groups]
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class CheckReport:
    n_images: int
    labels: Mapping[str, int]  # label -> images
    findings: Sequence[Finding]
    n_test_images: int | None = None
    seconds: float = 0.0

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_images": self.n_images,
            "labels": dict(self.labels),
            "findings": [f.to_dict() for f in sort_findings(self.findings)],
        }
        if self.n_test_images is not None:
            out["n_test_images"] = self.n_test_images
        return out


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Errors first, then warnings, then information; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
