"""The gate rule: PASS/FAIL/INCONCLUSIVE from an interval, prompts to settle, and the decision."""

from __future__ import annotations

import math

import pytest

from servegate.analysis.gate_rule import (
    Decision,
    Verdict,
    decide,
    prompts_to_settle,
    verdict_lower_bound,
    verdict_upper_bound,
)
from servegate.core.errors import StatsInputError
from servegate.core.stats import Estimate


def _est(value: float | None, low: float | None, high: float | None, n: int = 500) -> Estimate:
    return Estimate(value, low, high, n, 0.95, "order-statistic", "ms")


@pytest.mark.parametrize(
    ("est", "verdict"),
    [
        (_est(2500, 2400, 2900), Verdict.PASS),
        (_est(2500, 2400, 3000), Verdict.PASS),  # touching the threshold is still <= it
        (_est(3500, 3100, 3900), Verdict.FAIL),
        (_est(3000, 3000, 3900), Verdict.INCONCLUSIVE),  # 3000 itself is allowed
        (_est(2900, 2500, 3200), Verdict.INCONCLUSIVE),
        (_est(2500, 2400, None, n=20), Verdict.INCONCLUSIVE),  # unbounded above: no PASS
        (_est(3500, None, 3900, n=20), Verdict.INCONCLUSIVE),  # unbounded below: no FAIL
        (_est(3500, 3100, None, n=20), Verdict.FAIL),
        (_est(math.inf, 2900, math.inf), Verdict.INCONCLUSIVE),
        (_est(None, None, None, n=0), Verdict.INCONCLUSIVE),
        (_est(100.0, None, None, n=1), Verdict.INCONCLUSIVE),
    ],
)
def test_upper_bound_gate(est: Estimate, verdict: Verdict) -> None:
    assert verdict_upper_bound(est, 3000.0) is verdict


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (2.1, 3.0, Verdict.PASS),
        (2.0, 3.0, Verdict.PASS),  # touching the threshold is still >= it
        (1.2, 1.9, Verdict.FAIL),
        (1.5, 2.5, Verdict.INCONCLUSIVE),
        (None, 1.9, Verdict.FAIL),
        (2.5, None, Verdict.PASS),
        (None, 2.5, Verdict.INCONCLUSIVE),  # unbounded below: no PASS
        (1.5, None, Verdict.INCONCLUSIVE),  # unbounded above: no FAIL
    ],
)
def test_lower_bound_gate(low: float | None, high: float | None, verdict: Verdict) -> None:
    assert verdict_lower_bound(Estimate(2.2, low, high, 50, 0.95, "x", "x"), 2.0) is verdict
    assert verdict_lower_bound(Estimate(None, None, None, 0, 0.95, "x", "x"), 2.0) is (
        Verdict.INCONCLUSIVE
    )


def test_prompts_to_settle_shrinks_the_facing_side_past_the_threshold() -> None:
    est = _est(2800, 2500, 3100)  # upper end 300 ms above the value, threshold 200 above
    needed = prompts_to_settle(est, 3000)
    assert needed == 1125  # 500 * (300 / 200)**2
    for m, settles in ((needed, True), (needed - 1, False)):
        assert (300 * math.sqrt(500 / m) <= 200) is settles
    # a failing side: value above the threshold, lower end crosses it
    assert prompts_to_settle(_est(3200, 2900, 3300), 3000) == 1125  # the lower end faces it
    # facing end unbounded: the other end stands in, and never fewer than n + 1
    assert prompts_to_settle(_est(2990, 2980, None, n=60), 3000) == 61
    assert prompts_to_settle(_est(2500, 2400, 2900), 3000) == 500  # already settled
    assert prompts_to_settle(_est(3000, 2900, 3100), 3000) is None
    assert prompts_to_settle(_est(None, None, None, n=0), 3000) is None
    assert prompts_to_settle(_est(math.inf, 2900, math.inf), 3000) is None
    assert prompts_to_settle(_est(100, None, None, n=1), 3000) is None


def test_decide() -> None:
    p, f, i = Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE
    assert decide([p, p, p, p], 500, 500) is Decision.GO
    assert decide([p, p, p, p], 499, 500) is Decision.INCONCLUSIVE  # never a GO below minimum
    assert decide([p, i, p], 800, 500) is Decision.INCONCLUSIVE
    assert decide([p, i, f], 800, 500) is Decision.PAUSE
    assert decide([f], 10, 500) is Decision.PAUSE
    assert decide([], 800, 500) is Decision.INCONCLUSIVE
    assert decide(["PASS", "PASS"], 800, 500) == "GO"
    with pytest.raises(StatsInputError, match=r"unknown verdict 'OK'; expected one of PASS"):
        decide(["OK"], 800, 500)
    with pytest.raises(StatsInputError, match=r"min_prompts must be a whole number >= 0, got -1"):
        decide([p], 800, -1)
