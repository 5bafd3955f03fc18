"""A sweep's table: one row per server setting, and the winner.

Each setting of a sweep (``servegate.jobs.sweep``) left a run folder tagged with the sweep's
``sweep_id`` and its ``setting``. Its row says how the run ended (or why vLLM did not start),
its gate verdicts at its capacity (at its first level when no level passed), the capacity at
the limits (goodput req/s and output tok/s with intervals), vLLM's start time and peak memory,
and the cost per 1M output tokens at that capacity (the machine's hourly price from
data/pricing.yaml), and its answers judged against the base setting's
(``servegate.analysis.sweep_quality``). The winner is the cheapest setting whose latency gates
pass *and* whose answers PASS (the highest capacity when there is no price): a faster setting
that answers worse is passed over, and the verdict says so. When no run of the sweep made a
quality pass, the winner is chosen on latency alone and the verdict says the answers were not
checked. When none passes, the closest one on latency (the smallest ratio of a gate's
percentile to its limit at the first level) and the gate that stops it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from servegate.analysis.cost import (
    DEFAULT_PRICING_PATH,
    Pricing,
    load_pricing,
    machine_price_for_run,
    self_hosted_cost_per_1m_output_tokens,
)
from servegate.analysis.gate_rule import Verdict
from servegate.analysis.search import SearchParams
from servegate.analysis.sweep_diff import Difference, differences_from_base
from servegate.analysis.sweep_levels import (
    JudgedLevel,
    first_level_closeness,
    judged_levels,
    level_capacity,
)
from servegate.analysis.sweep_quality import (
    SettingQuality,
    judge_settings,
    passed_over,
    quality_columns,
)
from servegate.core.errors import PricingError
from servegate.core.stats import Estimate
from servegate.runs.reader import RunData
from servegate.runs.sweep import latest_by_setting, sweep_runs

__all__ = ["SweepRow", "SweepTable", "sweep_table"]


@dataclass(frozen=True)
class SweepRow:
    """One setting: how its run ended and what it measured (None where it measured nothing).

    ``shown`` is the level the verdicts and percentiles are at: the capacity level, else the
    first level. ``closeness`` is the larger of p95/limit and p50/limit at the first level.
    ``quality`` is its answers against the base's; None when the sweep checked no answers.
    """

    name: str
    server: dict[str, Any]  # YAML boundary: the server settings it changed from the base
    run: RunData | None
    state: str
    reason: str | None = None
    shown: JudgedLevel | None = None
    capacity: JudgedLevel | None = None
    first: JudgedLevel | None = None
    startup_s: float | None = None
    peak_rss_mib: float | None = None
    cost_per_1m: Estimate | None = None
    closeness: float | None = None
    blocking: str | None = None
    quality: SettingQuality | None = None

    @property
    def latency_passes(self) -> bool:
        """Whether a level passed the latency gates (it has a capacity)."""
        return self.capacity is not None

    @property
    def passes(self) -> bool:
        """Whether it can win: its latency passes and its answers PASS (or none were checked)."""
        answers_ok = self.quality is None or self.quality.verdict == Verdict.PASS
        return self.latency_passes and answers_ok


@dataclass(frozen=True)
class SweepTable:
    """The sweep's rows (in the sweep's order), the winner and the differences from the base.

    ``quality_checked`` is False when no run made a quality pass (the winner is on latency).
    """

    sweep_id: str
    rows: tuple[SweepRow, ...]
    limits: SearchParams
    winner: str | None
    verdict: str
    base: str | None
    differences: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = field(default=())
    quality_margin: float = 0.05
    quality_floor: float = 0.8
    quality_checked: bool = True

    def frame(self) -> pd.DataFrame:
        """One row per setting, for a notebook table (ms, req/s, tok/s, USD, MiB, s)."""
        return pd.DataFrame([_frame_row(r, r.name == self.winner) for r in self.rows])

    def differences_frame(self) -> pd.DataFrame:
        """One row per setting and figure: its difference from the base with the interval."""
        return pd.DataFrame([d.as_row() for d in self.differences])


def sweep_table(
    results_dir: str | Path,
    sweep_id: str,
    *,
    settings: Sequence[tuple[str, dict[str, Any]]] | None = None,
    limits: SearchParams | None = None,
    pricing_path: str | Path | None = DEFAULT_PRICING_PATH,
    quality_margin: float = 0.05,
    quality_floor: float = 0.8,
) -> SweepTable:
    """The table of one sweep from its run folders.

    :param settings: the sweep's ``(name, server changes)`` in order (a ``SweepPlan``'s), so a
        setting not run yet gets a row; None: the settings the run folders name.
    :param limits: what a run of listed levels is judged by; None: a search run's own limits,
        else the gates' defaults.
    :param pricing_path: the pricing file; None: no cost column.
    :param quality_margin: how far below the base's a setting's accuracy may be (0.05 = 5 pts),
        as the report's quality gate allows against hosted.
    :param quality_floor: the accuracy a setting must reach when there are no base answers.
    """
    runs = latest_by_setting(sweep_runs(results_dir, sweep_id))
    limits = limits or _limits(list(runs.values()))
    order = list(settings) if settings is not None else _recorded_settings(runs)
    notes: list[str] = []
    pricing = _pricing(pricing_path, notes)
    rows = tuple(
        _row(name, server, runs.get(name), limits, pricing, notes) for name, server in order
    )
    base = next((r for r in rows if not r.server), None)
    judged, quality_notes = judge_settings(
        {r.name: r.run for r in rows},
        base.name if base else None,
        margin=quality_margin,
        floor=quality_floor,
    )
    notes += quality_notes
    if judged is not None:
        rows = tuple(replace(r, quality=judged[r.name]) for r in rows)
        base = next((r for r in rows if not r.server), None)
    winner, verdict = _winner(rows, limits)
    if any(r.run is not None and r.run.record.params.base_url for r in rows):
        notes.append(
            "the settings were measured against one attached server (base_url): their server "
            "settings were recorded, not applied"
        )
    diffs = differences_from_base(rows, base, limits) if base is not None else []
    if base is None:
        notes.append("no base setting (one that changes nothing): no differences from it")
    verdict += _against_base(winner, base, diffs) + _passed_over(rows, winner)
    if judged is None and winner is not None:
        verdict += "; answers were not checked (no setting made a quality pass)"
    return SweepTable(
        sweep_id,
        rows,
        limits,
        winner,
        verdict,
        base.name if base else None,
        tuple(diffs),
        tuple(dict.fromkeys(notes)),
        quality_margin,
        quality_floor,
        judged is not None,
    )


def _limits(runs: list[RunData]) -> SearchParams:
    for run in runs:
        if run.record.search is not None:
            lim = run.record.search.limits
            return SearchParams(
                p95_ms=lim.p95_ms,
                p50_ms=lim.p50_ms,
                gate_latency_metric=lim.gate_latency_metric,
                confidence=lim.confidence,
            )
    return SearchParams()


def _recorded_settings(runs: dict[str, RunData]) -> list[tuple[str, dict[str, Any]]]:
    ordered = sorted(runs.values(), key=lambda r: (r.record.params.run_label, r.created_at))
    return [
        (r.record.setting.name, dict(r.record.setting.server)) for r in ordered if r.record.setting
    ]


def _pricing(path: str | Path | None, notes: list[str]) -> Pricing | None:
    if path is None:
        return None
    try:
        return load_pricing(path)
    except PricingError as exc:
        notes.append(f"no cost: {exc}")
        return None


def _row(
    name: str,
    server: dict[str, Any],
    run: RunData | None,
    limits: SearchParams,
    pricing: Pricing | None,
    notes: list[str],
) -> SweepRow:
    if run is None:
        return SweepRow(name, server, None, "not run yet")
    record = run.record
    story = record.server or {}
    reason = None
    if record.state != "complete":
        kind = f"{record.error_kind}: " if record.error_kind else ""
        reason = f"{kind}{record.error or record.interrupted_by or record.state}"
    levels = judged_levels(run, limits)
    capacity = level_capacity(run, levels)
    first = levels[0] if levels else None
    closeness, blocking = first_level_closeness(first, limits) if capacity is None else (None, None)
    return SweepRow(
        name,
        server,
        run,
        record.state,
        reason,
        capacity or first,
        capacity,
        first,
        story.get("startup_s"),
        story.get("peak_rss_mib"),
        _cost(run, capacity, pricing, notes),
        closeness,
        blocking,
    )


def _cost(
    run: RunData, capacity: JudgedLevel | None, pricing: Pricing | None, notes: list[str]
) -> Estimate | None:
    """USD per 1M output tokens at the capacity's throughput, the interval from its ends."""
    hourly = run.params.get("hourly_usd")
    if capacity is None or (pricing is None and hourly is None):
        return None
    try:
        price = machine_price_for_run(
            pricing, params=run.params, manifest=run.manifest, hourly_usd=hourly
        )
    except PricingError as exc:
        notes.append(f"no cost for {run.run_id}: {exc}")
        return None
    notes.append(f"machine price: {price.describe()}")
    tok = capacity.goodput_tok_per_s

    def usd(rate: float | None) -> float | None:
        return (
            None if rate is None else self_hosted_cost_per_1m_output_tokens(price.hourly_usd, rate)
        )

    # A higher throughput is a lower cost: the interval's ends swap.
    return Estimate(
        usd(tok.value),
        usd(tok.ci_high),
        usd(tok.ci_low),
        tok.n,
        tok.confidence,
        tok.method,
        "USD/1M",
    )


