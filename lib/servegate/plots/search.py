"""The capacity search's path: each level's p50 and p95, with intervals, against its limits.

Draws run.json's ``search`` block (``servegate.records.search``) as it is; nothing is
estimated here. Concurrency is on a log2 axis (the search doubles), each point coloured by
its gate's verdict, the limits dashed, the capacity at the limits marked.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullFormatter

from servegate.plots.common import (
    draw_estimate,
    finish,
    interval_notes,
    legend_row,
    message_figure,
    ms_formatter,
    new_figure,
    styled,
    threshold_hline,
    threshold_vline,
    use_log_scale,
    value_limits,
)
from servegate.records.search import SearchLevel, SearchRecord

__all__ = ["VERDICT_COLORS", "search_path"]

#: Colours of the verdicts (colour-blind safe: blue, vermilion, grey).
VERDICT_COLORS = {"PASS": "#0072B2", "FAIL": "#D55E00", "INCONCLUSIVE": "#8C8C8C"}


def _ends(level: SearchLevel, name: str) -> tuple[float | None, tuple[float, float]]:
    est = level.p50_ms if name == "p50" else level.p95_ms
    low = math.nan if est.ci_low is None else est.ci_low
    high = math.nan if est.ci_high is None else est.ci_high
    return est.value, (low, high)


@styled
def search_path(record: SearchRecord | None) -> Figure:
    """p50 (left) and p95 (right) of every level the search measured, with their intervals.

    Points are coloured by that gate's verdict at the level (a level fails when either gate
    does, so a level may stop on its p95 with its p50 still unsettled); the dashed lines are
    the limits, the dotted vertical line the highest passing concurrency. A run without a
    search, or a search that measured nothing, gives a figure that says so.
    """
    title = "Capacity search: latency at each concurrency it measured"
    if record is None or not record.levels:
        return message_figure(title, "This run has no capacity search levels to show.")
    limits = record.limits
    fig = new_figure(3.6, 1, 2, legend_lines=1)
    legend_ax, axes = fig.axes[0], fig.axes[1:]
    marks: list[str | None] = []
    for ax, name, limit in zip(axes, ("p50", "p95"), (limits.p50_ms, limits.p95_ms), strict=True):
        values = [v for lv in record.levels for v in (_ends(lv, name)[0], *_ends(lv, name)[1])]
        finite = [v for v in values if v is not None and np.isfinite(v)]
        log = use_log_scale(finite, [limit])
        ax.set_yscale("log" if log else "linear")
        ax.set_ylim(*value_limits([*finite, limit], log=log))
        ax.yaxis.set_major_formatter(ms_formatter)
        for lv in record.levels:
            value, ci = _ends(lv, name)
            verdict = lv.p50_verdict if name == "p50" else lv.p95_verdict
            marks.append(draw_estimate(ax, lv.concurrency, value, ci, color=_color(verdict)))
        threshold_hline(ax, limit, f"{name} limit {limit:,.0f} ms")
        if record.max_passing_concurrency is not None:
            threshold_vline(ax, record.max_passing_concurrency, "capacity")
        levels = sorted({lv.concurrency for lv in record.levels})
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(_labelled(levels, record.max_passing_concurrency)))
        ax.xaxis.set_minor_locator(FixedLocator(levels))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:g}")
        ax.set_xlim(min(levels) / 1.4, max(levels) * 1.4)
        ax.set_xlabel("concurrency (closed loop)")
        ax.set_ylabel(f"{name} {limits.gate_latency_metric} latency (ms)")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=_color(v), label=v) for v in VERDICT_COLORS
    ]
    legend_row(legend_ax, handles, list(VERDICT_COLORS))
    answer = record.max_passing_concurrency
    caption = [
        f"Highest passing concurrency: {answer if answer is not None else 'none'}; lowest "
        f"failing: {record.min_failing_concurrency or 'none'}; {record.requests_sent} requests "
        f"over {len(record.levels)} levels. Each interval is at {limits.confidence_per_look:.2%} "
        f"per look ({len(limits.looks)} looks), so a level's verdict holds at "
        f"{limits.confidence:.0%} whichever look it stopped at.",
        *interval_notes(marks),
    ]
    return finish(fig, title, caption)


def _labelled(levels: list[int], answer: int | None) -> list[int]:
    """The levels that get a tick label: the answer first, then others not crowding it (a
    bisection ends on neighbours, 12, 13, 14, whose labels would overlap on a log axis)."""
    kept: list[int] = [answer] if answer is not None else []
    for c in levels:
        if all(abs(math.log2(c / k)) >= 0.3 for k in kept):
            kept.append(c)
    return sorted(kept)


def _color(verdict: str) -> str:
    return VERDICT_COLORS.get(verdict, VERDICT_COLORS["INCONCLUSIVE"])
