"""The decision report's data: which runs, the gates, the cost, the caveats, the decision JSON.

``build_report(params)`` is what ``notebooks/03_decision_report.ipynb`` calls. It reads only
saved files (run folders, the history, the price sheet), writes the decision JSON atomically
to ``reports/<date>_<label>_decision.json`` with the alert rules beside it (``report.alerts``;
the pipeline publishes ``latest.*``), and returns a
``ReportData`` whose frames the notebook hands to ``servegate.plots``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd

from servegate import __version__
from servegate.analysis.compare import Comparison
from servegate.analysis.cost import Pricing, load_pricing
from servegate.analysis.fallback import FallbackResult
from servegate.analysis.gates import Evaluation, GateResult, evaluate_gates
from servegate.analysis.searched import SearchedCapacity, searched_capacity
from servegate.core.config import validate_params
from servegate.core.environment import servegate_commit
from servegate.core.errors import ServegateError
from servegate.core.fsutil import atomic_write_json
from servegate.core.paths import resolve_path
from servegate.history.poc import PocRun, load_poc_summaries
from servegate.history.read import read_history
from servegate.report.alerts import report_alert_levels, write_alert_files
from servegate.report.caveats import report_caveats
from servegate.report.cost import CostOption, hosted_cost, local_cost
from servegate.report.decision import DecisionReport, Gate
from servegate.report.limits import FeasibilitySection, feasibility_section
from servegate.report.ops import (
    CapacitySection,
    capacity_entry,
    capacity_section,
    comparison_entry,
    comparisons,
    fallback_entry,
    fallback_section,
    hosted_model_for,
    poc_entry,
)
from servegate.report.params import ReportParams
from servegate.report.quality import quality_entry, quality_frame
from servegate.runs.frames import levels_frame
from servegate.runs.identity import prompt_set_sha256
from servegate.runs.reader import RunData, list_runs, load_run

__all__ = [
    "BatchingGain",
    "ReportData",
    "build_report",
    "requests_frame",
    "select_runs",
]

log = logging.getLogger(__name__)


class BatchingGain(TypedDict):
    """The batching-gain gate's estimate, as ``plots.throughput_vs_concurrency`` takes it."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    backend: str


def _hosted_status(hosted: RunData | None) -> str:
    """The hosted side's status: "measured", or why there are no hosted measurements."""
    if hosted is None:
        return "no hosted run found"
    if hosted.state == "skipped":
        return f"skipped: {hosted.record.skipped_reason or 'no reason recorded'}"
    return "measured"


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from disk and evaluated once (``build_report``)."""

    params: ReportParams
    local: RunData | None
    hosted: RunData | None
    evaluation: Evaluation | None
    cost: list[CostOption]
    caveats: list[str]
    broken_runs: list[tuple[Path, str]]
    comparisons: dict[str, Comparison]
    poc: list[PocRun]
    capacity: CapacitySection
    fallback: FallbackResult
    decision_report: DecisionReport
    written: tuple[Path, ...] = ()

    @cached_property
    def decision(self) -> dict[str, Any]:  # JSON boundary: the decision file's contents
        """The decision JSON as written to the file (``decision_report``, dumped): what the tests
        compare with the committed decision. The notebook's tables take ``decision_report``."""
        return self.decision_report.model_dump(mode="json")

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

    def gain(self) -> BatchingGain | None:
        """The batching-gain gate's estimate, as the throughput figure takes it."""
        gate = next((g for g in self.decision_report.gates if g.name == "batching_gain"), None)
        if gate is None:
            return None
        return BatchingGain(
            value=gate.measured, ci_low=gate.ci_low, ci_high=gate.ci_high, backend="vllm"
        )

    def quality_frame(self) -> pd.DataFrame:
        """Accuracy per backend and category with intervals, as the quality figure takes it."""
        return quality_frame(self.decision_report.quality)

    def quality_floor(self) -> float | None:
        """The accuracy floor the quality gate judged against; None when it compared with
        hosted answers (or had nothing to judge)."""
        section = self.decision_report.quality
        return self.params.gates.quality_floor if section and section.basis == "floor" else None

    def cost_frame(self) -> pd.DataFrame:
        """The cost table as the cost figure takes it: a value, or the reason there is none."""
        return pd.DataFrame(
            [
                {
                    "option": c.option,
                    "backend": c.backend,
                    "cost_per_1m_output_tokens_usd": c.usd_per_1m_output_tokens,
                    "note": "" if c.usd_per_1m_output_tokens is not None else c.basis,
                }
                for c in self.cost
            ]
        )

    def history(self) -> tuple[pd.DataFrame, str]:
        """The history for the trend, and "" or why there is none (a state, not a failure)."""
        try:
            return read_history(self.params.history_path), ""
        except ServegateError as exc:
            return pd.DataFrame(), f"No history to show yet: {exc}"

    @property
    def hosted_status(self) -> str:
        """The hosted side's status: "measured", or why there are no hosted measurements."""
        return _hosted_status(self.hosted)


