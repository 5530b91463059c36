"""Image metadata filters: Custom Vision's ``$filter`` syntax → store conditions."""

from __future__ import annotations

import re

from tagloop.errors import RequestInvalid
from tagloop.store.records import MetadataCondition, MetadataFilter

_CONDITION = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s+(eq|ne)\s+'((?:[^']|'')*)'\s*$", re.I)


def parse_metadata_filter(text: str | None) -> MetadataFilter:
    """``key1 eq 'v1' and key2 ne 'v2' or ...`` → groups of conditions (``and`` binds tighter)."""
    if not text or not text.strip():
        return ()
    groups = []
    for group_text in re.split(r"\s+or\s+", text.strip(), flags=re.I):
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
