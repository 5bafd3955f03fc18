"""Sequential stopping of one level: the looks, the verdict at each, and its error rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.stopping import (
    LatencyLimits,
    SequentialLevel,
    judge,
    look_schedule,
    min_requests_to_pass,
    per_look_confidence,
)
from servegate.core.errors import StatsInputError
from servegate.core.names import Status
from servegate.records.request import RequestRecord

LIMITS = LatencyLimits(p95_ms=300.0, p50_ms=150.0)


def _record(seq: int, e2e_ms: float, status: Status = Status.OK) -> RequestRecord:
    return RequestRecord(
        run_id="r", backend="vllm", model="m", concurrency=4, request_rate=None,
        prompt_id=f"p{seq}", status=status, http_status=200, error="", queue_ms=0.0,
        ttft_ms=e2e_ms / 2, e2e_ms=e2e_ms, itl_mean_ms=None, tpot_ms=None, input_tokens=1,
        output_tokens=4, tokens_source="usage", level="c4", seq=seq, category="t",
        due_s=0.0, end_s=e2e_ms / 1000, itl_max_ms=None, n_content_chunks=4, finish_reason="stop",
    )  # fmt: skip


@pytest.mark.parametrize(("low", "high"), [(20, 300), (16, 512), (10, 400), (8, 2000), (200, 300)])
def test_the_looks_end_at_the_budget_and_include_the_first_n_that_can_pass(
    low: int, high: int
) -> None:
    looks = look_schedule(low, high, 0.95)
    assert looks[0] == low and looks[-1] == high
    assert list(looks) == sorted(set(looks))
    first = min_requests_to_pass(per_look_confidence(0.95, len(looks)))
    # A PASS is possible at some look no later than 1.05x the first n that allows one.
    first = max(first, low)
    assert any(first <= n <= max(first * 1.05, first + 2) for n in looks)
    assert len(looks) <= 16  # few looks: the Bonferroni correction stays small


def test_min_requests_to_pass_is_the_order_statistic_bound() -> None:
    # 0.95**n <= 0.025 first at n = 72 (the p95 interval of core.stats needs it).
    assert min_requests_to_pass(0.95) == 72
    assert 0.95**72 <= 0.025 < 0.95**71


def test_judge_counts_failures_as_misses() -> None:
    fast = [50.0] * 200
    assert judge(fast, [True] * 200, LIMITS, 0.99).verdict is Verdict.PASS
    ok = [True] * 180 + [False] * 20  # 10% failed: p95 lands among them
    verdict = judge(fast, ok, LIMITS, 0.99)
    assert verdict.p95_verdict is Verdict.FAIL and verdict.verdict is Verdict.FAIL
    assert math.isinf(verdict.p95.value or 0)


def test_a_level_stops_at_the_first_look_that_settles_and_judges_the_first_sent() -> None:
    rule = SequentialLevel(LIMITS, (10, 20, 100), per_look_confidence(0.95, 3))
    # Requests 0..19 finish out of order; the slow ones (900 ms) finish last, as in a real
    # closed loop. A look must not judge only the fast early finishers.
    order = [*range(2, 20), 0, 1]
    stopped = [rule.observe(_record(i, 900.0 if i < 2 else 60.0)) for i in order[:-2]]
    assert not any(stopped)
    assert rule.judgement is None  # the prefix 0.. is incomplete until 0 and 1 arrive
    stopped = [rule.observe(_record(i, 900.0)) for i in order[-2:]]
    assert stopped == [False, False]  # 2 slow of 20: neither a settled p95 FAIL nor a PASS
    assert rule.judgement is not None and rule.judgement.n == 20
    assert rule.judgement.verdict is Verdict.INCONCLUSIVE


def test_a_failing_level_stops_early() -> None:
    rule = SequentialLevel(LIMITS, (10, 20, 100), per_look_confidence(0.95, 3))
    stops = [rule.observe(_record(i, 800.0)) for i in range(10)]
    assert stops == [False] * 9 + [True]
    assert rule.settled and rule.judgement is not None
    assert rule.judgement.verdict is Verdict.FAIL and rule.judgement.n == 10


def test_a_success_without_its_latency_is_an_error() -> None:
    rule = SequentialLevel(LatencyLimits(300, 150, "ttft"), (5,), 0.95)
    record = _record(0, 50.0)
    record.ttft_ms = None
    with pytest.raises(StatsInputError, match="without a ttft latency"):
        rule.observe(record)


def test_a_level_at_the_limit_rarely_passes_whichever_look_it_stops_at() -> None:
    """The verdict's error rate over all looks stays under the nominal (1 - confidence) / 2.

    Worst case for a false PASS: the true p95 exactly at the limit. Latencies are lognormal,
    scaled so that their true 95th percentile is 300 ms; each simulated level looks at the
    planned sample sizes and stops at the first settled verdict, as SequentialLevel does.
    """
    rng = np.random.default_rng(7)
    looks = look_schedule(20, 300, 0.95)
    conf = per_look_confidence(0.95, len(looks))
    scale = 300.0 / math.exp(1.6448536269514722 * 0.5)  # p95 of lognormal(0, 0.5) at 300 ms
    limits = LatencyLimits(p95_ms=300.0, p50_ms=10_000.0)  # only the p95 gate in play
    passes = 0
    trials = 600
    for _ in range(trials):
        sample = scale * np.exp(0.5 * rng.standard_normal(looks[-1]))
        for n in looks:
            verdict = judge(sample[:n], np.ones(n, bool), limits, conf).verdict
            if verdict is not Verdict.INCONCLUSIVE:
                passes += verdict is Verdict.PASS
                break
    # Nominal bound 2.5%; with 600 trials a true 2.5% would exceed 4.5% with p < 0.01.
    assert passes / trials <= 0.045
