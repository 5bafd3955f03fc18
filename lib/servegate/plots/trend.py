"""Figures of money and time: cost per 1M output tokens per option, and latency across runs.

Both draw numbers already saved by earlier stages (the cost table, the aggregate history);
nothing is estimated here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# History rows with this ``source`` are the POC's figures of record: summaries, no interval.
from servegate.history.poc import POC_SOURCE
from servegate.plots.common import (
    backend_color,
    backend_label,
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
    use_log_scale,
    value_limits,
)

__all__ = ["COST_COLUMN", "POC_SOURCE", "cost_per_1m_tokens", "history_trend"]

COST_COLUMN = "cost_per_1m_output_tokens_usd"
_ORDER = {"vllm": 0, "openai": 1}


def _usd(value: float) -> str:
    return plain(
        f"${value:,.2f}" if value >= 1 else f"${value:.2f}" if value >= 0.1 else f"${value:.3g}"
    )


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


@styled
def cost_per_1m_tokens(costs: pd.DataFrame, *, notes: Sequence[str] = ()) -> Figure:
    """Horizontal bars of USD per 1M output tokens, one per option, each labelled with its value.

    :param costs: one row per option, in the order to show: ``option`` (words, e.g. "self-hosted
        vLLM at $2.50/GPU-hour"), ``cost_per_1m_output_tokens_usd`` (NaN when there is no
        value), optionally ``backend`` (colour), ``detail`` (a second line under the name) and
        ``note`` (why there is no value, e.g. "skipped: no API key").
    :param notes: extra caption lines, e.g. the price sources and their dates.
    """
    title = "Cost per 1M output tokens (US dollars, lower is better)"
    if len(costs) == 0:
        return message_figure(
            title, "No cost options to compare." + "".join(f" {n}" for n in notes)
        )
    values = pd.to_numeric(costs[COST_COLUMN], errors="coerce").to_numpy(float)
    fig = new_figure(1.9 + 0.62 * len(costs))
    ax = fig.axes[0]
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    for y, (value, (_, row)) in enumerate(zip(values, costs.iterrows(), strict=True)):
        backend = _text(row.get("backend"))
        color = backend_color(backend) if backend else "#7F7F7F"
        if np.isfinite(value):
            ax.barh(y, value, color=color, height=0.6)
            ax.annotate(
                _usd(value),
                (value, y),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=10,
                fontweight="bold",
            )
        else:
            ax.barh(y, top, fill=False, edgecolor="#BBBBBB", linestyle="--", height=0.6)
            reason = plain(_text(row.get("note")) or "no value")
            ax.annotate(
                reason,
                (0, y),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                fontsize=10,
                fontstyle="italic",
                color="#555555",
            )
    labels = [
        plain("\n".join(filter(None, (_text(r.get("option")), _text(r.get("detail"))))))
        for _, r in costs.iterrows()
    ]
    ax.set_yticks(range(len(costs)), labels)
    ax.set_ylim(len(costs) - 0.5, -0.5)
    ax.set_xlim(0, top * 1.25)
    ax.grid(axis="y", visible=False)
    if np.isfinite(values).any():
        ax.set_xlabel("US dollars per 1 million output tokens")
    else:
        ax.set_xticks([])
    caption = ["A dashed outline is an option without a cost, with the reason written in it."]
    caption = caption if not np.isfinite(values).all() else []
    return finish(fig, title, [*caption, *notes])


def _history_rows(history: pd.DataFrame, concurrency: int | None) -> tuple[pd.DataFrame, int]:
    frame = history.copy()
    frame["_date"] = pd.to_datetime(frame["run_date"], utc=True, errors="coerce", format="mixed")
    if concurrency is not None and "concurrency" in frame.columns:
        level = pd.to_numeric(frame["concurrency"], errors="coerce")
        frame = frame[(level == concurrency) | level.isna()]
    undated = int(frame["_date"].isna().sum())
    frame = frame.dropna(subset=["_date"]).sort_values("_date")
    source = frame["source"] if "source" in frame.columns else pd.Series("", index=frame.index)
    frame["_poc"] = source.astype(str).eq(POC_SOURCE)
    frame["_key"] = _keys(frame)
    return frame, undated


def _keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(backend, model, load level) per row; the level is "" unless measured runs have several."""

    def words(column: str) -> list[str]:
        if column not in frame.columns:
            return [""] * len(frame)
        return [
            "" if pd.isna(v) else f"{v:g}" if isinstance(v, float) else str(v)
            for v in frame[column]
        ]

    levels = words("concurrency")
    measured = {lvl for lvl, poc in zip(levels, frame["_poc"], strict=True) if not poc}
    if len(measured) <= 1:
        levels = [""] * len(frame)
    return list(zip(words("backend"), words("model"), levels, strict=True))


