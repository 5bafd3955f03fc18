"""The capacity search: the highest closed-loop concurrency whose latency gates pass.

Doubling from ``min_concurrency`` until a level does not PASS (or ``max_concurrency`` passes),
then bisection between the last PASS and the first level that did not pass, down to one step.
Each level runs only as long as its verdict needs (``servegate.analysis.stopping``). A level
that reaches ``max_requests`` unsettled is INCONCLUSIVE and treated as *not passing*: capacity
is only claimed where a level passed on its interval, so the answer errs on the safe side and
the level is listed in ``inconclusive``. The search assumes latency does not fall as load
rises (true of a server whose queue only grows with load); a level that breaks that (a PASS
above a FAIL) is reported as it was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.stopping import (
    LatencyLimits,
    look_schedule,
    min_budget,
    min_requests_to_pass,
    per_look_confidence,
)

__all__ = ["CapacitySearch", "SearchParams"]


class SearchParams(BaseModel):
    """The ``search`` block of a search params file (docs/contracts.md); defaults: the gates'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_concurrency: int = Field(1, ge=1, description="the first level")
    max_concurrency: int = Field(256, ge=1, description="the highest level tried")
    p95_ms: float = Field(3000.0, gt=0, allow_inf_nan=False, description="p95 latency limit")
    p50_ms: float = Field(1000.0, gt=0, allow_inf_nan=False, description="p50 latency limit")
    gate_latency_metric: Literal["e2e", "ttft"] = "e2e"
    confidence: float = Field(0.95, gt=0.5, lt=1, description="of each level's verdict")
    min_requests: int = Field(20, ge=1, description="the first look at a level")
    max_requests: int = Field(300, ge=1, description="a level's budget; unsettled: INCONCLUSIVE")

    @model_validator(mode="after")
    def _consistent(self) -> SearchParams:
        if self.min_concurrency > self.max_concurrency:
            raise ValueError(
                f"min_concurrency ({self.min_concurrency}) is above max_concurrency "
                f"({self.max_concurrency}); swap them or raise max_concurrency"
            )
        if self.min_requests > self.max_requests:
            raise ValueError(
                f"min_requests ({self.min_requests}) is above max_requests "
                f"({self.max_requests}); lower min_requests or raise max_requests"
            )
        looks = self.looks
        needed = min_requests_to_pass(per_look_confidence(self.confidence, len(looks)))
        if self.max_requests < needed:
            budget = min_budget(self.min_requests, self.confidence)
            raise ValueError(
                f"max_requests {self.max_requests} is too few for any level to PASS: a p95 "
                f"interval at confidence {self.confidence:g} over {len(looks)} looks needs "
                f"at least {needed} requests; set max_requests to {budget} or more"
            )
        return self

    @property
    def limits(self) -> LatencyLimits:
        return LatencyLimits(self.p95_ms, self.p50_ms, self.gate_latency_metric)

    @property
    def looks(self) -> tuple[int, ...]:
        return look_schedule(self.min_requests, self.max_requests, self.confidence)

    @property
    def confidence_per_look(self) -> float:
        return per_look_confidence(self.confidence, len(self.looks))


@dataclass
class CapacitySearch:
    """Which concurrency to measure next, from the verdicts so far.

    ``next_level()`` gives the next concurrency (None when the search is over);
    ``record(c, verdict)`` takes its verdict.
    """

    min_concurrency: int
    max_concurrency: int
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    _lower: int | None = None  # highest level known to pass
    _upper: int | None = None  # lowest level known not to pass
    _next: int | None = None

    def __post_init__(self) -> None:
        self._next = self.min_concurrency

    def next_level(self) -> int | None:
        return self._next

    def record(self, concurrency: int, verdict: Verdict) -> None:
        self.verdicts[concurrency] = verdict
        if verdict is Verdict.PASS:
            self._lower = max(concurrency, self._lower or 0)
        else:
            self._upper = min(concurrency, self._upper or concurrency)
        self._next = self._choose()

    def _choose(self) -> int | None:
        lower, upper = self._lower, self._upper
        if upper is None:  # still doubling
            if lower is None or lower >= self.max_concurrency:
                return None
            return min(lower * 2, self.max_concurrency)
        if lower is None or upper - lower <= 1:
            return None
        return (lower + upper) // 2

    @property
    def max_passing_concurrency(self) -> int | None:
        """The highest level that passed below every level that did not (None: none did)."""
        return self._lower

    @property
    def min_failing_concurrency(self) -> int | None:
        """The lowest level that FAILed on its interval (None: none did)."""
        failed = [c for c, v in self.verdicts.items() if v is Verdict.FAIL]
        return min(failed) if failed else None

    @property
    def inconclusive(self) -> list[int]:
        return sorted(c for c, v in self.verdicts.items() if v is Verdict.INCONCLUSIVE)
