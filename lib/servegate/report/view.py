"""HTML pieces of the decision report: the headline, the gate table, cost, caveats, manifest.

They format what ``servegate.report.build`` computed and compute nothing themselves; the report
notebook displays them, and nbconvert carries them into the HTML and PDF as they are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from servegate.runs.reader import RunData

__all__ = [
    "caveats_html",
    "cost_html",
    "decision_html",
    "gates_html",
    "manifest_html",
    "run_summary_html",
]

_COLORS = {
    "GO": "#1b7f3b",
    "PAUSE": "#b3261e",
    "INCONCLUSIVE": "#8a6d00",
    "PASS": "#1b7f3b",
    "FAIL": "#b3261e",
}
_GATE_TITLES = {
    "p95_latency": "p95 latency",
    "p50_latency": "p50 latency",
    "batching_gain": "Batching throughput gain",
    "stability": "Stability (OOMs + crashes)",
}
_MEANING = {
    "GO": "Every gate passed with its whole 95% interval on the good side.",
    "PAUSE": "At least one gate failed: its whole 95% interval is on the wrong side.",
    "INCONCLUSIVE": "No gate failed, but not every gate passed: the evidence is not yet enough.",
}


def _e(text: Any) -> str:
    return html.escape(str(text))


def _num(value: Any, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞ (failures)" if value > 0 else "−∞"
    if unit == "ms":
        return f"{value / 1000:.2f} s" if abs(value) >= 1000 else f"{value:.0f} ms"
    if unit == "x":
        return f"{value:.2f}×"
    return f"{value:g}"


def _badge(verdict: str) -> str:
    color = _COLORS.get(verdict, "#555")
    return (
        f'<span style="background:{color};color:white;padding:2px 8px;border-radius:4px;'
        f'font-weight:600">{_e(verdict)}</span>'
    )


#: Left-aligned, compact tables (the notebook theme right-aligns table cells).
TABLE_CSS = (
    "<style>.sg-table{border-collapse:collapse;margin:6px 0 14px 0;font-size:13px}"
    ".sg-table th,.sg-table td{text-align:left !important;padding:4px 8px;"
    "border-bottom:1px solid #ddd;vertical-align:top}.sg-table th{background:#f4f4f4}</style>"
)


def decision_html(decision: Mapping[str, Any], *, title: str = "Self-hosted LLM decision") -> str:
    """The report's opening: the decision in large type, what it means, which runs."""
    verdict = decision.get("decision", "INCONCLUSIVE")
    color = _COLORS.get(verdict, "#555")
    runs = (
        f"Local run <code>{_e(decision.get('local_run'))}</code>; hosted: "
        f"{_e(decision.get('hosted_status'))}"
        + (f" (<code>{_e(decision['hosted_run'])}</code>)" if decision.get("hosted_run") else "")
    )
    return TABLE_CSS + (
        f'<div style="border-left:8px solid {color};padding:8px 16px;margin:8px 0 16px 0">'
        f'<div style="font-size:14px;color:#555">{_e(title)} · generated '
        f"{_e(decision.get('generated_at', ''))}</div>"
        f'<div style="font-size:34px;font-weight:700;color:{color}">Decision: {_e(verdict)}</div>'
        f'<div style="font-size:15px">{_e(_MEANING.get(verdict, ""))}</div>'
        f'<div style="font-size:13px;color:#555;margin-top:4px">{runs}; '
        f"{_e(decision.get('n_measured_prompts', 0))} prompts measured.</div></div>"
    )


def _poc_cell(gate: Mapping[str, Any], poc: Sequence[Mapping[str, Any]], metric: str) -> str:
    """Where the proof of concept stood on a latency gate (e2e only: all the POC measured)."""
    q = {"p95_latency": "e2e_p95_ms", "p50_latency": "e2e_p50_ms"}.get(gate["name"])
    if q is None:
        return "—"
    if metric != "e2e":
        return "— (POC measured end-to-end only)"
    # The gates judge the local run, so its starting point is the local POC's figure; hosted
    # POC figures are named in the note under the table.
    parts = [
        f"<b>{_num(p[q], 'ms')}</b> ({p['rows']} rows)"
        for p in poc
        if p.get(q) is not None and p.get("backend") == "vllm"
    ]
    return "<br>".join(parts) or "—"


