"""Goodput of each load level of a recorded run, and whether the level meets the latency gates.

Goodput, as in DistServe: requests per second that succeeded *and* met the latency objective
(the gate metric, ``e2e_ms`` by default, at most ``slo_ms``), over the level's makespan, so a
level whose extra throughput comes with missed objectives gains nothing. A level meets the gates
(``rule="ci"``) when its p50 and p95, failures counted as misses, both PASS by the gate rule of
``servegate.analysis.gate_rule`` (the whole 95% interval under the limit), or
(``rule="point"``) when the point estimates are under the limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from servegate.analysis.gate_rule import Verdict, verdict_upper_bound
from servegate.core.stats import (
    Estimate,
    goodput,
    latencies_with_failures,
    percentile_ci,
    throughput_ci,
)

__all__ = ["LevelGoodput", "levels_goodput", "mean_ok"]


@dataclass(frozen=True)
class LevelGoodput:
    """One load level: throughput, goodput, p50/p95 with verdicts, and the mean token counts."""

    level: str
    concurrency: int | None
    n_requests: int
    n_ok: int
    duration_s: float | None
    req_per_s: float | None
    goodput_rps: float | None
    goodput_share: Estimate
    p50_ms: Estimate
    p95_ms: Estimate
    p50_verdict: str
    p95_verdict: str
    meets_gates: bool
    mean_input_tokens: float | None
    mean_output_tokens: float | None


def mean_ok(rows: pd.DataFrame, column: str) -> float | None:
    """Mean of ``column`` over the successful rows; None when there is none."""
    values = rows.loc[rows["status"] == "ok", column].astype(float).dropna()
    return float(values.mean()) if len(values) else None


def _level(
    name: str,
    rows: pd.DataFrame,
    p50_ms: float,
    p95_ms: float,
    slo_ms: float,
    metric: str,
    rule: str,
) -> LevelGoodput:
    ok = (rows["status"] == "ok").to_numpy()
    values = np.where(ok, rows[f"{metric}_ms"].to_numpy(float), 0.0)
    lat = latencies_with_failures(values, ok)  # failures are misses, as in the gates
    p50, p95 = percentile_ci(lat, 50), percentile_ci(lat, 95)
    tokens = rows["output_tokens"].astype("Float64").to_numpy(float, na_value=np.nan)
    tp = throughput_ci(rows["due_s"].to_numpy(float), rows["end_s"].to_numpy(float), tokens, ok)
    # One SLO on the gate metric: the TTFT slot of stats.goodput is switched off (infinite).
    share = goodput(np.zeros(len(rows)), values, ok, ttft_slo_ms=math.inf, e2e_slo_ms=slo_ms)
    duration = tp.duration_s or 0.0
    good_rps = share.value * len(rows) / duration if duration and share.value is not None else None
    v50, v95 = verdict_upper_bound(p50, p50_ms), verdict_upper_bound(p95, p95_ms)
    if rule == "ci":
        meets = v50 == Verdict.PASS and v95 == Verdict.PASS
    else:  # an infinite p95 (failures) is never <= the limit
        meets = (p50.value or math.inf) <= p50_ms and (p95.value or math.inf) <= p95_ms
    conc = rows["concurrency"].dropna()
    return LevelGoodput(
        level=name,
        concurrency=int(conc.iloc[0]) if len(conc) else None,
        n_requests=len(rows),
        n_ok=int(ok.sum()),
        duration_s=tp.duration_s,
        req_per_s=tp.req_per_s.value,
        goodput_rps=good_rps,
        goodput_share=share,
        p50_ms=p50,
        p95_ms=p95,
        p50_verdict=str(v50),
        p95_verdict=str(v95),
        meets_gates=bool(meets),
        mean_input_tokens=mean_ok(rows, "input_tokens"),
        mean_output_tokens=mean_ok(rows, "output_tokens"),
    )


def levels_goodput(
    requests: pd.DataFrame,
    *,
    p50_ms: float,
    p95_ms: float,
    slo_ms: float | None = None,
    latency_metric: Literal["e2e", "ttft"] = "e2e",
    rule: Literal["ci", "point"] = "ci",
) -> list[LevelGoodput]:
    """Every level of one run's requests.csv rows, closed-loop levels by concurrency first.

    :param slo_ms: the per-request objective of goodput; None: ``p95_ms`` (a request meets the
        SLO when it alone would be within the p95 limit).
    :raises StatsInputError: for a successful row without the latency metric (e.g. no TTFT).
    """
    slo = p95_ms if slo_ms is None else slo_ms
    out = [
        _level(str(name), rows, p50_ms, p95_ms, slo, latency_metric, rule)
        for name, rows in requests.groupby("level", sort=False)
    ]
    return sorted(out, key=lambda lv: (lv.concurrency is None, lv.concurrency or 0, lv.level))
