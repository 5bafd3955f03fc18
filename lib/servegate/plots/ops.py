"""Operations figures: monthly cost against traffic (capacity plan) and the fallback policy's
latency against its time-out.

Both draw results already computed by ``servegate.analysis.capacity`` and
``servegate.analysis.fallback``; nothing is estimated here. Like the other report figures they
are built without pyplot, in the house style of ``servegate.plots.common``, and a result that
cannot be drawn gives a figure that says why in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from servegate.analysis.capacity import CapacityPlan, cost_curve_frame
from servegate.analysis.fallback import FallbackResult, fallback_frame
from servegate.plots.common import (
    THRESHOLD_COLOR,
    backend_color,
    draw_estimate,
    finish,
    interval_notes,
    legend_lines,
    legend_row,
    message_figure,
    ms_formatter,
    new_figure,
    plain,
    shade,
    styled,
    threshold_hline,
    threshold_vline,
    use_log_scale,
    value_limits,
)

__all__ = ["capacity_cost_figure", "fallback_figure"]

_LOCAL, _HOSTED = backend_color("vllm"), backend_color("openai")


def _usd(value: float, _pos: object = None) -> str:
    return plain(f"${value:,.0f}")


@styled
def capacity_cost_figure(
    plan: CapacityPlan, *, up_to_rps: float | None = None, notes: Sequence[str] = ()
) -> Figure:
    """Monthly cost against average traffic: self-hosted replicas (a step line) vs hosted API.

    The break-even (where self-hosting stays cheaper) is a dashed line (gid ``"threshold"``),
    the planned traffic a dotted one (gid ``"planned"``); lines have gids ``"self_hosted"`` and
    ``"hosted"``.

    :param plan: from ``servegate.analysis.capacity.capacity_plan``.
    :param up_to_rps: right end of the traffic axis; None: 1.5x the planned or break-even traffic.
    :param notes: extra caption lines, e.g. price sources and dates.
    """
    title = "Monthly cost against average traffic: self-hosted vLLM vs hosted API"
    p, per = plan.params, plan.average_rps_per_replica
    if per is None or plan.monthly_hosted_usd is None:
        why = "no load level succeeded" if per is None else "no token counts were measured"
        return message_figure(title, f"No cost curve: {why} in run {plan.run_id}.")
    curve = cost_curve_frame(plan, up_to_rps)
    labels = [
        f"self-hosted vLLM: whole replicas at {p.hourly_usd:g} USD/h",
        "hosted API at list prices",
    ]
    fig = new_figure(5.2, legend_lines=legend_lines(labels))
    legend_ax, ax = fig.axes
    right = _draw_costs(ax, curve, labels)
    _mark_break_even(ax, plan, right)
    _mark_planned(ax, plan, right)
    ax.set_title(
        f"Planned: {plan.replicas} replica(s), {_usd(plan.monthly_self_hosted_usd or 0)}"
        f" a month self-hosted vs {_usd(plan.monthly_hosted_usd)} hosted"
    )
    legend_row(legend_ax, *ax.get_legend_handles_labels())
    return finish(fig, title, [*_cost_caption(plan, per), *notes])


def _draw_costs(ax: Axes, curve: pd.DataFrame, labels: Sequence[str]) -> float:
    """Both monthly costs against traffic, with the axes they need; the right end of x."""
    x = curve["average_rps"].to_numpy(float)
    self_usd, hosted_usd = curve["self_hosted_monthly_usd"], curve["hosted_monthly_usd"]
    ax.step(x, self_usd, where="pre", color=_LOCAL, lw=2, gid="self_hosted", label=labels[0])
    ax.plot(x, hosted_usd, color=_HOSTED, lw=2, gid="hosted", label=labels[1])
    ax.set_xlim(0, float(x[-1]))
    ax.set_ylim(0, float(np.nanmax([self_usd.max(), hosted_usd.max()])) * 1.15)
    ax.yaxis.set_major_formatter(FuncFormatter(_usd))
    ax.set_xlabel("average traffic (requests per second)")
    ax.set_ylabel("US dollars per month")
    return float(x[-1])


def _mark_break_even(ax: Axes, plan: CapacityPlan, right: float) -> None:
    """The break-even as a labelled dashed line with a dot on the hosted cost, when in range."""
    be = plan.break_even
    if be.average_rps is None or be.average_rps > right:
        return
    threshold_vline(ax, be.average_rps, f"break-even ≈ {be.average_rps:.3g} req/s")
    hosted_at_break_even = plan.hosted_monthly_usd_at(be.average_rps)
    if hosted_at_break_even is not None:  # no token means: no hosted cost, no dot
        ax.plot(
            [be.average_rps],
            [hosted_at_break_even],
            "o",
            color=THRESHOLD_COLOR,
            zorder=6,
        )


def _mark_planned(ax: Axes, plan: CapacityPlan, right: float) -> None:
    """The planned average traffic as a dotted line saying how many replicas, when in range."""
    avg = plan.planned_average_rps
    if avg > right:
        return
    ax.axvline(avg, color=THRESHOLD_COLOR, linestyle=":", lw=1.5, gid="planned", zorder=4)
    ax.annotate(
        plain(f"planned {avg:.3g} req/s: {plan.replicas} replica(s)"),
        xy=(avg, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -18),
        textcoords="offset points",
        fontsize=8.5,
        va="top",
        ha="right" if avg > 0.75 * right else "left",
        color=THRESHOLD_COLOR,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


def _cost_caption(plan: CapacityPlan, per: float) -> list[str]:
    """What one replica carries, what a hosted request costs, the break-even, unmet gates."""
    p = plan.params
    caption = [
        f"Each replica carries {per:.3g} req/s on average: {plan.replica_rps:.3g} req/s of goodput "
        f"at {plan.level}, less {p.headroom:.0%} headroom, with peaks {plan.peak_to_average:g}x "
        f"the average; {p.hours_per_month:g} hours a month, always on.",
        f"Hosted: {plan.mean_input_tokens:.0f} input and {plan.mean_output_tokens:.0f} output "
        f"tokens a request at {p.hosted_input_usd_per_1m:g} / {p.hosted_output_usd_per_1m:g} "
        "USD per 1M.",
        f"Break-even: {plan.break_even.reason}.",
    ]
    if not plan.gates_met:
        caption.insert(
            0,
            "GATES NOT MET: no level met the latency gates; capacity is the best "
            "goodput, so these replicas would miss them.",
        )
    return caption


def _positions(timeouts: list[float]) -> dict[float, float]:
    """x of each row on a log axis: T itself, hosted-only (T=0) left, local-only (inf) right."""
    finite = [t for t in timeouts if 0 < t < math.inf]
    low, high = min(finite), max(finite)
    return {t: low / 2.5 if t == 0 else high * 2.5 if math.isinf(t) else t for t in timeouts}


@styled
def fallback_figure(result: FallbackResult, *, notes: Sequence[str] = ()) -> Figure:
    """p50/p95 latency of the fallback policy against its time-out T, with the fallback rate.

    Reference points: "hosted only" (T = 0) at the left, "local only" (no fallback) at the
    right. The gates are dashed lines (gid ``"threshold"``); the percentile lines have gids
    ``"p50"`` and ``"p95"``; the fallback rate (gid ``"fallback_rate"``) is on the right axis.

    :param result: from ``servegate.analysis.fallback.simulate_fallback``; one not simulated gives a
        figure that says why.
    """
    title = "Fallback to the hosted API after T ms without a first token"
    if not result.simulated:
        return message_figure(title, f"No fallback simulation: {result.reason}.")
    frame = fallback_frame(result)
    xpos = _positions(list(frame["timeout_ms"]))
    x = frame["timeout_ms"].map(xpos).to_numpy(float)
    labels = ["p50 latency", "p95 latency", "share sent to the hosted API"]
    fig = new_figure(5.4, legend_lines=legend_lines(labels))
    legend_ax, ax = fig.axes
    _latency_axes(ax, frame, x, result)
    marks = _draw_percentiles(ax, frame, x)
    _draw_fallback_rate(ax, frame, x, labels[2])
    _timeout_ticks(ax, frame, x)
    passing = [
        f"{t:g} ms"
        for t, ok in zip(frame["timeout_ms"], frame["passes_gates"], strict=True)
        if ok and 0 < t < math.inf
    ]
    ax.set_title(
        f"Local level {result.level}, hosted {result.hosted_level}: "
        + (f"both gates pass at T = {', '.join(passing)}" if passing else "no T passes both gates")
    )
    handles = [
        *ax.get_legend_handles_labels()[0],
        Line2D([], [], color=_HOSTED, ls="--", marker="s", ms=4),
    ]
    legend_row(legend_ax, handles, labels)
    caption = [
        "Each answer's latency: the local one when its first token came within T, else the wait "
        "(T, or the local error) plus the hosted answer to the same prompt; failures are misses.",
        "Bars: 95% confidence intervals (a gate passes only when the whole bar is below it).",
        *result.notes,
        *interval_notes(marks),
    ]
    return finish(fig, title, [*caption, *notes])


def _latency_axes(ax: Axes, frame: pd.DataFrame, x: np.ndarray, result: FallbackResult) -> None:
    """Log T axis; latency axis (log when the values need it) holding every value and both
    gates, which are drawn as labelled dashed lines."""
    p = result.params
    values = frame[[c for c in frame.columns if c.endswith("_ms") and c != "timeout_ms"]]
    limits = [p.p50_ms, p.p95_ms]
    log = use_log_scale(values.to_numpy(float).ravel(), limits)
    ax.set_xscale("log")
    ax.set_xlim(float(min(x)) / 1.6, float(max(x)) * 1.6)
    ax.set_yscale("log" if log else "linear")
    ax.set_ylim(*value_limits([*values.to_numpy(float).ravel(), *limits], log=log))
    ax.yaxis.set_major_formatter(ms_formatter)
    threshold_hline(ax, p.p50_ms, f"p50 gate {p.p50_ms:,.0f} ms")
    threshold_hline(ax, p.p95_ms, f"p95 gate {p.p95_ms:,.0f} ms")


def _draw_percentiles(ax: Axes, frame: pd.DataFrame, x: np.ndarray) -> set[str | None]:
    """p50 and p95 per T with their intervals, side by side; the marks ``draw_estimate`` made."""
    colors: dict[str, str | tuple[float, float, float]] = {
        "p50": shade(_LOCAL, 0, 2),
        "p95": _LOCAL,
    }
    marks: set[str | None] = set()
    for q, dodge in (("p50", 0.97), ("p95", 1.03)):  # side by side, so the bars stay apart
        y, xd = frame[f"{q}_ms"].to_numpy(float), x * dodge
        finite = np.isfinite(y)
        ax.plot(xd[finite], y[finite], color=colors[q], lw=1.6, gid=q, label=f"{q} latency")
        for xi, (_, row) in zip(xd, frame.iterrows(), strict=True):
            ci = (row[f"{q}_ci_low_ms"], row[f"{q}_ci_high_ms"])
            marks.add(draw_estimate(ax, xi, row[f"{q}_ms"], ci, color=colors[q]))
    return marks


def _draw_fallback_rate(ax: Axes, frame: pd.DataFrame, x: np.ndarray, label: str) -> None:
    """The share sent to the hosted API per T, on a right-hand axis of its own."""
    rate_ax = ax.twinx()
    rate_ax.spines["right"].set_visible(True)
    rate_ax.grid(False)
    rate_ax.plot(
        x,
        frame["fallback_rate"],
        color=_HOSTED,
        lw=1.4,
        ls="--",
        marker="s",
        ms=4,
        gid="fallback_rate",
        label=label,
    )
    rate_ax.set_ylim(0, 1.05)
    rate_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    rate_ax.set_ylabel("share sent to the hosted API")


def _timeout_ticks(ax: Axes, frame: pd.DataFrame, x: np.ndarray) -> None:
    """One x tick per T (the two references named), and both axis labels."""
    names = {0.0: "hosted\nonly", math.inf: "local\nonly"}
    ax.xaxis.set_major_locator(FixedLocator(list(x)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([names.get(t, f"{t:g}") for t in frame["timeout_ms"]], fontsize=8.5)
    ax.set_xlabel("T: time-out for the first local token (ms)")
    ax.set_ylabel("end-to-end latency of the answer (ms)")
