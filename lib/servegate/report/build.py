"""The decision report's data: which runs, the gates, the cost, the caveats, the decision JSON.

``build_report(params)`` is what ``notebooks/03_decision_report.ipynb`` calls. It reads only
saved files (run folders, the history, the price sheet), writes the decision JSON atomically
to ``reports/<date>_<label>_decision.json`` (the pipeline publishes ``latest.*``), and returns a
``ReportData`` whose frames the notebook hands to ``servegate.plots``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from servegate.analysis.compare import Comparison
from servegate.analysis.cost import (
    load_pricing,
)
from servegate.analysis.fallback import FallbackResult
from servegate.analysis.gates import Evaluation, GateParams, evaluate_gates
from servegate.core.config import validate_params
from servegate.core.errors import ConfigError, ServegateError
from servegate.core.fsutil import atomic_write_json
from servegate.history.aggregate import load_history
from servegate.history.poc import DEFAULT_POC_PATH, PocRun, load_poc_summaries
from servegate.report.cost import hosted_cost, local_cost
from servegate.report.ops import (
    CapacitySection,
    capacity_json,
    capacity_section,
    comparison_json,
    comparisons,
    fallback_json,
    fallback_section,
    poc_json,
)
from servegate.runs.frames import levels_frame
from servegate.runs.identity import prompt_set_sha256
from servegate.runs.reader import RunData, list_runs, load_run

__all__ = [
    "DECISION_SCHEMA_VERSION",
    "ReportData",
    "ReportParams",
    "build_report",
    "requests_frame",
    "select_runs",
]

log = logging.getLogger(__name__)

DECISION_SCHEMA_VERSION = 1


class ReportParams(BaseModel):
    """The parameters of ``notebooks/03_decision_report.ipynb`` (docs/contracts.md), validated."""

    model_config = ConfigDict(extra="forbid")

    results_dir: str = "eval/results"
    history_path: str = "eval/reports/aggregate_history.csv"
    local_run: str = Field("", description='run id; "" = the latest local vLLM run')
    hosted_run: str = Field("", description='run id; "" = the latest comparable hosted run')
    report_dir: str = "reports"
    report_label: str = Field("", description='report file label; "" = the local run label')
    p95_ms: float = Field(3000.0, gt=0)
    p50_ms: float = Field(1000.0, gt=0)
    min_batching_gain: float = Field(2.0, gt=0)
    min_prompts: int = Field(500, ge=1)
    gate_latency_metric: Literal["e2e", "ttft"] = "e2e"
    gate_concurrency: int | None = Field(None, gt=0)
    pricing_path: str = "data/pricing.yaml"
    hourly_usd: float | None = Field(None, gt=0, description="self-hosted machine USD/h")
    poc_summaries: str = Field(DEFAULT_POC_PATH, description='POC figures; "" = none')
    regression_min_ms: float = Field(
        0.0, ge=0, description="smallest p50/p95 change flagged as a regression, ms"
    )
    peak_rps: float = Field(5.0, gt=0, description="capacity plan: forecast peak, req/s")
    peak_to_average: float = Field(2.0, ge=1, description="capacity plan: peak / average")
    annual_growth: float = Field(0.5, gt=-1, description="capacity plan: yearly growth")
    headroom: float = Field(0.2, ge=0, lt=1, description="capacity plan: spare share at peak")
    fallback_ttft_ms: list[float] | None = Field(
        None, description="fallback time-outs T to simulate, ms; None: 100 ms to 5 s"
    )

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> ReportParams:
        """Validate the notebook's parameter variables (the names of this model's fields)."""
        picked = {k: namespace[k] for k in cls.model_fields if k in namespace}
        return validate_params(cls, picked, what="report parameters")

    def gate_params(self) -> GateParams:
        return GateParams(
            p95_ms=self.p95_ms,
            p50_ms=self.p50_ms,
            min_batching_gain=self.min_batching_gain,
            min_prompts=self.min_prompts,
            gate_latency_metric=self.gate_latency_metric,
            gate_concurrency=self.gate_concurrency,
        )


@dataclass
class ReportData:
    """Everything the report shows, read from disk and evaluated once."""

    params: ReportParams
    local: RunData | None
    hosted: RunData | None
    evaluation: Evaluation | None
    cost: list[dict[str, Any]]
    caveats: list[str]
    broken_runs: list[tuple[Path, str]]
    decision: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    poc: list[PocRun] = field(default_factory=list)
    capacity: CapacitySection | None = None
    fallback: FallbackResult | None = None

    def requests(self) -> pd.DataFrame:
        """Per-request rows of the local and hosted runs, stacked."""
        return requests_frame(self.local, self.hosted)

    def levels(self) -> pd.DataFrame:
        """Per-level rows (``levels_frame``) of the local and hosted runs, stacked."""
        frames = [levels_frame(r) for r in (self.local, self.hosted) if r is not None]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def notes(self) -> list[str]:
        """Caption lines for figures that would show the hosted run."""
        return [] if self.hosted_status == "measured" else [f"hosted: {self.hosted_status}"]

    def gain(self) -> dict[str, Any] | None:
        """The batching-gain gate's estimate, as the throughput figure takes it."""
        gate = next(
            (g for g in self.decision.get("gates", []) if g["name"] == "batching_gain"), None
        )
        if gate is None:
            return None
        return {
            "value": gate["measured"],
            "ci_low": gate["ci_low"],
            "ci_high": gate["ci_high"],
            "backend": "vllm",
        }

    def cost_frame(self) -> pd.DataFrame:
        """The cost table as the cost figure takes it: a value, or the reason there is none."""
        return pd.DataFrame(
            [
                {
                    "option": c["option"],
                    "backend": c["backend"],
                    "cost_per_1m_output_tokens_usd": c["usd_per_1m_output_tokens"],
                    "note": "" if c["usd_per_1m_output_tokens"] is not None else c["basis"],
                }
                for c in self.cost
            ]
        )

    def history(self) -> tuple[pd.DataFrame, str]:
        """The history for the trend, and "" or why there is none (a state, not a failure)."""
        try:
            return load_history(self.params.history_path), ""
        except ServegateError as exc:
            return pd.DataFrame(), f"No history to show yet: {exc}"

    @property
    def hosted_status(self) -> str:
        if self.hosted is None:
            return "no hosted run found"
        if self.hosted.state == "skipped":
            return f"skipped: {self.hosted.record.skipped_reason or 'no reason recorded'}"
        return "measured"


