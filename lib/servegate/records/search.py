"""run.json's ``search`` block: what a capacity search measured and concluded, typed.

Written by ``servegate.jobs.search``, read by the report's capacity plan and cost, and by the
sweep table. Every estimate keeps its interval (``core.stats.Estimate``); each level's
p50/p95 intervals are at the per-look confidence that decided it, not the report's 95%.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from servegate.core.stats import Estimate

__all__ = ["SearchCapacity", "SearchLevel", "SearchLimits", "SearchRecord"]


class _Saved(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SearchLimits(_Saved):
    """The limits and budgets the search ran with."""

    p95_ms: float
    p50_ms: float
    gate_latency_metric: Literal["e2e", "ttft"]
    confidence: float = Field(description="of each level's verdict, over all its looks")
    confidence_per_look: float = Field(description="of each look's intervals (Bonferroni)")
    looks: list[int] = Field(description="the sample sizes at which a level is judged")
    min_requests: int
    max_requests: int
    min_concurrency: int
    max_concurrency: int


class SearchLevel(_Saved):
    """One level the search measured, in the order it measured them."""

    concurrency: int
    level: str = Field(description="the level's name in requests.csv and run.json's levels")
    verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    p50_verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    p95_verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    stopped: Literal["settled", "budget", "aborted"] = Field(
        description="settled: its verdict was certain; budget: max_requests ran out; aborted"
    )
    n: int = Field(description="requests the verdict rests on: the first n sent")
    requests_sent: int = Field(description="all it sent, the ones still in flight included")
    p50_ms: Estimate
    p95_ms: Estimate
    goodput_req_per_s: Estimate = Field(description="requests/s that met the p95 limit")
    goodput_tok_per_s: Estimate = Field(description="their output tokens/s")
    wall_s: float | None = None


class SearchCapacity(_Saved):
    """The capacity at the limits: the goodput at ``max_passing_concurrency``."""

    concurrency: int
    req_per_s: Estimate
    output_tok_per_s: Estimate


class SearchRecord(_Saved):
    """run.json's ``search``: the answer, how it was reached, and what it cost."""

    max_passing_concurrency: int | None = Field(description="None: even the first level failed")
    min_failing_concurrency: int | None = Field(description="None: no level failed")
    inconclusive: list[int] = Field(description="levels unsettled at max_requests")
    treatment: str = Field(description="how the search treated inconclusive levels")
    levels: list[SearchLevel]
    requests_sent: int
    limits: SearchLimits
    capacity: SearchCapacity | None = Field(None, description="None: no level passed")
    complete: bool = Field(description="False when the run ended before the search did")
