"""The five gates (docs/contracts.md) evaluated on a saved run, and the decision they add up to.

Everything is computed from the run folder's per-request rows (``requests.csv``) and its
quality rows (``quality.csv``), so a report re-rendered later gets the same verdicts: latency
percentiles with failed requests counted as misses (+inf), throughput by batch means, the
batching gain by the delta method on the log ratio (``servegate.core.stats``), answer quality
against the hosted run's answers or a floor (``servegate.analysis.quality``), and the verdict
rule of ``servegate.analysis.gate_rule``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, SupportsInt, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from servegate.analysis.gate_rule import (
    Decision,
    Verdict,
    decide,
    prompts_to_settle,
    verdict_lower_bound,
    verdict_upper_bound,
)
from servegate.analysis.quality import QualityJudgement, judge_quality
from servegate.core.stats import (
    Estimate,
    LevelThroughput,
    batching_gain_ci,
    latencies_with_failures,
    percentile_ci,
    throughput_ci,
)
from servegate.runs.quality_csv import read_quality
from servegate.runs.reader import RunData

__all__ = [
    "GATE_NAMES",
    "Evaluation",
    "GateParams",
    "GateResult",
    "closed_loop_levels",
    "evaluate_gates",
    "level_throughputs",
]

GATE_NAMES = ("p95_latency", "p50_latency", "batching_gain", "stability", "quality")


class GateParams(BaseModel):
    """Gate thresholds (the report notebook's parameters of the same names)."""

    model_config = ConfigDict(extra="forbid")

    p95_ms: float = Field(3000.0, gt=0)
    p50_ms: float = Field(1000.0, gt=0)
    min_batching_gain: float = Field(2.0, gt=0)
    min_prompts: int = Field(500, ge=1)
    gate_latency_metric: Literal["e2e", "ttft"] = "e2e"
    gate_concurrency: int | None = Field(
        None, gt=0, description="the level judged; None = the run's own gate_concurrency"
    )
    quality_margin: float = Field(
        0.05, ge=0, lt=1, description="how far local accuracy may be below hosted (0.05 = 5 pts)"
    )
    quality_floor: float = Field(
        0.8, gt=0, le=1, description="the accuracy local must reach when no hosted run compares"
    )


@dataclass(frozen=True)
class GateResult:
    """One row of the decision JSON's ``gates`` list."""

    name: str
    threshold: float
    measured: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: Verdict
    unit: str
    n: int
    level: str | None
    prompts_to_settle: int | None
    method: str
    note: str = ""


@dataclass(frozen=True)
class Evaluation:
    """The gates of one local run and the decision."""

    decision: Decision
    gates: list[GateResult]
    gate_concurrency: int | None
    n_measured: int
    throughputs: dict[int, LevelThroughput]
    quality: QualityJudgement | None = None


def closed_loop_levels(requests: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Rows of each closed-loop level, by concurrency."""
    closed = requests[requests["request_rate"].isna() & requests["concurrency"].notna()]
    # concurrency is a numeric column (Int64 or float), so every group key is a number
    return {int(cast(SupportsInt, c)): rows for c, rows in closed.groupby("concurrency")}


def level_throughputs(requests: pd.DataFrame) -> dict[int, LevelThroughput]:
    """Batch-means throughput of each closed-loop level, from its rows."""
    out = {}
    for c, rows in closed_loop_levels(requests).items():
        ok = (rows["status"] == "ok").to_numpy()
        out[c] = throughput_ci(
            rows["due_s"].to_numpy(float),
            rows["end_s"].to_numpy(float),
            rows["output_tokens"].astype("Float64").to_numpy(float, na_value=np.nan),
            ok,
        )
    return out


def _from_estimate(
    name: str,
    est: Estimate,
    verdict: Verdict,
    threshold: float,
    *,
    level: str | None,
    method: str,
    note: str = "",
) -> GateResult:
    """A gate row from its estimate; an inconclusive gate says how many prompts would settle it."""
    settle = prompts_to_settle(est, threshold) if verdict == Verdict.INCONCLUSIVE else None
    return GateResult(
        name=name,
        threshold=threshold,
        measured=est.value,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        verdict=verdict,
        unit=est.unit,
        n=est.n,
        level=level,
        prompts_to_settle=settle,
        method=method,
        note=note,
    )


def _latency_gate(
    name: str,
    rows: pd.DataFrame | None,
    metric: str,
    q: int,
    threshold: float,
    level: str | None,
    refused: str = "",
) -> GateResult:
    if refused or rows is None or rows.empty:
        est = Estimate(None, None, None, 0, 0.95, "order-statistic", "ms")
        note = refused or f"no requests at {level or 'the gate level'}"
    else:
        ok = (rows["status"] == "ok").to_numpy()
        values = rows[f"{metric}_ms"].to_numpy(float)
        est = percentile_ci(latencies_with_failures(np.where(ok, values, 0.0), ok), q)
        failed = int((~ok).sum())
        note = f"{failed} failed request(s) counted as misses" if failed else ""
    return _from_estimate(
        name,
        est,
        verdict_upper_bound(est, threshold),
        threshold,
        level=level,
        method=f"{metric} p{q}, {est.method} 95% interval",
        note=note,
    )


def _gain_gate(tps: dict[int, LevelThroughput], threshold: float) -> GateResult:
    batched = {c: t for c, t in tps.items() if c > 1 and t.output_tok_per_s.value is not None}
    method = "output tok/s ratio, delta method on the log, 95% interval"
    if 1 not in tps or not batched:
        missing = "a concurrency-1 baseline" if 1 not in tps else "a level above concurrency 1"
        est = Estimate(None, None, None, 0, 0.95, "delta-log-ratio", "x")
        return _from_estimate(
            "batching_gain",
            est,
            Verdict.INCONCLUSIVE,
            threshold,
            level=None,
            method=method,
            note=f"the run has no {missing}",
        )
    best_c = max(batched, key=lambda c: batched[c].output_tok_per_s.value or 0.0)
    est = batching_gain_ci(batched[best_c], tps[1])
    return _from_estimate(
        "batching_gain",
        est,
        verdict_lower_bound(est, threshold),
        threshold,
        level=f"c{best_c} vs c1",
        method=method,
    )


def _stability_gate(run: RunData, n_measured: int, min_prompts: int) -> GateResult:
    statuses = run.requests["status"]
    n_oom = int((statuses == "oom").sum())
    server = run.record.server or {}
    crashed = run.state == "server_crashed" or bool(server.get("crashed"))
    oom_crash = bool(server.get("oom")) or run.record.error_kind == "oom"
    incidents = n_oom + int(crashed) + int(oom_crash and not crashed)
    if incidents:
        verdict, note = (
            Verdict.FAIL,
            (
                f"{n_oom} OOM request(s)"
                + (", the server crashed" if crashed else "")
                + (" (out of memory)" if oom_crash else "")
            ),
        )
    elif n_measured >= min_prompts:
        verdict, note = Verdict.PASS, f"{n_measured} measured prompts, no OOM, no crash"
    else:
        verdict, note = (
            Verdict.INCONCLUSIVE,
            (f"only {n_measured} measured prompts; the gate needs at least {min_prompts}"),
        )
    return GateResult(
        name="stability",
        threshold=0.0,
        measured=float(incidents),
        ci_low=None,
        ci_high=None,
        verdict=verdict,
        unit="incidents",
        n=n_measured,
        level="whole run",
        prompts_to_settle=min_prompts if verdict == Verdict.INCONCLUSIVE else None,
        method=f"OOMs + crashes over a run of >= {min_prompts} prompts",
        note=note,
    )


def _quality_gate(run: RunData, hosted: RunData | None, params: GateParams) -> QualityJudgement:
    """The answers of the local run against the hosted run's on the same checks file, or
    against the floor when there is no such hosted run (``servegate.analysis.quality``)."""
    local_rows = read_quality(run.run_dir, run.record)
    local_missing = "the local run has no quality pass"
    if local_rows is None and "quality_prompts" in run.params and not run.params["quality_prompts"]:
        local_missing = "the local run skipped its quality pass (quality_prompts: null)"
    hosted_rows, hosted_missing = None, "no hosted run was measured"
    if hosted is not None and hosted.state != "skipped":
        local_sha = run.record.quality.sha256 if run.record.quality else None
        hosted_q = hosted.record.quality
        if hosted_q is None:
            hosted_missing = f"the hosted run {hosted.run_id} has no quality pass"
        elif local_sha is not None and hosted_q.sha256 != local_sha:
            hosted_missing = (
                f"the hosted run {hosted.run_id} answered another checks file "
                f"({hosted_q.path}, sha256 {hosted_q.sha256[:12]})"
            )
        else:
            hosted_rows = read_quality(hosted.run_dir, hosted.record)
    return judge_quality(
        local_rows,
        hosted_rows,
        margin=params.quality_margin,
        floor=params.quality_floor,
        local_missing=local_missing,
        hosted_missing=hosted_missing,
    )


def _quality_result(judged: QualityJudgement) -> GateResult:
    """The quality gate's row of the gate table."""
    est = judged.estimate
    return GateResult(
        name="quality",
        threshold=judged.threshold,
        measured=est.value,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        verdict=judged.verdict,
        unit=est.unit,
        n=est.n,
        level="quality pass",
        prompts_to_settle=None,
        method=judged.method,
        note=judged.note,
    )


def _ttft_refused(run: RunData) -> str:
    """Why a TTFT gate may not read this run's TTFT ("" when it may): an imported tool's TTFT
    starts and stops elsewhere than servegate's unless the user vouched for it at import."""
    if run.record.ttft_comparable:
        return ""
    found = run.record.manifest.source_file
    tool = found.tool if found is not None else "the imported tool"
    return (
        f"imported TTFT ({tool}) is not servegate's (first content token), so no TTFT gate "
        "reads it; import again with --ttft-comparable if the tool measures it the same way"
    )


def evaluate_gates(run: RunData, params: GateParams, hosted: RunData | None = None) -> Evaluation:
    """Evaluate the five gates on a local run; see the module docstring.

    :param hosted: the hosted run the report compares with; its quality pass, when it made
        one on the same checks file, is what the local answers are judged against.
    """
    levels = closed_loop_levels(run.requests)
    gate_c = params.gate_concurrency or run.params.get("gate_concurrency")
    if gate_c is None and levels:
        gate_c = max(levels)
    rows = levels.get(int(gate_c)) if gate_c is not None else None
    label = f"c{gate_c}" if gate_c is not None else None
    metric = params.gate_latency_metric
    refused = _ttft_refused(run) if metric == "ttft" else ""
    n_measured = int((run.requests["status"] != "cancelled").sum())
    tps = level_throughputs(run.requests)
    gates = [
        _latency_gate("p95_latency", rows, metric, 95, params.p95_ms, label, refused),
        _latency_gate("p50_latency", rows, metric, 50, params.p50_ms, label, refused),
        _gain_gate(tps, params.min_batching_gain),
        _stability_gate(run, n_measured, params.min_prompts),
    ]
    judged = _quality_gate(run, hosted, params)
    gates.append(_quality_result(judged))
    decision = decide([g.verdict for g in gates], n_measured, params.min_prompts)
    return Evaluation(decision, gates, gate_c, n_measured, tps, judged)
