"""The report's operations sections: the quarterly comparison, the POC baseline, the capacity
plan and the local-first fallback evaluation, and their entries in the decision JSON
(``servegate.report.decision``'s section models).

Both are computed from the runs the report already selected and priced with the same sheet
(``data/pricing.yaml``), so the sections agree with the cost table. Where a piece is missing (no
machine price, no hosted run) the section says why instead of showing a number without a basis.
``notebooks/04_capacity_plan.ipynb`` calls the same functions with its own parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.analysis.capacity import CapacityParams, CapacityPlan, capacity_plan, plan_frame
from servegate.analysis.compare import Comparison, quarterly_comparison
from servegate.analysis.cost import (
    HostedPrice,
    Pricing,
    hosted_price_for_model,
    machine_price_for_run,
)
from servegate.analysis.fallback import FallbackParams, FallbackResult, simulate_fallback
from servegate.analysis.gate_rule import Verdict
from servegate.analysis.ops_params import DEFAULT_HOSTED_MODEL, DEFAULT_TIMEOUTS_MS
from servegate.analysis.searched import SearchedCapacity
from servegate.core.errors import ConfigError, ServegateError
from servegate.history.poc import PocRun, poc_caveat
from servegate.report.decision import (
    CapacityPlanEntry,
    CapacityRow,
    CapacityUnavailable,
    ChangeRow,
    FallbackNotRun,
    FallbackReplay,
    FallbackRowEntry,
    PocBaseline,
    RefusedRun,
    RunComparison,
)
from servegate.runs.reader import RunData, list_runs

__all__ = [
    "CapacitySection",
    "capacity_entry",
    "capacity_section",
    "comparison_entry",
    "comparisons",
    "fallback_entry",
    "fallback_section",
    "hosted_model_for",
    "poc_entry",
    "since_previous",
]


@dataclass(frozen=True)
class CapacitySection:
    """A plan, or (``plan`` None) the reason there is none."""

    plan: CapacityPlan | None
    reason: str = ""
    machine: str = ""
    hosted_model: str = ""


def hosted_model_for(hosted: RunData | None) -> str:
    """The model the hosted side is priced as: the hosted run's, else ``DEFAULT_HOSTED_MODEL``."""
    return hosted.model if hosted is not None and hosted.model else DEFAULT_HOSTED_MODEL


def _hosted_price(pricing: Pricing, model: str) -> tuple[str, HostedPrice] | str:
    try:
        return hosted_price_for_model(pricing, model)
    except ServegateError as exc:
        return str(exc)


def capacity_section(
    local: RunData | None,
    pricing: Pricing,
    *,
    hosted_model: str,
    hourly_usd: float | None = None,
    searched: tuple[SearchedCapacity | None, str] = (None, ""),
    **plan_params: Any,
) -> CapacitySection:
    """The capacity plan of ``local`` priced against ``hosted_model``.

    :param searched: a capacity search to size one replica on, or None and why not
        (``servegate.analysis.searched.searched_capacity``).
    :param plan_params: the rest of ``CapacityParams`` (peak_rps, growth, headroom, gates).
    :raises ConfigError: for bad plan parameters (a typo must not pass as "no plan").
    """
    if local is None or not len(local.requests):
        return CapacitySection(None, "no local run was measured")
    try:
        machine = machine_price_for_run(
            pricing, params=local.params, manifest=local.manifest, hourly_usd=hourly_usd
        )
    except ServegateError as exc:
        return CapacitySection(None, f"no machine price: {exc}")
    hosted = _hosted_price(pricing, hosted_model)
    if isinstance(hosted, str):
        return CapacitySection(None, f"no hosted price: {hosted}")
    key, price = hosted
    params = CapacityParams.from_prices(price, machine, **plan_params)
    plan = capacity_plan(local, params, searched=searched[0], unsearched_reason=searched[1])
    return CapacitySection(plan, "", machine.describe(), key)


def fallback_section(
    local: RunData | None,
    hosted: RunData | None,
    pricing: Pricing,
    *,
    local_usd_per_1m: float | None,
    level: int | str | None,
    timeouts_ms: Sequence[float] | None = None,
    p50_ms: float,
    p95_ms: float,
) -> FallbackResult:
    """Simulate "local first, hosted after T ms without a first token" from recorded requests."""
    found = _hosted_price(pricing, hosted_model_for(hosted))
    price = None if isinstance(found, str) else found[1]
    params = FallbackParams.from_prices(
        price,
        local_usd_per_1m,
        level=level,
        timeouts_ms=tuple(timeouts_ms) if timeouts_ms else DEFAULT_TIMEOUTS_MS,
        p50_ms=p50_ms,
        p95_ms=p95_ms,
    )
    # A skipped hosted run has no rows; the simulator then says why it could not run.
    try:
        return simulate_fallback(local, hosted, params)
    except ConfigError as exc:  # the gate level is not a level of the local run: say so
        return FallbackResult(False, f"cannot simulate: {exc}", params)


