"""HTML of "What the hardware allows": the measured run against its bound, and each option.

Formats the decision JSON's ``feasibility`` (``servegate.report.limits``); computes nothing.
Every table is headed as an estimate from first principles, never a measurement.
"""

from __future__ import annotations

import pandas as pd

from servegate.report.html import badge, escape, number
from servegate.report.limits import FeasibilityOption, FeasibilitySection

__all__ = ["limits_frame", "limits_html"]


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _reach(ok: bool | None) -> str:
    if ok is None:
        return "—"
    return badge("PASS") if ok else badge("FAIL")


def _run_html(section: FeasibilitySection) -> str:
    run = section.run
    if run is None:
        return f"<p>{escape(section.run_note)}.</p>"
    rows = "".join(
        f"<tr><td>{escape(e.level)}</td>"
        f"<td>{number(e.measured_tok_per_s, 'tok/s')} of {number(e.bound_tok_per_s, 'tok/s')}"
        f"</td><td><b>{_share(e.throughput_efficiency)}</b></td>"
        f"<td>{number(e.measured_e2e_p50_ms, 'ms')} (bound {number(e.bound_e2e_p50_ms, 'ms')})"
        f"</td><td><b>{_share(e.e2e_efficiency)}</b></td>"
        f"<td>{number(e.measured_ttft_p50_ms, 'ms')} (bound {number(e.bound_ttft_p50_ms, 'ms')})"
        "</td></tr>"
        for e in run.levels
    )
    return (
        f"<p>Run <code>{escape(run.run_id)}</code> on {escape(run.hardware_name)} "
        f"({escape(run.basis)}): each level against the bound on its own hardware, with its own "
        "requests' token counts. Efficiency: measured throughput / bound; latency bound / "
        "measured latency.</p>"
        '<table class="sg-table"><tr><th>Level</th><th>Output tok/s: measured of bound</th>'
        "<th>Throughput efficiency</th><th>e2e p50: measured</th><th>Latency efficiency</th>"
        f"<th>TTFT p50: measured</th></tr>{rows}</table>"
    )


def _option_row(o: FeasibilityOption) -> str:
    price = number(o.hourly_usd, "") + " USD/h" if o.hourly_usd is not None else "—"
    if not o.included:
        return (
            f"<tr><td>{escape(o.name)}</td><td colspan='6'><i>{escape(o.reason)}</i></td>"
            f"<td>{escape(price)}</td></tr>"
        )
    warn = f"<br><span style='font-size:12px'>{escape(o.reason)}</span>" if o.reason else ""
    return (
        f"<tr><td>{escape(o.name)}{warn}</td>"
        f"<td>{number(o.ttft_p50_ms, 'ms')} / {number(o.ttft_p95_ms, 'ms')}</td>"
        f"<td>{number(o.e2e_p50_ms, 'ms')} / {number(o.e2e_p95_ms, 'ms')}</td>"
        f"<td>{_reach(o.p50_reachable)} {_reach(o.p95_reachable)}</td>"
        f"<td>{_reach(o.p50_reachable_realistic)} {_reach(o.p95_reachable_realistic)}</td>"
        f"<td>{_share(o.p50_efficiency_needed)} / {_share(o.p95_efficiency_needed)}</td>"
        f"<td>{number(o.throughput[-1].tok_per_s if o.throughput else None, 'tok/s')}"
        f"{f' at c{o.throughput[-1].concurrency}' if o.throughput else ''}</td>"
        f"<td>{escape(price)}</td></tr>"
    )


def limits_html(section: FeasibilitySection | None) -> str:
    """The section: the estimate's label, the measured run's efficiency per level, and the
    options' table (reachability at the limit and at the realistic efficiency, price)."""
    if section is None:
        return "<p>Not shown: see the caveats for why.</p>"
    metric = "end-to-end" if section.metric == "e2e" else "TTFT"
    options = "".join(_option_row(o) for o in section.options)
    return (
        f"<p><b>{escape(section.note)}</b></p>"
        "<h4>The measured run against its own hardware</h4>"
        + _run_html(section)
        + "<h4>Each hardware option</h4>"
        f"<p>{escape(section.model)} in {escape(section.quantization)} at concurrency "
        f"{section.concurrency}, over {escape(section.workload_basis)}. The gates judge "
        f"{metric} latency: p50 ≤ {number(section.p50_ms, 'ms')}, p95 ≤ "
        f"{number(section.p95_ms, 'ms')}. Reachable: the bound meets the gate at the physical "
        f"limit, and at {section.realistic_efficiency:.0%} of it (realistic: published vLLM "
        "runs reach 40-77% of their bound, data/limits/published.yaml). Needed: the efficiency "
        "at which the gate would pass (above 100%: out of physical reach).</p>"
        '<table class="sg-table"><tr><th>Option</th><th>TTFT bound p50 / p95</th>'
        "<th>e2e bound p50 / p95</th><th>p50, p95 at the limit</th>"
        f"<th>p50, p95 at {section.realistic_efficiency:.0%}</th><th>Efficiency needed p50 / p95"
        "</th><th>Throughput bound</th><th>Price</th></tr>"
        f"{options}</table>"
    )


def limits_frame(section: FeasibilitySection | None) -> pd.DataFrame:
    """The options as the figure takes them: ``name, p50_ms, p95_ms, included, reason`` (the
    gate metric's bounds)."""
    columns = ["name", "p50_ms", "p95_ms", "included", "reason"]
    if section is None:
        return pd.DataFrame(columns=columns)
    ttft = section.metric == "ttft"
    return pd.DataFrame(
        [
            {
                "name": o.name,
                "p50_ms": o.ttft_p50_ms if ttft else o.e2e_p50_ms,
                "p95_ms": o.ttft_p95_ms if ttft else o.e2e_p95_ms,
                "included": o.included,
                "reason": o.reason,
            }
            for o in section.options
        ],
        columns=columns,
    )
