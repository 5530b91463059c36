"""Custom Vision's $filter syntax: read into store conditions, or refused with a clear message."""

from __future__ import annotations

import pytest

from tagloop.errors import RequestInvalid
from tagloop.shells.api.cv_filters import parse_metadata_filter
from tagloop.store.records import MetadataCondition as C


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
