"""Statistics the decision rests on: percentiles, throughput and goodput with confidence intervals.

Every result is an ``Estimate``: a point value, an interval, the sample size, the method and the
unit. An empty sample gives ``n=0`` and ``value=None``, never a 0 that reads as "fast". Failed
requests are never dropped from latency: ``latencies_with_failures`` turns each into ``+inf``
(a miss, worse than any time-out) and the order-statistic intervals handle that. The gate rule
built on these estimates lives in ``servegate.analysis.gate_rule``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from servegate.core.errors import StatsInputError
from servegate.core.numbers import SavedFloat

__all__ = [
    "Estimate",
    "LevelThroughput",
    "batching_gain_ci",
    "goodput",
    "latencies_with_failures",
    "percentile_ci",
    "share_ci",
    "throughput_ci",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval.

    :param value: the point estimate in ``unit``; ``None`` when there is no data (``n == 0``);
        ``+inf`` for a latency percentile that lands among failed requests.
    :param ci_low: lower end of the interval; ``None`` means unbounded (too little data to bound
        that side), never 0.
    :param ci_high: upper end of the interval; ``None`` means unbounded.
    :param n: the number of observations (requests) the estimate rests on.
    :param confidence: the nominal confidence level of the interval, e.g. 0.95.
    :param method: ``"order-statistic"``, ``"batch-means"``, ``"delta-log-ratio"`` or ``"wilson"``.
    :param unit: ``"ms"``, ``"tok/s"``, ``"req/s"``, ``"x"`` (a ratio) or ``"share"`` (0 to 1).
    """

    value: SavedFloat
    ci_low: SavedFloat
    ci_high: SavedFloat
    n: int
    confidence: float
    method: str
    unit: str = ""


@dataclass(frozen=True)
class LevelThroughput:
    """Throughput of one load level; ``window_tok_per_s`` holds the batch means behind the CI."""

    output_tok_per_s: Estimate
    req_per_s: Estimate
    duration_s: SavedFloat
    n_requests: int
    n_ok: int
    window_tok_per_s: tuple[float, ...]


def _confidence(confidence: float) -> float:
    if not 0.0 < float(confidence) < 1.0:  # NaN fails this too
        raise StatsInputError(
            f"confidence must be strictly between 0 and 1, got {confidence!r}; use e.g. 0.95"
        )
    return float(confidence)