def select_runs(
    results_dir: str | Path, local_run: str = "", hosted_run: str = ""
) -> tuple[RunData | None, RunData | None, list[tuple[Path, str]]]:
    """The local and hosted runs to report: named ones, or the latest comparable ones.

    The latest local run is the newest vLLM run that measured something. The latest hosted
    run is the newest OpenAI-backend run on the same prompt set (sha256); failing that, the
    newest skipped one, so the report can say why hosted numbers are missing.
    """
    results_dir = Path(results_dir)
    if local_run or hosted_run:
        named = {
            name: load_run(results_dir / name) if name else None for name in (local_run, hosted_run)
        }
        return (
            named[local_run] if local_run else None,
            named[hosted_run] if hosted_run else None,
            [],
        )
    runs, broken = list_runs(results_dir)
    measured = [r for r in runs if r.backend == "vllm" and len(r.requests)]
    local = measured[-1] if measured else None
    hosted_runs = [r for r in runs if r.backend == "openai"]
    comparable = [
        r
        for r in hosted_runs
        if r.state != "skipped"
        and len(r.requests)
        and (local is None or prompt_set_sha256(r) == prompt_set_sha256(local))
    ]
    skipped = [r for r in hosted_runs if r.state == "skipped"]
    hosted = comparable[-1] if comparable else (skipped[-1] if skipped else None)
    return local, hosted, broken


