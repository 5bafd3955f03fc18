"""Per-request latency figures: distributions against the gate thresholds, and TTFT against e2e.

Both take the rows of ``requests.csv`` as loaded by pandas. Failed requests (``status`` other
than ``ok``) are never dropped: the distribution shows them in a "failed" column as misses (a
failed request's recorded time, often a fast error, is not a latency), and every legend and
caption says how many failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, PercentFormatter

from servegate.plots.common import (
    FAILURE_COLOR,
    THRESHOLD_COLOR,
    backend_color,
    backend_label,
    finish,
    legend_row,
    message_figure,
    ms_formatter,
    new_figure,
    shade,
    styled,
    threshold_vline,
    use_log_scale,
)

__all__ = ["METRIC_LABELS", "latency_distributions", "ttft_vs_e2e"]

#: Words for the latency columns of requests.csv.
METRIC_LABELS = {"e2e_ms": "end-to-end latency", "ttft_ms": "time to first token"}
_REACHED = {"e2e_ms": "finished", "ttft_ms": "had a first token"}
_BACKEND_ORDER = {"vllm": 0, "openai": 1}
_MARKERS = ("o", "s", "^", "D", "v", "P")


@dataclass(frozen=True)
class _Group:
    """The requests of one backend at one concurrency."""

    backend: str
    model: str | None
    concurrency: int
    ok_ms: np.ndarray
    n_failed: int
    color: tuple[float, float, float]

    @property
    def n(self) -> int:
        return int(self.ok_ms.size) + self.n_failed

    @property
    def label(self) -> str:
        return f"{backend_label(self.backend, self.model)}, {self.concurrency} concurrent"


def _select(requests: pd.DataFrame, concurrency: int | None) -> pd.DataFrame:
    frame = requests.copy()
    frame["concurrency"] = pd.to_numeric(frame["concurrency"], errors="coerce")
    if concurrency is not None:
        frame = frame[frame["concurrency"] == concurrency]
    return frame.dropna(subset=["concurrency"])


def _groups(frame: pd.DataFrame, metric: str) -> list[_Group]:
    has_model = "model" in frame.columns
    keys = sorted(
        {(str(b), int(c)) for b, c in zip(frame["backend"], frame["concurrency"], strict=True)},
        key=lambda k: (_BACKEND_ORDER.get(k[0], 9), k[0], k[1]),
    )
    out = []
    for backend in dict.fromkeys(k[0] for k in keys):
        levels = [c for b, c in keys if b == backend]
        for i, conc in enumerate(levels):
            rows = frame[(frame["backend"] == backend) & (frame["concurrency"] == conc)]
            ok = rows["status"] == "ok"
            values = pd.to_numeric(rows.loc[ok, metric], errors="coerce").dropna()
            model = (
                str(rows["model"].iloc[0]) if has_model and rows["model"].notna().any() else None
            )
            color = shade(backend_color(backend), i, len(levels))
            out.append(
                _Group(
                    backend, model, conc, np.sort(values.to_numpy(float)), int((~ok).sum()), color
                )
            )
    return out


def _backends_title(groups: Sequence[_Group]) -> str:
    names = dict.fromkeys(backend_label(g.backend) for g in groups)
    return " vs ".join(names)


def _x_range(
    groups: Sequence[_Group], thresholds: Sequence[float], log: bool
) -> tuple[float, float]:
    values = np.concatenate([g.ok_ms for g in groups] + [np.asarray(thresholds, float)])
    values = values[np.isfinite(values) & (values > 0 if log else True)]
    if values.size == 0:
        return (1.0, 10.0) if log else (0.0, 1.0)
    if log:
        return float(values.min()) / 1.5, float(values.max()) * 1.5
    return 0.0, float(values.max()) * 1.06


def _draw_ecdf(ax: Axes, fail_ax: Axes | None, groups: Sequence[_Group], right: float) -> None:
    for i, g in enumerate(groups):
        label = f"{g.label}: {g.ok_ms.size} ok, {g.n_failed} failed"
        if g.ok_ms.size:
            ys = np.arange(1, g.ok_ms.size + 1) / g.n
            xs = np.r_[g.ok_ms[0], g.ok_ms, right]
            ax.step(xs, np.r_[0.0, ys, ys[-1]], where="post", color=g.color, lw=2, label=label)
        else:
            ax.plot([], [], color=g.color, lw=2, label=label)
        if fail_ax is not None and g.n_failed:
            x = (i + 1) / (len(groups) + 1)
            low = g.ok_ms.size / g.n
            fail_ax.vlines(x, low, 1.0, color=g.color, lw=2)
            fail_ax.plot([x], [1.0], marker="X", color=FAILURE_COLOR, markersize=8)
    for share in (0.5, 0.95):
        ax.axhline(share, color="#999999", linestyle=":", linewidth=1)


def _draw_strip(ax: Axes, fail_ax: Axes | None, groups: Sequence[_Group]) -> None:
    rng = np.random.default_rng(0)  # fixed jitter: the same data always renders the same
    for row, g in enumerate(groups):
        jitter = rng.uniform(-0.2, 0.2, g.ok_ms.size)
        ax.scatter(g.ok_ms, row + jitter, s=16, color=g.color, alpha=0.75, edgecolors="none")
        if fail_ax is not None and g.n_failed:
            fj = rng.uniform(-0.2, 0.2, g.n_failed)
            fail_ax.scatter(0.3 + fj / 2, row + fj, marker="X", s=40, color=FAILURE_COLOR)
            fail_ax.annotate(
                str(g.n_failed),
                (0.58, row),
                va="center",
                fontsize=9,
                color=FAILURE_COLOR,
                fontweight="bold",
            )
    ax.set_yticks(range(len(groups)), [g.label.replace(", ", "\n") for g in groups])
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)


def _style_fail_column(axes: Sequence[Axes]) -> None:
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_xticks([])
        ax.set_facecolor("#FBEDEC")
        ax.tick_params(axis="y", left=False, labelleft=False)
        ax.grid(False)
    axes[0].text(
        0.5,
        0.45,
        "failed / timed out",
        rotation=90,
        ha="center",
        va="center",
        transform=axes[0].transAxes,
        color=FAILURE_COLOR,
        fontsize=9,
    )


def _layout(
    n_groups: int, failures: bool
) -> tuple[Figure, Axes, Axes, Axes | None, Axes | None, Axes]:
    """Legend row on top, ECDF, then one strip row per group; a narrow 'failed' column if any."""
    fig = new_figure(4.9 + 0.5 * n_groups, 0, 0)
    grid = fig.add_gridspec(
        3,
        2 if failures else 1,
        height_ratios=[0.22 * n_groups, 3.2, 0.5 + 0.45 * n_groups],
        width_ratios=[1, 0.08] if failures else [1],
    )
    legend_ax = fig.add_subplot(grid[0, :])
    legend_ax.set_axis_off()
    ax = fig.add_subplot(grid[1, 0])
    strip = fig.add_subplot(grid[2, 0], sharex=ax)
    if not failures:
        return fig, ax, strip, None, None, legend_ax
    fail_top = fig.add_subplot(grid[1, 1], sharey=ax)
    fail_strip = fig.add_subplot(grid[2, 1], sharey=strip)
    return fig, ax, strip, fail_top, fail_strip, legend_ax


@styled
def latency_distributions(
    requests: pd.DataFrame,
    *,
    p50_ms: float,
    p95_ms: float,
    metric: str = "e2e_ms",
    concurrency: int | None = None,
    notes: Sequence[str] = (),
) -> Figure:
    """Each backend's latency distribution (ECDF and every request as a dot) with the gates.

    :param requests: rows of ``requests.csv`` (one or several runs): ``backend``, ``status``,
        ``concurrency``, the ``metric`` column, and ``model`` when present.
    :param p50_ms: the p50 gate threshold, drawn as a dashed line.
    :param p95_ms: the p95 gate threshold, drawn as a dashed line.
    :param metric: ``"e2e_ms"`` or ``"ttft_ms"``.
    :param concurrency: only this load level (e.g. the gate level); None draws every level.
    :param notes: extra caption lines, e.g. why the hosted run was skipped.
    :returns: a figure; one that says so in words when there is no request to draw.
    """
    what = METRIC_LABELS.get(metric, metric)
    at = "" if concurrency is None else f" at concurrency {concurrency}"
    frame = _select(requests, concurrency) if len(requests) else requests
    if len(frame) == 0:
        message = f"No requests{at} to plot{': ' + '; '.join(notes) if notes else '.'}"
        return message_figure(f"{what.capitalize()} distribution", message)
    groups = _groups(frame, metric)
    n_failed = sum(g.n_failed for g in groups)
    log = use_log_scale(np.concatenate([g.ok_ms for g in groups]), (p50_ms, p95_ms))
    left, right = _x_range(groups, (p50_ms, p95_ms), log)
    fig, ax, strip, fail_top, fail_strip, legend_ax = _layout(len(groups), bool(n_failed))
    _draw_ecdf(ax, fail_top, groups, right)
    _draw_strip(strip, fail_strip, groups)
    if fail_top is not None and fail_strip is not None:
        _style_fail_column([fail_top, fail_strip])
    _style_ecdf_axis(ax, (left, right), log, _REACHED.get(metric, "done"))
    _draw_gates(ax, strip, p50_ms, p95_ms)
    strip.set_xlabel(f"{what} (ms, from when the request was due){', log scale' if log else ''}")
    legend_row(legend_ax, *ax.get_legend_handles_labels())
    caption = [*_distribution_caption(n_failed, sum(g.n for g in groups)), *notes]
    return finish(fig, f"{what.capitalize()} per request{at}: {_backends_title(groups)}", caption)


def _style_ecdf_axis(ax: Axes, x_range: tuple[float, float], log: bool, reached: str) -> None:
    """The ECDF panel's scales, ticks (x labels are the strip's), labels and title."""
    ax.set_xscale("log" if log else "linear")
    ax.set_xlim(*x_range)
    if log:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ms_formatter)
    ax.tick_params(axis="x", labelbottom=False)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(f"share of requests\n{reached} by then")
    ax.set_title(f"Share of requests that {reached} within each time")


def _draw_gates(ax: Axes, strip: Axes, p50_ms: float, p95_ms: float) -> None:
    """Both gates: labelled lines and the diamond each curve must reach on the ECDF, plain
    lines across the strip."""
    threshold_vline(ax, p50_ms, f"p50 limit {p50_ms:,.0f} ms")
    threshold_vline(ax, p95_ms, f"p95 limit {p95_ms:,.0f} ms", row=1)
    ax.plot(
        [p50_ms, p95_ms],
        [0.5, 0.95],
        linestyle="none",
        marker="D",
        markersize=6,
        color=THRESHOLD_COLOR,
        zorder=6,
    )
    for x in (p50_ms, p95_ms):
        strip.axvline(x, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.3, gid="threshold")


def _distribution_caption(n_failed: int, total: int) -> list[str]:
    """How to read the distribution, and how many requests failed."""
    return [
        "Up and to the left is better. To pass, a curve must reach 50% by the p50 line and 95% "
        "by the p95 line (the diamonds). Below: every request as a dot.",
        f"Failed or timed-out requests: {n_failed} of {total}. They count as misses: they never "
        "finish, so a curve stops below 100% and the rest is shown in the 'failed' column."
        if n_failed
        else f"No failed or timed-out requests (all {total} succeeded).",
    ]


@styled
def ttft_vs_e2e(
    requests: pd.DataFrame, *, concurrency: int | None = None, notes: Sequence[str] = ()
) -> Figure:
    """Time to first token against end-to-end latency, one dot per successful request.

    :param requests: rows of ``requests.csv``: ``backend``, ``status``, ``concurrency``,
        ``ttft_ms``, ``e2e_ms``, and ``model`` when present.
    :param concurrency: only this load level; None draws every level (one marker per level).
    :param notes: extra caption lines.
    :returns: a figure whose legend and caption give each group's failure count; a figure
        that says so in words when there is no request.
    """
    at = "" if concurrency is None else f" at concurrency {concurrency}"
    title = f"Waiting for the first token vs the whole answer{at}"
    frame = _select(requests, concurrency) if len(requests) else requests
    if len(frame) == 0:
        return message_figure(title, f"No requests{at} to plot." + "".join(f" {n}" for n in notes))
    ttft = _groups(frame, "ttft_ms")
    e2e = _groups(frame, "e2e_ms")
    ok = frame[frame["status"] == "ok"]
    pairs = ok[["ttft_ms", "e2e_ms"]].apply(pd.to_numeric, errors="coerce")
    missing = int(pairs.isna().any(axis=1).sum())
    fig = new_figure(5.6)
    ax = fig.axes[0]
    _draw_pairs(ax, ttft, ok, pairs)
    xs, ys = pairs["e2e_ms"].dropna(), pairs["ttft_ms"].dropna()
    if len(xs) == 0:
        failed = sum(g.n_failed for g in ttft)
        return message_figure(title, f"No successful request{at} to plot: {failed} failed.")
    _style_pair_axes(ax, xs, ys)
    ax.legend(loc="best", frameon=True, framealpha=0.9)
    failures = ", ".join(f"{g.label}: {g.n_failed} of {g.n}" for g in e2e if g.n_failed)
    caption = [
        "Each dot is one successful request. Dots near the dotted line spent almost all their "
        "time waiting for the first token (queueing or prompt processing); dots far below it "
        "spent it generating the answer.",
        f"Failed requests have no first token and are not dots: {failures}."
        if failures
        else "No failed requests.",
        f"{missing} successful request(s) without a recorded time are not drawn."
        if missing
        else "",
        *notes,
    ]
    return finish(fig, f"{title}: {_backends_title(e2e)}", caption)


def _draw_pairs(ax: Axes, groups: Sequence[_Group], ok: pd.DataFrame, pairs: pd.DataFrame) -> None:
    """One dot per successful request with both times, one marker per load level."""
    levels = sorted({g.concurrency for g in groups})
    for g in groups:
        rows = pairs[(ok["backend"] == g.backend) & (ok["concurrency"] == g.concurrency)].dropna()
        marker = _MARKERS[levels.index(g.concurrency) % len(_MARKERS)]
        ax.scatter(
            rows["e2e_ms"],
            rows["ttft_ms"],
            s=26,
            marker=marker,
            color=g.color,
            alpha=0.8,
            label=f"{g.label}: {len(rows)} ok, {g.n_failed} failed",
        )


def _style_pair_axes(ax: Axes, xs: pd.Series, ys: pd.Series) -> None:
    """The diagonal where the first token is the whole answer, both scales (log when either
    set of times needs it) with their limits and labels."""
    log = use_log_scale(xs) or use_log_scale(ys)
    hi = float(max(xs.max(), ys.max())) * (1.5 if log else 1.05)
    both = np.concatenate([xs.to_numpy(float), ys.to_numpy(float)])
    lo = float(both[both > 0].min()) / 1.5 if log else 0.0
    ax.plot(
        [lo, hi],
        [lo, hi],
        color="#999999",
        linestyle=":",
        linewidth=1.2,
        label="first token = whole answer",
    )
    for axis, setter in ((ax.xaxis, ax.set_xscale), (ax.yaxis, ax.set_yscale)):
        setter("log" if log else "linear")
        if log:
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ms_formatter)
    ax.set_xlim(lo, float(xs.max()) * (1.5 if log else 1.05))
    ax.set_ylim(lo, float(ys.max()) * (1.5 if log else 1.1))
    scale = ", log scale" if log else ""
    ax.set_xlabel(f"end-to-end latency (ms{scale})")
    ax.set_ylabel(f"time to first token (ms{scale})")
