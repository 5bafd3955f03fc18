"""The gate rule: a PASS/FAIL/INCONCLUSIVE verdict from an interval, and the decision from those.

A gate passes only when its whole confidence interval lies on the good side of the threshold,
fails only when the whole interval lies on the bad side, and is INCONCLUSIVE otherwise, including
when there is no data (n = 0) or the interval is unbounded (``None``) on the side that matters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum

from servegate.core.errors import StatsInputError
from servegate.core.stats import Estimate

__all__ = [
    "Decision",
    "Verdict",
    "decide",
    "prompts_to_settle",
    "verdict_lower_bound",
    "verdict_upper_bound",
]


class Verdict(StrEnum):
    """A gate's verdict; the string values are what the decision JSON holds."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class Decision(StrEnum):
    """The run's decision; the string values are what the decision JSON holds."""

    GO = "GO"
    PAUSE = "PAUSE"
    INCONCLUSIVE = "INCONCLUSIVE"


def _threshold(threshold: float) -> float:
    if math.isnan(float(threshold)):
        raise StatsInputError(f"threshold must be a number, got {threshold!r}")
    return float(threshold)


def verdict_upper_bound(estimate: Estimate, threshold: float) -> Verdict:
    """Verdict of a "measured must be <= threshold" gate (latency percentiles).

    PASS when ``ci_high <= threshold``; FAIL when ``ci_low > threshold``; else INCONCLUSIVE.
    An unbounded end (``None``) can neither pass nor fail on its side; n = 0 is INCONCLUSIVE.
    A ``+inf`` end (failed requests) is a real bound: ``ci_low = inf`` FAILs.
    """
    threshold = _threshold(threshold)
    if estimate.n == 0 or estimate.value is None:
        return Verdict.INCONCLUSIVE
    if estimate.ci_high is not None and estimate.ci_high <= threshold:
        return Verdict.PASS
    if estimate.ci_low is not None and estimate.ci_low > threshold:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def verdict_lower_bound(estimate: Estimate, threshold: float) -> Verdict:
    """Verdict of a "measured must be >= threshold" gate (batching gain).

    PASS when ``ci_low >= threshold``; FAIL when ``ci_high < threshold``; else INCONCLUSIVE.
    An unbounded end (``None``) can neither pass nor fail on its side; n = 0 is INCONCLUSIVE.
    """
    threshold = _threshold(threshold)
    if estimate.n == 0 or estimate.value is None:
        return Verdict.INCONCLUSIVE
    if estimate.ci_low is not None and estimate.ci_low >= threshold:
        return Verdict.PASS
    if estimate.ci_high is not None and estimate.ci_high < threshold:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def prompts_to_settle(estimate: Estimate, threshold: float) -> int | None:
    """Roughly how many measured prompts (in total, not more) would settle an INCONCLUSIVE gate.

    Assumes the point estimate stays where it is and the interval's half-width shrinks like
    1/√n (true asymptotically of every interval here): the end facing the threshold, at
    distance w from the value, must come closer than the gap d = |value - threshold|, hence
    ``ceil(n * (w / d)**2)``, and at least n + 1. When that end is unbounded (``None``, too
    few samples), the other end's distance stands in for w. It is a planning figure, not a
    promise: the value moves as data arrives, and a value close to the threshold needs many
    prompts. A gate whose facing end already excludes the threshold gives n.

    :returns: the number of prompts, or ``None`` when n = 0, the value equals the threshold,
        or the value or the interval ends needed are missing or infinite.
    """
    threshold = _threshold(threshold)
    value, n = estimate.value, estimate.n
    if n == 0 or value is None or not math.isfinite(value) or value == threshold:
        return None
    above = threshold > value
    facing, other = (
        (estimate.ci_high, estimate.ci_low) if above else (estimate.ci_low, estimate.ci_high)
    )
    if facing is not None and (facing < threshold if above else facing > threshold):
        return n
    end = facing if facing is not None else other
    if end is None or not math.isfinite(end):
        return None
    ratio = abs(end - value) / abs(value - threshold)
    return max(math.ceil(n * ratio**2), n + 1)


def decide(verdicts: Iterable[Verdict | str], n_prompts: int, min_prompts: int) -> Decision:
    """The run's decision from its gates' verdicts.

    PAUSE when any gate FAILs (an interval wholly on the bad side is evidence at any n); GO when
    there is at least one gate, every gate PASSes and ``n_prompts >= min_prompts`` (fewer
    prompts than the minimum is never a GO); INCONCLUSIVE otherwise.

    :param verdicts: one verdict per gate (``Verdict`` or its string value).
    :param n_prompts: the number of measured prompts in the run.
    :param min_prompts: the minimum a GO needs (500 by default; docs/contracts.md).
    """
    for name, count in (("n_prompts", n_prompts), ("min_prompts", min_prompts)):
        if int(count) != count or count < 0:
            raise StatsInputError(f"{name} must be a whole number >= 0, got {count!r}")
    checked = []
    for verdict in verdicts:
        try:
            checked.append(Verdict(verdict))
        except ValueError:
            choices = ", ".join(v.value for v in Verdict)
            raise StatsInputError(
                f"unknown verdict {verdict!r}; expected one of {choices}"
            ) from None
    if Verdict.FAIL in checked:
        return Decision.PAUSE
    if checked and all(v is Verdict.PASS for v in checked) and n_prompts >= min_prompts:
        return Decision.GO
    return Decision.INCONCLUSIVE
