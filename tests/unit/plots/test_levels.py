"""The level figures: levels_frame, throughput against concurrency, and the errors breakdown."""

from __future__ import annotations

import math

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
    frame = plots.levels_frame(load_run(SKIPPED))
    assert len(frame) == 0 and "concurrency" in frame.columns


def test_throughput_vs_concurrency_panels_threshold_and_gain(levels) -> None:
    gain = {"value": 3.05, "ci_low": 2.1, "ci_high": 4.4, "backend": "vllm"}
    fig = plots.throughput_vs_concurrency(levels, p95_ms=3000, gain=gain, min_gain=2.0)
    top = axes_titled(fig, "Output tokens per second")
    bottom = axes_titled(fig, "p95 end-to-end latency")
    assert len(fig.axes) == 3  # legend row, throughput, p95
    assert threshold_values(bottom, "y") == [3000.0]
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["1", "8"]
    assert top.get_ylabel() == "output tokens per second"
    text = figure_texts(fig)
    assert "Batching gain, local vLLM: 3.0x (95% CI 2.1x to 4.4x)" in text
    assert "the gate needs ≥ 2x" in text
    assert "the p95 falls among failed requests" in text  # hosted c1: p95 = inf
    assert "unbounded" in text


def test_throughput_single_level_and_empty(levels) -> None:
    fig = plots.throughput_vs_concurrency(levels[levels["concurrency"] == 8], p95_ms=3000)
    assert "Only one load level (concurrency 8)" in figure_texts(fig)
    empty = plots.throughput_vs_concurrency(plots.levels_frame(load_run(SKIPPED)), p95_ms=3000)
    assert is_message_figure(empty) and "No load level with results" in figure_texts(empty)


def test_errors_breakdown_from_requests_and_from_levels(requests, levels) -> None:
    fig = plots.errors_breakdown(requests)
    text = figure_texts(fig)
    assert "1 of 102 requests failed" in text and "11 ok · 1 error" in text
    assert "error: 1" in text  # legend, only statuses that occurred
    same = figure_texts(plots.errors_breakdown(levels))
    assert "1 of 102 requests failed" in same


def test_errors_breakdown_no_failures_empty_and_bad_columns(requests) -> None:
    fig = plots.errors_breakdown(requests[requests["backend"] == "vllm"])
    assert "No failures: all 30 requests succeeded" in figure_texts(fig)
    assert is_message_figure(plots.errors_breakdown(read_requests(SKIPPED)))
    with pytest.raises(ValueError, match="missing"):
        plots.errors_breakdown(pd.DataFrame({"backend": ["vllm"], "concurrency": [1]}))