def _winner(rows: Sequence[SweepRow], limits: SearchParams) -> tuple[str | None, str]:
    """The cheapest passing setting, or the closest one and what stops it, in one sentence."""
    passing = [r for r in rows if r.passes]
    if passing:
        best = min(passing, key=_rank)
        cap = best.capacity
        assert cap is not None
        cost = best.cost_per_1m
        price = f", {cost.value:.4g} USD per 1M output tokens" if cost and cost.value else ""
        answers = f"; {best.quality.winning_text()}" if best.quality else ""
        return best.name, (
            f"winner: {best.name} ({_describe(best.server)}): capacity c{cap.concurrency}, "
            f"{_interval(cap.goodput_req_per_s, 'req/s')}, "
            f"{_interval(cap.goodput_tok_per_s, 'output tok/s')}{price}{answers}"
        )
    if any(r.latency_passes for r in rows):
        return None, (
            "no setting passes both the latency gates and the answers check (accuracy against "
            "the base's)"
        )
    measured = [r for r in rows if r.closeness is not None]
    if not measured:
        failed = ", ".join(f"{r.name} ({r.state})" for r in rows) or "none"
        return None, f"no setting was measured; settings: {failed}"
    closest = min(measured, key=lambda r: r.closeness or math.inf)
    return None, (
        f"no setting passes the gates (p95 <= {limits.p95_ms:,.0f} ms, p50 <= "
        f"{limits.p50_ms:,.0f} ms); the closest is {closest.name} "
        f"({_describe(closest.server)}), stopped by {closest.blocking}"
    )