def capacity_entry(section: CapacitySection) -> CapacityPlanEntry | CapacityUnavailable:
    """The plan for the decision JSON: its table, status and break-even (or the reason)."""
    if section.plan is None:
        return CapacityUnavailable(available=False, reason=section.reason)
    plan = section.plan
    table = plan_frame(plan)[["item", "value", "unit", "basis"]]
    return CapacityPlanEntry(
        available=True,
        status=plan.status,
        level=plan.level,
        machine=section.machine,
        hosted_model=section.hosted_model,
        replicas=plan.replicas,
        monthly_self_hosted_usd=plan.monthly_self_hosted_usd,
        monthly_hosted_usd=plan.monthly_hosted_usd,
        break_even_average_rps=plan.break_even.average_rps,
        break_even_reason=plan.break_even.reason,
        # A value the plan could not compute is NaN in the frame: ReportFloat reads it as None.
        table=[
            CapacityRow(item=item, value=value, unit=unit, basis=basis)
            for item, value, unit, basis in table.itertuples(index=False, name=None)
        ],
    )


def fallback_entry(result: FallbackResult) -> FallbackReplay | FallbackNotRun:
    """The simulation for the decision JSON: one entry per T, or why it was not run."""
    if not result.simulated:
        return FallbackNotRun(simulated=False, reason=result.reason)
    rows = [
        FallbackRowEntry(
            timeout_ms=row.timeout_ms,
            policy=row.policy,
            n=row.n,
            fallback_rate=row.fallback_rate,
            failure_share=row.failure_share,
            p50_ms=row.p50_ms.value,
            p95_ms=row.p95_ms.value,
            p95_ci_high_ms=row.p95_ms.ci_high,
            p50_verdict=Verdict(row.p50_verdict),
            p95_verdict=Verdict(row.p95_verdict),
            passes_gates=row.passes_gates,
            blended_usd_per_1m_output_tokens=row.blended_usd_per_1m_output_tokens,
        )
        for row in result.rows
    ]
    return FallbackReplay(
        simulated=True,
        level=result.level,
        hosted_level=result.hosted_level,
        local_run=result.local_run_id,
        hosted_run=result.hosted_run_id,
        rows=rows,
        passing_timeouts_ms=[r.timeout_ms for r in rows if r.passes_gates],
        notes=list(result.notes),
    )


def comparison_entry(comparison: Comparison) -> RunComparison:
    """A run against its previous comparable run, for the decision JSON."""
    return RunComparison(
        current_run=comparison.current_run,
        previous_run=comparison.previous_run,
        message=comparison.message,
        changes=[
            ChangeRow(
                level=c.level,
                metric=c.metric,
                previous_ms=c.previous.value,
                current_ms=c.current.value,
                change_ms=c.change_ms,
                change_ci_low_ms=c.change_low_ms,
                change_ci_high_ms=c.change_high_ms,
                relative_change=c.relative,
                verdict=c.verdict,
            )
            for c in comparison.changes
        ],
        regressions=[f"{c.level} {c.metric}" for c in comparison.regressions],
        refused=[RefusedRun(run_id=r, reasons=list(why)) for r, why in comparison.refused],
        context=list(comparison.context),
    )


def poc_entry(run: PocRun) -> PocBaseline:
    """A proof-of-concept summary for the decision JSON (latencies in ms, with its caveat)."""
    return PocBaseline(
        id=run.id,
        label=run.label,
        backend=run.backend,
        source_file=run.source_file,
        run_date=run.run_date.isoformat(),
        rows=run.rows,
        e2e_p50_ms=None if run.p50_s is None else run.p50_s * 1000,
        e2e_p95_ms=None if run.p95_s is None else run.p95_s * 1000,
        caveat=poc_caveat(run),
        summary_only=True,
    )


def comparisons(
    reported: dict[str, RunData | None], runs: list[RunData], *, min_change_ms: float
) -> dict[str, Comparison]:
    """Each reported run (e.g. ``{"local": ..., "hosted": ...}``) against its previous
    comparable run among ``runs`` (quarter over quarter); runs that measured nothing are skipped.
    """
    out = {}
    for name, run in reported.items():
        if run is not None and run.state != "skipped" and len(run.requests):
            out[name] = quarterly_comparison(run, runs, min_change_ms=min_change_ms)
    return out


def since_previous(run: RunData, results_dir: str | Path) -> dict[str, RunComparison]:
    """``run`` against the previous comparable run in ``results_dir``, keyed ``local`` or
    ``hosted`` as in the report: what 01_benchmark's last section shows after a change."""
    runs, _ = list_runs(results_dir)
    name = {"vllm": "local", "openai": "hosted"}.get(run.backend, run.backend)  # as the report
    return {
        key: comparison_entry(c)
        for key, c in comparisons({name: run}, runs, min_change_ms=0.0).items()
    }