def select_runs(
    results_dir: str | Path,
    local_run: str = "",
    hosted_run: str = "",
    *,
    listed: tuple[list[RunData], list[tuple[Path, str]]] | None = None,
) -> tuple[RunData | None, RunData | None, list[tuple[Path, str]]]:
    """The local and hosted runs to report: named ones, or the latest comparable ones.

    The latest local run is the newest vLLM benchmark that measured something (a capacity
    search or a sweep setting is evidence of another kind: its levels are the search's, not
    the gates' level; name it to report it anyway). The latest hosted
    run is the newest OpenAI-backend run on the same prompt set (sha256); failing that, the
    newest skipped one, so the report can say why hosted numbers are missing.

    :param results_dir: the folder of run folders; a relative one is under the project root.
    :param listed: ``list_runs(results_dir)``, when the caller has already read the folder (a
        report reads it once); read here otherwise.
    """
    results_dir = resolve_path(results_dir)
    if local_run or hosted_run:
        read = {r.run_dir.name: r for r in listed[0]} if listed is not None else {}

        def named(name: str) -> RunData | None:
            # A folder the listing skipped is read again, for its own error message.
            return (read.get(name) or load_run(results_dir / name)) if name else None

        return named(local_run), named(hosted_run), []
    runs, broken = listed if listed is not None else list_runs(results_dir)
    measured = [
        r
        for r in runs
        if r.backend == "vllm"
        and len(r.requests)
        and r.record.search is None
        and r.record.sweep_id is None
    ]
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


def _cost(
    params: ReportParams,
    local: RunData | None,
    hosted: RunData | None,
    pricing: Pricing,
    hosted_model: str,
    searched: SearchedCapacity | None,
) -> list[CostOption]:
    """The cost table: the local run's cost (when there is one; on the searched capacity
    when a comparable search found one), then the hosted option's."""
    rows = []
    if local is not None:
        rows.append(
            local_cost(
                local,
                pricing,
                hourly_usd=params.hourly_usd,
                p50_ms=params.gates.p50_ms,
                p95_ms=params.gates.p95_ms,
                metric=params.gates.gate_latency_metric,
                searched=searched,
            )
        )
    rows.append(hosted_cost(hosted, local, pricing, hosted_model))
    return rows


def _capacity(
    params: ReportParams,
    local: RunData | None,
    pricing: Pricing,
    hosted_model: str,
    searched: tuple[SearchedCapacity | None, str],
) -> CapacitySection:
    """The capacity plan for the forecast, priced like the cost table, judged by the gates."""
    return capacity_section(
        local,
        pricing,
        hosted_model=hosted_model,
        hourly_usd=params.hourly_usd,
        searched=searched,
        **params.capacity.model_dump(),
        p50_ms=params.gates.p50_ms,
        p95_ms=params.gates.p95_ms,
        latency_metric=params.gates.gate_latency_metric,
    )


def _fallback(
    params: ReportParams,
    local: RunData | None,
    hosted: RunData | None,
    pricing: Pricing,
    *,
    cost: list[CostOption],
    evaluation: Evaluation | None,
) -> FallbackResult:
    """The fallback replay at the gate level, with the local side priced as in the cost table."""
    local_usd = next((c.usd_per_1m_output_tokens for c in cost if c.backend == "vllm"), None)
    return fallback_section(
        local,
        hosted,
        pricing,
        local_usd_per_1m=local_usd,
        level=evaluation.gate_concurrency if evaluation is not None else None,
        timeouts_ms=params.fallback_ttft_ms,
        p50_ms=params.gates.p50_ms,
        p95_ms=params.gates.p95_ms,
    )


def _feasibility(
    params: ReportParams, local: RunData | None, pricing: Pricing, evaluation: Evaluation | None
) -> tuple[FeasibilitySection | None, str]:
    """What the hardware allows (``report.limits``), or None and the caveat saying why not:
    a bad sheet or an unknown model or quantization never stops the report."""
    gate_c = evaluation.gate_concurrency if evaluation is not None else None
    try:
        section = feasibility_section(
            local,
            pricing,
            hardware_path=params.hardware_path,
            models_path=params.limits_models_path,
            model=params.limits_model,
            quant=params.limits_quantization,
            prompts_path=params.limits_prompts,
            concurrency=params.limits_concurrency or gate_c or 1,
            metric=params.gates.gate_latency_metric,
            p50_ms=params.gates.p50_ms,
            p95_ms=params.gates.p95_ms,
            realistic=params.limits_efficiency,
            memory_utilization=params.limits_memory_utilization,
        )
    except ServegateError as exc:
        return None, f"What the hardware allows is not shown: {exc}"
    return section, ""


def _gate(result: GateResult) -> Gate:
    """A gate of the evaluation as the decision JSON's entry."""
    return Gate(
        name=result.name,
        threshold=result.threshold,
        measured=result.measured,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        verdict=result.verdict,
        unit=result.unit,
        n=result.n,
        level=result.level,
        prompts_to_settle=result.prompts_to_settle,
        method=result.method,
        note=result.note,
    )


