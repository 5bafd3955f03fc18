"""Operations figures: the cost-against-traffic and fallback figures, checked by their contents."""

from __future__ import annotations

import base64
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from servegate.analysis.capacity import capacity_plan
from servegate.analysis.fallback import FallbackParams, simulate_fallback
from servegate.plots.common import figure_to_data_uri
from servegate.plots.ops import capacity_cost_figure, fallback_figure
from servegate.runs.reader import load_run
from tests.helpers import (
    C4,
    FIXTURE_RUNS,
    HOSTED_RUN,
    VLLM_RUN,
    capacity_params,
    figure_texts,
    is_message_figure,
    level_rows,
)

VLLM = FIXTURE_RUNS / VLLM_RUN
HOSTED = FIXTURE_RUNS / HOSTED_RUN


# As in analysis/test_capacity.py: 10 req/s of goodput at c4 (gates met), 8 replicas for
# 15 req/s average, break-even 6 x 1,460 / 919.8 = 9.524 req/s.
ROWS = C4
PARAMS = capacity_params()


def _by_gid(ax: Axes, gid: str) -> list:
    return [line for line in ax.lines if line.get_gid() == gid]


def test_cost_figure_lines_break_even_and_plan() -> None:
    plan = capacity_plan(ROWS, PARAMS)
    fig = capacity_cost_figure(plan)
    ax = fig.axes[1]  # fig.axes[0] is the legend row
    (step,) = _by_gid(ax, "self_hosted")
    (hosted,) = _by_gid(ax, "hosted")
    assert step.get_drawstyle() == "steps-pre"
    # the step line holds whole replicas: 1,460 USD a month each
    assert set(np.round(step.get_ydata() / 1460, 9)) <= set(range(0, 100))
    x, y = hosted.get_xdata(), hosted.get_ydata()
    assert y[-1] == pytest.approx(x[-1] * 919.8)  # 919.8 USD a month per req/s
    (be,) = _by_gid(ax, "threshold")
    assert be.get_xdata()[0] == pytest.approx(6 * 1460 / 919.8)
    (planned,) = _by_gid(ax, "planned")
    assert planned.get_xdata()[0] == pytest.approx(15.0)
    text = figure_texts(fig)
    assert "break-even ≈ 9.52 req/s" in text
    assert "planned 15 req/s: 8 replica(s)" in text
    assert "Planned: 8 replica(s), $11,680 a month self-hosted vs $13,797 hosted" in text
    assert "self-hosted vLLM: whole replicas at 2 USD/h" in text and "hosted API" in text
    assert "GATES NOT MET" not in text


def test_cost_figure_flags_unmet_gates_and_a_missing_break_even() -> None:
    rows = level_rows("c16", [2000.0] * 100, spacing_s=0.05)  # p50 2 s: the 1 s gate fails
    plan = capacity_plan(rows, PARAMS.model_copy(update={"hourly_usd": 80.0}))
    text = figure_texts(capacity_cost_figure(plan))
    assert "GATES NOT MET" in text and "Break-even: never: a replica costs" in text
    fig = capacity_cost_figure(plan)
    assert _by_gid(fig.axes[1], "threshold") == []


def test_cost_figure_without_capacity_says_why() -> None:
    failed = ROWS.assign(status="error")
    fig = capacity_cost_figure(capacity_plan(failed, PARAMS))
    assert is_message_figure(fig) and "No cost curve: no load level succeeded" in figure_texts(fig)


def _hand_fallback():
    local = pd.DataFrame(
        {
            "run_id": "local",
            "level": "c8",
            "concurrency": 8,
            "request_rate": math.nan,
            "prompt_id": ["P1", "P2", "P3"],
            "status": ["ok", "ok", "error"],
            "ttft_ms": [100.0, 700.0, math.nan],
            "e2e_ms": [800.0, 1500.0, 50.0],
            "input_tokens": [10, 10, None],
            "output_tokens": [10, 10, None],
        }
    )
    hosted = local.assign(run_id="hosted", status="ok", ttft_ms=200.0, e2e_ms=[300.0, 700.0, 700.0])
    return simulate_fallback(local, hosted, FallbackParams(timeouts_ms=[500, 1000]))


def test_fallback_figure_lines_thresholds_and_rate() -> None:
    result = _hand_fallback()
    fig = fallback_figure(result)
    _legend, ax, rate_ax = fig.axes
    (p50,) = _by_gid(ax, "p50")
    (p95,) = _by_gid(ax, "p95")
    # hosted only, T = 500, T = 1000, local only; all finite here except local-only p95 (inf)
    # p50: hosted 300/700/700 -> 700; T=500: 800, 1200, 750 -> 800; T=1000: 800, 1500, 750 ->
    # 800; local only: 800, 1500, inf -> 1500
    assert list(p50.get_ydata()) == [700.0, 800.0, 800.0, 1500.0]
    assert len(p95.get_xdata()) == 3  # local-only p95 is inf: drawn as ✕ ∞, not on the line
    thresholds = sorted(line.get_ydata()[0] for line in _by_gid(ax, "threshold"))
    assert thresholds == [1000.0, 3000.0]
    (rate,) = _by_gid(rate_ax, "fallback_rate")
    assert list(rate.get_ydata()) == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert rate_ax.get_ylabel() == "share sent to the hosted API"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["hosted\nonly", "500", "1000", "local\nonly"]
    text = figure_texts(fig)
    assert "p50 gate 1,000 ms" in text and "p95 gate 3,000 ms" in text
    assert "Local level c8, hosted c8: no T passes both gates" in text
    assert "✕ ∞ at the top" in text


def test_fallback_figure_when_not_simulated() -> None:
    result = simulate_fallback(load_run(VLLM), None)
    fig = fallback_figure(result)
    assert is_message_figure(fig)
    assert "No fallback simulation: cannot simulate: no hosted run to fall back to" in figure_texts(
        fig
    )


def test_fixture_figures_build_and_embed_as_png() -> None:
    local = load_run(VLLM)
    result = simulate_fallback(local, load_run(HOSTED))
    plan = capacity_plan(local, PARAMS.model_copy(update={"peak_rps": 5.0}))
    for fig in (fallback_figure(result), capacity_cost_figure(plan)):
        uri = figure_to_data_uri(fig)
        png = base64.b64decode(uri.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_not_left_open_in_pyplot() -> None:
    code = (
        "import sys; from pathlib import Path; import pandas as pd\n"
        "from servegate.runs.reader import load_run\n"
        "from servegate.analysis.fallback import simulate_fallback\n"
        "from servegate.plots.ops import fallback_figure\n"
        f"runs = Path({str(FIXTURE_RUNS)!r})\n"
        "result = simulate_fallback(load_run(runs / '20261126T231345Z_try_vllm'),\n"
        "                           load_run(runs / '20261126T232125Z_hosted-fixture_openai'))\n"
        "fallback_figure(result)\n"
        "sys.exit('matplotlib.pyplot' in sys.modules)\n"
    )
    # Built without pyplot: no backend chosen, nothing registered that a caller must close.
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
