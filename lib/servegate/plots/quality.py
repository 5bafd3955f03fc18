"""Answer quality: each backend's accuracy over the checks file and per category, with intervals.

Draws the decision report's quality rows (``servegate.report.quality.quality_frame``) as they
are: one point per backend and category, its 95% Wilson interval as a bar, the floor dashed
when the gate had no hosted answers to compare with. Nothing is estimated here.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from servegate.plots.common import (
    backend_color,
    backend_label,
    draw_estimate,
    finish,
    legend_row,
    message_figure,
    new_figure,
    styled,
    threshold_hline,
)

__all__ = ["quality_by_category"]


@styled
def quality_by_category(
    rows: pd.DataFrame, *, floor: float | None = None, notes: list[str] | None = None
) -> Figure:
    """Accuracy of each backend over all items ("all", first) and per category.

    :param rows: ``backend, category, accuracy, ci_low, ci_high, n`` per backend and category.
    :param floor: the accuracy floor to draw (the gate's threshold when it had no hosted run).
    :param notes: caption lines (e.g. why the hosted side is missing).
    """
    title = "Answer quality: accuracy on the checkable items, with 95% intervals"
    if rows is None or rows.empty or rows["accuracy"].isna().all():
        return message_figure(
            title,
            "No answers to show: no local run, or it was made with quality_prompts: null "
            "(no quality pass).",
        )
    categories = list(dict.fromkeys(rows["category"]))
    backends = list(dict.fromkeys(rows["backend"]))
    fig = new_figure(3.4, 1, 1, legend_lines=1)
    legend_ax, ax = fig.axes
    ax.set_ylim(0.0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    width = 0.5 / max(1, len(backends))
    for b, backend in enumerate(backends):
        offset = (b - (len(backends) - 1) / 2) * width
        mine = rows[rows["backend"] == backend].set_index("category")
        for x, category in enumerate(categories):
            if category not in mine.index:
                continue
            row = mine.loc[category]
            draw_estimate(
                ax,
                x + offset,
                row["accuracy"],
                (row["ci_low"], row["ci_high"]),
                color=backend_color(backend),
                hollow=category != "all",
            )
    if floor is not None:
        threshold_hline(ax, floor, f"floor {floor:.0%}")
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(["all items" if c == "all" else c for c in categories])
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.set_ylabel("answers that passed their check")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=backend_color(b), label=backend_label(b))
        for b in backends
    ]
    legend_row(legend_ax, handles, [backend_label(b) for b in backends])
    n = int(rows.loc[rows["category"] == "all", "n"].max()) if "all" in categories else None
    caption = [
        f"{n} items; " if n else "",
        "filled: all items; hollow: one category (fewer items, wider intervals). A failed "
        "request counts as a wrong answer.",
        *(notes or []),
    ]
    return finish(fig, title, ["".join(caption[:2]), *caption[2:]])
