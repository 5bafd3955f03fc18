"""The report's figures: built from the fixture runs and small frames, checked by their contents."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from servegate import plots
from tests.helpers import FIXTURE_RUNS, HOSTED_RUN, SKIPPED_RUN, VLLM_RUN

VLLM = FIXTURE_RUNS / VLLM_RUN
HOSTED = FIXTURE_RUNS / HOSTED_RUN
SKIPPED = FIXTURE_RUNS / SKIPPED_RUN


def _run(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())


def _requests(*folders: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(f / "requests.csv") for f in folders], ignore_index=True)


@pytest.fixture(scope="module")
def requests() -> pd.DataFrame:
    return _requests(VLLM, HOSTED, SKIPPED)


@pytest.fixture(scope="module")
def levels() -> pd.DataFrame:
    return pd.concat([plots.levels_frame(_run(f)) for f in (VLLM, HOSTED)], ignore_index=True)


def _texts(fig: Figure) -> str:
    """Every piece of text in the figure (titles, labels, legend, caption), `\\$` unescaped."""
    fig.draw_without_rendering()
    found = [t.get_text() for t in fig.findobj(Text)]
    return "\n".join(found).replace("\\$", "$")


def _axes_titled(fig: Figure, start: str) -> Axes:
    matches = [ax for ax in fig.axes if ax.get_title().startswith(start)]
    assert len(matches) == 1, [ax.get_title() for ax in fig.axes]
    return matches[0]


def _thresholds(ax: Axes, axis: str) -> list[float]:
    lines = [line for line in ax.lines if line.get_gid() == "threshold"]
    data = [line.get_xdata() if axis == "x" else line.get_ydata() for line in lines]
    assert all(d[0] == d[1] for d in data)  # a straight vertical / horizontal line
    return sorted(float(d[0]) for d in data)


def _is_message(fig: Figure) -> bool:
    return all(not ax.axison for ax in fig.axes)


# --- levels_frame ------------------------------------------------------------------------------


def test_levels_frame_copies_the_saved_levels(levels: pd.DataFrame) -> None:
    assert list(levels["backend"]) == ["vllm", "vllm", "openai", "openai"]
    assert list(levels["concurrency"]) == [1, 8, 1, 8]
    hosted_c1 = levels[(levels["backend"] == "openai") & (levels["concurrency"] == 1)].iloc[0]
    assert math.isinf(hosted_c1["e2e_p95_ms"])  # stored as the string "inf"
    assert math.isnan(hosted_c1["e2e_p95_ci_high_ms"])  # None: unbounded
    assert hosted_c1["n_error"] == 1 and hosted_c1["n_errors"] == 1 and hosted_c1["n_ok"] == 11
    vllm_c1 = levels.iloc[0]
    assert vllm_c1["output_tok_per_s"] == pytest.approx(17.9044, abs=1e-3)
    assert math.isnan(vllm_c1["output_tok_per_s_ci_low"])


def test_levels_frame_of_a_skipped_run_is_empty() -> None:
    frame = plots.levels_frame(_run(SKIPPED))
    assert len(frame) == 0 and "concurrency" in frame.columns


# --- latency_distributions ---------------------------------------------------------------------


def test_latency_distributions_draws_thresholds_and_counts_failures(requests) -> None:
    fig = plots.latency_distributions(requests, p50_ms=1000, p95_ms=3000)
    ecdf = _axes_titled(fig, "Share of requests that finished")
    assert _thresholds(ecdf, "x") == [1000.0, 3000.0]
    text = _texts(fig)
    assert "End-to-end latency per request" in text
    assert "hosted API (calibration), 1 concurrent: 11 ok, 1 failed" in text
    assert "Failed or timed-out requests: 1 of 102" in text
    assert "failed / timed out" in text  # the column the failure is drawn in
    # legend row, ECDF, strip, and the failed column beside both panels
    assert len(fig.axes) == 5


def test_latency_distributions_ecdf_stops_below_one_for_failures(requests) -> None:
    fig = plots.latency_distributions(requests, p50_ms=1000, p95_ms=3000, concurrency=1)
    ecdf = _axes_titled(fig, "Share of requests")
    hosted = next(line for line in ecdf.lines if "hosted" in line.get_label())
    assert max(hosted.get_ydata()) == pytest.approx(11 / 12)


def test_latency_distributions_one_level_without_failures(requests) -> None:
    fig = plots.latency_distributions(requests, p50_ms=1000, p95_ms=3000, concurrency=8)
    assert len(fig.axes) == 3  # no failed column when nothing failed
    text = _texts(fig)
    assert "at concurrency 8" in text
    assert "No failed or timed-out requests (all 84 succeeded)" in text


def _synthetic(values: np.ndarray, n_failed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "backend": "vllm",
            "model": "m",
            "concurrency": 8,
            "status": ["ok"] * len(values) + ["timeout"] * n_failed,
            "e2e_ms": np.r_[values, np.full(n_failed, 60000.0)],
            "ttft_ms": np.r_[values / 4, np.full(n_failed, np.nan)],
        }
    )


def test_latency_scale_is_log_for_a_heavy_tail_and_linear_for_a_tight_one() -> None:
    rng = np.random.default_rng(3)
    heavy = np.r_[rng.uniform(200, 400, 95), rng.uniform(8000, 40000, 5)]
    tight = rng.uniform(800, 1400, 100)
    for values, scale in ((heavy, "log"), (tight, "linear")):
        fig = plots.latency_distributions(_synthetic(values), p50_ms=1000, p95_ms=3000)
        assert _axes_titled(fig, "Share of requests").get_xscale() == scale


def test_latency_all_failed_is_still_drawn_with_its_count() -> None:
    fig = plots.latency_distributions(_synthetic(np.array([]), 4), p50_ms=1000, p95_ms=3000)
    assert "0 ok, 4 failed" in _texts(fig)
    assert "4 of 4" in _texts(fig)


def test_latency_distributions_of_a_skipped_run_says_so() -> None:
    reason = _run(SKIPPED)["skipped_reason"]
    fig = plots.latency_distributions(
        _requests(SKIPPED), p50_ms=1000, p95_ms=3000, notes=[f"hosted skipped: {reason}"]
    )
    assert _is_message(fig)
    assert "No requests to plot" in _texts(fig) and "OPENAI_API_KEY" in _texts(fig)


# --- ttft_vs_e2e -------------------------------------------------------------------------------


def test_ttft_vs_e2e_plots_ok_requests_and_notes_failures(requests) -> None:
    fig = plots.ttft_vs_e2e(requests)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 101  # every ok request
    text = _texts(fig)
    assert "11 ok, 1 failed" in text
    assert "hosted API (calibration), 1 concurrent: 1 of 12" in text
    assert ax.get_xlabel().startswith("end-to-end latency (ms")


def test_ttft_vs_e2e_empty_and_all_failed() -> None:
    assert _is_message(plots.ttft_vs_e2e(_requests(SKIPPED)))
    fig = plots.ttft_vs_e2e(_synthetic(np.array([]), 3))
    assert _is_message(fig) and "3 failed" in _texts(fig)


# --- throughput_vs_concurrency -----------------------------------------------------------------


def test_throughput_vs_concurrency_panels_threshold_and_gain(levels) -> None:
    gain = {"value": 3.05, "ci_low": 2.1, "ci_high": 4.4, "backend": "vllm"}
    fig = plots.throughput_vs_concurrency(levels, p95_ms=3000, gain=gain, min_gain=2.0)
    top = _axes_titled(fig, "Output tokens per second")
    bottom = _axes_titled(fig, "p95 end-to-end latency")
    assert len(fig.axes) == 3  # legend row, throughput, p95
    assert _thresholds(bottom, "y") == [3000.0]
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["1", "8"]
    assert top.get_ylabel() == "output tokens per second"
    text = _texts(fig)
    assert "Batching gain, local vLLM: 3.0x (95% CI 2.1x to 4.4x)" in text
    assert "the gate needs ≥ 2x" in text
    assert "the p95 falls among failed requests" in text  # hosted c1: p95 = inf
    assert "unbounded" in text


def test_throughput_single_level_and_empty(levels) -> None:
    fig = plots.throughput_vs_concurrency(levels[levels["concurrency"] == 8], p95_ms=3000)
    assert "Only one load level (concurrency 8)" in _texts(fig)
    empty = plots.throughput_vs_concurrency(plots.levels_frame(_run(SKIPPED)), p95_ms=3000)
    assert _is_message(empty) and "No load level with results" in _texts(empty)


# --- errors_breakdown --------------------------------------------------------------------------


def test_errors_breakdown_from_requests_and_from_levels(requests, levels) -> None:
    fig = plots.errors_breakdown(requests)
    text = _texts(fig)
    assert "1 of 102 requests failed" in text and "11 ok · 1 error" in text
    assert "error: 1" in text  # legend, only statuses that occurred
    same = _texts(plots.errors_breakdown(levels))
    assert "1 of 102 requests failed" in same


def test_errors_breakdown_no_failures_empty_and_bad_columns(requests) -> None:
    fig = plots.errors_breakdown(requests[requests["backend"] == "vllm"])
    assert "No failures: all 30 requests succeeded" in _texts(fig)
    assert _is_message(plots.errors_breakdown(_requests(SKIPPED)))
    with pytest.raises(ValueError, match="missing"):
        plots.errors_breakdown(pd.DataFrame({"backend": ["vllm"], "concurrency": [1]}))


# --- cost_per_1m_tokens ------------------------------------------------------------------------


def test_cost_bars_are_labelled_and_a_skipped_option_says_why() -> None:
    costs = pd.DataFrame(
        {
            "option": ["self-hosted vLLM at $2.50/hour", "hosted gpt-4o-mini"],
            "backend": ["vllm", "openai"],
            plots.COST_COLUMN: [1.234, np.nan],
            "note": ["", "skipped: no API key"],
        }
    )
    fig = plots.cost_per_1m_tokens(costs)
    text = _texts(fig)
    assert "$1.23" in text and "skipped: no API key" in text
    assert "self-hosted vLLM at $2.50/hour" in text
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths[0] == pytest.approx(1.234)
    assert fig.axes[0].patches[1].get_fill() is False  # the empty outline, not a value
    assert _is_message(plots.cost_per_1m_tokens(costs.iloc[:0]))


# --- history_trend -----------------------------------------------------------------------------


def _history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_date": ["2025-06-01", "2026-05-10", "2026-11-26", "2026-11-26", "bad date"],
            "backend": ["vllm", "vllm", "vllm", "openai", "vllm"],
            "model": ["smollm2", "smollm2", "smollm2", "calibration", "smollm2"],
            "concurrency": [np.nan, 8, 8, 8, 8],
            "source": ["summary_only", "run", "run", "run", "run"],
            "e2e_p95_ms": [5200, 9800, 10800, 1194, 1.0],
            "e2e_p95_ci_low_ms": [np.nan, 9300, 10100, 1068, 1.0],
            "e2e_p95_ci_high_ms": [np.nan, 10900, np.nan, np.nan, 1.0],
            "e2e_p50_ms": [2100, 8000, 8093, 917, 1.0],
        }
    )


def test_history_trend_thresholds_poc_and_notes() -> None:
    fig = plots.history_trend(_history(), p95_ms=3000, p50_ms=1000, concurrency=8)
    p95 = _axes_titled(fig, "p95 end-to-end")
    p50 = _axes_titled(fig, "p50 end-to-end")
    assert _thresholds(p95, "y") == [3000.0] and _thresholds(p50, "y") == [1000.0]
    hollow = [line for line in p95.lines if line.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and hollow[0].get_marker() == "D"  # the POC row
    text = _texts(fig)
    assert "POC (summary only, no interval)" in text
    assert "1 history row(s) without a valid run date" in text


def test_a_row_without_latency_gets_no_legend_entry() -> None:
    """A skipped hosted run is a history row with no latency: nothing to draw, nothing to name."""
    history = pd.concat(
        [
            _history().iloc[[1, 2]],
            pd.DataFrame(
                {"run_date": ["2026-11-26"], "backend": ["openai"], "model": ["gpt-4o-mini"]}
            ),
        ]
    )
    text = _texts(plots.history_trend(history, p95_ms=3000, p50_ms=1000))
    assert "local vLLM" in text and "gpt-4o-mini" not in text


def test_history_trend_one_run_and_empty() -> None:
    one = _history().iloc[[2]]
    assert "Only one measured run so far" in _texts(
        plots.history_trend(one, p95_ms=3000, p50_ms=1000)
    )
    fig = plots.history_trend(_history().iloc[:0], p95_ms=3000, p50_ms=1000)
    assert _is_message(fig) and "No runs in the history yet" in _texts(fig)


# --- figure_to_data_uri and hygiene ------------------------------------------------------------


def test_figure_to_data_uri_is_a_png_about_900_px_wide(requests) -> None:
    fig = plots.errors_breakdown(requests)
    uri = plots.figure_to_data_uri(fig)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri[len(prefix) :], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", png[16:24])
    assert 850 <= width <= 950


def test_the_module_never_imports_pyplot() -> None:
    code = "import sys, servegate.plots; sys.exit('matplotlib.pyplot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
