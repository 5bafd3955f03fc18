"""Answer quality: accuracy with Wilson intervals, and local against hosted, paired by item.

A quality pass (``servegate.jobs.quality_pass``) leaves one row per item (``quality.csv``:
``id, category, status, passed, reason, answer``). Here those rows become the run's accuracy
(``records.quality``) and the quality gate's judgement:

- **with a hosted run on the same items**: non-inferiority of local to hosted. The difference
  in accuracy (local minus hosted) is estimated on the items both answered, paired, with
  Newcombe's score interval for paired proportions. PASS when the whole 95% interval is above
  ``-margin``, FAIL when it is wholly below, INCONCLUSIVE otherwise.
- **without one**: the local accuracy's Wilson interval against an absolute ``floor``.

A failed request is an item not passed, on either side: an endpoint that cannot answer has not
answered well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from servegate.analysis.gate_rule import Verdict, verdict_lower_bound
from servegate.core.errors import StatsInputError
from servegate.core.stats import Estimate, share_ci
from servegate.records.quality import QualityAccuracy

__all__ = [
    "QualityJudgement",
    "accuracy",
    "accuracy_by_category",
    "judge_quality",
    "paired_difference_ci",
]

#: How many "local fails, hosted passes" items the report quotes with both answers.
SHOWN_REGRESSIONS = 5


def accuracy(rows: pd.DataFrame) -> QualityAccuracy:
    """Accuracy of quality rows (``passed`` bool, ``status`` str) with a 95% Wilson interval."""
    passed = rows["passed"].astype(bool).to_numpy()
    est = share_ci(int(passed.sum()), int(passed.size))
    return QualityAccuracy(
        n=est.n,
        n_passed=int(passed.sum()),
        n_failed_requests=int((rows["status"] != "ok").sum()),
        accuracy=est.value,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
    )


def accuracy_by_category(rows: pd.DataFrame) -> dict[str, QualityAccuracy]:
    """``accuracy`` of each category's rows, by category name."""
    return {str(c): accuracy(group) for c, group in rows.groupby("category", sort=True)}


def paired_difference_ci(
    a_passed: np.ndarray | list[bool],
    b_passed: np.ndarray | list[bool],
    *,
    confidence: float = 0.95,
) -> Estimate:
    """Accuracy of A minus accuracy of B on the same items, with a paired score interval.

    Newcombe's (1998) method 10: each side's Wilson interval, combined with the correlation of
    the paired outcomes (phi). Written here because neither scipy nor the pinned packages have
    an interval for a difference of *paired* proportions; it keeps coverage near 95% for the
    100-200 items of a checks file, where a Wald interval (or a bootstrap of a mostly-zero
    difference) is too narrow when both sides are near 0 or 1.

    :param a_passed: one boolean per item for side A; ``b_passed`` the same items' for B.
    :returns: ``Estimate`` in ``share_diff`` units (-1 to 1), ``method="newcombe-paired"``.
    :raises StatsInputError: when the two sides have different lengths.
    """
    a = np.asarray(a_passed, dtype=bool)
    b = np.asarray(b_passed, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise StatsInputError(
            f"paired outcomes need one flag per item on each side, got {a.shape} and {b.shape}"
        )
    n = int(a.size)
    if n == 0:
        return Estimate(None, None, None, 0, confidence, "newcombe-paired", "share_diff")
    both, only_a = int((a & b).sum()), int((a & ~b).sum())
    only_b, neither = int((~a & b).sum()), int((~a & ~b).sum())
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    w1 = share_ci(both + only_a, n, confidence=confidence)
    w2 = share_ci(both + only_b, n, confidence=confidence)
    l1, u1 = float(w1.ci_low or 0.0), float(w1.ci_high or 1.0)
    l2, u2 = float(w2.ci_low or 0.0), float(w2.ci_high or 1.0)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    # phi, the correlation of the pairs, with Newcombe's continuity correction of its numerator
    # (as in Altman et al., "Statistics with Confidence", 2000, section 6).
    cross = both * neither - only_a * only_b
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = 0.0 if margins == 0 else corrected / math.sqrt(margins)
    delta = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
    eps = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0))
    diff = p1 - p2
    low, high = max(diff - delta, -1.0), min(diff + eps, 1.0)
    return Estimate(diff, low, high, n, confidence, "newcombe-paired", "share_diff")