def _floats(name: str, values: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(f"{name} must hold numbers, got {values!r:.80}") from None
    if arr.ndim != 1:
        raise StatsInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _flags(name: str, values: ArrayLike, size: int) -> NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.dtype != np.bool_ and not (arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all()):
        raise StatsInputError(
            f"{name} must be booleans (True for status 'ok'), got dtype {arr.dtype}; "
            "pass e.g. requests['status'] == 'ok'"
        )
    if arr.shape != (size,):
        raise StatsInputError(f"{name} must have one flag per request ({size}), got {arr.shape}")
    return arr.astype(bool)


def _no_nan_or_negative(
    name: str, arr: NDArray[np.float64], unit: str, where: NDArray[np.bool_] | None = None
) -> None:
    """Refuse NaN and negative values (only in rows ``where`` is True), naming the first row."""
    checked = np.ones(arr.shape, bool) if where is None else where
    bad = np.flatnonzero(checked & np.isnan(arr))
    if bad.size:
        raise StatsInputError(
            f"{name} has {bad.size} NaN value(s), the first at index {bad[0]}; a failed request "
            "is not dropped or NaN: mark it failed (see latencies_with_failures)"
        )
    bad = np.flatnonzero(checked & (arr < 0))
    if bad.size:
        fix = "a count cannot be negative" if unit == "tokens" else "use a monotonic clock"
        raise StatsInputError(
            f"{name} must be >= 0 {unit}, got {float(arr[bad[0]])} at index {bad[0]}; {fix}"
        )


def latencies_with_failures(latency_ms: ArrayLike, ok: ArrayLike) -> NDArray[np.float64]:
    """Latencies of all requests, with every failed request as ``+inf``.

    Errors and time-outs are never dropped: a failed request is a miss whose latency is at least
    its time-out, and ``+inf`` says exactly that ("worse than the time-out") without inventing a
    number. Percentiles that land among the failures are ``+inf``, and so are interval ends that
    do; the order-statistic interval of ``percentile_ci`` stays valid because it only ranks. With
    10% failures, p95 is ``+inf`` and, given enough requests, so is its lower end: the gate FAILs.

    :param latency_ms: one latency per request in ms (TTFT or end-to-end); the values of failed
        rows are ignored (NaN is fine there): a fast error is not a fast answer.
    :param ok: one boolean per request, True when it succeeded.
    :returns: a float array of the same length, ``+inf`` where ``ok`` is False.
    :raises StatsInputError: for a NaN, negative or infinite latency of a successful request, or
        arrays of different lengths.
    """
    lat = _floats("latency_ms", latency_ms)
    good = _flags("ok", ok, lat.size)
    _no_nan_or_negative("latency_ms of successful requests", lat, "ms", good)
    if np.isinf(lat[good]).any():
        raise StatsInputError("latency_ms of a successful request is infinite; check its record")
    return np.where(good, lat, np.inf)


def _order_statistic_ranks(n: int, p: float, confidence: float) -> tuple[int | None, int | None]:
    """0-based indices into the sorted sample of the interval's ends; None where unbounded."""
    tail = (1.0 - confidence) / 2.0
    j = np.arange(n)
    # x_(j+1) lies above the true quantile iff at most j observations fall below it: P(B <= j).
    above_truth = sps.binom.cdf(j, n, p)
    # x_(j+1) lies below the true quantile iff at least j+1 observations do: P(B > j).
    below_truth = sps.binom.sf(j, n, p)
    n_low = int(np.count_nonzero(above_truth <= tail))
    high = np.flatnonzero(below_truth <= tail)
    return (n_low - 1 if n_low else None), (int(high[0]) if high.size else None)


def _linear_percentile(x_sorted: NDArray[np.float64], p: float) -> float:
    # numpy's "linear" method, written out so that a +inf neighbour gives +inf, not NaN.
    h = (x_sorted.size - 1) * p
    lo = math.floor(h)
    frac = h - lo
    a = float(x_sorted[lo])
    if frac == 0.0 or lo + 1 >= x_sorted.size:
        return a
    b = float(x_sorted[lo + 1])
    if a == b or math.isinf(b):
        return b
    return a + frac * (b - a)


def percentile_ci(values_ms: ArrayLike, q: float, *, confidence: float = 0.95) -> Estimate:
    """The ``q``-th percentile of latencies, with a distribution-free confidence interval.

    :param values_ms: one latency per request, in ms; failed requests included as ``+inf``
        (see ``latencies_with_failures``).
    :param q: the percentile, strictly between 0 and 100 (95 for p95).
    :param confidence: the confidence level of the interval, strictly between 0 and 1.
    :returns: an ``Estimate`` in ms, ``method="order-statistic"``.
    :raises StatsInputError: for a NaN or negative latency, or ``q`` or ``confidence`` out of range.

    Point estimate: numpy's default percentile (``method="linear"``, Hyndman and Fan type 7):
    with the sorted sample x[0] <= ... <= x[n-1] and h = (n - 1) q / 100, it is
    x[⌊h⌋] + (h - ⌊h⌋) (x[⌊h⌋+1] - x[⌊h⌋]); interpolating towards ``+inf`` gives ``+inf``.

    Interval: the order-statistic (binomial) interval [x_(l), x_(u)] (1-based ranks). The number
    B of observations below the true quantile ξ (p = q/100) is Binomial(n, p), so
    P(x_(l) > ξ) <= P(B <= l-1) and P(x_(u) < ξ) <= P(B >= u). ``l`` is the largest rank with
    P(B <= l-1) <= α/2 and ``u`` the smallest with P(B >= u) <= α/2, α = 1 - confidence: the
    coverage is at least ``confidence`` for every n and every distribution (ties only make it
    more conservative), with no resampling, no seed, no shape assumption about the long right
    tail of latency, and one binomial CDF of length n (cheap for thousands of samples).

    Why not ``scipy.stats.bootstrap``: the bootstrap distribution of an extreme sample quantile
    takes only a few distinct values (neighbouring order statistics), so its intervals for p95
    or p99 are discrete anyway and undercover at hundreds of skewed samples; they also need a
    seed and thousands of resamples for what the binomial gives exactly.

    Small samples: a side with no admissible rank is ``None`` (unbounded). The upper end of p95
    needs 0.95**n <= α/2, i.e. n >= 72 at 95% confidence; both ends of p50 need n >= 6. n = 0
    gives ``value=None`` and no interval; n = 1 gives the value and no interval; all-equal
    values give an interval of zero width at the value. ``+inf`` values are ranked like any
    other, so an end that lands among failures is ``+inf``.
    """
    if not 0.0 < float(q) < 100.0:
        raise StatsInputError(f"q must be strictly between 0 and 100, got {q!r}; use e.g. 95")
    confidence = _confidence(confidence)
    x = _floats("values_ms", values_ms)
    _no_nan_or_negative("values_ms", x, "ms")
    n = int(x.size)
    if n == 0:
        return Estimate(None, None, None, 0, confidence, "order-statistic", "ms")
    x = np.sort(x)
    p = float(q) / 100.0
    lo, hi = _order_statistic_ranks(n, p, confidence)
    return Estimate(
        value=_linear_percentile(x, p),
        ci_low=None if lo is None else float(x[lo]),
        ci_high=None if hi is None else float(x[hi]),
        n=n,
        confidence=confidence,
        method="order-statistic",
        unit="ms",
    )


def throughput_ci(
    start_s: ArrayLike,
    end_s: ArrayLike,
    output_tokens: ArrayLike,
    ok: ArrayLike,
    *,
    confidence: float = 0.95,
    n_windows: int = 10,
) -> LevelThroughput:
    """Output tokens/s and successful requests/s of one load level, with batch-means intervals.

    :param start_s: when each request was due (a record's ``due_s``), seconds, one clock.
    :param end_s: when each request ended (last byte, error or time-out), same clock.
    :param output_tokens: tokens each request generated; only successful requests count (NaN
        or None is fine for a failed one).
    :param ok: one boolean per request, True when it succeeded.
    :param confidence: the confidence level of both intervals, strictly between 0 and 1.
    :param n_windows: at most this many equal time windows for the batch means (>= 2).
    :returns: a ``LevelThroughput``: both estimates (``method="batch-means"``), the makespan.
    :raises StatsInputError: for arrays of different lengths, NaN or negative values, an end
        before its start, or ``confidence`` or ``n_windows`` out of range.

    Point estimate: tokens (or requests) of successful requests / makespan, the makespan running
    from the first start to the last end, so ramp-up, drain and failed requests' time all count.

    Interval: batch means, the standard method for the rate of a simulation run. The makespan
    is cut into k equal windows, each request's tokens are spread uniformly over its own
    [start, end] (they stream out while it runs), and the k window rates, whose mean is the
    point estimate, give a Student-t interval with k - 1 degrees of freedom, clipped at 0. It
    captures what varies in a run, the server's rate over time, which a bootstrap over requests
    of tokens / makespan misses (the makespan barely moves when requests are resampled); and it
    needs no resampling and no seed. k = min(n_windows, n_ok // 4), as neighbouring windows
    share the requests on their boundary: in simulation, two requests per window covered about
    92% for a 95% interval, four or more about 95%. k < 2 (under 8 successful requests) gives
    no interval. A closed-loop drain (slots idle at the end) slows the last window for a
    systematic reason and widens the interval: conservative. n = 0 gives ``value=None``; an
    all-failed level gives 0 tok/s and no interval.

    It is long because it is one procedure, read top to bottom against the method above (input
    checks, windows, each request's share of them, the t-interval); split, its steps would only
    hand the same half-dozen arrays to each other, and a third of it is this docstring.
    """
    confidence = _confidence(confidence)
    if int(n_windows) != n_windows or n_windows < 2:
        raise StatsInputError(f"n_windows must be an integer >= 2, got {n_windows!r}; use 10")
    start, end = _floats("start_s", start_s), _floats("end_s", end_s)
    tokens = _floats("output_tokens", output_tokens)
    good = _flags("ok", ok, start.size)
    for name, arr in (("end_s", end), ("output_tokens", tokens)):
        if arr.size != start.size:
            raise StatsInputError(f"{name} has {arr.size} entries, start_s has {start.size}")
    _no_nan_or_negative("output_tokens of successful requests", tokens, "tokens", good)
    for name, arr in (("start_s", start), ("end_s", end)):
        if not np.isfinite(arr).all():
            raise StatsInputError(f"{name} must be finite times in seconds, got {arr!r:.80}")
    _no_nan_or_negative("end_s - start_s", end - start, "s")
    n, n_ok = int(start.size), int(good.sum())
    duration = float(end.max() - start.min()) if n else 0.0
    if duration <= 0.0:
        none_tok = Estimate(None, None, None, n, confidence, "batch-means", "tok/s")
        none_req = Estimate(None, None, None, n, confidence, "batch-means", "req/s")
        return LevelThroughput(none_tok, none_req, duration if n else None, n, n_ok, ())
    k = min(int(n_windows), n_ok // 4)
    edges = np.linspace(start.min(), end.max(), max(k, 1) + 1)
    overlap = np.minimum(end[:, None], edges[None, 1:]) - np.maximum(start[:, None], edges[:-1])
    length = (end - start)[:, None]
    share = np.divide(
        np.clip(overlap, 0.0, None), length, out=np.zeros_like(overlap), where=length > 0
    )
    instant = np.flatnonzero(length[:, 0] == 0)  # a zero-length request counts where it ends
    share[instant, np.searchsorted(edges[1:-1], end[instant], side="right")] = 1.0
    width = duration / max(k, 1)
    tok_rates = share.T @ np.where(good, tokens, 0.0) / width
    req_rates = share.T @ good.astype(float) / width
    estimates = []
    for total, rates, unit in (
        (tokens[good].sum(), tok_rates, "tok/s"),
        (n_ok, req_rates, "req/s"),
    ):
        value, low, high = float(total) / duration, None, None
        if k >= 2:  # Student-t on the k window rates
            half = sps.t.ppf(0.5 + confidence / 2, k - 1) * np.std(rates, ddof=1) / math.sqrt(k)
            low, high = max(0.0, value - float(half)), value + float(half)
        estimates.append(Estimate(value, low, high, n, confidence, "batch-means", unit))
    windows = tuple(float(r) for r in tok_rates) if k >= 2 else ()
    return LevelThroughput(estimates[0], estimates[1], duration, n, n_ok, windows)


def batching_gain_ci(
    best: LevelThroughput, baseline: LevelThroughput, *, confidence: float = 0.95
) -> Estimate:
    """Batching gain: output tokens/s of ``best`` ÷ that of ``baseline`` (concurrency 1).

    :param best: the load level with the highest throughput, from ``throughput_ci``.
    :param baseline: the concurrency-1 level, from ``throughput_ci``.
    :param confidence: the confidence level of the interval, strictly between 0 and 1.
    :returns: an ``Estimate`` of the ratio (unit ``"x"``, ``method="delta-log-ratio"``);
        ``n`` is the smaller of the two levels' request counts.

    Interval: the delta method on the log of the ratio. The two levels are independent runs and
    each batch mean's relative standard error is s / (√k · mean), so
    se(log G) = √(se_best² + se_base²), and G · exp(± t · se(log G)) is the interval, with
    Welch-Satterthwaite degrees of freedom. The log scale keeps the interval positive and skewed
    the way a ratio is; it is accurate while each level's relative error is small (a few
    percent with hundreds of requests), deterministic, and needs no resampling of ten windows,
    where a bootstrap would undercover. Choosing ``best`` as the highest of several measured
    levels favours it slightly (winner's curse); the gate's margin should absorb that.
    The value is ``None`` when the baseline has no throughput; the interval is ``None`` when
    either level has no interval or the best level produced no tokens.
    """
    confidence = _confidence(confidence)
    a, b = best.output_tok_per_s.value, baseline.output_tok_per_s.value
    n = min(best.n_requests, baseline.n_requests)
    if a is None or b is None or b == 0.0:
        return Estimate(None, None, None, n, confidence, "delta-log-ratio", "x")
    gain = a / b
    ra, rb = np.asarray(best.window_tok_per_s), np.asarray(baseline.window_tok_per_s)
    if a == 0.0 or ra.size < 2 or rb.size < 2:
        return Estimate(gain, None, None, n, confidence, "delta-log-ratio", "x")
    va = ra.var(ddof=1) / ra.size / a**2  # squared relative standard error of each mean
    vb = rb.var(ddof=1) / rb.size / b**2
    denominator = va**2 / (ra.size - 1) + vb**2 / (rb.size - 1)
    df = (va + vb) ** 2 / denominator if denominator > 0 else math.inf
    half = sps.t.ppf(0.5 + confidence / 2.0, df) * math.sqrt(va + vb)
    return Estimate(
        gain, gain * math.exp(-half), gain * math.exp(half), n, confidence, "delta-log-ratio", "x"
    )


def goodput(
    ttft_ms: ArrayLike,
    e2e_ms: ArrayLike,
    ok: ArrayLike,
    *,
    ttft_slo_ms: float,
    e2e_slo_ms: float,
    confidence: float = 0.95,
) -> Estimate:
    """Share of all requests that succeeded and met both SLOs, with a Wilson interval.

    :param ttft_ms: time to first token of each request, ms (ignored for failed requests).
    :param e2e_ms: end-to-end latency of each request, ms (ignored for failed requests).
    :param ok: one boolean per request, True when it succeeded; failures count as misses.
    :param ttft_slo_ms: the TTFT objective, ms (> 0); meeting it means ``ttft_ms <= ttft_slo_ms``.
    :param e2e_slo_ms: the end-to-end objective, ms (> 0), met when ``e2e_ms <= e2e_slo_ms``.
    :param confidence: the confidence level, strictly between 0 and 1.
    :returns: an ``Estimate`` of the share (0 to 1), ``method="wilson"``: the Wilson score
        interval of ``scipy.stats.binomtest(k, n).proportion_ci``, without continuity
        correction, which keeps close to nominal coverage even near 0 or 1 where the normal
        (Wald) interval fails. n = 0 gives ``value=None`` and no interval.
    """
    confidence = _confidence(confidence)
    for name, slo in (("ttft_slo_ms", ttft_slo_ms), ("e2e_slo_ms", e2e_slo_ms)):
        if not float(slo) > 0.0:
            raise StatsInputError(f"{name} must be a positive number of ms, got {slo!r}")
    ttft, e2e = _floats("ttft_ms", ttft_ms), _floats("e2e_ms", e2e_ms)
    if e2e.size != ttft.size:
        raise StatsInputError(f"e2e_ms has {e2e.size} entries, ttft_ms has {ttft.size}")
    good = _flags("ok", ok, ttft.size)
    _no_nan_or_negative("ttft_ms of successful requests", ttft, "ms", good)
    _no_nan_or_negative("e2e_ms of successful requests", e2e, "ms", good)
    n = int(ttft.size)
    met = good & (np.where(good, ttft, np.inf) <= ttft_slo_ms)
    met &= np.where(good, e2e, np.inf) <= e2e_slo_ms
    return share_ci(int(met.sum()), n, confidence=confidence)


def share_ci(k: int, n: int, *, confidence: float = 0.95) -> Estimate:
    """The share ``k / n`` with its Wilson score interval (goodput, answer accuracy).

    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, without continuity
    correction: it keeps close to nominal coverage even near 0 or 1, where the normal (Wald)
    interval fails (at 120 of 120 its interval would be [1, 1]). n = 0 gives ``value=None``.

    :raises StatsInputError: when k or n is not a whole number with ``0 <= k <= n``.
    """
    confidence = _confidence(confidence)
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n or not 0 <= k <= n:
        raise StatsInputError(f"a share needs whole numbers 0 <= k <= n, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n == 0:
        return Estimate(None, None, None, 0, confidence, "wilson", "share")
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(k / n, float(ci.low), float(ci.high), n, confidence, "wilson", "share")
