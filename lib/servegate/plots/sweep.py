"""The sweep figure: each server setting's capacity against its p95 latency, with intervals.

It draws ``servegate.analysis.sweep.SweepTable`` (nothing is estimated here): one point per
measured setting at (capacity req/s, p95 at the capacity level), each with both intervals, the
p95 limit as a dashed line and the winner marked with a star. A setting where no level passed
sits at capacity 0 with the p95 of its first level, hollow; one whose latency passes but whose
answers do not (``servegate.analysis.sweep_quality``) is hollow at its capacity, its label
saying so; one whose vLLM did not start is named in the caption.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from servegate.analysis.sweep import SweepRow, SweepTable
from servegate.plots.common import (
    draw_estimate,
    finish,
    format_ms,
    interval_notes,
    legend_lines,
    legend_row,
    message_figure,
    ms_formatter,
    new_figure,
    styled,
    threshold_hline,
    use_log_scale,
    value_limits,
)

__all__ = ["sweep_figure"]

#: One colour per setting, in the sweep's order (Okabe-Ito, then greys).
_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_WINNER = "#B8860B"


def _color(i: int) -> str:
    return _COLORS[i] if i < len(_COLORS) else "#7F7F7F"


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


@styled
def sweep_figure(table: SweepTable, *, notes: Sequence[str] = ()) -> Figure:
    """Capacity (x, req/s within the limits) against p95 (y, ms) per setting, with intervals.

    The p95 limit is a dashed line (gid ``"threshold"``); the winner's star has gid
    ``"winner"``; each setting's point is labelled with its name.
    """
    title = f"Sweep {table.sweep_id}: capacity against p95 latency per server setting"
    drawn = [(i, r) for i, r in enumerate(table.rows) if r.shown is not None]
    if not drawn:
        return message_figure(title, f"Nothing to draw: {table.verdict}.")
    labels = [_label(r, r.name == table.winner) for _, r in drawn]
    fig = new_figure(5.0, legend_lines=legend_lines(labels))
    legend_ax, ax = fig.axes
    limit = table.limits.p95_ms
    _axes(ax, [r for _, r in drawn], limit)
    marks: set[str | None] = set()
    handles = []
    for i, row in drawn:
        marks.add(_draw_setting(ax, row, _color(i)))
        handles.append(
            Line2D(
                [], [], color=_color(i), marker="o", ls="", mfc="white" if not row.passes else None
            )
        )
        if row.name == table.winner:
            _star(ax, row)
    threshold_hline(ax, limit, f"p95 limit {format_ms(limit)}")
    legend_row(legend_ax, handles, labels)
    return finish(fig, title, [*_caption(table, marks), *notes])


def _label(row: SweepRow, winner: bool) -> str:
    text = f"{row.name}" + (" (winner)" if winner else "")
    if row.passes:
        return text
    if row.latency_passes and row.quality is not None:
        against = f" against {row.quality.reference}'s" if row.quality.reference else ""
        return f"{text}: answers {row.quality.verdict}{against}"
    return f"{text}: no level passed (p95 at c{_c(row)})"


def _c(row: SweepRow) -> int:
    return row.shown.concurrency if row.shown else 0


def _x(row: SweepRow) -> tuple[float, float, float]:
    """Capacity req/s and its interval; 0 (no interval) when no level passed."""
    if row.capacity is None:
        return 0.0, math.nan, math.nan
    est = row.capacity.goodput_req_per_s
    return _num(est.value), _num(est.ci_low), _num(est.ci_high)


def _axes(ax: Axes, rows: Sequence[SweepRow], limit: float) -> None:
    """Limits that hold every point, interval end and the limit line."""
    ys = [limit]
    for r in rows:
        assert r.shown is not None
        ys += [
            _num(v) for v in (r.shown.p95_ms.value, r.shown.p95_ms.ci_low, r.shown.p95_ms.ci_high)
        ]
    finite = [y for y in ys if math.isfinite(y)]
    log = use_log_scale(finite, [limit])
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ms_formatter)
    ax.set_ylim(*value_limits(finite, log=log))
    xs = [v for r in rows for v in _x(r) if math.isfinite(v)]
    right = max(xs) if xs else 1.0
    ax.set_xlim(-0.05 * right if right else -0.05, right * 1.15 if right else 1.0)
    ax.set_xlabel("capacity: requests/s that met the limits at the highest passing concurrency")
    ax.set_ylabel("p95 latency at that concurrency (ms)")


def _draw_setting(ax: Axes, row: SweepRow, color: str) -> str | None:
    """One setting's point: the p95 interval (vertical) and the capacity interval (horizontal)."""
    assert row.shown is not None
    x, lo, hi = _x(row)
    p95 = row.shown.p95_ms
    if (
        math.isfinite(lo)
        and math.isfinite(hi)
        and p95.value is not None
        and math.isfinite(p95.value)
    ):
        ax.hlines(p95.value, lo, hi, color=color, linewidth=2, alpha=0.8, zorder=3)
    mark = draw_estimate(
        ax, x, p95.value, (_num(p95.ci_low), _num(p95.ci_high)), color=color, hollow=not row.passes
    )
    if p95.value is not None and math.isfinite(p95.value):
        ax.annotate(
            row.name,
            (x, p95.value),
            xytext=(7, 5),
            textcoords="offset points",
            fontsize=8.5,
            color=color,
        )
    return mark


def _star(ax: Axes, row: SweepRow) -> None:
    assert row.shown is not None
    y = row.shown.p95_ms.value
    if y is None or not math.isfinite(y):
        return
    ax.plot(
        [_x(row)[0]],
        [y],
        marker="*",
        markersize=20,
        color=_WINNER,
        zorder=7,
        gid="winner",
        markeredgecolor="black",
        markeredgewidth=0.6,
    )


def _caption(table: SweepTable, marks: set[str | None]) -> list[str]:
    lines = [
        f"Each point: a server setting at its capacity (p95 at that concurrency; bars: the p95 "
        f"interval at the search's per-look confidence, the capacity's at 95%). "
        f"{table.verdict[:1].upper()}{table.verdict[1:]}."
    ]
    unmeasured = [r for r in table.rows if r.shown is None]
    if unmeasured:
        lines.append(
            "Not drawn: " + "; ".join(f"{r.name} ({r.reason or r.state})"[:160] for r in unmeasured)
        )
    if any(not r.latency_passes for r in table.rows if r.shown is not None):
        lines.append("Hollow at capacity 0: no level passed; its p95 is at its first level.")
    if any(r.latency_passes and not r.passes for r in table.rows):
        lines.append(
            "Hollow at its capacity: the latency gates pass but the answers do not (accuracy "
            "against the base's); it cannot win."
        )
    return [*lines, *interval_notes(marks)]
