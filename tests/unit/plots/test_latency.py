"""The latency figures: distributions per backend and TTFT against end-to-end, by their contents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servegate import plots
from servegate.runs.reader import load_run
from tests.helpers import (
    FIXTURE_RUNS,
    SKIPPED_RUN,
    axes_titled,
    figure_texts,
    is_message_figure,
    read_requests,
    threshold_values,
)

SKIPPED = FIXTURE_RUNS / SKIPPED_RUN


# --- latency_distributions ---------------------------------------------------------------------


def test_latency_distributions_draws_thresholds_and_counts_failures(requests) -> None:
    fig = plots.latency_distributions(requests, p50_ms=1000, p95_ms=3000)
    ecdf = axes_titled(fig, "Share of requests that finished")
    assert threshold_values(ecdf, "x") == [1000.0, 3000.0]
    text = figure_texts(fig)
    assert "End-to-end latency per request" in text
    assert "hosted API (calibration), 1 concurrent: 11 ok, 1 failed" in text
    assert "Failed or timed-out requests: 1 of 102" in text
    assert "failed / timed out" in text  # the column the failure is drawn in
    # legend row, ECDF, strip, and the failed column beside both panels
    assert len(fig.axes) == 5


def test_latency_distributions_ecdf_stops_below_one_for_failures(requests) -> None:
    fig = plots.latency_distributions(requests, p50_ms=1000, p95_ms=3000, concurrency=1)
    ecdf = axes_titled(fig, "Share of requests")
    hosted = next(line for line in ecdf.lines if "hosted" in line.get_label())
    assert max(hosted.get_ydata()) == pytest.approx(11 / 12)


def test_latency_distributions_one_level_without_failures(requests) -> None:
    fig = plots.latency_distributions(requests, p50_ms=1000, p95_ms=3000, concurrency=8)
    assert len(fig.axes) == 3  # no failed column when nothing failed
    text = figure_texts(fig)
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
        assert axes_titled(fig, "Share of requests").get_xscale() == scale


def test_latency_all_failed_is_still_drawn_with_its_count() -> None:
    fig = plots.latency_distributions(_synthetic(np.array([]), 4), p50_ms=1000, p95_ms=3000)
    assert "0 ok, 4 failed" in figure_texts(fig)
    assert "4 of 4" in figure_texts(fig)


def test_latency_distributions_of_a_skipped_run_says_so() -> None:
    reason = load_run(SKIPPED).record.skipped_reason
    fig = plots.latency_distributions(
        read_requests(SKIPPED), p50_ms=1000, p95_ms=3000, notes=[f"hosted skipped: {reason}"]
    )
    assert is_message_figure(fig)
    assert "No requests to plot" in figure_texts(fig) and "OPENAI_API_KEY" in figure_texts(fig)


# --- ttft_vs_e2e -------------------------------------------------------------------------------


def test_ttft_vs_e2e_plots_ok_requests_and_notes_failures(requests) -> None:
    fig = plots.ttft_vs_e2e(requests)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 101  # every ok request
    text = figure_texts(fig)
    assert "11 ok, 1 failed" in text
    assert "hosted API (calibration), 1 concurrent: 1 of 12" in text
    assert ax.get_xlabel().startswith("end-to-end latency (ms")


def test_ttft_vs_e2e_empty_and_all_failed() -> None:
    assert is_message_figure(plots.ttft_vs_e2e(read_requests(SKIPPED)))
    fig = plots.ttft_vs_e2e(_synthetic(np.array([]), 3))
    assert is_message_figure(fig) and "3 failed" in figure_texts(fig)
