"""HTML pieces of the decision report: the headline, the gate table, cost, caveats, manifest.

They format what ``servegate.report.build`` computed and compute nothing themselves; the report
notebook displays them, and nbconvert carries them into the HTML and PDF as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from servegate.report.cost import CostOption
from servegate.report.decision import DecisionReport, Gate, PocBaseline
from servegate.report.html import VERDICT_COLORS, badge, escape, number
from servegate.runs.reader import RunData

__all__ = [
    "caveats_html",
    "cost_html",
    "decision_html",
    "gates_html",
    "manifest_html",
    "run_summary_html",
]

_GATE_TITLES = {
    "p95_latency": "p95 latency",
    "p50_latency": "p50 latency",
    "batching_gain": "Batching throughput gain",
    "stability": "Stability (OOMs + crashes)",
    "quality": "Answer quality",
}
_MEANING = {
    "GO": "Every gate passed with its whole 95% interval on the good side.",
    "PAUSE": "At least one gate failed: its whole 95% interval is on the wrong side.",
    "INCONCLUSIVE": "No gate failed, but not every gate passed: the evidence is not yet enough.",
}


#: Left-aligned, compact tables (the notebook theme right-aligns table cells).
TABLE_CSS = (
    "<style>.sg-table{border-collapse:collapse;margin:6px 0 14px 0;font-size:13px}"
    ".sg-table th,.sg-table td{text-align:left !important;padding:4px 8px;"
    "border-bottom:1px solid #ddd;vertical-align:top}.sg-table th{background:#f4f4f4}</style>"
)


def decision_html(decision: DecisionReport, *, title: str = "Self-hosted LLM decision") -> str:
    """The report's opening: the decision in large type, what it means, which runs."""
    verdict = decision.decision
    color = VERDICT_COLORS.get(verdict, "#555")
    runs = (
        f"Local run <code>{escape(decision.local_run)}</code>; hosted: "
        f"{escape(decision.hosted_status)}"
        + (f" (<code>{escape(decision.hosted_run)}</code>)" if decision.hosted_run else "")
    )
    return TABLE_CSS + (
        f'<div style="border-left:8px solid {color};padding:8px 16px;margin:8px 0 16px 0">'
        f'<div style="font-size:14px;color:#555">{escape(title)} · generated '
        f"{escape(decision.generated_at)}</div>"
        f'<div style="font-size:34px;font-weight:700;color:{color}">'
        f"Decision: {escape(verdict)}</div>"
        f'<div style="font-size:15px">{escape(_MEANING.get(verdict, ""))}</div>'
        f'<div style="font-size:13px;color:#555;margin-top:4px">{runs}; '
        f"{escape(decision.n_measured_prompts)} prompts measured.</div></div>"
    )


def _poc_figure(poc: PocBaseline, gate: str) -> float | None:
    """The POC's figure for a latency gate (end-to-end: all the POC measured)."""
    return poc.e2e_p95_ms if gate == "p95_latency" else poc.e2e_p50_ms


def _poc_cell(gate: Gate, poc: Sequence[PocBaseline], metric: str) -> str:
    """Where the proof of concept stood on a latency gate (e2e only: all the POC measured)."""
    if gate.name not in ("p95_latency", "p50_latency"):
        return "—"
    if metric != "e2e":
        return "— (POC measured end-to-end only)"
    # The gates judge the local run, so its starting point is the local POC's figure; hosted
    # POC figures are named in the note under the table.
    parts = [
        f"<b>{number(figure, 'ms')}</b> ({p.rows} rows)"
        for p in poc
        if (figure := _poc_figure(p, gate.name)) is not None and p.backend == "vllm"
    ]
    return "<br>".join(parts) or "—"


def gates_html(
    gates: Sequence[Gate],
    poc: Sequence[PocBaseline] = (),
    *,
    metric: str = "e2e",
) -> str:
    """The gate table: threshold, measured, 95% interval, verdict, and what would settle it.

    With ``poc`` (the decision report's ``poc_baseline``), a column shows where the proof of
    concept started, as summaries that never pass or fail a gate, with their caveats below.
    """
    rows = []
    for g in gates:
        unit = g.unit
        better = "≥" if g.name in ("batching_gain", "quality") else "≤"
        threshold = number(g.threshold, unit) if unit != "incidents" else "0"
        interval = (
            f"{number(g.ci_low, unit)} – {number(g.ci_high, unit)}" if unit != "incidents" else "—"
        )
        note = g.note
        if g.prompts_to_settle:
            note = (note + "; " if note else "") + f"~{g.prompts_to_settle} prompts would settle it"
        measured = number(g.measured, unit) if unit != "incidents" else str(int(g.measured or 0))
        rows.append(
            f"<tr><td>{escape(_GATE_TITLES.get(g.name, g.name))}</td>"
            f"<td>{better} {threshold}</td><td><b>{measured}</b></td><td>{interval}</td>"
            f"<td>{badge(g.verdict)}</td><td>{escape(g.level or '')}</td>"
            f"<td>{escape(g.n)}</td><td style='font-size:12px'>{escape(note)}</td>"
            + (f"<td style='font-size:12px'>{_poc_cell(g, poc, metric)}</td>" if poc else "")
            + "</tr>"
        )
    head = (
        "<tr><th>Gate</th><th>Threshold</th><th>Measured</th><th>95% interval</th>"
        "<th>Verdict</th><th>Load level</th><th>n</th><th>Notes</th>"
        + ("<th>POC start</th>" if poc else "")
        + "</tr>"
    )
    table = f'<table class="sg-table">{head}{"".join(rows)}</table>'
    if not poc:
        return table

    def figures(p: PocBaseline) -> str:
        if p.e2e_p95_ms is None:
            return ""
        return f" p50 {number(p.e2e_p50_ms, 'ms')}, p95 {number(p.e2e_p95_ms, 'ms')};"

    listed = "".join(
        f"<li>{escape(p.label)} ({escape(p.backend)}):{figures(p)} {escape(p.caveat)}</li>"
        for p in poc
    )
    return table + (
        "<div style='font-size:12px;color:#555;margin-top:-8px'>POC start: the proof of "
        "concept's summaries of record (end-to-end latency; no per-request data, no interval). "
        "They show where things started and never pass or fail a gate."
        f"<ul style='margin:2px 0'>{listed}</ul></div>"
    )


