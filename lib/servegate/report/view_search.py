"""HTML for a capacity search (``notebooks/05_search.ipynb``): its answer and every level.

Reads run.json's ``search`` block (``servegate.records.search``) and formats it; nothing is
computed here beyond the words.
"""

from __future__ import annotations

from servegate.core.stats import Estimate
from servegate.records.search import SearchRecord
from servegate.report.html import badge, escape, number

__all__ = ["search_answer", "search_html"]


def _with_interval(est: Estimate, unit: str) -> str:
    if est.value is None:
        return "—"
    low = "?" if est.ci_low is None else number(est.ci_low, unit)
    high = "?" if est.ci_high is None else number(est.ci_high, unit)
    return f"{number(est.value, unit)} [{low} – {high}]"


def _rate(est: Estimate) -> str:
    """A rate to two decimals with its interval; "?" for an end too few requests bound."""
    if est.value is None:
        return "—"
    ends = [f"{x:.2f}" if x is not None else "?" for x in (est.ci_low, est.ci_high)]
    return f"{est.value:.2f} [{ends[0]} – {ends[1]}]"


def search_answer(record: SearchRecord | None) -> str:
    """The search's answer in one sentence: capacity at the limits, or why there is none."""
    if record is None:
        return "This run has no capacity search."
    lim = record.limits
    limits = (
        f"p95 ≤ {number(lim.p95_ms, 'ms')} and p50 ≤ {number(lim.p50_ms, 'ms')} "
        f"({lim.gate_latency_metric})"
    )
    unfinished = "" if record.complete else " The search did not finish: this is what it found."
    unsettled = (
        f" Levels {record.inconclusive} stayed INCONCLUSIVE at {lim.max_requests} requests and "
        "were treated as not passing."
        if record.inconclusive
        else ""
    )
    if record.capacity is None:
        first = record.levels[0].concurrency if record.levels else lim.min_concurrency
        return (
            f"No concurrency met {limits}: the first level, c{first}, did not pass."
            f"{unsettled}{unfinished}"
        )
    cap = record.capacity
    above = (
        f"c{record.min_failing_concurrency} fails"
        if record.min_failing_concurrency
        else f"no level up to c{lim.max_concurrency} failed"
    )
    return (
        f"One replica carries concurrency {cap.concurrency} within {limits} ({above}): "
        f"{_rate(cap.req_per_s)} requests/s and {_rate(cap.output_tok_per_s)} output tokens/s "
        f"within the limits, {lim.confidence:.0%} intervals. {record.requests_sent} requests "
        f"over {len(record.levels)} levels.{unsettled}{unfinished}"
    )


def search_html(record: SearchRecord | None) -> str:
    """The answer, then one row per level in the order the search measured them."""
    if record is None or not record.levels:
        return f"<p>{escape(search_answer(record))}</p>"
    rows = []
    for lv in record.levels:
        rows.append(
            f"<tr><td>c{lv.concurrency}</td><td>{badge(lv.verdict)}</td>"
            f"<td>{escape(lv.stopped)}</td><td>{lv.n} / {lv.requests_sent}</td>"
            f"<td>{badge(lv.p50_verdict)} {_with_interval(lv.p50_ms, 'ms')}</td>"
            f"<td>{badge(lv.p95_verdict)} {_with_interval(lv.p95_ms, 'ms')}</td>"
            f"<td>{_rate(lv.goodput_req_per_s)}</td></tr>"
        )
    head = (
        "<tr><th>Level</th><th>Verdict</th><th>Stopped</th><th>Judged / sent</th>"
        "<th>p50</th><th>p95</th><th>Goodput req/s</th></tr>"
    )
    note = (
        f"<p><small>Intervals at {record.limits.confidence_per_look:.2%} per look "
        f"(looks at {record.limits.looks} requests), so each level's verdict holds at "
        f"{record.limits.confidence:.0%}. Judged: the first n requests sent, all finished. "
        f"{escape(record.treatment)}.</small></p>"
    )
    table = f'<table class="sg-table">{head}{"".join(rows)}</table>'
    return f"<p>{escape(search_answer(record))}</p>{table}{note}"