@dataclass(frozen=True)
class QualityJudgement:
    """The quality gate's figures: what was compared, the estimate, the verdict and why.

    :param basis: ``"hosted"`` (paired non-inferiority), ``"floor"`` (absolute floor), or
        ``"none"`` (no quality pass to judge).
    :param regressions: items the local backend failed and the hosted one passed, with both
        answers (at most ``SHOWN_REGRESSIONS``), for the report.
    """

    basis: Literal["hosted", "floor", "none"]
    estimate: Estimate
    threshold: float
    verdict: Verdict
    method: str
    note: str
    n_regressions: int = 0
    regressions: list[dict[str, str]] = field(default_factory=list)


def _no_pass(reason: str, floor: float) -> QualityJudgement:
    est = Estimate(None, None, None, 0, 0.95, "wilson", "share")
    return QualityJudgement("none", est, floor, Verdict.INCONCLUSIVE, "no quality pass", reason)


def judge_quality(
    local: pd.DataFrame | None,
    hosted: pd.DataFrame | None,
    *,
    margin: float,
    floor: float,
    local_missing: str = "the local run has no quality pass",
    hosted_missing: str = "no hosted run with a quality pass",
    sides: tuple[str, str] = ("local", "hosted"),
) -> QualityJudgement:
    """The quality gate's judgement of local rows, against hosted rows when there are some.

    :param local: the local run's quality rows; None or empty when it made no quality pass.
    :param hosted: the hosted run's rows for the same checks file; None when there are none.
    :param margin: how far below hosted the local accuracy may be (0.05 = 5 points).
    :param floor: the accuracy the local run must reach when there is no hosted comparison.
    :param local_missing: why ``local`` is missing, for the note.
    :param hosted_missing: why ``hosted`` is missing, for the note.
    :param sides: what the note and method call the two sides; a sweep judges one server
        setting against its base setting (``servegate.analysis.sweep_quality``).
    """
    if local is None or local.empty:
        return _no_pass(f"{local_missing}; quality cannot be judged", floor)
    if hosted is not None and not hosted.empty:
        pairs = local.merge(hosted, on="id", suffixes=("_local", "_hosted"))
        if not pairs.empty:
            return _paired(pairs, len(local), len(hosted), margin, sides)
        hosted_missing = "the hosted run answered none of the local run's items"
    acc = accuracy(local)
    est = Estimate(acc.accuracy, acc.ci_low, acc.ci_high, acc.n, 0.95, "wilson", "share")
    return QualityJudgement(
        "floor",
        est,
        floor,
        verdict_lower_bound(est, floor),
        f"{sides[0]} accuracy, Wilson 95% interval, against the floor {floor:g}",
        f"{hosted_missing}: judged against the absolute floor {floor:g}, not against {sides[1]}",
    )


def _paired(
    pairs: pd.DataFrame, n_local: int, n_hosted: int, margin: float, sides: tuple[str, str]
) -> QualityJudgement:
    local_ok = pairs["passed_local"].astype(bool).to_numpy()
    hosted_ok = pairs["passed_hosted"].astype(bool).to_numpy()
    est = paired_difference_ci(local_ok, hosted_ok)
    worse = pairs[~local_ok & hosted_ok]
    shown = [
        {
            "id": str(row.id),
            "category": str(row.category_local),
            "local_answer": str(row.answer_local),
            "local_reason": str(row.reason_local),
            "hosted_answer": str(row.answer_hosted),
        }
        for row in worse.head(SHOWN_REGRESSIONS).itertuples()
    ]
    unpaired = max(n_local, n_hosted) - len(pairs)
    a, b = sides
    note = (
        f"{a} {local_ok.mean():.1%} vs {b} {hosted_ok.mean():.1%} on {len(pairs)} items; "
        f"{len(worse)} item(s) {a} fails and {b} passes"
    )
    if unpaired:
        note += f"; {unpaired} item(s) answered by only one side are left out of the pairing"
    return QualityJudgement(
        "hosted",
        est,
        -margin,
        verdict_lower_bound(est, -margin),
        f"{a} minus {b} accuracy, paired by item, Newcombe 95% interval, margin {margin:g}",
        note,
        n_regressions=len(worse),
        regressions=shown,
    )
