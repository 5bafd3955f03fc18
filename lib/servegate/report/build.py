"""The decision report's data: which runs, the gates, the cost, the caveats, the decision JSON.

``build_report(params)`` is what ``notebooks/03_decision_report.ipynb`` calls. It reads only
saved files (run folders, the history, the price sheet), writes the decision JSON atomically
to ``reports/<date>_<label>_decision.json`` (the pipeline publishes ``latest.*``), and returns a
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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from servegate import __version__
from servegate.analysis.compare import Comparison
from servegate.analysis.cost import Pricing, load_pricing
from servegate.analysis.fallback import FallbackResult
from servegate.analysis.gates import Evaluation, GateParams, GateResult, evaluate_gates
from servegate.analysis.ops_params import CapacityForecast
from servegate.core.config import validate_params
from servegate.core.environment import git_state
from servegate.core.errors import ConfigError, ServegateError
from servegate.core.fsutil import REPO_ROOT, atomic_write_json
from servegate.history.aggregate import load_history
from servegate.history.poc import DEFAULT_POC_PATH, PocRun, load_poc_summaries
from servegate.report.cost import CostOption, hosted_cost, local_cost
from servegate.report.decision import DecisionReport, Gate
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
from servegate.runs.frames import levels_frame
from servegate.runs.identity import prompt_set_sha256
from servegate.runs.reader import RunData, list_runs, load_run

__all__ = [
    "BatchingGain",
    "ReportData",
    "ReportParams",
    "build_report",
    "requests_frame",
    "select_runs",
]

log = logging.getLogger(__name__)

#: The nested parameter models of the report, by field name.
_SECTIONS: dict[str, type[BaseModel]] = {"gates": GateParams, "capacity": CapacityForecast}
#: Each flat notebook name of a nested parameter, and the field it belongs in. Papermill passes
#: the notebook's parameters flat (``p95_ms``, ``peak_rps``): this is the one place they nest.
_FLAT: dict[str, str] = {
    name: section for section, model in _SECTIONS.items() for name in model.model_fields
}


class ReportParams(BaseModel):
    """The parameters of ``notebooks/03_decision_report.ipynb`` (docs/contracts.md), validated.

    The gate thresholds are ``gates`` (``GateParams``) and the capacity plan's forecast is
    ``capacity`` (``CapacityForecast``); both also take their fields' names flat, as the
    notebook's parameters are named: ``{"p95_ms": 2000}`` is ``{"gates": {"p95_ms": 2000}}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    results_dir: str = "eval/results"
    history_path: str = "eval/reports/aggregate_history.csv"
    local_run: str = Field("", description='run id; "" = the latest local vLLM run')
    hosted_run: str = Field("", description='run id; "" = the latest comparable hosted run')
    report_dir: str = "reports"
    report_label: str = Field("", description='report file label; "" = the local run label')
    gates: GateParams = Field(default_factory=GateParams, description="the gate thresholds")
    capacity: CapacityForecast = Field(
        default_factory=CapacityForecast, description="the capacity plan's forecast traffic"
    )
    pricing_path: str = "data/pricing.yaml"
    hourly_usd: float | None = Field(None, gt=0, description="self-hosted machine USD/h")
    poc_summaries: str = Field(DEFAULT_POC_PATH, description='POC figures; "" = none')
    regression_min_ms: float = Field(
        0.0, ge=0, description="smallest p50/p95 change flagged as a regression, ms"
    )
    fallback_ttft_ms: list[float] | None = Field(
        None, description="fallback time-outs T to simulate, ms; None: 100 ms to 5 s"
    )

    @classmethod
    def accepted_names(cls) -> list[str]:
        """The notebook's parameter names: this model's own fields and its sections' fields."""
        return sorted([n for n in cls.model_fields if n not in _SECTIONS] + list(_FLAT))

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> ReportParams:
        """Validate the notebook's parameter variables (``accepted_names``)."""
        picked = {k: namespace[k] for k in cls.accepted_names() if k in namespace}
        return validate_params(cls, picked, what="report parameters")

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """``{"p95_ms": 2000}`` becomes ``{"gates": {"p95_ms": 2000}}``; other keys stay."""
        if not isinstance(data, Mapping):
            return data
        out = {k: v for k, v in data.items() if k not in _FLAT}
        for name, section in _FLAT.items():
            if name not in data:
                continue
            given = out.get(section, {})
            if isinstance(given, BaseModel):
                given = given.model_dump()
            if not isinstance(given, Mapping):
                continue  # the section's own error says what is wrong with it
            if name in given:
                raise ValueError(f"{name} is given twice, flat and in {section}: give it once")
            out[section] = {**given, name: data[name]}
        return out


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
        return self.decision_report.model_dump(mode="python")

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
            return load_history(self.params.history_path), ""
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

    The latest local run is the newest vLLM run that measured something. The latest hosted
    run is the newest OpenAI-backend run on the same prompt set (sha256); failing that, the
    newest skipped one, so the report can say why hosted numbers are missing.

    :param listed: ``list_runs(results_dir)``, when the caller has already read the folder (a
        report reads it once); read here otherwise.
    """
    results_dir = Path(results_dir)
    if local_run or hosted_run:
        read = {r.run_dir.name: r for r in listed[0]} if listed is not None else {}

        def named(name: str) -> RunData | None:
            # A folder the listing skipped is read again, for its own error message.
            return (read.get(name) or load_run(results_dir / name)) if name else None

        return named(local_run), named(hosted_run), []
    runs, broken = listed if listed is not None else list_runs(results_dir)
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


def _cost(
    params: ReportParams,
    local: RunData | None,
    hosted: RunData | None,
    pricing: Pricing,
    hosted_model: str,
) -> list[CostOption]:
    """The cost table: the local run's cost (when there is one), then the hosted option's."""
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
            )
        )
    rows.append(hosted_cost(hosted, local, pricing, hosted_model))
    return rows


def _capacity(
    params: ReportParams, local: RunData | None, pricing: Pricing, hosted_model: str
) -> CapacitySection:
    """The capacity plan for the forecast, priced like the cost table, judged by the gates."""
    return capacity_section(
        local,
        pricing,
        hosted_model=hosted_model,
        hourly_usd=params.hourly_usd,
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


def _caveats(
    params: ReportParams,
    local: RunData | None,
    evaluation: Evaluation | None,
    *,
    hosted_status: str,
    compared: dict[str, Comparison],
    broken: list[tuple[Path, str]],
) -> list[str]:
    """What the reader must know to weigh the decision, in plain language."""
    out: list[str] = []
    ev, min_prompts = evaluation, params.gates.min_prompts
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
    if ev is not None and ev.n_measured < min_prompts:
        out.append(
            f"Only {ev.n_measured} prompts were measured; the stability gate needs "
            f"{min_prompts}, so this run can not be a GO."
        )
    if hosted_status != "measured":
        out.append(
            f"Hosted benchmark: {hosted_status}. Hosted latency is not measured; "
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
    for name, comparison in compared.items():
        if comparison.regressions:
            what = ", ".join(f"{c.metric} at {c.level}" for c in comparison.regressions)
            out.append(
                f"Regression since {comparison.previous_run} ({name}): {what} got slower, "
                "and the 95% interval of the change excludes zero."
            )
    for folder, reason in broken:
        out.append(f"Run folder {folder.name} was skipped: {reason}")
    return out


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
) -> DecisionReport:
    """The decision JSON: the decision and its gates, and every section the report shows."""
    ev = evaluation
    return DecisionReport(
        servegate_version=__version__,
        git_commit=git_state(REPO_ROOT)["commit"],
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
    )


def _write_decision(decision: DecisionReport, params: ReportParams, local: RunData | None) -> Path:
    """Write the decision JSON to ``report_dir/<date>_<label>_decision.json``, atomically."""
    label = params.report_label or (local.label if local is not None else "") or "report"
    dated = Path(params.report_dir) / f"{datetime.now(UTC):%Y-%m-%d}_{label}_decision.json"
    # latest.json moves with latest.html and latest.pdf, once all of them are rendered
    # (servegate.jobs.pipeline), so the three never disagree.
    atomic_write_json(dated, decision.model_dump(mode="python"))
    return dated


def build_report(params: ReportParams | Mapping[str, Any], *, write: bool = True) -> ReportData:
    """Select runs, evaluate the gates, price the options, and write the decision JSON.

    :param params: ``ReportParams``, or a mapping of its fields or the notebook's flat names.
    :raises ConfigError: bad parameters, or no ``results_dir``.
    :raises RunFolderError: a named run that does not exist or cannot be read.
    """
    if not isinstance(params, ReportParams):
        params = validate_params(ReportParams, params, what="report parameters")
    if not Path(params.results_dir).is_dir():
        raise ConfigError(
            f"results_dir {params.results_dir} does not exist; run `make bench` "
            "first or point results_dir at your run folders"
        )
    listed = list_runs(params.results_dir)  # once: selection and comparisons share it
    local, hosted, broken = select_runs(
        params.results_dir, params.local_run, params.hosted_run, listed=listed
    )
    evaluation = evaluate_gates(local, params.gates) if local is not None else None
    pricing = load_pricing(params.pricing_path)
    hosted_model = hosted_model_for(hosted)
    cost = _cost(params, local, hosted, pricing, hosted_model)
    capacity = _capacity(params, local, pricing, hosted_model)
    fallback = _fallback(params, local, hosted, pricing, cost=cost, evaluation=evaluation)
    compared = comparisons(
        {"local": local, "hosted": hosted}, listed[0], min_change_ms=params.regression_min_ms
    )
    poc = load_poc_summaries(params.poc_summaries) if params.poc_summaries else []
    caveats = _caveats(
        params,
        local,
        evaluation,
        hosted_status=_hosted_status(hosted),
        compared=compared,
        broken=broken,
    )
    decision = _decision_report(
        params,
        local,
        hosted,
        evaluation,
        cost=cost,
        caveats=caveats,
        compared=compared,
        poc=poc,
        capacity=capacity,
        fallback=fallback,
    )
    return ReportData(
        params=params,
        local=local,
        hosted=hosted,
        evaluation=evaluation,
        cost=cost,
        caveats=caveats,
        broken_runs=broken,
        comparisons=compared,
        poc=poc,
        capacity=capacity,
        fallback=fallback,
        decision_report=decision,
        written=(_write_decision(decision, params, local),) if write else (),
    )
