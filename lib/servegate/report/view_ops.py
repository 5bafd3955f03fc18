"""HTML for the report's operations sections: the quarterly comparison, the capacity plan and
the local-first fallback evaluation.

Like ``servegate.report.view`` they format what the library computed (the decision report's
``comparison``, ``capacity`` and ``fallback`` sections, ``servegate.report.decision``) and
compute nothing themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from servegate.records.level import LevelSummary
from servegate.report.decision import (
    CapacityPlanEntry,
    CapacityRow,
    CapacityUnavailable,
    ChangeRow,
    FallbackNotRun,
    FallbackReplay,
    RunComparison,
)
from servegate.report.html import badge, escape, number

__all__ = ["capacity_html", "comparison_html", "fallback_html", "server_metrics_html"]


_CHANGE_COLORS = {"regression": "#b3261e", "improvement": "#1b7f3b"}


# A saved figure with no value is None (``ReportFloat`` reads NaN as None), never NaN.


def _change(row: ChangeRow) -> str:
    value = row.change_ms
    if value is None:
        return "—"
    sign = "+" if value > 0 else ""
    text = f"{sign}{number(value, 'ms')}"
    rel = row.relative_change
    if rel is not None and math.isfinite(rel):
        text += f" ({rel:+.0%})"
    return text


def _interval(row: ChangeRow) -> str:
    def end(v: float | None, side: str) -> str:
        if v is None:
            return f"unbounded {side}"
        return ("+" if v > 0 else "") + number(v, "ms")

    return f"{end(row.change_ci_low_ms, 'below')} to {end(row.change_ci_high_ms, 'above')}"


def comparison_html(comparisons: Mapping[str, RunComparison], gate_level: str = "") -> str:
    """Each backend's run against its previous comparable run (the decision report's
    ``comparison``): the change in p50/p95 with a 95% interval, and regressions flagged."""
    if not comparisons:
        return "<p>No measured run to compare.</p>"
    parts = []
    for name, comp in comparisons.items():
        title = f"<h4>{escape(name.capitalize())} run <code>{escape(comp.current_run)}</code></h4>"
        if comp.previous_run is None:
            refused = comp.refused
            listed = "".join(
                f"<li><code>{escape(r.run_id)}</code>: {escape('; '.join(r.reasons))}</li>"
                for r in refused[:5]
            )
            more = f"<li>... and {len(refused) - 5} more</li>" if len(refused) > 5 else ""
            why = (
                f"<p>Earlier runs of this backend not compared:</p><ul>{listed}{more}</ul>"
                if refused
                else ""
            )
            parts.append(f"{title}<p><b>{escape(comp.message)}</b>.</p>{why}")
            continue
        rows = sorted(comp.changes, key=lambda r: (r.level != gate_level, r.level))
        body = "".join(
            f"<tr><td>{escape(r.level)}</td><td>{escape(r.metric)}</td>"
            f"<td>{number(r.previous_ms, 'ms')}</td><td>{number(r.current_ms, 'ms')}</td>"
            f"<td><b>{_change(r)}</b></td><td>{_interval(r)}</td>"
            f"<td style='color:{_CHANGE_COLORS.get(r.verdict, '#555')};font-weight:600'>"
            f"{escape(r.verdict)}</td></tr>"
            for r in rows
        )
        head = (
            "<tr><th>Level</th><th>Figure</th><th>Previous</th><th>Now</th><th>Change</th>"
            "<th>95% interval of the change</th><th>Verdict</th></tr>"
        )
        flagged = comp.regressions
        summary = (
            f"<p><b>Regression</b> in {escape(', '.join(flagged))}.</p>"
            if flagged
            else "<p>No statistically clear regression.</p>"
        )
        context = comp.context
        also = (
            "<p style='font-size:12px;color:#555'>Also changed since then (does not block the "
            "comparison, may explain it): " + "; ".join(escape(c) for c in context) + ".</p>"
            if context
            else ""
        )
        parts.append(
            f"{title}<p>{escape(comp.message)}.</p>{summary}{also}"
            f'<table class="sg-table">{head}{body}</table>'
        )
    return "".join(parts)


def _usd(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def _share(value: float | None, decimals: int) -> str:
    # A share of no requests has no value (saved as null: NaN in JSON is not allowed).
    if value is None:
        return "—"
    return f"{value:.{decimals}%}"


def _value(row: CapacityRow) -> str:
    value, unit = row.value, row.unit
    if value is None:
        return "—"
    if unit in ("USD", "USD/month"):
        return _usd(value) + ("/month" if unit == "USD/month" else "")
    if unit == "share":
        return f"{value:.0%}"
    if unit == "replicas":
        return f"{int(value)}"
    if unit == "x":
        return f"{value:.2f}×"
    return f"{value:,.3g} {unit}"


def capacity_html(capacity: CapacityPlanEntry | CapacityUnavailable | None) -> str:
    """The capacity plan's table and headline, or why there is no plan."""
    if not isinstance(capacity, CapacityPlanEntry):
        reason = capacity.reason if capacity is not None else "not computed"
        return f"<p>No capacity plan: {escape(reason)}.</p>"
    status = capacity.status
    verdict = "PASS" if status == "gates met" else "FAIL"
    be = capacity.break_even_average_rps
    cheaper = (
        f"self-hosting is cheaper above <b>{be:,.3g} req/s</b> of average traffic"
        if be is not None
        else f"no break-even: {escape(capacity.break_even_reason)}"
    )
    head = (
        f"<p>{badge(verdict)} {escape(status)} at {escape(capacity.level or '—')}: "
        f"<b>{capacity.replicas or '—'}</b> replica(s) of {escape(capacity.machine)}, "
        f"{_usd(capacity.monthly_self_hosted_usd)}/month against "
        f"{_usd(capacity.monthly_hosted_usd)}/month for {escape(capacity.hosted_model)} "
        f"at the same traffic; {cheaper}.</p>"
    )
    if status != "gates met":
        head += (
            "<p style='font-size:12px;color:#555'>No measured level meets the latency gates, "
            "so the plan sizes replicas by the best goodput (requests within the p95 limit per "
            "second): it prices the hardware, it does not promise the latency.</p>"
        )
    rows = "".join(
        f"<tr><td>{escape(r.item)}</td><td><b>{_value(r)}</b></td>"
        f"<td style='font-size:12px'>{escape(r.basis)}</td></tr>"
        for r in capacity.table
    )
    table = (
        f'<table class="sg-table"><tr><th>Item</th><th>Value</th><th>Basis</th></tr>{rows}</table>'
    )
    return head + table