def gates_html(
    gates: Sequence[Mapping[str, Any]],
    poc: Sequence[Mapping[str, Any]] = (),
    *,
    metric: str = "e2e",
) -> str:
    """The gate table: threshold, measured, 95% interval, verdict, and what would settle it.

    With ``poc`` (the decision JSON's ``poc_baseline``), a column shows where the proof of
    concept started, as summaries that never pass or fail a gate, with their caveats below.
    """
    rows = []
    for g in gates:
        unit = g.get("unit", "")
        better = "≥" if g["name"] == "batching_gain" else "≤"
        threshold = _num(g["threshold"], unit) if unit != "incidents" else "0"
        interval = (
            f"{_num(g.get('ci_low'), unit)} – {_num(g.get('ci_high'), unit)}"
            if unit != "incidents"
            else "—"
        )
        note = g.get("note") or ""
        if g.get("prompts_to_settle"):
            note = (
                note + "; " if note else ""
            ) + f"~{g['prompts_to_settle']} prompts would settle it"
        measured = (
            _num(g.get("measured"), unit) if unit != "incidents" else str(int(g["measured"] or 0))
        )
        rows.append(
            f"<tr><td>{_e(_GATE_TITLES.get(g['name'], g['name']))}</td>"
            f"<td>{better} {threshold}</td><td><b>{measured}</b></td><td>{interval}</td>"
            f"<td>{_badge(g['verdict'])}</td><td>{_e(g.get('level') or '')}</td>"
            f"<td>{_e(g.get('n', ''))}</td><td style='font-size:12px'>{_e(note)}</td>"
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

    def figures(p: Mapping[str, Any]) -> str:
        if p.get("e2e_p95_ms") is None:
            return ""
        return f" p50 {_num(p['e2e_p50_ms'], 'ms')}, p95 {_num(p['e2e_p95_ms'], 'ms')};"

    listed = "".join(
        f"<li>{_e(p['label'])} ({_e(p['backend'])}):{figures(p)} {_e(p['caveat'])}</li>"
        for p in poc
    )
    return table + (
        "<div style='font-size:12px;color:#555;margin-top:-8px'>POC start: the proof of "
        "concept's summaries of record (end-to-end latency; no per-request data, no interval). "
        "They show where things started and never pass or fail a gate."
        f"<ul style='margin:2px 0'>{listed}</ul></div>"
    )


def cost_html(cost: Sequence[Mapping[str, Any]]) -> str:
    """Cost per 1M output tokens per option, with the basis of each figure."""
    rows = []
    for c in cost:
        usd = c.get("usd_per_1m_output_tokens")
        value = f"${usd:,.2f}" if isinstance(usd, int | float) else "not available"
        rows.append(
            f"<tr><td>{_e(c['option'])}</td><td><b>{value}</b></td>"
            f"<td style='font-size:12px'>{_e(c.get('basis', ''))}</td></tr>"
        )
    head = "<tr><th>Option</th><th>USD per 1M output tokens</th><th>Basis</th></tr>"
    return f'<table class="sg-table">{head}{"".join(rows)}</table>'


def caveats_html(caveats: Sequence[str]) -> str:
    """Plain-language caveats as a list; says so when there are none."""
    if not caveats:
        return "<p>No caveats: the evidence met every sample-size and completeness check.</p>"
    return "<ul>" + "".join(f"<li>{_e(c)}</li>" for c in caveats) + "</ul>"


def run_summary_html(levels: Any) -> str:
    """One row per load level of a run (a ``levels_frame``): requests, throughput, latency."""
    if levels is None or len(levels) == 0:
        return "<p>No load level was measured.</p>"
    rows = []
    for _, lv in levels.iterrows():
        rows.append(
            f"<tr><td>{_e(lv['backend'])}</td><td>{_e(lv['level'])}</td>"
            f"<td>{_e(lv['n_requests'])}</td><td>{_e(lv.get('n_ok', ''))}</td>"
            f"<td>{_num(lv['output_tok_per_s'], '')}</td>"
            f"<td>{_num(lv['ttft_p50_ms'], 'ms')}</td><td>{_num(lv['ttft_p95_ms'], 'ms')}</td>"
            f"<td>{_num(lv['e2e_p50_ms'], 'ms')}</td><td>{_num(lv['e2e_p95_ms'], 'ms')}</td></tr>"
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
            f"<p>Run <code>{_e(run.run_id)}</code> was skipped: "
            f"{_e(run.record.skipped_reason or 'no reason recorded')}. "
            "Nothing was measured, so there is no manifest.</p>"
        )
    m = run.manifest
    hw, rt = m.get("hardware") or {}, m.get("runtime") or {}
    model, prompts, git = m.get("model") or {}, m.get("prompt_set") or {}, m.get("git") or {}
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
            "Git commit",
            f"{git.get('commit') or '—'}" + (" (uncommitted changes)" if git.get("dirty") else ""),
        ),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in items)
    return f'<table class="sg-table">{rows}</table>'