def _against_base(winner: str | None, base: SweepRow | None, diffs: list[Difference]) -> str:
    """The winner's capacity against the base's, so a gain inside the noise is called noise."""
    found = [d for d in diffs if d.setting == winner and d.metric == "capacity"]
    if winner is None or base is None or not found:
        return ""
    d = found[0]
    ends = "?" if d.low is None else f"{d.low:+.3g}", "?" if d.high is None else f"{d.high:+.3g}"
    said = "within the noise" if d.label == "noise" else d.label
    return (
        f"; against {base.name}: {d.change or 0:+.3g} req/s [{ends[0]} - {ends[1]}] at the "
        f"capacity, {said}"
    )


def _passed_over(rows: Sequence[SweepRow], winner: str | None) -> str:
    """The settings that pass the latency gates and rank above the winner (or every one, when
    there is no winner) but whose answers stop them, each with why."""
    best = next((r for r in rows if r.name == winner), None)
    stopped = [r for r in rows if r.latency_passes and not r.passes]
    over = sorted((r for r in stopped if best is None or _rank(r) < _rank(best)), key=_rank)
    return passed_over([(r.name, r.quality) for r in over if r.quality is not None])


def _rank(row: SweepRow) -> tuple[bool, float, float]:
    """Cheapest first; without a price, the highest output tok/s."""
    cost = row.cost_per_1m.value if row.cost_per_1m else None
    tok = row.capacity.goodput_tok_per_s.value if row.capacity else None
    return (cost is None, cost or 0.0, -(tok or 0.0))


def _describe(server: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in server.items()) or "the base settings"


def _interval(est: Estimate, unit: str) -> str:
    def num(v: float | None) -> str:
        return "?" if v is None else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"

    return f"{num(est.value)} {unit} [{num(est.ci_low)} - {num(est.ci_high)}]"


def _frame_row(row: SweepRow, winner: bool) -> dict[str, object]:
    at, cap, cost = row.shown, row.capacity, row.cost_per_1m
    p50, p95 = (at.p50_ms, at.p95_ms) if at else (None, None)
    req, tok = (cap.goodput_req_per_s, cap.goodput_tok_per_s) if cap else (None, None)
    nan = math.nan

    def v(est: Estimate | None, part: str = "value") -> float:
        got = getattr(est, part) if est is not None else None
        return nan if got is None else float(got)

    return {
        "setting": row.name,
        "changes": _describe(row.server),
        "state": row.state,
        "reason": row.reason or "",
        "at_concurrency": at.concurrency if at else None,
        "verdict": at.verdict if at else "",
        "p50_verdict": at.p50_verdict if at else "",
        "p95_verdict": at.p95_verdict if at else "",
        "p50_ms": v(p50),
        "p50_ci_low_ms": v(p50, "ci_low"),
        "p50_ci_high_ms": v(p50, "ci_high"),
        "p95_ms": v(p95),
        "p95_ci_low_ms": v(p95, "ci_low"),
        "p95_ci_high_ms": v(p95, "ci_high"),
        "capacity_concurrency": cap.concurrency if cap else None,
        "capacity_req_per_s": v(req),
        "capacity_req_ci_low": v(req, "ci_low"),
        "capacity_req_ci_high": v(req, "ci_high"),
        "capacity_tok_per_s": v(tok),
        "capacity_tok_ci_low": v(tok, "ci_low"),
        "capacity_tok_ci_high": v(tok, "ci_high"),
        "startup_s": nan if row.startup_s is None else row.startup_s,
        "peak_rss_mib": nan if row.peak_rss_mib is None else row.peak_rss_mib,
        "usd_per_1m_output_tokens": v(cost),
        "usd_ci_low": v(cost, "ci_low"),
        "usd_ci_high": v(cost, "ci_high"),
        "blocked_by": row.blocking or "",
        **quality_columns(row.quality),
        "winner": winner,
    }
