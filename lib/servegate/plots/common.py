"""Shared look of the report's figures: palette, sizes, captions, thresholds and PNG embedding.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot, so no
backend is selected or changed (a notebook keeps its inline backend; a server needs no display)
and no global figure registry fills up. Saving to PNG uses Agg on its own.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import sys
import textwrap
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import ParamSpec

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

__all__ = [
    "BACKEND_COLORS",
    "FAILURE_COLOR",
    "FIG_WIDTH_IN",
    "THRESHOLD_COLOR",
    "backend_color",
    "backend_label",
    "draw_estimate",
    "figure_to_data_uri",
    "finish",
    "format_ms",
    "interval_notes",
    "legend_lines",
    "legend_row",
    "message_figure",
    "ms_formatter",
    "new_figure",
    "plain",
    "shade",
    "styled",
    "threshold_hline",
    "threshold_vline",
    "use_log_scale",
    "value_limits",
]

P = ParamSpec("P")

#: 8.2 in at the default 110 dpi of ``figure_to_data_uri`` is about 900 px.
FIG_WIDTH_IN = 8.2
#: One colour per backend across every figure (Okabe-Ito, safe for colour-blind readers).
BACKEND_COLORS: dict[str, str] = {"vllm": "#0072B2", "openai": "#E69F00"}
_OTHER_COLORS = ("#009E73", "#CC79A7", "#56B4E9", "#F0E442")
_BACKEND_LABELS = {"vllm": "local vLLM", "openai": "hosted API"}
THRESHOLD_COLOR = "#333333"
FAILURE_COLOR = "#C0392B"

_STYLE: dict[RcKeyType, float | bool | str] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 13,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
}
_CAPTION_PT = 8.5
_CAPTION_CHARS = 125


def backend_color(backend: str) -> str:
    """The backend's colour; an unknown backend gets a stable colour from a spare list."""
    if backend in BACKEND_COLORS:
        return BACKEND_COLORS[backend]
    return _OTHER_COLORS[sum(map(ord, str(backend))) % len(_OTHER_COLORS)]


def backend_label(backend: str, model: str | None = None) -> str:
    """Words for a backend, e.g. ``"local vLLM (smollm2)"``."""
    name = _BACKEND_LABELS.get(backend, str(backend))
    if model is None or (isinstance(model, float) and math.isnan(model)) or model == "":
        return name
    return f"{name} ({model})"


def shade(color: str, index: int, count: int) -> tuple[float, float, float]:
    """``color`` mixed with white, lightest for index 0 and full strength for the last index."""
    rgb = np.array(mpl.colors.to_rgb(color))
    mix = 0.0 if count <= 1 else 0.55 * (1 - index / (count - 1))
    r, g, b = rgb + (1 - rgb) * mix
    return (float(r), float(g), float(b))


def plain(text: str) -> str:
    """``text`` with every ``$`` escaped, so prices never switch matplotlib into math mode."""
    return str(text).replace("\\$", "$").replace("$", "\\$")


def format_ms(value: float) -> str:
    """``1234.5`` -> ``"1,234 ms"``; ``12.34`` -> ``"12.3 ms"``."""
    return f"{value:,.0f} ms" if abs(value) >= 100 else f"{value:.3g} ms"