def _key_label(key: tuple[str, str, str]) -> str:
    backend, model, level = key
    label = backend_label(backend, model or None)
    return f"{label} · concurrency {level}" if level else label


def _key_colors(frame: pd.DataFrame) -> dict[tuple, tuple[float, float, float]]:
    """Backend colour per line, in report order; lighter for each further line of a backend."""
    keys = sorted(set(frame["_key"]), key=lambda k: (_ORDER.get(k[0], 9), *k))
    out = {}
    for backend in dict.fromkeys(k[0] for k in keys):
        same = [k for k in keys if k[0] == backend]
        out.update({k: shade(backend_color(backend), i, len(same)) for i, k in enumerate(same)})
    return out


def _draw_trend(ax: Axes, frame: pd.DataFrame, column: str, ci_cols: tuple[str, str]) -> set[str]:
    notes: set[str] = set()
    for key, color in _key_colors(frame).items():
        rows = frame[frame["_key"].map(key.__eq__)]
        xs = date2num(rows["_date"].dt.tz_localize(None))
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
        measured = ~rows["_poc"].to_numpy(bool) & np.isfinite(values)
        ax.plot(xs[measured], values[measured], color=color, lw=1.6)
        for x, value, poc, (_, row) in zip(xs, values, rows["_poc"], rows.iterrows(), strict=True):
            ci = None if poc else (row.get(ci_cols[0], math.nan), row.get(ci_cols[1], math.nan))
            note = draw_estimate(
                ax, x, value, ci, color=color, hollow=bool(poc), marker="D" if poc else "o"
            )
            if note:
                notes.add(note)
    return notes


def _legend_entries(frame: pd.DataFrame) -> tuple[list[Line2D], list[str]]:
    measured = set(frame.loc[~frame["_poc"], "_key"])
    handles = [
        Line2D([], [], color=color, marker="o", lw=1.6)
        for key, color in _key_colors(frame).items()
        if key in measured
    ]
    labels = [_key_label(key) for key in _key_colors(frame) if key in measured]
    if frame["_poc"].any():
        handles.append(Line2D([], [], color="#777777", marker="D", markerfacecolor="white", lw=0))
        labels.append("POC (summary only, no interval)")
    return handles, labels


@styled
def history_trend(
    history: pd.DataFrame,
    *,
    p95_ms: float,
    p50_ms: float,
    latency: str = "e2e",
    concurrency: int | None = None,
    notes: Sequence[str] = (),
) -> Figure:
    """p95 and p50 latency of every run over time, per backend and model, with the gates.

    :param history: rows of ``aggregate_history.csv``: ``run_date``, ``backend``,
        ``{latency}_p95_ms``, ``{latency}_p50_ms``; optionally ``model``, ``concurrency``,
        ``source`` (``"summary_only"`` marks proof-of-concept rows, drawn hollow, no interval)
        and ``{latency}_p95_ci_low_ms``/``_ci_high_ms`` (likewise for p50).
    :param concurrency: keep only this load level (rows with no level, like POC summaries,
        stay); None keeps all and draws one line per level when there are several.
    """
    what = "end-to-end" if latency == "e2e" else "time to first token"
    at = "" if concurrency is None else f" at concurrency {concurrency}"
    title = f"{what.capitalize()} latency across runs{at}"
    frame, undated = _history_rows(history, concurrency) if len(history) else (history, 0)
    if len(frame):
        frame = _with_latency(frame, latency)
    if len(frame) == 0:
        why = f" ({undated} row(s) without a run date)" if undated else ""
        return message_figure(title, f"No runs in the history yet{why}.")
    handles, labels = _legend_entries(frame)
    fig = new_figure(7.2, 2, 1, legend_lines=legend_lines(labels), sharex=True)
    legend_ax, *panels = fig.axes
    marks: set[str] = set()
    for ax, q, limit in zip(panels, ("p95", "p50"), (p95_ms, p50_ms), strict=True):
        marks |= _draw_quantile_panel(ax, frame, latency, q, limit)
    legend_row(legend_ax, handles, labels)
    _date_axis(panels[1], frame)
    return finish(fig, title, [*_trend_caption(frame, latency, marks, undated), *notes])


