"""Per-level figures: throughput and p95 against concurrency, and request outcomes by status.

They read the level summaries saved in ``run.json`` (``levels_frame`` flattens them into one
row per run and level, with history-style column names) or the rows of ``requests.csv``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from servegate.core.names import STATUSES
from servegate.core.numbers import decode_number
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
    shade,
    styled,
    threshold_hline,
    use_log_scale,
    value_limits,
)
from servegate.runs.frames import levels_frame

__all__ = ["STATUS_COLORS", "errors_breakdown", "levels_frame", "throughput_vs_concurrency"]

# levels_frame lives with the run reader; re-exported here for the figures.

#: Failure statuses in colours apart from the backend palette; "ok" takes the backend's colour.
STATUS_COLORS = {"error": "#C0392B", "timeout": "#7B241C", "oom": "#6C3483", "cancelled": "#7F8C8D"}
_ORDER = {"vllm": 0, "openai": 1}
#: Each (backend, model) with its level rows, as ``_series`` returns them.
_Series = list[tuple[str, str | None, pd.DataFrame]]


def _num(value: object) -> float:
    """A frame cell or saved number as a float; NaN where there is no value."""
    decoded = decode_number(value)
    return math.nan if decoded is None else decoded


def _series(levels: pd.DataFrame) -> _Series:
    """The rows of each (backend, model), backends in report order, each sorted by concurrency."""
    raw = levels["model"] if "model" in levels.columns else pd.Series(None, index=levels.index)
    model = raw.map(lambda m: None if pd.isna(m) else str(m))
    backend = levels["backend"].astype(str)
    keys = dict.fromkeys(zip(backend, model, strict=True))
    ordered = sorted(keys, key=lambda k: (_ORDER.get(k[0], 9), k[0], k[1] or ""))
    return [
        (
            b,
            m,
            levels[(backend == b) & (model.isna() if m is None else model == m)].sort_values(
                "concurrency"
            ),
        )
        for b, m in ordered
    ]


def _ci(row: pd.Series, low: str, high: str) -> tuple[float, float] | None:
    if low not in row.index and high not in row.index:
        return None
    return _num(row.get(low)), _num(row.get(high))


def _concurrency_axis(ax: Axes, levels: Sequence[int]) -> None:
    if len(levels) > 1 and max(levels) / max(min(levels), 1) >= 4:
        ax.set_xscale("log", base=2)
        ax.set_xlim(min(levels) / 1.4, max(levels) * 1.4)
    else:
        pad = max(1.0, (max(levels) - min(levels)) * 0.1)
        ax.set_xlim(min(levels) - pad, max(levels) + pad)
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.xaxis.set_minor_locator(NullLocator())


def _gain_text(gain: Mapping[str, Any] | None, min_gain: float | None) -> str | None:
    if gain is None:
        return None
    who = f", {backend_label(str(gain['backend']))}" if gain.get("backend") else ""
    value, lo, hi = (_num(gain.get(k)) for k in ("value", "ci_low", "ci_high"))
    if not math.isfinite(value):
        text = f"Batching gain{who}: not measured"
    elif math.isfinite(lo) and math.isfinite(hi):
        text = f"Batching gain{who}: {value:.1f}x (95% CI {lo:.1f}x to {hi:.1f}x)"
    else:
        text = f"Batching gain{who}: {value:.1f}x (no interval: too few requests)"
    return text + (f"; the gate needs ≥ {min_gain:g}x" if min_gain is not None else "")


def _draw_panel(
    ax: Axes, series: _Series, column: str, ci_cols: tuple[str, str], *, open_ends: bool
) -> set[str]:
    notes: set[str] = set()
    offsets = np.linspace(-0.05, 0.05, len(series)) if len(series) > 1 else [0.0]
    log_x = ax.get_xscale() == "log"
    for (backend, model, rows), off in zip(series, offsets, strict=True):
        color = backend_color(backend)
        pad = 1.5 * (ax.get_xlim()[1] - ax.get_xlim()[0]) / 3  # small, whatever the span
        xs = [c * 2**off if log_x else c + off * pad for c in rows["concurrency"]]
        values = rows[column].map(_num).to_numpy(float)
        finite = np.isfinite(values)
        ax.plot(
            np.asarray(xs)[finite],
            values[finite],
            color=color,
            lw=1.8,
            label=backend_label(backend, model),
        )
        for x, (_, row) in zip(xs, rows.iterrows(), strict=True):
            note = draw_estimate(
                ax,
                x,
                _num(row[column]),
                _ci(row, *ci_cols),
                color=color,
                unbounded_means_open=open_ends,
            )
            if note:
                notes.add(note)
    return notes


@styled
def throughput_vs_concurrency(
    levels: pd.DataFrame,
    *,
    p95_ms: float,
    gain: Mapping[str, Any] | None = None,
    min_gain: float | None = None,
    latency: str = "e2e",
    notes: Sequence[str] = (),
) -> Figure:
    """Output tokens/s and p95 latency against concurrency per backend, with 95% intervals.

    :param levels: one row per run and level (``levels_frame`` or history rows): ``backend``,
        ``concurrency``, ``output_tok_per_s``, ``{latency}_p95_ms``; optionally ``model`` and
        the ``_ci_low``/``_ci_high`` columns of both.
    :param p95_ms: the p95 gate threshold, drawn as a dashed line on the latency panel.
    :param gain: the saved batching gain, ``{"value", "ci_low", "ci_high"}`` and optionally
        ``"backend"``; written on the throughput panel.
    :param min_gain: the gain gate threshold, quoted with the gain.
    :param latency: ``"e2e"`` or ``"ttft"``: which p95 the second panel shows.
    :param notes: extra caption lines.
    """
    title = "Throughput and p95 latency as concurrent requests grow"
    p95_col = f"{latency}_p95_ms"
    usable = levels.dropna(subset=["concurrency"]) if len(levels) else levels
    if (
        len(usable) == 0
        or not usable[["output_tok_per_s", p95_col]].map(_num).notna().to_numpy().any()
    ):
        return message_figure(
            title, "No load level with results." + "".join(f" {n}" for n in notes)
        )
    usable = usable.assign(concurrency=usable["concurrency"].astype(int))
    conc = sorted(set(usable["concurrency"]))
    series = _series(usable)
    labels = [backend_label(backend, model) for backend, model, _ in series]
    fig = new_figure(7.6, 2, 1, legend_lines=legend_lines(labels), sharex=True)
    legend_ax, top, bottom = fig.axes
    _concurrency_axis(top, conc)
    text = _gain_text(gain, min_gain)
    _throughput_panel(top, usable, series, text)
    marks = _p95_panel(bottom, usable, series, latency, p95_ms)
    legend_row(legend_ax, *top.get_legend_handles_labels())
    caption = [
        "Bars: 95% confidence intervals; a point without a bar had too few requests for one."
    ]
    if text:
        caption.append("Batching gain: output tokens/s at the best load level ÷ at concurrency 1.")
    caption += interval_notes(marks, "the p95 falls among failed requests (counted as misses).")
    if len(conc) == 1:
        caption.append(
            f"Only one load level (concurrency {conc[0]}): no curve and no batching gain."
        )
    return finish(fig, title, [*caption, *notes])


def _throughput_panel(
    ax: Axes, usable: pd.DataFrame, series: _Series, gain_text: str | None
) -> None:
    """Output tokens/s per backend with their intervals; the gain, if any, under the title."""
    top_values = usable[[c for c in usable.columns if c.startswith("output_tok_per_s")]]
    ax.set_ylim(0, max(1.0, float(np.nanmax(top_values.map(_num).to_numpy(float)))) * 1.15)
    tp_cols = ("output_tok_per_s_ci_low", "output_tok_per_s_ci_high")
    _draw_panel(ax, series, "output_tok_per_s", tp_cols, open_ends=False)
    ax.set_ylabel("output tokens per second")
    title = "Output tokens per second (higher is better)"
    ax.set_title(title + (f"\n{gain_text}" if gain_text else ""))


def _p95_panel(
    ax: Axes, usable: pd.DataFrame, series: _Series, latency: str, p95_ms: float
) -> set[str]:
    """p95 latency per backend with intervals and the gate; the marks ``draw_estimate`` made."""
    p95_col = f"{latency}_p95_ms"
    lat_cols = [c for c in usable.columns if c.startswith(p95_col.removesuffix("_ms"))]
    lat_values = [*usable[lat_cols].map(_num).to_numpy(float).ravel().tolist(), p95_ms]
    log = use_log_scale(usable[p95_col].map(_num), (p95_ms,))
    ax.set_yscale("log" if log else "linear")
    ax.set_ylim(*value_limits(lat_values, log=log))
    ax.yaxis.set_major_formatter(ms_formatter)
    threshold_hline(ax, p95_ms, f"p95 limit {p95_ms:,.0f} ms")
    lat_ci = (f"{latency}_p95_ci_low_ms", f"{latency}_p95_ci_high_ms")
    marks = _draw_panel(ax, series, p95_col, lat_ci, open_ends=True)
    name = "end-to-end" if latency == "e2e" else "time to first token"
    ax.set_ylabel(f"p95 {name} (ms)")
    ax.set_title(f"p95 {name} latency (lower is better)")
    ax.set_xlabel("concurrent requests (load level)")
    return marks


def _outcome_counts(data: pd.DataFrame) -> pd.DataFrame:
    """Counts per (backend, model, concurrency) and status, from request rows or level rows."""
    keys = (
        ["backend", "model", "concurrency"]
        if "model" in data.columns
        else ["backend", "concurrency"]
    )
    if "status" in data.columns:
        counts = data.groupby(keys, dropna=False)["status"].value_counts().unstack(fill_value=0)
    else:
        wanted = {s: f"n_{s}" for s in STATUSES}
        missing = [c for c in wanted.values() if c not in data.columns]
        if missing:
            raise ValueError(
                f"errors_breakdown needs request rows (a 'status' column) or level rows with "
                f"{list(wanted.values())}; missing {missing}. Pass levels_frame(run) or the "
                "rows of requests.csv"
            )
        counts = data.set_index(keys)[list(wanted.values())].rename(columns=lambda c: c[2:])
        counts = counts.groupby(level=list(range(len(keys))), dropna=False).sum()
    extra = [c for c in counts.columns if c not in STATUSES]
    counts = counts.reindex(columns=[*STATUSES, *extra], fill_value=0).fillna(0).astype(int)
    order = sorted(counts.index, key=lambda k: (_ORDER.get(str(k[0]), 9), str(k[0]), k[-1]))
    return counts.loc[order]


@styled
def errors_breakdown(data: pd.DataFrame, *, notes: Sequence[str] = ()) -> Figure:
    """Request outcomes (ok, error, timeout, oom, cancelled) per backend and load level.

    :param data: rows of ``requests.csv`` (a ``status`` column), or level rows with
        ``n_ok, n_error, n_timeout, n_oom, n_cancelled`` (``levels_frame``).
    :param notes: extra caption lines, e.g. server crashes seen in run.json.
    :raises ValueError: when neither form of columns is there (a caller's mistake, not data).
    """
    title = "Request outcomes per backend and load level"
    if len(data) == 0:
        return message_figure(title, "No requests to count." + "".join(f" {n}" for n in notes))
    counts = _outcome_counts(data)
    n_total, n_ok = int(counts.to_numpy().sum()), int(counts["ok"].sum())
    fig = new_figure(2.4 + 0.45 * len(counts))
    ax = fig.axes[0]
    labels = _draw_outcome_bars(ax, counts)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(0, counts.sum(axis=1).max() * 1.35)
    ax.set_xlabel("number of measured requests")
    ax.grid(axis="y", visible=False)
    handles = [
        Patch(color=STATUS_COLORS.get(str(s), "#BBBBBB"), label=f"{s}: {int(counts[s].sum())}")
        for s in counts.columns
        if s != "ok" and counts[s].sum()
    ]
    if n_ok == n_total:
        ax.set_title(f"No failures: all {n_total} requests succeeded", color="#1E7B34")
        caption = ["Every measured request returned a complete answer."]
    else:
        ax.set_title(f"{n_total - n_ok} of {n_total} requests failed", color=STATUS_COLORS["error"])
        ax.legend(handles=handles, title="failures", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        caption = [
            "Bars: every measured request, coloured by outcome (ok in the backend's colour)."
        ]
    caption.append(
        f"Out-of-memory failures: {int(counts['oom'].sum())}; the stability gate allows 0."
    )
    return finish(fig, title, [*caption, *notes])


def _draw_outcome_bars(ax: Axes, counts: pd.DataFrame) -> list[str]:
    """One stacked bar per row of ``counts``, its counts written after it; the rows' labels."""
    labels = []
    for y, (key, row) in enumerate(counts.iterrows()):
        if not isinstance(key, tuple):  # _outcome_counts groups by 2 or 3 columns: a MultiIndex
            raise TypeError(f"expected a (backend, [model,] concurrency) row label, got {key!r}")
        labels.append(f"{backend_label(str(key[0]), *key[1:-1])} · concurrency {key[-1]}")
        left = 0
        for status, n in row.items():
            color = (
                shade(backend_color(str(key[0])), 0, 1)
                if status == "ok"
                else STATUS_COLORS.get(str(status), "#BBBBBB")
            )
            ax.barh(y, n, left=left, color=color, edgecolor="white", height=0.6)
            left += n
        parts = [f"{n} {s}" for s, n in row.items() if n or s == "ok"]
        ax.annotate(
            " · ".join(parts),
            (left, y),
            xytext=(5, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    return labels
