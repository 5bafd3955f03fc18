"""The levels of one sweep run, judged against the latency limits, whichever way it measured.

A search run (``run.json``'s ``search``) already holds each level's verdict, intervals and
goodput. A run of listed levels (a sweep in ``mode: levels``) is judged here the same way from
its requests.csv: p50 and p95 with order-statistic intervals at the limits' confidence, the
gate rule, and the goodput (requests/s that succeeded within the p95 limit); its capacity is
the highest level that passed below every level that did not, as the search defines it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.search import SearchParams
from servegate.analysis.stopping import LatencyLimits, judge
from servegate.core.stats import Estimate, throughput_ci
from servegate.runs.reader import RunData

__all__ = ["JudgedLevel", "first_level_closeness", "goodput_at", "judged_levels", "level_capacity"]


@dataclass(frozen=True)
class JudgedLevel:
    """One closed-loop level: its verdicts, percentiles and goodput (each with an interval)."""

    concurrency: int
    level: str
    verdict: str
    p50_verdict: str
    p95_verdict: str
    p50_ms: Estimate
    p95_ms: Estimate
    goodput_req_per_s: Estimate
    goodput_tok_per_s: Estimate


def judged_levels(run: RunData, limits: SearchParams) -> list[JudgedLevel]:
    """The run's closed-loop levels in order of concurrency, judged (see the module doc)."""
    search = run.record.search
    if search is not None:
        found = [
            JudgedLevel(
                lv.concurrency,
                lv.level,
                lv.verdict,
                lv.p50_verdict,
                lv.p95_verdict,
                lv.p50_ms,
                lv.p95_ms,
                lv.goodput_req_per_s,
                lv.goodput_tok_per_s,
            )
            for lv in search.levels
        ]
        return sorted(found, key=lambda lv: lv.concurrency)
    out = []
    for summary in run.levels:
        if summary.concurrency is None or not summary.n_requests:
            continue
        rows = run.requests[run.requests["level"] == summary.level]
        latency, ok = _latency(rows, limits.gate_latency_metric)
        judgement = judge(
            latency, ok, LatencyLimits(limits.p95_ms, limits.p50_ms), limits.confidence
        )
        req, tok = goodput_at(run, summary.level, limits)
        out.append(
            JudgedLevel(
                summary.concurrency,
                summary.level,
                judgement.verdict.value,
                judgement.p50_verdict.value,
                judgement.p95_verdict.value,
                judgement.p50,
                judgement.p95,
                req,
                tok,
            )
        )
    return sorted(out, key=lambda lv: lv.concurrency)


def level_capacity(run: RunData, levels: list[JudgedLevel]) -> JudgedLevel | None:
    """The level at the capacity: the search's answer, or for listed levels the highest level
    that passed below every level that did not; None when none passed."""
    search = run.record.search
    if search is not None:
        best = search.max_passing_concurrency
        return next((lv for lv in levels if lv.concurrency == best), None)
    found = None
    for lv in levels:
        if lv.verdict != Verdict.PASS:
            break
        found = lv
    return found


def first_level_closeness(
    first: JudgedLevel | None, limits: SearchParams
) -> tuple[float | None, str | None]:
    """How far the first level is from passing (the larger of p95/limit and p50/limit), and
    the gate that stops it, in words; (None, None) when no level was measured."""
    if first is None:
        return None, None
    ratios = {
        "p95": _ratio(first.p95_ms.value, limits.p95_ms),
        "p50": _ratio(first.p50_ms.value, limits.p50_ms),
    }
    verdicts = {"p95": first.p95_verdict, "p50": first.p50_verdict}
    stopping = [g for g in ("p95", "p50") if verdicts[g] != "PASS"] or ["p95", "p50"]
    gate = max(stopping, key=lambda g: ratios[g])
    est = first.p95_ms if gate == "p95" else first.p50_ms
    limit = limits.p95_ms if gate == "p95" else limits.p50_ms
    text = (
        f"the {gate} gate at c{first.concurrency}: {_interval_ms(est)} against {limit:,.0f} ms "
        f"({verdicts[gate]})"
    )
    return max(ratios.values()), text


def _ratio(value: float | None, limit: float) -> float:
    return math.inf if value is None else value / limit


def _interval_ms(est: Estimate) -> str:
    def ms(v: float | None) -> str:
        return "?" if v is None else "inf" if math.isinf(v) else f"{v:,.0f}"

    return f"{ms(est.value)} ms [{ms(est.ci_low)} - {ms(est.ci_high)}]"


def goodput_at(
    run: RunData, level: str, limits: SearchParams, confidence: float = 0.95
) -> tuple[Estimate, Estimate]:
    """Requests/s and output tokens/s of one level's requests that succeeded within the p95
    limit, from requests.csv (batch-means intervals at ``confidence``)."""
    rows = run.requests[run.requests["level"] == level]
    latency, ok = _latency(rows, limits.gate_latency_metric)
    good = ok & (latency <= limits.p95_ms)
    tokens = rows["output_tokens"].astype("Float64").fillna(0).to_numpy(dtype=float)
    tp = throughput_ci(
        rows["due_s"].to_numpy(dtype=float),
        rows["end_s"].to_numpy(dtype=float),
        tokens,
        good,
        confidence=confidence,
    )
    return tp.req_per_s, tp.output_tok_per_s


def _latency(rows: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Each request's gate latency (``inf`` where missing) and whether it succeeded."""
    column = "ttft_ms" if metric == "ttft" else "e2e_ms"
    values = rows[column].to_numpy(dtype=float)
    ok = (rows["status"] == "ok").to_numpy() & ~np.isnan(values)
    return np.where(ok, values, math.inf), ok
