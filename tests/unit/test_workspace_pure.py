from __future__ import annotations

import numpy as np
import pytest

from tagloop.errors import RequestInvalid
from tagloop.evaluate.metrics import threshold_performance
from tagloop.store.records import MetadataCondition as C
from tagloop.workspace.filters import parse_metadata_filter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("camera eq 'a'", ((C("camera", "eq", "a"),),)),
        (
            "camera eq 'a' and group ne 'b c'",
            ((C("camera", "eq", "a"), C("group", "ne", "b c")),),
        ),
        (
            "camera eq 'a' or camera eq 'it''s' and x eq 'y'",
            ((C("camera", "eq", "a"),), (C("camera", "eq", "it's"), C("x", "eq", "y"))),
        ),
        ("Camera EQ 'A'", ((C("Camera", "eq", "A"),),)),
    ],
)
def test_metadata_filter_reads_and_before_or(text: str, expected: tuple[object, ...]) -> None:
    assert parse_metadata_filter(text) == expected


@pytest.mark.parametrize("text", ["camera = 'a'", "camera eq a", "eq 'a'", "a eq 'b' and"])
def test_metadata_filter_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(RequestInvalid, match="Cannot read the filter"):
        parse_metadata_filter(text)


def test_threshold_performance_counts_predictions_at_the_threshold() -> None:
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=bool)  # noqa: N806
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.55, 0.45]])
    overall, per_tag = threshold_performance(Y, proba, threshold=0.5)
    # label 0 predicted for rows 0 and 3 (one right); label 1 for rows 1 and 2 (one right)
    assert per_tag[0]["precision"] == 0.5 and per_tag[0]["recall"] == 0.5
    assert per_tag[1]["precision"] == 0.5 and per_tag[1]["recall"] == 0.5
    assert overall["precision"] == 0.5 and overall["recall"] == 0.5
    strict, _ = threshold_performance(Y, proba, threshold=0.8)
    assert strict["precision"] == 1.0 and strict["recall"] == 0.25
    assert per_tag[0]["f1"] == 0.5 and overall["f1"] == 0.5 and overall["macro_f1"] == 0.5
    # at 0.8 only row 0 is predicted (label 0): F1 2/3 for label 0, 0 for label 1
    assert strict["f1"] == 0.4 and strict["macro_f1"] == pytest.approx(1 / 3, abs=1e-6)
    assert 0.0 < overall["average_precision"] <= 1.0
