"""Sequential stopping of one load level: send requests until its latency gates are settled.

A level of the capacity search does not run a fixed number of requests. It looks at what it
has measured at a few planned sample sizes (the looks) and stops at the first look where the
level's verdict is settled on its intervals: FAIL as soon as the p50 or the p95 interval lies
wholly above its limit, PASS as soon as both lie wholly under theirs (the gate rule of
``servegate.analysis.gate_rule``, failed requests as misses). At ``max_requests`` without a
settled verdict the level is INCONCLUSIVE.

Two things keep the verdict honest:

- *Repeated looks.* Each look is a chance to be wrong, so each uses the confidence
  ``1 - (1 - confidence) / looks`` (Bonferroni over the planned looks): whatever look it stops
  at, a level's verdict is wrong with probability at most ``1 - confidence``. The looks grow
  geometrically (x1.5), so there are few of them and the correction stays small, and the first
  look at which a p95 can PASS at all is always one of them.
- *No early-finisher bias.* In a closed loop the requests that finished first are the fast
  ones; judging "whatever has finished" would flatter the server. A look judges the first
  ``n`` requests *sent*, once all of them have finished, so which requests it judges does not
  depend on their latency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from servegate.analysis.gate_rule import Verdict, verdict_upper_bound
from servegate.core.errors import StatsInputError
from servegate.core.names import Status
from servegate.core.stats import Estimate, latencies_with_failures, percentile_ci
from servegate.records.request import RequestRecord

__all__ = [
    "LatencyLimits",
    "LevelJudgement",
    "SequentialLevel",
    "judge",
    "look_schedule",
    "min_budget",
    "min_requests_to_pass",
    "per_look_confidence",
]

#: Each look is this much larger than the one before: few looks, little overshoot.
LOOK_GROWTH = 1.5


@dataclass(frozen=True)
class LatencyLimits:
    """The latency gates a level must meet: p95 and p50 of ``metric`` at most these, in ms."""

    p95_ms: float
    p50_ms: float
    metric: Literal["e2e", "ttft"] = "e2e"


@dataclass(frozen=True)
class LevelJudgement:
    """The verdict of a level on the first ``n`` requests sent, at ``confidence`` per look."""

    n: int
    p50: Estimate
    p95: Estimate
    p50_verdict: Verdict
    p95_verdict: Verdict

    @property
    def verdict(self) -> Verdict:
        """FAIL when either gate fails, PASS when both pass, else INCONCLUSIVE."""
        both = (self.p50_verdict, self.p95_verdict)
        if Verdict.FAIL in both:
            return Verdict.FAIL
        if all(v is Verdict.PASS for v in both):
            return Verdict.PASS
        return Verdict.INCONCLUSIVE


def per_look_confidence(confidence: float, looks: int) -> float:
    """The confidence each of ``looks`` looks uses so that all of them together keep
    ``confidence`` (Bonferroni: the chances to be wrong add up at most)."""
    return 1.0 - (1.0 - confidence) / max(1, looks)


def min_requests_to_pass(confidence: float) -> int:
    """The fewest requests whose p95 interval can have an upper end at all: the order-statistic
    interval needs 0.95**n <= (1 - confidence) / 2 (``servegate.core.stats.percentile_ci``)."""
    return math.ceil(math.log((1.0 - confidence) / 2.0) / math.log(0.95))


def min_budget(min_requests: int, confidence: float) -> int:
    """The smallest ``max_requests`` with which a level can PASS at all: its looks' count sets
    the per-look confidence, which sets the requests a p95 PASS needs (found by counting up;
    a few hundred cheap steps at most)."""
    budget = max(min_requests, min_requests_to_pass(confidence))
    looks = look_schedule(min_requests, budget, confidence)
    while budget < min_requests_to_pass(per_look_confidence(confidence, len(looks))):
        budget += 1
        looks = look_schedule(min_requests, budget, confidence)
    return budget


def look_schedule(min_requests: int, max_requests: int, confidence: float) -> tuple[int, ...]:
    """The sample sizes at which a level looks at its requests, ending at ``max_requests``.

    Geometric (x1.5) from ``min_requests`` up to the smallest n at which a p95 can PASS at the
    per-look confidence (before it, a look can only find a FAIL), then geometric again from
    that n: a PASS is impossible before it and, on a server well under its limits, most
    likely right at it. The looks are recomputed until they are stable, because their number
    sets the per-look confidence, which sets that n.

    :raises StatsInputError: when ``max_requests`` is below ``min_requests``.
    """
    if min_requests < 1 or max_requests < min_requests:
        raise StatsInputError(
            f"the looks need 1 <= min_requests <= max_requests, got {min_requests} and "
            f"{max_requests}"
        )
    looks: tuple[int, ...] = ()
    for _ in range(10):  # settles in one or two rounds; the bound only guards a loop
        first_pass = min_requests_to_pass(per_look_confidence(confidence, len(looks) or 1))
        early = _geometric(min_requests, min(first_pass, max_requests), below=True)
        late = _geometric(max(first_pass, min_requests), max_requests, below=False)
        wanted = early + late if first_pass < max_requests else (*early, max_requests)
        if wanted == looks:
            break
        looks = wanted
    return tuple(looks)


def _geometric(start: int, stop: int, *, below: bool) -> tuple[int, ...]:
    """``start``, x1.5, ... up to ``stop`` (excluded when ``below``, else ending at it)."""
    out = [start]
    while out[-1] < stop:
        out.append(min(stop, math.ceil(out[-1] * LOOK_GROWTH)))
    return tuple(out[:-1]) if below and out[-1] >= stop else tuple(out)


def judge(
    latency_ms: Sequence[float] | np.ndarray,
    ok: Sequence[bool] | np.ndarray,
    limits: LatencyLimits,
    confidence: float,
) -> LevelJudgement:
    """The verdicts of p50 and p95 on these requests, failed ones counted as misses."""
    values = latencies_with_failures(np.where(ok, latency_ms, 0.0), ok)
    p50 = percentile_ci(values, 50, confidence=confidence)
    p95 = percentile_ci(values, 95, confidence=confidence)
    return LevelJudgement(
        n=int(values.size),
        p50=p50,
        p95=p95,
        p50_verdict=verdict_upper_bound(p50, limits.p50_ms),
        p95_verdict=verdict_upper_bound(p95, limits.p95_ms),
    )


@dataclass
class SequentialLevel:
    """The stopping rule of one closed-loop level; ``observe`` is its ``LevelSpec.stop``.

    Records arrive in the order they finish; ``observe`` keeps them by send order (``seq``)
    and, each time the finished prefix of sent requests reaches the next look, judges it.
    ``judgement`` is the last look's (None before the first); ``settled`` says whether it
    stopped on a settled verdict.
    """

    limits: LatencyLimits
    looks: tuple[int, ...]
    confidence: float  # per look
    judgement: LevelJudgement | None = None
    settled: bool = False
    _latency: dict[int, tuple[float, bool]] = field(default_factory=dict)
    _prefix: int = 0
    _next_look: int = 0

    def observe(self, record: RequestRecord) -> bool:
        """Take one finished request; True when the level has its answer (stop sending)."""
        ok = record.status == Status.OK
        value = record.ttft_ms if self.limits.metric == "ttft" else record.e2e_ms
        if ok and (value is None or not math.isfinite(value)):
            raise StatsInputError(
                f"request {record.seq} succeeded without a {self.limits.metric} latency"
            )
        self._latency[record.seq] = (float(value or 0.0), ok)
        while self._prefix in self._latency:
            self._prefix += 1
        while self._next_look < len(self.looks) and self._prefix >= self.looks[self._next_look]:
            n = self.looks[self._next_look]
            self._next_look += 1
            pairs = [self._latency[i] for i in range(n)]
            self.judgement = judge(
                [p[0] for p in pairs], [p[1] for p in pairs], self.limits, self.confidence
            )
            if self.judgement.verdict is not Verdict.INCONCLUSIVE:
                self.settled = True
                return True
        return False
