"""Advanced-training budgets: parsing, refusal, and the plan a budget buys."""

from __future__ import annotations

import pytest

from tagloop.errors import BudgetInvalid
from tagloop.train.advanced import PLANS, Rates, plan_budget
from tagloop.train.budget import MAX_BUDGET_SECONDS, parse_budget


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("600", 600.0),
        (600, 600.0),
        (12.5, 12.5),
        ("90s", 90.0),
        ("10m", 600.0),
        ("10 min", 600.0),
        ("1.5h", 5400.0),
        ("2H", 7200.0),
        ("24h", float(MAX_BUDGET_SECONDS)),
    ],
)
def test_budgets_parse_to_seconds(value: str | float, seconds: float) -> None:
    assert parse_budget(value) == seconds


@pytest.mark.parametrize(
    "value", ["0", 0, -1, "-5m", "abc", "", "10 parsecs", "25h", 10**9, float("nan"), True]
)
def test_bad_budgets_are_refused_with_the_reason(value: str | float) -> None:
    with pytest.raises(BudgetInvalid) as raised:
        parse_budget(value)
    assert raised.value.code == "budget_invalid"
    assert "budget" in raised.value.message


RATES = Rates(trunk_views_per_second=120.0, train_samples_per_second=60.0, device="cpu")


def test_a_larger_budget_never_buys_a_smaller_plan() -> None:
    plans = [plan_budget(582, 5, seconds, RATES) for seconds in (30, 60, 120, 300, 600, 3600)]
    order = [PLANS.index((p.n_folds, p.n_views, p.epochs)) if p else len(PLANS) for p in plans]
    assert order == sorted(order, reverse=True)
    assert plans[-1] is not None and (plans[-1].n_folds, plans[-1].n_views) == (5, 5)


def test_no_plan_when_even_the_smallest_does_not_fit() -> None:
    assert plan_budget(582, 5, 3.0, RATES) is None


def test_plans_never_use_more_folds_than_the_data_has() -> None:
    plan = plan_budget(40, 2, 3600, RATES)
    assert plan is not None and plan.n_folds == 2