def _decision_report(
    params: ReportParams,
    local: RunData | None,
    hosted: RunData | None,
    evaluation: Evaluation | None,
    *,
    cost: list[CostOption],
    caveats: list[str],
    compared: dict[str, Comparison],
    poc: list[PocRun],
    capacity: CapacitySection,
    fallback: FallbackResult,
    feasibility: FeasibilitySection | None = None,
) -> DecisionReport:
    """The decision JSON: the decision and its gates, and every section the report shows."""
    ev = evaluation
    return DecisionReport(
        servegate_version=__version__,
        git_commit=servegate_commit(),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        decision=ev.decision if ev else "INCONCLUSIVE",
        gates=[_gate(g) for g in ev.gates] if ev else [],
        gate_concurrency=ev.gate_concurrency if ev else None,
        n_measured_prompts=ev.n_measured if ev else 0,
        thresholds=params.gates,
        local_run=local.run_id if local else None,
        hosted_run=hosted.run_id if hosted else None,
        hosted_status=_hosted_status(hosted),
        cost=cost,
        caveats=caveats,
        comparison={name: comparison_entry(c) for name, c in compared.items()},
        poc_baseline=[poc_entry(run) for run in poc],
        capacity=capacity_entry(capacity),
        fallback=fallback_entry(fallback),
        quality=quality_entry(ev.quality if ev else None, local, hosted),
        feasibility=feasibility,
    )


def _write_decision(
    decision: DecisionReport, params: ReportParams, local: RunData | None
) -> tuple[Path, ...]:
    """Write the decision JSON to ``report_dir/<date>_<label>_decision.json`` and the alert
    rules and scrape job beside it (``report.alerts``), each atomically."""
    label = params.report_label or (local.label if local is not None else "") or "report"
    prefix = f"{datetime.now(UTC):%Y-%m-%d}_{label}"
    dated = resolve_path(params.report_dir) / f"{prefix}_decision.json"
    # latest.json moves with latest.html and latest.pdf, once all of them are rendered
    # (servegate.jobs.pipeline), so the three never disagree.
    atomic_write_json(dated, decision.model_dump(mode="json"))
    alerts = write_alert_files(dated.parent, prefix, report_alert_levels(decision, local))
    return (dated, *alerts)


def build_report(params: ReportParams | Mapping[str, Any], *, write: bool = True) -> ReportData:
    """Select runs, evaluate the gates, price the options, and write the decision JSON.
    Relative paths are under the project root (``servegate.core.paths``), as for ``make``.

    :param params: ``ReportParams``, or a mapping of its fields or the notebook's flat names.
    :raises ConfigError: bad parameters, or no ``results_dir`` (the message says where it
        looked and how to make runs).
    :raises RunFolderError: a named run that does not exist or cannot be read.
    """
    if not isinstance(params, ReportParams):
        params = validate_params(ReportParams, params, what="report parameters")
    listed = list_runs(params.results_dir)  # once: selection and comparisons share it
    local, hosted, broken = select_runs(
        params.results_dir, params.local_run, params.hosted_run, listed=listed
    )
    evaluation = evaluate_gates(local, params.gates, hosted) if local is not None else None
    pricing = load_pricing(params.pricing_path)
    hosted_model = hosted_model_for(hosted)
    gates = params.gates
    searched = searched_capacity(
        local,
        listed[0],
        p95_ms=gates.p95_ms,
        p50_ms=gates.p50_ms,
        metric=gates.gate_latency_metric,
    )
    cost = _cost(params, local, hosted, pricing, hosted_model, searched[0])
    capacity = _capacity(params, local, pricing, hosted_model, searched)
    fallback = _fallback(params, local, hosted, pricing, cost=cost, evaluation=evaluation)
    compared = comparisons(
        {"local": local, "hosted": hosted}, listed[0], min_change_ms=params.regression_min_ms
    )
    poc = load_poc_summaries(params.poc_summaries) if params.poc_summaries else []
    notes = report_caveats(
        params,
        local,
        evaluation,
        hosted_status=_hosted_status(hosted),
        compared=compared,
        broken=broken,
    )
    feasibility, why_not = _feasibility(params, local, pricing, evaluation)
    if why_not:
        notes = [*notes, why_not]
    decision = _decision_report(
        params,
        local,
        hosted,
        evaluation,
        cost=cost,
        caveats=notes,
        compared=compared,
        poc=poc,
        capacity=capacity,
        fallback=fallback,
        feasibility=feasibility,
    )
    return ReportData(
        params=params,
        local=local,
        hosted=hosted,
        evaluation=evaluation,
        cost=cost,
        caveats=notes,
        broken_runs=broken,
        comparisons=compared,
        poc=poc,
        capacity=capacity,
        fallback=fallback,
        decision_report=decision,
        written=_write_decision(decision, params, local) if write else (),
    )