def cost_html(cost: Sequence[CostOption]) -> str:
    """Cost per 1M output tokens per option, with the basis of each figure."""
    rows = []
    for c in cost:
        usd = c.usd_per_1m_output_tokens
        value = f"${usd:,.2f}" if usd is not None else "not available"
        rows.append(
            f"<tr><td>{escape(c.option)}</td><td><b>{value}</b></td>"
            f"<td style='font-size:12px'>{escape(c.basis)}</td></tr>"
        )
    head = "<tr><th>Option</th><th>USD per 1M output tokens</th><th>Basis</th></tr>"
    return f'<table class="sg-table">{head}{"".join(rows)}</table>'


def caveats_html(caveats: Sequence[str]) -> str:
    """Plain-language caveats as a list; says so when there are none."""
    if not caveats:
        return "<p>No caveats: the evidence met every sample-size and completeness check.</p>"
    return "<ul>" + "".join(f"<li>{escape(c)}</li>" for c in caveats) + "</ul>"


def run_summary_html(levels: pd.DataFrame | None) -> str:
    """One row per load level of a run (a ``levels_frame``): requests, throughput, latency."""
    if levels is None or len(levels) == 0:
        return "<p>No load level was measured.</p>"
    rows = []
    for _, lv in levels.iterrows():
        rows.append(
            f"<tr><td>{escape(lv['backend'])}</td><td>{escape(lv['level'])}</td>"
            f"<td>{escape(lv['n_requests'])}</td><td>{escape(lv.get('n_ok', ''))}</td>"
            f"<td>{number(lv['output_tok_per_s'], 'tok/s')}</td>"
            f"<td>{number(lv['ttft_p50_ms'], 'ms')}</td>"
            f"<td>{number(lv['ttft_p95_ms'], 'ms')}</td>"
            f"<td>{number(lv['e2e_p50_ms'], 'ms')}</td>"
            f"<td>{number(lv['e2e_p95_ms'], 'ms')}</td></tr>"
        )
    head = (
        "<tr><th>Backend</th><th>Level</th><th>Requests</th><th>OK</th><th>Output tok/s</th>"
        "<th>TTFT p50</th><th>TTFT p95</th><th>E2E p50</th><th>E2E p95</th></tr>"
    )
    return f'<table class="sg-table">{head}{"".join(rows)}</table>'


def manifest_html(run: RunData | None) -> str:
    """Model hash, runtime versions, hardware and prompt set of a run."""
    if run is None:
        return "<p>No run.</p>"
    if run.state == "skipped":
        return (
            f"<p>Run <code>{escape(run.run_id)}</code> was skipped: "
            f"{escape(run.record.skipped_reason or 'no reason recorded')}. "
            "Nothing was measured, so there is no manifest.</p>"
        )
    m = run.manifest
    hw, rt = m.get("hardware") or {}, m.get("runtime") or {}
    model, prompts, git = m.get("model") or {}, m.get("prompt_set") or {}, m.get("git") or {}
    checks = m.get("quality_set") or {}
    gpus = ", ".join(f"{g['name']} ({g['memory_total_mib']} MiB)" for g in hw.get("gpus") or [])
    items = [
        ("Run", run.run_id),
        ("State", run.state),
        ("Model", f"{model.get('name', run.model)} {model.get('path', '')}"),
        ("Model sha256", model.get("sha256") or "— (served remotely)"),
        ("Engine", f"{rt.get('vllm_distribution') or '—'} {rt.get('vllm_version') or ''}"),
        ("Python / torch", f"{rt.get('python', '—')} / {(rt.get('packages') or {}).get('torch')}"),
        (
            "Hardware",
            f"{hw.get('cpu_model', '—')}, {hw.get('cpu_logical_cores', '?')} cores, "
            f"{hw.get('memory_total_gib', '?')} GiB; GPU: {gpus or 'none'}",
        ),
        ("Prompt set", f"{prompts.get('path', '—')} sha256 {prompts.get('sha256', '—')}"),
        (
            "Quality checks",
            f"{checks.get('path')} sha256 {checks.get('sha256')}" if checks else "— (no pass)",
        ),
        (
            "Git commit",
            f"{git.get('commit') or '—'}" + (" (uncommitted changes)" if git.get("dirty") else ""),
        ),
    ]
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>" for k, v in items
    )
    return f'<table class="sg-table">{rows}</table>'
