"""Statistics: agreement with theory, coverage over seeded replications, and the edges."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from scipy import stats as sps

from servegate.analysis.gate_rule import (
    Verdict,
    verdict_lower_bound,
    verdict_upper_bound,
)
from servegate.core.errors import StatsInputError
from servegate.core.stats import (
    Estimate,
    batching_gain_ci,
    goodput,
    latencies_with_failures,
    percentile_ci,
    throughput_ci,
)


def _covered(est: Estimate, truth: float) -> bool:
    assert est.ci_low is not None and est.ci_high is not None
    return est.ci_low <= truth <= est.ci_high


def _closed_loop(
    rng: np.random.Generator,
    concurrency: int,
    n_requests: int,
    *,
    tpot_s: float = 0.035,
    ttft_s: float = 0.05,
    mean_tokens: int = 60,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """A synthetic closed-loop level: ``concurrency`` slots share one queue of requests.

    Tokens ~ 1 + Poisson(mean - 1), duration = ttft + tokens * tpot * Gamma noise (mean 1). By
    the renewal-reward theorem the long-run rates are c * E[tokens] / E[duration] tok/s and
    c / E[duration] req/s, the truths the intervals must contain.
    """
    tokens = 1 + rng.poisson(mean_tokens - 1, size=n_requests)
    dur = ttft_s + tokens * tpot_s * rng.gamma(16.0, 1 / 16, size=n_requests)
    free_at = [0.0] * concurrency  # a heap of the times each slot becomes free
    start = np.empty(n_requests)
    for i in range(n_requests):
        start[i] = heapq.heappop(free_at)
        heapq.heappush(free_at, start[i] + dur[i])
    mean_dur = ttft_s + mean_tokens * tpot_s
    return start, start + dur, tokens, concurrency * mean_tokens / mean_dur, concurrency / mean_dur


# --- percentile_ci ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 7, 200, 1001])
@pytest.mark.parametrize("q", [1, 50, 90, 95, 99, 99.9])
def test_point_estimate_is_numpys_default_percentile(n: int, q: float) -> None:
    x = np.random.default_rng(n).lognormal(6, 1, n)
    assert percentile_ci(x, q).value == pytest.approx(np.percentile(x, q), rel=1e-12)


def test_known_exponential_quantiles_lie_in_the_interval() -> None:
    x = np.random.default_rng(7).exponential(scale=100.0, size=2000)  # mean 100 ms
    for q in (50, 95, 99):
        truth = -100.0 * math.log(1 - q / 100)  # the exponential quantile function
        est = percentile_ci(x, q)
        assert _covered(est, truth)
        assert est.value == pytest.approx(truth, rel=0.1)
        assert (est.n, est.confidence, est.method, est.unit) == (
            2000,
            0.95,
            "order-statistic",
            "ms",
        )


@pytest.mark.parametrize(("q", "n"), [(95, 200), (50, 25), (99, 1000)])
def test_coverage_over_seeded_replications(q: float, n: int) -> None:
    # Lognormal latencies (long right tail); true quantile exp(mu + sigma * z_q).
    rng = np.random.default_rng(20240503)
    mu, sigma, reps = 6.0, 0.8, 400
    truth = math.exp(mu + sigma * sps.norm.ppf(q / 100))
    hits = sum(_covered(percentile_ci(rng.lognormal(mu, sigma, n), q), truth) for _ in range(reps))
    # Not significantly below 95% (a 90% interval would fail this), and not trivially wide.
    assert sps.binomtest(hits, reps, 0.95, alternative="less").pvalue > 0.01, hits / reps
    assert hits / reps < 0.995, hits / reps


def test_textbook_median_interval_for_n20() -> None:
    # Classic table value: for n = 20 the 95% interval of the median is [x_(6), x_(15)],
    # since P(B <= 5) = 0.0207 <= 0.025 < P(B <= 6) = 0.0577 for B ~ Binomial(20, 1/2).
    b = sps.binom(20, 0.5)
    assert b.cdf(5) <= 0.025 < b.cdf(6)
    assert b.sf(14) <= 0.025 < b.sf(13)  # P(B >= 15) and P(B >= 14)
    x = np.arange(1.0, 21.0) * 10  # x_(r) = 10 r
    est = percentile_ci(x[::-1], 50)  # order of input must not matter
    assert (est.ci_low, est.value, est.ci_high) == (60.0, 105.0, 150.0)


def test_p95_small_samples_leave_the_upper_side_unbounded() -> None:
    # The upper end of p95 exists only when P(all n below the quantile) = 0.95**n <= 0.025.
    assert 0.95**71 > 0.025 >= 0.95**72
    assert percentile_ci(np.arange(1.0, 72.0), 95).ci_high is None
    assert percentile_ci(np.arange(1.0, 73.0), 95).ci_high == 72.0
    # n = 10: lower end x_(l) with l the largest rank having P(B <= l - 1) <= 0.025.
    b = sps.binom(10, 0.95)
    rank = max(r for r in range(1, 11) if b.cdf(r - 1) <= 0.025)
    est = percentile_ci(np.arange(1.0, 11.0), 95)
    assert est.ci_low == float(rank) and est.ci_high is None
    assert est.value == pytest.approx(np.percentile(np.arange(1.0, 11.0), 95))


def test_empty_single_and_all_equal_samples() -> None:
    empty = percentile_ci([], 95)
    assert (empty.value, empty.ci_low, empty.ci_high, empty.n) == (None, None, None, 0)
    assert empty.value is None  # never a 0 that reads as "fast"
    one = percentile_ci([123.0], 50)
    assert (one.value, one.ci_low, one.ci_high, one.n) == (123.0, None, None, 1)
    same = percentile_ci(np.full(300, 250.0), 95)
    assert (same.value, same.ci_low, same.ci_high) == (250.0, 250.0, 250.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values_ms": [1.0], "q": 0}, r"q must be strictly between 0 and 100, got 0"),
        ({"values_ms": [1.0], "q": 100}, r"q must be .* got 100"),
        (
            {"values_ms": [1.0], "q": 95, "confidence": 95},
            r"confidence .* got 95; use e\.g\. 0\.95",
        ),
        ({"values_ms": [1.0, float("nan")], "q": 50}, r"values_ms has 1 NaN .* index 1"),
        ({"values_ms": [5.0, -2.0], "q": 50}, r"values_ms must be >= 0 ms, got -2\.0 at index 1"),
        ({"values_ms": [[1.0, 2.0]], "q": 50}, r"values_ms must be one-dimensional"),
    ],
)
def test_percentile_validation_names_the_value(kwargs: dict, match: str) -> None:
    with pytest.raises(StatsInputError, match=match):
        percentile_ci(**kwargs)
    assert issubclass(StatsInputError, ValueError)


# --- failures -----------------------------------------------------------------------------


def test_failures_become_infinite_latencies() -> None:
    lat = latencies_with_failures([100.0, float("nan"), 3.0, 5.0], [True, False, True, False])
    assert lat.tolist() == [100.0, math.inf, 3.0, math.inf]
    with pytest.raises(StatsInputError, match=r"successful requests has 1 NaN .* at index 1"):
        latencies_with_failures([float("nan"), float("nan")], [False, True])
    with pytest.raises(StatsInputError, match=r"ok must be booleans .* got dtype <U5"):
        latencies_with_failures([1.0], ["error"])
    with pytest.raises(StatsInputError, match=r"one flag per request \(2\)"):
        latencies_with_failures([1.0, 2.0], [True])


def test_ten_percent_failures_fail_a_p95_gate() -> None:
    rng = np.random.default_rng(3)
    n = 400
    ok = np.ones(n, bool)
    ok[rng.choice(n, n // 10, replace=False)] = False
    lat = latencies_with_failures(rng.uniform(50, 500, n), ok)  # successes are all fast
    est = percentile_ci(lat, 95)
    assert est.value == math.inf and est.ci_low == math.inf
    assert verdict_upper_bound(est, 3000.0) is Verdict.FAIL
    # p50 is untouched by 10% failures: it stays finite and passes.
    assert verdict_upper_bound(percentile_ci(lat, 50), 3000.0) is Verdict.PASS


def test_rare_failures_still_allow_a_pass() -> None:
    # 2 failures in 400: the 95% upper end of p95 (rank < 398) stays among the successes.
    ok = np.ones(400, bool)
    ok[:2] = False
    est = percentile_ci(latencies_with_failures(np.full(400, 800.0), ok), 95)
    assert est.ci_high == 800.0
    assert verdict_upper_bound(est, 3000.0) is Verdict.PASS


# --- goodput ------------------------------------------------------------------------------


def test_goodput_counts_failures_as_misses_with_a_wilson_interval() -> None:
    ttft = np.array([100, 900, 100, 100, np.nan, 100, 100, 100, 100, 100], float)
    e2e = np.array([500, 500, 5000, 500, np.nan, 500, 500, 500, 500, 500], float)
    ok = np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 0], bool)  # last: failed despite fast numbers
    est = goodput(ttft, e2e, ok, ttft_slo_ms=500, e2e_slo_ms=1000)
    k, n = 6, 10  # rows 1 (TTFT), 2 (e2e), 4 and 9 (failed) miss
    ref = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert (est.value, est.n, est.method, est.unit) == (0.6, 10, "wilson", "share")
    assert (est.ci_low, est.ci_high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    # and the Wilson score formula by hand
    z, p = sps.norm.ppf(0.975), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (est.ci_low, est.ci_high) == pytest.approx((centre - half, centre + half), rel=1e-9)
    empty = goodput([], [], np.array([], bool), ttft_slo_ms=500, e2e_slo_ms=1000)
    assert (empty.value, empty.n) == (None, 0)
    with pytest.raises(StatsInputError, match=r"e2e_slo_ms must be a positive number .* got 0"):
        goodput(ttft, e2e, ok, ttft_slo_ms=500, e2e_slo_ms=0)


# --- throughput and batching gain ---------------------------------------------------------


def test_throughput_point_estimate_is_tokens_over_makespan() -> None:
    start = np.array([0.0, 1.0, 2.0, 2.5] * 3) + np.repeat([0.0, 10.0, 20.0], 4)
    end = start + 4.0
    tokens = np.arange(12) + 10.0
    ok = np.ones(12, bool)
    ok[5] = False
    level = throughput_ci(start, end, tokens, ok)
    makespan = end.max() - start.min()  # 26.5 s
    assert level.duration_s == makespan
    assert level.output_tok_per_s.value == pytest.approx((tokens.sum() - tokens[5]) / makespan)
    assert level.req_per_s.value == pytest.approx(11 / makespan)
    assert len(level.window_tok_per_s) == 2  # min(10 windows, 11 ok // 4)
    assert np.mean(level.window_tok_per_s) == pytest.approx(level.output_tok_per_s.value)


@pytest.mark.parametrize(("concurrency", "n_requests"), [(1, 50), (8, 400)])
def test_throughput_interval_covers_the_long_run_rate(concurrency: int, n_requests: int) -> None:
    rng = np.random.default_rng(11 + concurrency)
    reps, tok_hits, req_hits = 200, 0, 0
    for _ in range(reps):
        start, end, tokens, tok_rate, req_rate = _closed_loop(rng, concurrency, n_requests)
        level = throughput_ci(start, end, tokens, np.ones(start.size, bool))
        tok_hits += _covered(level.output_tok_per_s, tok_rate)
        req_hits += _covered(level.req_per_s, req_rate)
        assert level.output_tok_per_s.value == pytest.approx(tok_rate, rel=0.15)
    # Batch means is approximate (t on 10 windows); 90% is a clear floor for a 95% interval.
    assert tok_hits / reps >= 0.90 and req_hits / reps >= 0.90, (tok_hits, req_hits)


def test_throughput_edges_and_validation() -> None:
    empty = throughput_ci([], [], [], np.array([], bool))
    assert empty.output_tok_per_s.value is None and empty.n_requests == 0
    failed = throughput_ci([0.0, 1.0], [2.0, 3.0], [None, 5], [False, False])
    assert failed.output_tok_per_s.value == 0.0 and failed.output_tok_per_s.ci_low is None
    few = throughput_ci(np.arange(7.0), np.arange(7.0) + 1, np.full(7, 10), np.ones(7, bool))
    assert (
        few.output_tok_per_s.value == pytest.approx(10.0) and few.output_tok_per_s.ci_high is None
    )
    with pytest.raises(StatsInputError, match=r"end_s - start_s must be >= 0 s, got -1\.0"):
        throughput_ci([0.0, 2.0], [1.0, 1.0], [1, 1], [True, True])
    with pytest.raises(StatsInputError, match=r"successful requests has 1 NaN .* index 1"):
        throughput_ci([0.0, 1.0], [2.0, 3.0], [5, None], [True, True])
    with pytest.raises(StatsInputError, match=r"end_s has 1 entries, start_s has 2"):
        throughput_ci([0.0, 2.0], [1.0], [1, 1], [True, True])
    with pytest.raises(StatsInputError, match=r"n_windows must be an integer >= 2, got 1"):
        throughput_ci([0.0], [1.0], [1], [True], n_windows=1)


def test_batching_gain_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(5)
    reps, hits = 200, 0
    for _ in range(reps):
        s1, e1, t1, rate1, _ = _closed_loop(rng, 1, 50)
        s8, e8, t8, rate8, _ = _closed_loop(rng, 8, 400, tpot_s=0.07)  # batching slows each stream
        best = throughput_ci(s8, e8, t8, np.ones(s8.size, bool))
        base = throughput_ci(s1, e1, t1, np.ones(s1.size, bool))
        gain = batching_gain_ci(best, base)
        assert gain.value == pytest.approx(
            best.output_tok_per_s.value / base.output_tok_per_s.value
        )
        hits += _covered(gain, rate8 / rate1)
    assert (gain.method, gain.unit, gain.n) == ("delta-log-ratio", "x", 50)
    assert hits / reps >= 0.90, hits / reps


def test_batching_gain_without_a_baseline_is_unknown() -> None:
    base = throughput_ci([0.0, 1.0], [2.0, 3.0], [5, 5], [False, False])  # 0 tok/s
    best = throughput_ci(np.arange(40.0), np.arange(40.0) + 1, np.full(40, 10), np.ones(40, bool))
    assert batching_gain_ci(best, base).value is None
    assert verdict_lower_bound(batching_gain_ci(best, base), 2.0) is Verdict.INCONCLUSIVE