def _with_latency(frame: pd.DataFrame, latency: str) -> pd.DataFrame:
    """The rows with a p95 or p50 latency.

    Rows with no latency (a skipped run, a POC run too small to have percentiles) draw
    nothing; without this they would still get a legend entry.
    """
    cols = [c for c in (f"{latency}_p95_ms", f"{latency}_p50_ms") if c in frame.columns]
    values = frame[cols].apply(pd.to_numeric, errors="coerce")
    return frame[values.notna().any(axis=1)]


def _draw_quantile_panel(
    ax: Axes, frame: pd.DataFrame, latency: str, q: str, limit: float
) -> set[str]:
    """Percentile ``q`` (``"p95"``) of each run with intervals, and its gate at ``limit``; the
    marks ``draw_estimate`` made."""
    what = "end-to-end" if latency == "e2e" else "time to first token"
    column = f"{latency}_{q}_ms"
    ci_cols = (f"{latency}_{q}_ci_low_ms", f"{latency}_{q}_ci_high_ms")
    present = [c for c in (column, *ci_cols) if c in frame.columns]
    values = frame[present].apply(pd.to_numeric, errors="coerce").to_numpy(float).ravel()
    log = use_log_scale(pd.to_numeric(frame[column], errors="coerce"), (limit,))
    ax.set_yscale("log" if log else "linear")
    ax.set_ylim(*value_limits([*values, limit], log=log))
    ax.yaxis.set_major_formatter(ms_formatter)
    threshold_hline(ax, limit, f"{q} limit {limit:,.0f} ms")
    marks = _draw_trend(ax, frame, column, ci_cols)
    ax.set_ylabel(f"{q} {what} (ms)")
    ax.set_title(f"{q} {what} latency per run (lower is better)")
    return marks


def _date_axis(ax: Axes, frame: pd.DataFrame) -> None:
    """Concise date ticks over the span of the runs' dates, padded."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    # Always set the span from the runs' dates: autoscaling a few runs on one day (or
    # interval arrows drawn to the axes' edge) can stretch the axis across years.
    days = date2num(frame["_date"].dropna().dt.tz_localize(None))
    if len(days):
        pad = max(1.0, 0.05 * (days.max() - days.min()))
        ax.set_xlim(days.min() - pad, days.max() + pad)
    ax.set_xlabel("run date (UTC)")


def _trend_caption(frame: pd.DataFrame, latency: str, marks: set[str], undated: int) -> list[str]:
    """What the markers, bars, hollow diamonds and arrows mean; what is missing or too few."""
    all_ci_cols = [c for c in frame.columns if "_ci_" in c and c.startswith(latency)]
    has_ci = bool(frame[all_ci_cols].apply(pd.to_numeric, errors="coerce").notna().any(axis=None))
    caption = [
        "Each marker is one run" + ("; bars are 95% confidence intervals." if has_ci else ".")
    ]
    if frame["_poc"].any():
        caption.append(
            "Hollow diamonds: proof-of-concept figures kept only as summaries (no "
            "per-request data, no interval); compare them with care."
        )
    caption += interval_notes(marks)
    if frame.loc[~frame["_poc"], "_date"].nunique() <= 1:
        caption.append("Only one measured run so far: no trend yet.")
    if undated:
        caption.append(f"{undated} history row(s) without a valid run date are not shown.")
    return caption
