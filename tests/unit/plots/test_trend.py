"""The cost bars and the history trend, checked by their contents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servegate import plots
from tests.helpers import axes_titled, figure_texts, is_message_figure, threshold_values


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
    text = figure_texts(fig)
    assert "$1.23" in text and "skipped: no API key" in text
    assert "self-hosted vLLM at $2.50/hour" in text
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths[0] == pytest.approx(1.234)
    assert fig.axes[0].patches[1].get_fill() is False  # the empty outline, not a value
    assert is_message_figure(plots.cost_per_1m_tokens(costs.iloc[:0]))


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
    p95 = axes_titled(fig, "p95 end-to-end")
    p50 = axes_titled(fig, "p50 end-to-end")
    assert threshold_values(p95, "y") == [3000.0] and threshold_values(p50, "y") == [1000.0]
    hollow = [line for line in p95.lines if line.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and hollow[0].get_marker() == "D"  # the POC row
    text = figure_texts(fig)
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
    text = figure_texts(plots.history_trend(history, p95_ms=3000, p50_ms=1000))
    assert "local vLLM" in text and "gpt-4o-mini" not in text


def test_history_trend_one_run_and_empty() -> None:
    one = _history().iloc[[2]]
    assert "Only one measured run so far" in figure_texts(
        plots.history_trend(one, p95_ms=3000, p50_ms=1000)
    )
    fig = plots.history_trend(_history().iloc[:0], p95_ms=3000, p50_ms=1000)
    assert is_message_figure(fig) and "No runs in the history yet" in figure_texts(fig)