def _policy(timeout_ms: float | None) -> str:
    if timeout_ms is None:
        return "—"
    if timeout_ms == 0:
        return "hosted only"
    return "local only" if math.isinf(timeout_ms) else f"{timeout_ms:g} ms"


def fallback_html(fallback: FallbackReplay | FallbackNotRun | None) -> str:
    """The fallback policy per time-out T: p50/p95, fallback rate, blended cost, gate verdicts."""
    if not isinstance(fallback, FallbackReplay):
        reason = fallback.reason if fallback is not None else "not computed"
        return (
            f"<p>Not simulated: {escape(reason.removeprefix('cannot simulate: '))}. The "
            "simulation replays a local run and a hosted run on the same prompts; set "
            "<code>OPENAI_API_KEY</code> and run <code>make report</code> (or <code>servegate "
            "bench --params params/cpu_default.yaml params/hosted_openai.yaml</code>, the local "
            "run's workload with the hosted target) to record a hosted run.</p>"
        )
    passing = [t for t in fallback.passing_timeouts_ms if t is not None]
    finite = [t for t in passing if math.isfinite(t) and t > 0]
    if finite:
        lead = (
            f"Falling back after T = {', '.join(f'{t:g}' for t in finite)} ms passes both "
            "latency gates on these recorded requests."
        )
    elif passing:
        lead = "Only the reference policies pass both gates (see the first and last rows)."
    else:
        lead = "No fallback time-out passes both latency gates on these recorded requests."
    body = []
    for r in fallback.rows:
        body.append(
            f"<tr><td>{escape(_policy(r.timeout_ms))}</td><td>{_share(r.fallback_rate, 0)}</td>"
            f"<td>{number(r.p50_ms, 'ms')} {badge(r.p50_verdict)}</td>"
            f"<td>{number(r.p95_ms, 'ms')} {badge(r.p95_verdict)}</td>"
            f"<td>{_share(r.failure_share, 1)}</td>"
            f"<td>{_usd(r.blended_usd_per_1m_output_tokens)}</td></tr>"
        )
    head = (
        "<tr><th>Fall back after T (no first token)</th><th>Fallback rate</th><th>p50</th>"
        "<th>p95</th><th>Failed</th><th>Blended USD per 1M output tokens</th></tr>"
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in fallback.notes)
    return (
        f"<p><b>{escape(lead)}</b> Local level {escape(fallback.level)}, hosted level "
        f"{escape(fallback.hosted_level)}.</p>"
        f'<table class="sg-table">{head}{"".join(body)}</table>'
        + (f"<ul style='font-size:12px;color:#555'>{notes}</ul>" if notes else "")
    )


def server_metrics_html(levels: Sequence[LevelSummary]) -> str:
    """What vLLM's ``/metrics`` said during each level of a run (``RunData.levels``):
    counter deltas over the measured requests, and the peaks of the saturation gauges that
    docs/runbook.md's monitoring section alerts on."""
    rows = []
    for lv in levels:
        metrics = lv.metrics or {}
        delta, during = metrics.get("delta") or {}, metrics.get("during") or {}
        peak = during.get("peak") or {}

        def fmt(value: Any, pattern: str = "{:g}") -> str:
            return "—" if value is None else pattern.format(value)

        rows.append(
            f"<tr><td>{escape(lv.level)}</td><td>{escape(lv.n_requests)}</td>"
            f"<td>{fmt(delta.get('vllm:request_success_total'))}</td>"
            f"<td>{fmt(delta.get('vllm:generation_tokens_total'), '{:,.0f}')}</td>"
            f"<td>{fmt(delta.get('vllm:num_preemptions_total'))}</td>"
            f"<td>{fmt(peak.get('vllm:num_requests_running'))}</td>"
            f"<td>{fmt(peak.get('vllm:num_requests_waiting'))}</td>"
            f"<td>{fmt(peak.get('vllm:kv_cache_usage_perc'), '{:.0%}')}</td>"
            f"<td>{fmt(during.get('samples'))}</td></tr>"
        )
    if not any(lv.metrics for lv in levels):
        return (
            "<p>No server metrics for this run: a hosted API, or a server without "
            "<code>/metrics</code>.</p>"
        )
    head = (
        "<tr><th>Level</th><th>Requests</th><th>Server OK</th><th>Server tokens</th>"
        "<th>Preempted</th><th>Peak running</th><th>Peak waiting</th><th>Peak KV use</th>"
        "<th>Scrapes</th></tr>"
    )
    note = (
        "<p style='font-size:12px;color:#555'>Counters are the change over each level's "
        "measured requests; peaks are from scrapes every 2 s while the level ran. A server's "
        "success count equal to the requests and its token count equal to the client's show "
        "the two sides agree. What to alert on, and at what level: docs/runbook.md, "
        "Monitoring.</p>"
    )
    return f'<table class="sg-table">{head}{"".join(rows)}</table>{note}'