def _tick_ms(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


#: Plain numbers with thousands separators, also on log axes (no 10^3 notation).
ms_formatter = FuncFormatter(_tick_ms)


@contextmanager
def _styled() -> Iterator[None]:
    with mpl.rc_context(_STYLE):
        yield


def new_figure(
    height_in: float,
    nrows: int = 1,
    ncols: int = 1,
    *,
    legend_lines: int = 0,
    sharex: bool = False,
) -> Figure:
    """A report-width constrained-layout figure with ``nrows`` x ``ncols`` axes (0: no axes).

    :param legend_lines: when > 0, a top row with no axis (``fig.axes[0]``) is kept for a legend
        of that many lines, so the legend never covers data; see ``legend_row``.
    :param sharex: all data axes share the x-axis.
    """
    with _styled():
        fig = Figure(figsize=(FIG_WIDTH_IN, height_in), layout="constrained")
        if not (nrows and ncols):
            return fig
        legend_in = 0.24 * legend_lines
        ratios = [nrows * legend_in / max(1.0, height_in - 1.4 - legend_in)] * bool(legend_lines)
        grid = fig.add_gridspec(len(ratios) + nrows, ncols, height_ratios=[*ratios, *[1] * nrows])
        if legend_lines:
            fig.add_subplot(grid[0, :]).set_axis_off()
        first = None
        for row in range(len(ratios), len(ratios) + nrows):
            for col in range(ncols):
                ax = fig.add_subplot(grid[row, col], sharex=first if sharex else None)
                ax.tick_params(axis="x", labelbottom=not sharex or row == len(ratios) + nrows - 1)
                first = first or ax
    return fig


def legend_row(legend_ax: Axes, handles: Sequence[Artist], labels: Sequence[str]) -> None:
    """A frameless legend centred in the axis-less row that ``new_figure`` kept for it."""
    ncols = 2 if len(labels) > 1 and max(map(len, labels)) <= 48 else 1
    legend_ax.legend(handles, [plain(x) for x in labels], loc="center", ncols=ncols, frameon=False)


def legend_lines(labels: Sequence[str]) -> int:
    """How many lines ``legend_row`` will need for these labels."""
    if len(labels) > 1 and max(map(len, labels)) <= 48:
        return (len(labels) + 1) // 2
    return len(labels)


def styled(build: Callable[P, Figure]) -> Callable[P, Figure]:
    """Decorator: run a figure builder inside the report's style (fonts, grid, spines)."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with _styled():
            return build(*args, **kwargs)

    return wrapper


def finish(fig: Figure, title: str, caption: Sequence[str] = ()) -> Figure:
    """Add the title and a wrapped caption under the axes, leaving room for both."""
    for ax in fig.axes:
        # Ticks are created lazily at draw time, outside the style context: fix their look here.
        ax.tick_params(labelsize=_STYLE["xtick.labelsize"], grid_color=_STYLE["grid.color"])
    fig.suptitle(plain(title), fontweight="bold")
    wrap = textwrap.wrap
    lines = [plain(line) for part in caption if part for line in wrap(part, _CAPTION_CHARS)]
    if lines:
        # A figure-level x label is the one caption constrained layout makes room for.
        fig.supxlabel(
            "\n".join(lines),
            x=0.01,
            ha="left",
            fontsize=_CAPTION_PT,
            color="#444444",
            linespacing=1.25,
        )
    return fig


def message_figure(title: str, message: str, *, height_in: float = 2.4) -> Figure:
    """A figure that says in words why there is nothing to plot: no axes, no empty chart."""
    with _styled():
        fig = Figure(figsize=(FIG_WIDTH_IN, height_in), layout="constrained")
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            plain("\n".join(textwrap.wrap(message, 90))),
            ha="center",
            va="center",
            fontsize=12,
            color="#444444",
            transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.8", "facecolor": "#F4F4F4", "edgecolor": "#BBBBBB"},
        )
        fig.suptitle(plain(title), fontweight="bold")
    return fig


def threshold_vline(ax: Axes, x: float, label: str, *, row: int = 0) -> None:
    """A labelled dashed vertical threshold line at ``x`` (data units), gid ``"threshold"``.

    Set the x-limits first: a line in the right quarter gets its label on its left side.

    :param row: stacks the label lower by one text line per row, so two labels never overlap.
    """
    ax.axvline(x, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.3, zorder=4, gid="threshold")
    frac = (ax.transData + ax.transAxes.inverted()).transform((x, 0.0))[0]
    right = frac > 0.75
    ax.annotate(
        plain(label),
        xy=(x, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(-3 if right else 3, -3 - 13 * row),
        textcoords="offset points",
        ha="right" if right else "left",
        va="top",
        fontsize=8.5,
        color=THRESHOLD_COLOR,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


def threshold_hline(ax: Axes, y: float, label: str) -> None:
    """A labelled dashed horizontal threshold line at ``y`` (data units), gid ``"threshold"``."""
    ax.axhline(y, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.3, zorder=4, gid="threshold")
    ax.annotate(
        plain(label),
        xy=(0.0, y),
        xycoords=("axes fraction", "data"),
        xytext=(3, 3),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=8.5,
        color=THRESHOLD_COLOR,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


def use_log_scale(values: Iterable[float], extra: Iterable[float] = ()) -> bool:
    """True when a linear axis would crush most points: a heavy tail or a wide span.

    Log when max/median of the finite positive ``values`` exceeds 10, or when the span of the
    values together with ``extra`` (thresholds that must stay visible) exceeds 50x.
    """
    arr = np.array([v for v in values if np.isfinite(v) and v > 0], dtype=float)
    if arr.size == 0:
        return False
    if float(arr.max() / np.median(arr)) > 10:
        return True
    span = np.array([*arr, *(e for e in extra if np.isfinite(e) and e > 0)])
    return bool(span.max() / span.min() > 50)


def value_limits(values: Iterable[float], *, log: bool) -> tuple[float, float]:
    """Axis limits that hold every finite value with a margin (positive when ``log``)."""
    arr = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if log:
        arr = arr[arr > 0]
    if arr.size == 0:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = float(arr.min()), float(arr.max())
    if log:
        return lo / 1.6, hi * 1.6
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return (0.0 if lo >= 0 else lo - 0.08 * span), hi + 0.12 * span


def _finite(value: object) -> bool:
    return isinstance(value, int | float | np.number) and math.isfinite(float(value))


def draw_estimate(
    ax: Axes,
    x: float,
    value: float | None,
    ci: tuple[float, float] | None,
    *,
    color: str | tuple[float, float, float],
    marker: str = "o",
    hollow: bool = False,
    unbounded_means_open: bool = True,
) -> str | None:
    """One point estimate with its interval on an axis whose y-limits are already set.

    :param ci: ``(low, high)``; a NaN end is drawn as an arrow to the axis edge when
        ``unbounded_means_open`` (an order-statistic end with too little data is unbounded),
        else that side is left without a bar. ``None``, or both ends NaN, draws no interval.
    :returns: a note for the caption ("infinite" or "unbounded"), or None.
    """
    face = "white" if hollow else color
    bottom, top = ax.get_ylim()
    if value is not None and math.isinf(value) and value > 0:
        ax.plot([x], [top], marker="X", markersize=10, color=FAILURE_COLOR, clip_on=False, zorder=6)
        ax.annotate(
            "∞",
            (x, top),
            xytext=(6, -2),
            textcoords="offset points",
            va="top",
            color=FAILURE_COLOR,
            fontsize=11,
            fontweight="bold",
        )
        return "infinite"
    if value is None or not _finite(value):
        return None
    note = None
    if ci is not None and not (_finite(ci[0]) or _finite(ci[1])):
        ci = None  # neither end known: no interval (e.g. a single request), not an unbounded one
    if ci is not None:
        lo, hi = ci
        lo_end = lo if _finite(lo) else (bottom if unbounded_means_open else value)
        hi_end = hi if _finite(hi) else (top if unbounded_means_open else value)
        ax.vlines(x, lo_end, hi_end, color=color, linewidth=2, alpha=0.8, zorder=3)
        for end, edge, mark in ((lo, bottom, "v"), (hi, top, "^")):
            if not _finite(end) and unbounded_means_open:
                ax.plot([x], [edge], marker=mark, color=color, markersize=7, clip_on=False)
                note = "unbounded"
            elif _finite(end):
                ax.plot([x], [end], marker="_", color=color, markersize=10, markeredgewidth=2)
    ax.plot(
        [x],
        [value],
        marker=marker,
        markersize=8,
        color=color,
        markerfacecolor=face,
        markeredgewidth=1.6,
        zorder=5,
    )
    return note


def interval_notes(
    marks: Collection[str | None], infinite: str = "the percentile falls among failed requests."
) -> list[str]:
    """Caption lines for the marks ``draw_estimate`` reported: arrows to the axis edge for an
    unbounded end, ✕ ∞ at the top for an infinite value (``infinite`` says what that means)."""
    notes = []
    if "unbounded" in marks:
        notes.append("An arrow to the edge: that end of the interval is unbounded (few requests).")
    if "infinite" in marks:
        notes.append(f"✕ ∞ at the top: {infinite}")
    return notes


def figure_to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """The figure as ``data:image/png;base64,...`` for an HTML page that needs no network.

    The figure is closed afterwards (removed from pyplot's registry when it is there), so a
    report that embeds many figures does not keep them in memory.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
