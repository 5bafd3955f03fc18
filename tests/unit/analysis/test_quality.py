"""Answer-quality statistics: Wilson accuracy, the paired difference interval, the gate's rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.quality import (
    accuracy,
    accuracy_by_category,
    judge_quality,
    paired_difference_ci,
)
from servegate.core.errors import StatsInputError
from servegate.core.stats import share_ci


def rows(passed: list[bool], category: str = "factual", status: str = "ok") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(len(passed))],
            "category": category,
            "status": status,
            "passed": passed,
            "reason": "",
            "answer": "",
        }
    )


def test_share_ci_is_scipys_wilson_interval_and_refuses_impossible_counts() -> None:
    est = share_ci(84, 120)
    assert est.value == pytest.approx(0.7)
    # Wilson 95% for 84/120, by the closed form: centre (k + z²/2)/(n + z²), half-width ...
    z = 1.959963984540054
    centre = (84 + z**2 / 2) / (120 + z**2)
    half = z / (120 + z**2) * np.sqrt(84 * 36 / 120 + z**2 / 4)
    assert (est.ci_low, est.ci_high) == pytest.approx((centre - half, centre + half))
    assert share_ci(0, 0).value is None
    for k, n in ((5, 4), (-1, 3), (1.5, 3)):
        with pytest.raises(StatsInputError, match="0 <= k <= n"):
            share_ci(k, n)  # type: ignore[arg-type]


def test_accuracy_counts_failed_requests_as_not_passed_and_on_their_own() -> None:
    frame = pd.concat([rows([True] * 6 + [False] * 2), rows([False] * 2, status="timeout")])
    acc = accuracy(frame)
    assert (acc.n, acc.n_passed, acc.n_failed_requests) == (10, 6, 2)
    assert acc.accuracy == pytest.approx(0.6)
    assert acc.ci_low is not None and acc.ci_low < 0.6 < (acc.ci_high or 0)


def test_accuracy_by_category_splits_the_rows() -> None:
    frame = pd.concat([rows([True, True], "a"), rows([False, True, False, False], "b")])
    by = accuracy_by_category(frame)
    assert list(by) == ["a", "b"]
    assert (by["a"].n_passed, by["b"].n_passed, by["b"].n) == (2, 1, 4)


def test_paired_interval_matches_newcombes_worked_example() -> None:
    # Altman et al., Statistics with Confidence (2000), table 6.2: 14 both, 5 only the first,
    # 0 only the second, 22 neither; the difference 5/41 = 0.122 with Newcombe's interval
    # 0.011 to 0.226 (method 10).
    a = [True] * 19 + [False] * 22
    b = [True] * 14 + [False] * 27
    est = paired_difference_ci(a, b)
    assert est.value == pytest.approx(5 / 41)
    assert est.ci_low == pytest.approx(0.0115, abs=5e-4)
    assert est.ci_high == pytest.approx(0.2265, abs=5e-4)


def test_paired_interval_is_never_a_point_when_both_sides_agree_everywhere() -> None:
    same = [True] * 100 + [False] * 20
    est = paired_difference_ci(same, same)
    assert est.value == 0.0
    assert est.ci_low is not None and est.ci_high is not None
    assert -0.05 < est.ci_low < 0 < est.ci_high < 0.05  # 120 agreeing items: about ±3 pts


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    # 2,000 simulated checks files of 120 items: hosted right 80% of the time, local agrees
    # with hosted on 85% of items (correlated, as two models on the same items are).
    rng = np.random.default_rng(7)
    n, trials, covered = 120, 2000, 0
    p_host, p_agree = 0.8, 0.85
    # local right: agree and hosted right, or disagree and hosted wrong
    true_diff = (p_agree * p_host + (1 - p_agree) * (1 - p_host)) - p_host
    for _ in range(trials):
        hosted = rng.random(n) < p_host
        agree = rng.random(n) < p_agree
        local = np.where(agree, hosted, ~hosted)
        est = paired_difference_ci(local, hosted)
        covered += est.ci_low <= true_diff <= est.ci_high  # type: ignore[operator]
    assert 0.93 <= covered / trials <= 0.985, covered / trials


def test_paired_interval_refuses_unpaired_lengths() -> None:
    with pytest.raises(StatsInputError, match="one flag per item"):
        paired_difference_ci([True, False], [True])


def test_non_inferiority_passes_fails_and_is_inconclusive_by_the_interval() -> None:
    hosted = rows([True] * 100 + [False] * 20)
    same = judge_quality(hosted.copy(), hosted, margin=0.05, floor=0.8)
    assert (same.basis, same.verdict) == ("hosted", Verdict.PASS)
    assert same.threshold == -0.05
    worse = rows([True] * 60 + [False] * 60)  # 40 points below hosted
    judged = judge_quality(worse, hosted, margin=0.05, floor=0.8)
    assert judged.verdict == Verdict.FAIL
    assert judged.n_regressions == 40 and len(judged.regressions) == 5
    assert set(judged.regressions[0]) == {
        "id", "category", "local_answer", "local_reason", "hosted_answer"
    }  # fmt: skip
    slightly = rows([True] * 95 + [False] * 25)  # 4 points below: interval straddles -5
    assert judge_quality(slightly, hosted, margin=0.05, floor=0.8).verdict == Verdict.INCONCLUSIVE


def test_without_hosted_answers_the_floor_judges_and_the_note_says_why() -> None:
    good = judge_quality(rows([True] * 115 + [False] * 5), None, margin=0.05, floor=0.8)
    assert (good.basis, good.verdict) == ("floor", Verdict.PASS)
    assert "absolute floor 0.8" in good.note and "no hosted run" in good.note
    bad = judge_quality(rows([True] * 30 + [False] * 90), None, margin=0.05, floor=0.8)
    assert bad.verdict == Verdict.FAIL
    none = judge_quality(None, None, margin=0.05, floor=0.8, local_missing="skipped it")
    assert (none.basis, none.verdict) == ("none", Verdict.INCONCLUSIVE)
    assert "skipped it" in none.note


def test_items_only_one_side_answered_are_left_out_of_the_pairing_and_said() -> None:
    local = rows([True] * 100)
    hosted = rows([True] * 90)
    judged = judge_quality(local, hosted, margin=0.05, floor=0.8)
    assert judged.estimate.n == 90
    assert "10 item(s) answered by only one side" in judged.note


def test_the_two_sides_can_be_named_for_a_sweep() -> None:
    worse = rows([True] * 20 + [False] * 100)
    judged = judge_quality(
        worse, rows([True] * 120), margin=0.05, floor=0.8, sides=("bf16", "base")
    )
    assert judged.note.startswith("bf16 16.7% vs base 100.0% on 120 items; 100 item(s) bf16 fails")
    assert judged.method.startswith("bf16 minus base accuracy")
    floor = judge_quality(worse, None, margin=0.05, floor=0.8, sides=("bf16", "base"))
    assert floor.note.endswith("not against base") and floor.method.startswith("bf16 accuracy")