def requests_frame(*runs: RunData | None) -> pd.DataFrame:
    """The per-request rows of the given runs, stacked (skipped or absent runs add nothing)."""
    frames = [r.requests for r in runs if r is not None and len(r.requests)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _caveats(report: ReportData) -> list[str]:
    out: list[str] = []
    local, ev, p = report.local, report.evaluation, report.params
    if local is None:
        out.append("No local vLLM run was found: there is nothing to decide on yet.")
        return out
    hw = local.manifest.get("hardware") or {}
    if hw.get("accelerator", "cpu") == "cpu":
        out.append(
            f"The local numbers come from vLLM's CPU build on {hw.get('cpu_model', 'a CPU')} "
            f"({hw.get('cpu_logical_cores', '?')} cores) serving {local.model}: a stand-in for "
            "the GPU node. They show the method and the pipeline, not GPU latency or cost."
        )
    if ev is not None and ev.n_measured < p.min_prompts:
        out.append(
            f"Only {ev.n_measured} prompts were measured; the stability gate needs "
            f"{p.min_prompts}, so this run can not be a GO."
        )
    if report.hosted_status != "measured":
        out.append(
            f"Hosted benchmark: {report.hosted_status}. Hosted latency is not measured; "
            "its cost below is the price sheet applied to the local run's token mix."
        )
    if local.incomplete:
        out.append(
            "The local run did not finish cleanly (killed or stopped mid-level); "
            "its last level was rebuilt from the requests it recorded."
        )
    if ev is not None:
        for g in ev.gates:
            if g.verdict == "INCONCLUSIVE" and g.prompts_to_settle:
                out.append(
                    f"{g.name}: inconclusive; about {g.prompts_to_settle} prompts would "
                    "likely settle it."
                )
    for name, comparison in report.comparisons.items():
        if comparison.regressions:
            what = ", ".join(f"{c.metric} at {c.level}" for c in comparison.regressions)
            out.append(
                f"Regression since {comparison.previous_run} ({name}): {what} got slower, "
                "and the 95% interval of the change excludes zero."
            )
    for folder, reason in report.broken_runs:
        out.append(f"Run folder {folder.name} was skipped: {reason}")
    return out


def _decision_json(report: ReportData) -> dict[str, Any]:
    ev, p = report.evaluation, report.params
    return {
        "schema_version": DECISION_SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "decision": str(ev.decision) if ev else "INCONCLUSIVE",
        "gates": [g.to_dict() for g in ev.gates] if ev else [],
        "gate_concurrency": ev.gate_concurrency if ev else None,
        "n_measured_prompts": ev.n_measured if ev else 0,
        "thresholds": p.gate_params().model_dump(),
        "local_run": report.local.run_id if report.local else None,
        "hosted_run": report.hosted.run_id if report.hosted else None,
        "hosted_status": report.hosted_status,
        "cost": report.cost,
        "caveats": report.caveats,
        "comparison": {name: comparison_json(c) for name, c in report.comparisons.items()},
        "poc_baseline": [poc_json(run) for run in report.poc],
        "capacity": capacity_json(report.capacity) if report.capacity else None,
        "fallback": fallback_json(report.fallback) if report.fallback else None,
    }


def _operations(report: ReportData, pricing: Any, hosted_model: str) -> None:
    """The capacity plan and the fallback simulation, priced like the cost table."""
    p, ev = report.params, report.evaluation
    report.capacity = capacity_section(
        report.local,
        pricing,
        hosted_model=hosted_model,
        hourly_usd=p.hourly_usd,
        peak_rps=p.peak_rps,
        peak_to_average=p.peak_to_average,
        annual_growth=p.annual_growth,
        headroom=p.headroom,
        p50_ms=p.p50_ms,
        p95_ms=p.p95_ms,
        latency_metric=p.gate_latency_metric,
    )
    local_usd = next(
        (c.get("usd_per_1m_output_tokens") for c in report.cost if c["backend"] == "vllm"), None
    )
    report.fallback = fallback_section(
        report.local,
        report.hosted,
        pricing,
        local_usd_per_1m=local_usd,
        level=ev.gate_concurrency if ev is not None else None,
        timeouts_ms=p.fallback_ttft_ms,
        p50_ms=p.p50_ms,
        p95_ms=p.p95_ms,
    )


def build_report(params: ReportParams | dict[str, Any], *, write: bool = True) -> ReportData:
    """Select runs, evaluate the gates, price the options, and write the decision JSON.

    :raises ConfigError: bad parameters, or a named run that does not exist.
    """
    if not isinstance(params, ReportParams):
        params = validate_params(ReportParams, params, what="report parameters")
    if not Path(params.results_dir).is_dir():
        raise ConfigError(
            f"results_dir {params.results_dir} does not exist; run `make bench` "
            "first or point results_dir at your run folders"
        )
    local, hosted, broken = select_runs(params.results_dir, params.local_run, params.hosted_run)
    ev = evaluate_gates(local, params.gate_params()) if local is not None else None
    report = ReportData(params, local, hosted, ev, [], [], broken)
    pricing = load_pricing(params.pricing_path)
    if local is not None:
        report.cost.append(
            local_cost(
                local,
                pricing,
                hourly_usd=params.hourly_usd,
                p50_ms=params.p50_ms,
                p95_ms=params.p95_ms,
                metric=params.gate_latency_metric,
            )
        )
    hosted_model = hosted.model if hosted is not None and hosted.model else "gpt-4o-mini"
    report.cost.append(hosted_cost(hosted, local, pricing, hosted_model))
    _operations(report, pricing, hosted_model)
    report.comparisons = comparisons(
        {"local": local, "hosted": hosted},
        list_runs(params.results_dir)[0],
        min_change_ms=params.regression_min_ms,
    )
    report.poc = load_poc_summaries(params.poc_summaries) if params.poc_summaries else []
    report.caveats = _caveats(report)
    report.decision = _decision_json(report)
    if write:
        out_dir = Path(params.report_dir)
        label = params.report_label or (local.label if local is not None else "") or "report"
        dated = out_dir / f"{datetime.now(UTC):%Y-%m-%d}_{label}_decision.json"
        # latest.json moves with latest.html and latest.pdf, once all of them are rendered
        # (servegate.jobs.pipeline), so the three never disagree.
        atomic_write_json(dated, report.decision)
        report.written.append(dated)
    return report
