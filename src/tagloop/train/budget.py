"""Advanced training's time budget: what a person may write (``600``, ``90s``, ``10m``,
``1.5h``), its limits and its default."""

from __future__ import annotations

import math
import re

from tagloop.errors import BudgetInvalid

MAX_BUDGET_SECONDS = 24 * 3600
DEFAULT_BUDGET_SECONDS = 600.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def parse_budget(value: str | float | int) -> float:
    """A budget in seconds from ``600``, ``"600"``, ``"90s"``, ``"10m"`` or ``"1.5h"``.

    Raises :class:`BudgetInvalid` unless it is a positive duration of at most 24 hours.
    """
    if isinstance(value, bool):
        raise BudgetInvalid("the budget must be a duration such as 600, 90s, 10m or 1.5h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise BudgetInvalid(
                f"budget {value!r} is not a duration; give seconds (600) or 90s, 10m, 1.5h"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "").lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise BudgetInvalid("the budget must be more than zero seconds")
    if seconds > MAX_BUDGET_SECONDS:
        raise BudgetInvalid(
            f"the budget is at most {MAX_BUDGET_SECONDS // 3600} hours "
            f"({MAX_BUDGET_SECONDS} seconds); {seconds:g} s asked"
        )
    return seconds
