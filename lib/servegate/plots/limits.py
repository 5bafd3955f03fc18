"""What the hardware allows: each option's lower bounds on p50 and p95 against the thresholds.

Draws the decision JSON's ``feasibility`` options (``servegate.report.limits``) as a frame of
``name, p50_ms, p95_ms, included, reason``: one horizontal bar pair per option at the physical
limit, a tick where the realistic efficiency puts it, the gate thresholds dashed. An estimate
from first principles, and the figure says so; left-out options are named with the reason.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from servegate.plots.common import (
    finish,
    legend_row,
    message_figure,
    new_figure,
    styled,
    threshold_vline,
    value_limits,
)

__all__ = ["limits_figure"]

_P50, _P95 = "#4C72B0", "#DD8452"


@styled
def limits_figure(
    options: pd.DataFrame,
    *,
    p50_ms: float,
    p95_ms: float,
    realistic: float,
    what: str = "",
) -> Figure:
    """Lower bounds on p50 and p95 latency per hardware option, thresholds dashed.

    :param options: ``name, p50_ms, p95_ms, included, reason`` per option (bounds at 1.0).
    :param realistic: the realistic efficiency; a tick marks each bound divided by it.
    :param what: the model, quantization, concurrency and metric, for the caption.
    """
    title = "What the hardware allows: latency bounds per option (an estimate)"
    if options is None or options.empty or not options["included"].any():
        return message_figure(title, "No hardware option to show: every one was left out.")
    shown = options[options["included"]].iloc[::-1]
    fig = new_figure(1.6 + 0.42 * len(shown), 1, 1, legend_lines=1)
    legend_ax, ax = fig.axes
    ys = range(len(shown))
    for offset, column, color in ((0.18, "p50_ms", _P50), (-0.18, "p95_ms", _P95)):
        values = shown[column].astype(float)
        ax.barh([y + offset for y in ys], values, height=0.34, color=color)
        ax.scatter(values / realistic, [y + offset for y in ys], marker="|", s=120, color="black")
    ax.set_yticks(list(ys))
    ax.set_yticklabels(shown["name"])
    ax.set_xscale("log")
    every = [*shown["p50_ms"], *shown["p95_ms"], *(shown["p95_ms"] / realistic), p50_ms, p95_ms]
    ax.set_xlim(*value_limits([v for v in every if v and math.isfinite(v)], log=True))
    threshold_vline(ax, p50_ms, f"p50 gate {p50_ms / 1000:g} s", row=0)
    threshold_vline(ax, p95_ms, f"p95 gate {p95_ms / 1000:g} s", row=1)
    ax.set_xlabel("latency bound, ms (log scale)")
    legend_row(
        legend_ax,
        [Patch(color=_P50), Patch(color=_P95)],
        [f"p50 bound (| at {realistic:.0%} efficiency)", f"p95 bound (| at {realistic:.0%})"],
    )
    left = options[~options["included"]]
    caption = [
        "Bars: the physical limit (datasheet bandwidth and compute, efficiency 1.0); no software "
        "is faster. Ticks: the same at the realistic efficiency. From first principles, never "
        "measured; it enters no gate." + (f" {what}" if what else ""),
        *(f"left out: {r['name']}: {r['reason']}" for _, r in left.iterrows()),
    ]
    return finish(fig, title, caption)
