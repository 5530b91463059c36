"""Custom Vision's ``$filter`` syntax for image metadata → the store's conditions. Custom
Vision's vocabulary, so it lives in its shell; the core takes :class:`MetadataFilter`."""

from __future__ import annotations

import re

from tagloop.errors import RequestInvalid
from tagloop.store.records import MetadataCondition, MetadataFilter

_CONDITION = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s+(eq|ne)\s+'((?:[^']|'')*)'\s*$", re.I)


# Each condition becomes a term of one SQL expression; SQLite refuses very deep ones (a
# 2,000-term filter was a 500), and no real filter needs more.
MAX_FILTER_CONDITIONS = 100


def parse_metadata_filter(text: str | None) -> MetadataFilter:
    """``key1 eq 'v1' and key2 ne 'v2' or ...`` → groups of conditions (``and`` binds tighter)."""
    if not text or not text.strip():
        return ()
    group_texts = re.split(r"\s+or\s+", text.strip(), flags=re.I)
    n_conditions = sum(len(re.split(r"\s+and\s+", g, flags=re.I)) for g in group_texts)
    if n_conditions > MAX_FILTER_CONDITIONS:
        raise RequestInvalid(
            f"The filter has {n_conditions} conditions; at most {MAX_FILTER_CONDITIONS} are read."
        )
    groups = []
    for group_text in group_texts:
        conditions = []
        for cond_text in re.split(r"\s+and\s+", group_text, flags=re.I):
            match = _CONDITION.match(cond_text)
            if match is None:
                raise RequestInvalid(
                    f"Cannot read the filter {cond_text.strip()!r}; write key eq 'value' or "
                    "key ne 'value', joined by and / or."
                )
            key, op, value = match.groups()
            conditions.append(MetadataCondition(key, op.lower(), value.replace("''", "'")))
        groups.append(tuple(conditions))
    return tuple(groups)
